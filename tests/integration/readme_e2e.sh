#!/bin/bash
# The README's headline config, end to end (issue 11): the JSON block under
# "## A config" in README.md, all of it, with the files it names (the password
# file, the eastron_sdm630 profile), against citygate-sim on an RTU PTY pair
# (the energy meter), a real mosquitto with SenML publishers (mosquitto_pub)
# and influxd. Only what must differ on a test box is rewritten: addresses
# (broker, database, serial device), the state directory, the password file's
# path and the status server's port. Its air-quality and energy readings must
# land with exact values, and nothing may be logged as rejected.
. "$SRC_DIR/tests/integration/lib.sh"
: "${CITYGATE_SIM:?citygate-sim is not built}"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
command -v socat >/dev/null || fail "socat is not installed"

start_influxd
influx_create_db city
start_mosquitto

bg socat socat -d -d "pty,raw,echo=0,link=$T/ttySIM" "pty,raw,echo=0,link=$T/ttyCG"
wait_for 10 test -e "$T/ttyCG" || fail "socat made no PTYs"
wait_for 10 test -e "$T/ttySIM" || fail "socat made no PTYs"
bg sim "$CITYGATE_SIM" --profile-dir "$SRC_DIR/config/profiles" --step-ms 0 --print-values --baud 9600 \
    --rtu "$T/ttySIM=eastron_sdm630@1"
sim_ready() { [ "$(grep -c '^{' "$T/sim.log")" -ge 36 ]; }
wait_for 10 sim_ready || fail "simulator printed no values"
grep '^{' "$T/sim.log" >"$T/served.jsonl"

# the files the config names: its profile (found next to the config) and the password file
mkdir -p "$T/profiles" "$T/state"
cp "$SRC_DIR/config/profiles/eastron_sdm630.json" "$T/profiles/"
printf 'secret\n' >"$T/influx.pass"
chmod 600 "$T/influx.pass"
HTTP_PORT=$(free_port)

$PY - "$SRC_DIR/README.md" "$T" "$INFLUX_URL" "$MQTT_URL" "$HTTP_PORT" >"$T/cg.json" <<'PY'
import json, re, sys
readme, T, influx, mqtt, http_port = sys.argv[1:6]
text = open(readme).read()
block = re.search(r"## A config\s+```json\n(.*?)\n```", text, re.S)
assert block, "README.md has no config block under '## A config'"
cfg = json.loads(block.group(1))
# only addresses and paths change; every other key stays as the README has it
cfg["gateway"]["state_dir"] = T + "/state"
out = cfg["outputs"][0]
assert out["password_file"] == "/etc/citygate/influx.pass", out
out["url"] = influx
out["password_file"] = T + "/influx.pass"
mb, mq = cfg["sources"]
assert mb["device"] == "/dev/ttyUSB0" and mq["url"] == "tcp://10.1.0.7:1883", (mb, mq)
mb["device"] = T + "/ttyCG"
mq["url"] = mqtt
cfg["http"] = {"listen": "127.0.0.1:" + http_port}
print(json.dumps(cfg, indent=1))
PY

"$CITYGATE" --check-config "$T/cg.json" >"$T/check.log" 2>&1 || fail "--check-config: $(cat "$T/check.log")"
start_gw citygate "$T/cg.json"

# two SenML publishers, as an air-quality sensor would send (RFC 8428)
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t city/chilanzar/aq/s17 \
    -m '[{"bn":"urn:dev:aq:s17:","bt":1700000000,"n":"pm2_5","u":"ug/m3","v":12.5},{"n":"no2","u":"ug/m3","v":31.25}]'
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t city/chilanzar/aq/s18 \
    -m '[{"bn":"urn:dev:aq:s18:","bt":1700000000,"n":"temperature","u":"Cel","v":21.75}]'

