#!/bin/bash
# Names the city schema does not know (issue 11). A noise-meter profile with
# LAeq, LAmax (schema aliases), LAmin and two status bits (not in the schema),
# over Modbus TCP (citygate-sim), and an MQTT JSON rule whose readings carry an
# rssi field next to pm2_5.
#   default (schema_policy open): every field lands in influxd with the value
#     served; --check-config warns (exit 0) for each unknown name with the
#     closest schema name; at run time each unknown name is counted in
#     citygate_unmapped_total and logged once.
#   strict: the unknown fields are dropped, counted in citygate_discarded_total
#     {cause="schema_field"} and logged once; the known ones still land.
. "$SRC_DIR/tests/integration/lib.sh"
: "${CITYGATE_SIM:?citygate-sim is not built}"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"

start_influxd
start_mosquitto
mkdir -p "$T/profiles"
cat >"$T/profiles/noise_meter.json" <<'J'
{"profile": "noise_meter", "manufacturer": "test", "model": "NM-1", "description": "norm_unmapped: a class 1 sound level meter",
 "measurement": "noise", "byte_order": "ABCD",
 "registers": [
  {"name": "LAeq", "table": "holding", "address": 0, "type": "uint16", "scale": 0.1, "unit": "dBA", "range": [30, 90]},
  {"name": "LAmax", "table": "holding", "address": 1, "type": "uint16", "scale": 0.1, "unit": "dBA", "range": [30, 90]},
  {"name": "LAmin", "table": "holding", "address": 2, "type": "uint16", "scale": 0.1, "unit": "dBA", "range": [30, 90]},
  {"name": "overload", "table": "holding", "address": 3, "type": "bool", "bit": 0},
  {"name": "calibrating", "table": "holding", "address": 3, "type": "bool", "bit": 1}]}
J
P1=$(free_port)
bg sim "$CITYGATE_SIM" --profile-dir "$T/profiles" --step-ms 0 --print-values --seed 11 --tcp "$P1=noise_meter@1"
wait_port "$P1"
sim_ready() { [ "$(grep -c '^{' "$T/sim.log")" -ge 5 ]; }
wait_for 10 sim_ready || fail "simulator printed no values"
grep '^{' "$T/sim.log" >"$T/served.jsonl"

# config NAME DB POLICY
config() {
    mkdir -p "$T/state-$1"
    cat >"$T/$1.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state-$1"},
 "normalise":{"clock_check":false,"schema_policy":"$3"},
 "http":{"listen":"127.0.0.1:$4"},
 "outputs":[{"type":"influxdb_v1","url":"$INFLUX_URL","database":"$2","flush_interval_ms":100}],
 "sources":[
  {"type":"modbus","name":"noise","transport":"tcp","host":"127.0.0.1","port":$P1,"profile_dirs":["$T/profiles"],"response_timeout_ms":200,"retries":0,
   "devices":[{"name":"nm-1","unit_id":1,"profile":"noise_meter","poll_interval_ms":500}]},
  {"type":"mqtt","name":"aq","url":"$MQTT_URL","client_id":"unmapped-$1",
   "rules":[{"topic":"aq/{sensor_id}","format":"json","measurement":"air_quality",
             "json":{"fields":{"pm2_5":"pm25","rssi":"rssi"}}},
            {"topic":"raw/{sensor_id}","format":"json","measurement":"air_quality"}]}]}
CONF
}

query_row() { # query_row DB MEASUREMENT [WHERE] -> JSON of the last row (column -> value)
    influx_query "$1" "SELECT * FROM \"$2\" ${3:-} ORDER BY time DESC LIMIT 1" |
        $PY -c 'import json,sys; s=json.load(sys.stdin)["results"][0].get("series") or [{"columns":[],"values":[[]]}]; print(json.dumps(dict(zip(s[0]["columns"], s[0]["values"][0]))))'
}

run_case() { # run_case NAME DB POLICY
    local name=$1 db=$2 policy=$3 port
    port=$(free_port)
    influx_create_db "$db"
    config "$name" "$db" "$policy" "$port"
    "$CITYGATE" --check-config "$T/$name.json" >"$T/$name-check.log" 2>&1 || fail "$name: --check-config failed: $(cat "$T/$name-check.log")"
    start_gw "$name" "$T/$name.json"
    both_subscribed() { [ "$(grep -c "subscribed to" "$T/$name.log")" -ge 2 ]; } # two rule filters
    wait_for 20 both_subscribed || fail "$name: not subscribed to both rule filters"
    mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t aq/s9 -m '{"pm25": 7.25, "rssi": -71}'
    mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t aq/s9 -m '{"pm25": 7.5, "rssi": -70}'
    # every member becomes a field: an array and a null cannot, and are counted
    mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t raw/s10 -m '{"pm2_5": 3.5, "history": [1, 2], "note": null}'
    has_rows() { [ "$(query_row "$db" noise)" != "{}" ] && [ "$(query_row "$db" air_quality)" != "{}" ]; }
    wait_for 20 has_rows || fail "$name: nothing landed"
    # the counters are in /metrics once both sources wrote
    metrics_ready() { curl -fsS "http://127.0.0.1:$port/metrics" >"$T/$name-metrics.txt" &&
        grep -q "field=\"rssi\"} 2" "$T/$name-metrics.txt" && grep -q 'field="LAmin"}' "$T/$name-metrics.txt" &&
        grep -q 'field="history"} 1' "$T/$name-metrics.txt"; }
    wait_for 20 metrics_ready || fail "$name: /metrics lacks the counters: $(grep -E 'unmapped|discarded' "$T/$name-metrics.txt")"
    query_row "$db" noise >"$T/$name-noise.json"
    query_row "$db" air_quality "WHERE sensor_id='s9'" >"$T/$name-aq.json"
    stop_pid "$GW_PID"
}

