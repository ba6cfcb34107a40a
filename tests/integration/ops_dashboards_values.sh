# Dashboard values: the real citygate, fed by citygate-sim over Modbus and by
# MQTT nodes (mosquitto_pub, JSON with known readings over two past days),
# writes into influxd; each dashboard's panels are run with Grafana's macros
# and template variables substituted as Grafana does, and must show the
# numbers ops_dashboards_values.py computes from the known readings: 24-h
# means, exceedance counts, the worst station across MQTT nodes and a Modbus
# device, traffic per day and peak hour from a running total and from counts,
# energy and water per site, completeness from a known silence and from a
# known gap record, the quality filter.
. "$SRC_DIR/tests/integration/lib.sh"
: "${CITYGATE_SIM:?citygate-sim is not built}"
D="$SRC_DIR/docs/dashboards"
V="$SRC_DIR/tests/integration/ops_dashboards_values.py"
$PY "$D/build.py" --check || fail "dashboards out of date: run docs/dashboards/build.py"

start_influxd
influx_create_db city
start_mosquitto
P1=$(free_port)
P2=$(free_port)
SIM1=(--profile-dir "$SRC_DIR/config/profiles" --step-ms 200 --tcp "$P1=airq_rs485@1" --tcp "$P1=eastron_sdm630@5")
SIM2=(--profile-dir "$SRC_DIR/config/profiles" --step-ms 200 --tcp "$P2=airq_rs485@1")
bg sim1 "$CITYGATE_SIM" "${SIM1[@]}"
bg sim2 "$CITYGATE_SIM" "${SIM2[@]}"
SIM2_PID=$LAST_PID
wait_port "$P1"
wait_port "$P2"

dev() { # name unit profile district [key value]: sensor_id is the device name (the station tag)
    echo "{\"name\":\"$1\",\"unit_id\":$2,\"profile\":\"$3\",\"poll_interval_ms\":300,
           \"tags\":{\"district\":\"$4\",\"sensor_id\":\"$1\"${5:+,\"$5\":\"$6\"}}}"
}
json_rule() { # topic measurement fields...
    local t=$1 m=$2 f="" x; shift 2
    for x in "$@"; do f="$f${f:+,}\"$x\":\"$x\""; done
    echo "{\"topic\":\"$t\",\"format\":\"json\",\"measurement\":\"$m\",\"json\":{\"time\":\"ts\",\"time_format\":\"ms\",\"fields\":{$f}}}"
}
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"gw-values","state_dir":"$T/state"},
 "outputs":[{"type":"influxdb_v1","url":"$INFLUX_URL","database":"city","batch_lines":500,"flush_interval_ms":200}],
 "sources":[
  {"type":"modbus","name":"cabinet7","transport":"tcp","host":"127.0.0.1","port":$P1,
   "profile_dirs":["$SRC_DIR/config/profiles"],"response_timeout_ms":200,"retries":0,
   "devices":[$(dev aq-north 1 airq_rs485 north), $(dev meter-hall 5 eastron_sdm630 south site town-hall),
              $(dev aq-missing 9 airq_rs485 south)]},
  {"type":"modbus","name":"cabinet9","transport":"tcp","host":"127.0.0.1","port":$P2,
   "profile_dirs":["$SRC_DIR/config/profiles"],"response_timeout_ms":200,"retries":0,
   "reconnect_min_ms":100,"reconnect_max_ms":200,"quarantine_ms":500,
   "devices":[$(dev aq-gap 1 airq_rs485 south)]},
  {"type":"mqtt","name":"city-broker","url":"$MQTT_URL","client_id":"gw-values",
   "rules":[$(json_rule "city/{district}/aq/{sensor_id}" air_quality pm2_5 pm10 no2 o3),
            $(json_rule "city/{district}/traffic/{corridor}/{sensor_id}" traffic vehicles_total vehicles),
            $(json_rule "city/{district}/energy/{site}/{sensor_id}" energy energy_import power_total),
            $(json_rule "city/{district}/water/{site}/{sensor_id}" water volume_total flow_rate)]}]}
CONF
"$CITYGATE" --check-config "$T/cg.json" >"$T/check.log" 2>&1 || fail "config: $(cat "$T/check.log")"
now_ms() { date +%s%3N; }
bg citygate "$CITYGATE" --config "$T/cg.json" --log-level debug
CG_PID=$LAST_PID
wait_for 20 grep -q "subscribed to" "$T/citygate.log" || fail "citygate did not subscribe"

# the past two days of the MQTT nodes, one message each (a JSON array of readings)
mkdir -p "$T/pay"
$PY "$V" payloads "$T/pay"
n=0
for f in "$T"/pay/*.json; do
    topic=$(basename "$f" .json | tr _ /)
    mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t "$topic" -f "$f" || fail "publish $topic"
    n=$((n + $($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$f")))
done
# now: the worst north station is an MQTT node that reported earlier than another
t=$(now_ms)
NOW_FROM=$((t - 10000))
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t city/north/aq/lora-07 -m "{\"ts\":$((t - 2000)),\"pm2_5\":700.0}"
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t city/north/aq/lora-08 -m "{\"ts\":$((t - 1000)),\"pm2_5\":5.0}"
pass "published $n past readings and 2 current ones"

# has QUERY ERE: the answer of influxd matches
has() { influx_query city "$1" | grep -Eq "$2"; }
# a known gap: aq-gap's simulator stops, and starts again on the same port
wait_for 20 has 'SELECT count("pm2_5") FROM "air_quality" GROUP BY "sensor_id"' aq-gap || fail "no reading of aq-gap"
GAP_FROM=$(now_ms)
stop_pid "$SIM2_PID"
wait_for 20 has "SELECT \"open\" FROM \"citygate_gap\" WHERE \"device\" = 'aq-gap'" '"open"' \
    || fail "no gap record opened for aq-gap"
sleep 1
bg sim2b "$CITYGATE_SIM" "${SIM2[@]}"
wait_port "$P2"
wait_for 30 has "SELECT \"open\" FROM \"citygate_gap\" WHERE \"device\" = 'aq-gap' AND \"open\" = false" '"values"' \
    || fail "the gap of aq-gap did not close"
GAP_TO=$(( $(now_ms) + 1000 ))
pass "aq-gap went down and came back: a closed gap record"

past='SELECT count("pm2_5") FROM "air_quality" WHERE time < now() - 1d'
want=$($PY -c 'import json,glob,sys; print(sum(1 for f in glob.glob(sys.argv[1]+"/*aq*.json") for r in json.load(open(f))))' "$T/pay")
wait_for 30 has "$past" ",$want\\]\\]" || fail "past air-quality readings: want $want in influxd: $(influx_query city "$past")"
sleep 1
stop_pid "$CG_PID"
NOW_TO=$(now_ms)
cat >"$T/state.json" <<J
{"now_from_ms":$NOW_FROM,"now_to_ms":$NOW_TO,"gap_from_ms":$GAP_FROM,"gap_to_ms":$GAP_TO,
 "good_marks":$(influx_query city 'SHOW TAG VALUES FROM "air_quality" WITH KEY = "quality"' | $PY -c '
import json, sys
s = json.load(sys.stdin)["results"][0]["series"][0]["values"]
print(json.dumps(sorted(v[1] for v in s if v[1] in ("ok", "unsynced_clock"))))')}
J
cat "$T/state.json"
$PY "$V" check "$INFLUX_URL" "$D" "$T/state.json" || fail "dashboard values"
pass "every dashboard shows the values computed from the known readings"
