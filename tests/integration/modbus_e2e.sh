#!/bin/bash
# End to end: citygate-sim -> the real citygate binary -> influxd. The values
# queried back from influxd must equal what the simulator served, exactly.
. "$SRC_DIR/tests/integration/lib.sh"
: "${CITYGATE_SIM:?}"
start_influxd
influx_create_db city
P1=$(free_port); P2=$(free_port)
bg sim "$CITYGATE_SIM" --profile-dir "$SRC_DIR/config/profiles" --step-ms 0 --print-values --seed 3 \
    --tcp "$P1=eastron_sdm630@1" --tcp "$P1=traffic_loop@2" --tcp "$P2=water_meter@1" --tcp "$P2=airq_rs485@2"
wait_port "$P1"; wait_port "$P2"
grep '^{' "$T/sim.log" >"$T/values.jsonl"
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state"},"normalise":{"enabled":false},
 "tags":{"city":"tashkent"},
 "outputs":[{"type":"influxdb_v1","url":"$INFLUX_URL","database":"city"}],
 "sources":[{"type":"modbus","name":"cabinet17","transport":"tcp","host":"127.0.0.1","port":$P1,
   "profile_dirs":["$SRC_DIR/config/profiles"],
   "devices":[{"name":"meter-1","unit_id":1,"profile":"eastron_sdm630","poll_interval_ms":500},
              {"name":"loop-1","unit_id":2,"profile":"traffic_loop","poll_interval_ms":500},
              {"name":"water-1","unit_id":1,"port":$P2,"profile":"water_meter","poll_interval_ms":500},
              {"name":"air-1","unit_id":2,"port":$P2,"profile":"airq_rs485","poll_interval_ms":500}]}]}
CONF
bg citygate "$CITYGATE" --config "$T/cg.json"
CG=$LAST_PID
have_all() {
    influx_query city 'SELECT count(*) FROM "air_quality"' | grep -q '"series"' &&
        influx_query city 'SELECT count(*) FROM "water"' | grep -q '"series"' &&
        influx_query city 'SELECT count(*) FROM "traffic"' | grep -q '"series"' &&
        influx_query city 'SELECT count(*) FROM "energy"' | grep -q '"series"'
}
wait_for 20 have_all || fail "not all measurements arrived in influxd"
sleep 1.5
$PY "$SRC_DIR/tests/integration/modbus_check.py" --sim "$T/values.jsonl" --influx "$INFLUX_URL" city --min-polls 2 \
    --map "$P1/1=meter-1,$P1/2=loop-1,$P2/1=water-1,$P2/2=air-1" \
    --measurement-of meter-1=energy,loop-1=traffic,water-1=water,air-1=air_quality || fail "influxd values differ"
influx_query city "SELECT last(\"up\") FROM citygate_device WHERE device='air-1' AND city='tashkent'" | grep -q true ||
    fail "no health point"
stop_pid "$CG"
pass "influxd holds exactly what the simulator served"