aq_rows() { [ "$(influx_query city 'SELECT count("value") FROM "air_quality"' |
    $PY -c 'import json,sys; s=json.load(sys.stdin)["results"][0].get("series"); print(s[0]["values"][0][1] if s else 0)')" = 3 ]; }
wait_for 30 aq_rows || fail "the README's air-quality readings did not land in influxd"
energy_rows() { [ "$(influx_query city 'SELECT count("voltage_l1") FROM "energy"' |
    $PY -c 'import json,sys; s=json.load(sys.stdin)["results"][0].get("series"); print(s[0]["values"][0][1] if s else 0)')" -ge 1 ]; }
wait_for 40 energy_rows || fail "the README's energy readings did not land in influxd"
curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" >"$T/metrics.txt" || fail "no /metrics"
stop_pid "$GW_PID"

$PY - "$INFLUX_URL" "$T/served.jsonl" "$SRC_DIR" <<'PY' || fail "values in influxd differ from what was sent"
import json, os, sys
url, served, src = sys.argv[1:4]
sys.path.insert(0, os.environ["SRC_DIR"] + "/tests/integration")
from influxcheck import Checks, query as influx_query
def query(q):
    return influx_query(url, q)
check = Checks()

rows = {}
for s in query('SELECT "value" FROM "air_quality" GROUP BY *'):
    for v in s["values"]:
        rows[s["tags"]["name"]] = (s["tags"], v[1], v[0])
want = {"urn:dev:aq:s17:pm2_5": ("s17", 12.5), "urn:dev:aq:s17:no2": ("s17", 31.25),
        "urn:dev:aq:s18:temperature": ("s18", 21.75)}
check("three SenML readings", sorted(rows) == sorted(want), str(sorted(rows)))
for name, (sid, val) in want.items():
    if name in rows:
        tags, v, t = rows[name]
        check(name + " value", v == val, "%r" % v)
        check(name + " time", t == "2023-11-14T22:13:20Z", t)
        check(name + " tags", (tags.get("sensor_id"), tags.get("district"), tags.get("city"), tags.get("gateway")) ==
              (sid, "chilanzar", "tashkent", "tashkent-chilanzar-cab17"), str(tags))

# the meter serves W, var, VA; the schema's energy quantities are kW, kvar, kVA
prof = {r["name"]: r.get("unit", "") for r in json.load(open(src + "/config/profiles/eastron_sdm630.json"))["registers"]}
schema = {f: d.get("unit", "") for f, d in json.load(open(src + "/config/schema.json"))["measurements"]["energy"]["fields"].items()}
factor = {("W", "kW"): 1e-3, ("var", "kvar"): 1e-3, ("VA", "kVA"): 1e-3, ("Wh", "kWh"): 1e-3}
sent = {}
for line in open(served):
    r = json.loads(line)
    pu, su = prof[r["field"]] or "1", schema[r["field"]] or "1"  # no unit = dimensionless
    assert pu == su or (pu, su) in factor, (r["field"], pu, su)
    sent[r["field"]] = r["value"] * (1 if pu == su else factor[(pu, su)])
series = query('SELECT * FROM "energy" GROUP BY * ORDER BY time DESC LIMIT 1')
check("one energy series", len(series) == 1, str(len(series)))
if series:
    s = series[0]
    row = dict(zip(s["columns"], s["values"][0]))
    check("energy tags", (s["tags"].get("device"), s["tags"].get("city")) == ("energy-main", "tashkent"), str(s["tags"]))
    missing = sorted(f for f in sent if f not in row or row[f] is None)
    check("every register of the profile landed", not missing, str(missing))
    for f, v in sorted(sent.items()):
        if f in row and row[f] is not None:
            ok = abs(row[f] - v) <= 1e-9 * max(abs(v), 1e-6)
            check("energy " + f, ok, "%r vs sent %r" % (row[f], v))
sys.exit(1 if check.failed() else 0)
PY

# Nothing discarded; the one name the schema does not know (SenML's field
# "value" under air_quality) is written, counted and logged once.
! grep -E "points rejected|citygate_discarded_total" "$T/citygate.log" >"$T/rejects.txt" ||
    fail "citygate logged discards: $(head -3 "$T/rejects.txt")"
[ "$(grep -c "measurement 'air_quality', field 'value': field not in the schema: written unchanged" "$T/citygate.log")" = 1 ] ||
    fail "the unmapped field was not logged exactly once"
grep -q "sources\[1\].rules\[0\]: field 'value' of measurement 'air_quality' is not in the city schema: it will be written unchanged" \
    "$T/check.log" || fail "--check-config did not warn about the unmapped field"
grep -qx 'citygate_unmapped_total{kind="field",source="city-broker",measurement="air_quality",field="value"} 3' \
    "$T/metrics.txt" || fail "/metrics: no unmapped counter of 3: $(grep unmapped "$T/metrics.txt")"
! grep '^citygate_discarded_total{' "$T/metrics.txt" || fail "/metrics counts discards"
pass "README config: air-quality and energy readings landed with the values sent"
