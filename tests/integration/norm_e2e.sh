#!/bin/bash
# Normalisation end to end (issue 6): two vendors' air-quality sensors report
# the same quantities under different names and units, and land in influxd
# identical: same measurement, same field names, canonical units, same tag
# keys, quality=ok.
#
#   vendor A, Modbus (citygate-sim serving a test profile): no2 in ppb,
#     temperature in K, humidity in %RH, pm2_5 in ug/m3; tags from the device
#     (device, district, site, sensor_id) and the profile (sensor_kind, vendor,
#     model).
#   vendor B, MQTT JSON (mosquitto): measurement "vendor_b_air", fields
#     nitrogen_dioxide in ppm, temp_f in degF, rh as a fraction 0..1 and pm25
#     (a schema alias) in ug/m3; tags "station" (topic level) and "sid"
#     (payload). The source's normalise rules map names, units and tag keys.
#
# B publishes the readings A serves, converted to its own units; both must come
# out in the schema's units equal to 1e-9 (relative), and equal to the
# canonical values computed here from A's readings independently.
. "$SRC_DIR/tests/integration/lib.sh"
: "${CITYGATE_SIM:?citygate-sim is not built}"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"

start_influxd
influx_create_db city
start_mosquitto

mkdir -p "$T/profiles"
cat >"$T/profiles/vendor_a_aq.json" <<'J'
{"profile": "vendor_a_aq", "manufacturer": "vendor-a", "model": "AQ-A1 (test profile)",
 "description": "norm_e2e: gases in ppb, temperature in kelvin", "measurement": "air_quality",
 "byte_order": "ABCD", "tags": {"sensor_kind": "air_quality_station", "vendor": "vendor-a", "model": "aq-a1"},
 "registers": [
  {"name": "no2", "table": "holding", "address": 0, "type": "uint16", "scale": 0.1, "unit": "ppb", "range": [5, 80]},
  {"name": "temperature", "table": "holding", "address": 1, "type": "uint16", "scale": 0.01, "unit": "K",
   "range": [265, 305]},
  {"name": "humidity", "table": "holding", "address": 2, "type": "uint16", "scale": 0.1, "unit": "%RH",
   "range": [20, 95]},
  {"name": "pm2_5", "table": "holding", "address": 3, "type": "uint16", "scale": 0.1, "unit": "ug/m3",
   "range": [2, 60]}]}
J

# --step-ms 0: the simulator serves the same values all along, printed at start
P1=$(free_port)
bg sim "$CITYGATE_SIM" --profile-dir "$T/profiles" --step-ms 0 --print-values --seed 6 --tcp "$P1=vendor_a_aq@1"
wait_port "$P1"
wait_for 10 test "$(grep -c '^{' "$T/sim.log")" -ge 4 || fail "simulator printed no values"
grep '^{' "$T/sim.log" >"$T/served.jsonl"

mkdir -p "$T/state"
# clock_check off: this machine's clock may be unsynchronised, which would mark
# readings unsynced_clock depending on when they were taken.
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state","log_level":"info"},
 "normalise":{"clock_check":false},
 "outputs":[{"type":"influxdb_v1","url":"$INFLUX_URL","database":"city","flush_interval_ms":100}],
 "sources":[
  {"type":"modbus","name":"vendor-a","transport":"tcp","host":"127.0.0.1","port":$P1,
   "profile_dirs":["$T/profiles"],"response_timeout_ms":200,"retries":0,
   "devices":[{"name":"aq-a-17","unit_id":1,"profile":"vendor_a_aq","poll_interval_ms":500,
               "tags":{"district":"north","site":"junction-5","sensor_id":"A17-0042"}}]},
  {"type":"mqtt","name":"vendor-b","url":"$MQTT_URL","client_id":"norm-e2e",
   "rules":[{"topic":"vendor-b/{district}/{station}/up","format":"json","measurement":"vendor_b_air",
     "tags":{"sensor_kind":"air_quality_station","vendor":"vendor-b","model":"b-200","site":"junction-5"},
     "json":{"time":"ts","time_format":"ms",
       "fields":{"nitrogen_dioxide":"nitrogen_dioxide","temp_f":"temp_f","rh":"rh","pm25":"pm25"},
       "tags":{"sid":"sid"}}}],
   "normalise":{
     "measurements":{"vendor_b_air":"air_quality"},
     "rename":{"nitrogen_dioxide":"no2","temp_f":"temperature"},
     "tags":{"station":"device","sid":"sensor_id"},
     "units":{"no2":"ppm","temperature":"degF","humidity":"fraction"}}}]}