# ---- open (the default) ----
run_case open city open
chk=$T/open-check.log
for w in "sources\\[0\\].devices\\[0\\] (profile noise_meter): field 'LAmin' of measurement 'noise' is not in the city schema: it will be written unchanged and counted as unmapped (normalise.schema_policy open); did you mean 'lamax'?" \
         "field 'overload' of measurement 'noise' is not in the city schema: it will be written unchanged" \
         "field 'calibrating' of measurement 'noise' is not in the city schema: it will be written unchanged" \
         "sources\\[1\\].rules\\[0\\]: field 'rssi' of measurement 'air_quality' is not in the city schema: it will be written unchanged"; do
    grep -q "$w" "$chk" || fail "--check-config did not warn: $w; got: $(cat "$chk")"
done
! grep -q "LAeq\|LAmax\|pm2_5" "$chk" || fail "--check-config warned about a schema name: $(cat "$chk")"
$PY - "$T/served.jsonl" "$T/open-noise.json" "$T/open-aq.json" <<'PY' || fail "open: values in influxd differ"
import json, sys
served = {json.loads(l)["field"]: json.loads(l)["value"] for l in open(sys.argv[1])}
noise, aq = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
want = {"laeq": served["LAeq"], "lamax": served["LAmax"], "LAmin": served["LAmin"],
        "overload": bool(served["overload"]), "calibrating": bool(served["calibrating"])}
got = {k: noise.get(k) for k in want}
print("noise", got, "want", want)
assert all((abs(got[k] - v) < 1e-9 if isinstance(v, float) else got[k] == v) for k, v in want.items()), got
assert (aq.get("pm2_5"), aq.get("rssi")) == (7.5, -70), aq
PY
log=$T/open.log
for w in "warn aq: measurement 'air_quality', field 'rssi': field not in the schema: written unchanged; counted in citygate_unmapped_total{kind=\"field\"}, logged once" \
         "warn noise: measurement 'noise', field 'LAmin': field not in the schema: written unchanged (did you mean 'lamax'?); counted in citygate_unmapped_total{kind=\"field\"}, logged once"; do
    [ "$(grep -cF "$w" "$log")" = 1 ] || fail "open: not logged exactly once: $w"
done
grep -qx 'citygate_unmapped_total{kind="field",source="aq",measurement="air_quality",field="rssi"} 2' "$T/open-metrics.txt" ||
    fail "open: rssi counter: $(grep rssi "$T/open-metrics.txt")"
grep -q '^citygate_unmapped_total{kind="field",source="noise",measurement="noise",field="overload"} [1-9]' "$T/open-metrics.txt" ||
    fail "open: overload counter missing"
for k in history note; do
    grep -qx "citygate_discarded_total{cause=\"payload_skipped\",source=\"aq\",measurement=\"air_quality\",field=\"$k\"} 1" \
        "$T/open-metrics.txt" || fail "open: skipped payload value $k not counted: $(grep skipped "$T/open-metrics.txt")"
    [ "$(grep -cF "warn aq: measurement 'air_quality', field '$k': payload value the codec cannot store (JSON array or null): skipped" "$T/open.log")" = 1 ] ||
        fail "open: skipped payload value $k not logged once"
done
[ "$(grep -c '^citygate_discarded_total{' "$T/open-metrics.txt")" = 2 ] || fail "open: something else was discarded"
pass "open: unknown fields land, counted and logged once, --check-config warns with did-you-mean"

# ---- strict ----
run_case strict city_strict strict
grep -q "field 'rssi' of measurement 'air_quality' is not in the city schema: it will be dropped (normalise.schema_policy strict)" \
    "$T/strict-check.log" || fail "strict: --check-config did not warn: $(cat "$T/strict-check.log")"
$PY - "$T/strict-noise.json" "$T/strict-aq.json" <<'PY' || fail "strict: unknown fields were written"
import json, sys
noise, aq = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(noise, aq)
assert noise.get("laeq") is not None and noise.get("lamax") is not None, noise
assert all(k not in noise for k in ("LAmin", "overload", "calibrating")), noise
assert aq.get("pm2_5") == 7.5 and "rssi" not in aq, aq
PY
w="warn aq: measurement 'air_quality', field 'rssi': field not in the schema: dropped (normalise.schema_policy strict); counted in citygate_discarded_total{cause=\"schema_field\"}, logged once"
[ "$(grep -cF "$w" "$T/strict.log")" = 1 ] || fail "strict: not logged exactly once: $w"
grep -qx 'citygate_discarded_total{cause="schema_field",source="aq",measurement="air_quality",field="rssi"} 2' "$T/strict-metrics.txt" ||
    fail "strict: rssi discard counter: $(grep rssi "$T/strict-metrics.txt")"
grep -q '^citygate_discarded_total{cause="schema_field",source="noise",measurement="noise",field="LAmin"} [1-9]' "$T/strict-metrics.txt" ||
    fail "strict: LAmin discard counter missing"
pass "strict: unknown fields dropped, counted and logged once"