CONF
"$CITYGATE" --check-config "$T/cg.json" >"$T/check.log" 2>&1 || fail "config: $(cat "$T/check.log")"
start_gw citygate "$T/cg.json"

# vendor B reports A's readings in its own units
$PY - "$T/served.jsonl" >"$T/b.json" <<'PY'
import json, sys, time
v = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    v[r["field"]] = r["value"]
print(json.dumps({"ts": int(time.time() * 1000), "sid": "B-200-7731",
                  "nitrogen_dioxide": v["no2"] / 1000.0,                  # ppb -> ppm
                  "temp_f": (v["temperature"] - 273.15) * 9.0 / 5.0 + 32.0,  # K -> degF
                  "rh": v["humidity"] / 100.0,                           # % -> fraction
                  "pm25": v["pm2_5"]}))
PY
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t vendor-b/north/aq-b-3/up -f "$T/b.json"

two_series() {
    [ "$(influx_query city 'SELECT last("no2") FROM "air_quality" GROUP BY "vendor"' |
        $PY -c 'import json,sys; print(len(json.load(sys.stdin)["results"][0].get("series", [])))')" = 2 ]
}
wait_for 20 two_series || fail "readings of both vendors did not arrive in air_quality"
stop_pid "$GW_PID"

$PY - "$INFLUX_URL" "$T/served.jsonl" <<'PY' || fail "the two vendors' readings differ in influxd"
import json, math, os, sys
url, served = sys.argv[1], sys.argv[2]

sys.path.insert(0, os.environ["SRC_DIR"] + "/tests/integration")
from influxcheck import Checks, query as influx_query
def query(q):
    return influx_query(url, q)
check = Checks()

a = {}
for line in open(served):
    r = json.loads(line)
    a[r["field"]] = r["value"]
# canonical units computed here, not by citygate: ug/m3 from ppb at 20 C and
# 101.325 kPa (EU 2008/50/EC), M(NO2) = 46.0055 g/mol; degC; percent
vm_l = 8.314462618 * 293.15 / 101325.0 * 1000.0
want = {"no2": a["no2"] * 46.0055 / vm_l, "temperature": a["temperature"] - 273.15,
        "humidity": a["humidity"], "pm2_5": a["pm2_5"]}
FIELDS = sorted(want)

def close(x, y):
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1e-3)

meas = sorted(s["values"][i][0] for s in query("SHOW MEASUREMENTS") for i in range(len(s["values"])))
check("measurement air_quality, no vendor measurement", "air_quality" in meas and "vendor_b_air" not in meas,
      str(meas))
keys = query('SHOW FIELD KEYS FROM "air_quality"')[0]["values"]
check("field names and types", sorted(map(tuple, keys)) == [(f, "float") for f in FIELDS], str(keys))

series = query('SELECT last("no2") AS "no2", last("temperature") AS "temperature", last("humidity") AS "humidity", '
               'last("pm2_5") AS "pm2_5" FROM "air_quality" GROUP BY *')
by_vendor = {}
for s in series:
    row = dict(zip(s["columns"], s["values"][0]))
    by_vendor[s["tags"]["vendor"]] = (s["tags"], row)
check("one series per vendor", sorted(by_vendor) == ["vendor-a", "vendor-b"], str(sorted(by_vendor)))
if len(by_vendor) == 2:
    (ta, ra), (tb, rb) = by_vendor["vendor-a"], by_vendor["vendor-b"]
    ka = sorted(k for k, v in ta.items() if v != "")
    kb = sorted(k for k, v in tb.items() if v != "")
    check("same tag keys", ka == kb, "A %s / B %s" % (ka, kb))
    check("quality=ok on both", ta.get("quality") == "ok" and tb.get("quality") == "ok")
    check("device / sensor_id / district", (tb.get("device"), tb.get("sensor_id"), tb.get("district")) ==
          ("aq-b-3", "B-200-7731", "north") and (ta.get("device"), ta.get("sensor_id")) == ("aq-a-17", "A17-0042"))
    for f in FIELDS:
        check("%s: A == B == canonical" % f, close(ra[f], rb[f]) and close(ra[f], want[f]),
              "A %r  B %r  canonical %r" % (ra[f], rb[f], want[f]))
sys.exit(1 if check.failed() else 0)
PY
pass "Modbus (ppb, K, %RH) and MQTT (ppm, degF, fraction, other names) readings are identical in influxd"
