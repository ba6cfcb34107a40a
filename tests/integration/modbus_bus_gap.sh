#!/usr/bin/env bash
# A Modbus TCP gateway that does not answer shows up as a bus gap (scope=bus,
# the connection's label), while the healthy connection's device keeps its data.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh" # scalar, wait_scalar
: "${CITYGATE_SIM:?}"
start_influxd
influx_create_db city
P1=$(free_port); P2=$(free_port)
bg sim "$CITYGATE_SIM" --profile-dir "$SRC_DIR/config/profiles" --tcp "$P1=water_meter@1"
wait_port "$P1"
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state","self_metrics_interval_s":0},
 "normalise":{"clock_check":false},
 "outputs":[{"type":"influxdb_v1","url":"$INFLUX_URL","database":"city","flush_interval_ms":100}],
 "sources":[{"type":"modbus","name":"cab","transport":"tcp","host":"127.0.0.1","port":$P1,
   "profile_dirs":["$SRC_DIR/config/profiles"],"response_timeout_ms":200,"retries":0,
   "devices":[{"name":"water-ok","unit_id":1,"profile":"water_meter","poll_interval_ms":500},
              {"name":"water-dead","unit_id":1,"port":$P2,"profile":"water_meter","poll_interval_ms":500}]}]}
CONF
bg citygate "$CITYGATE" --config "$T/cg.json"
got=$(wait_scalar 30 city "SELECT count(start_ns) FROM citygate_gap WHERE scope='bus' AND device='tcp 127.0.0.1:$P2'" 1) ||
    fail "no bus gap for the dead connection: $got ($(influx_query city 'SELECT * FROM citygate_gap'))"
pass "dead TCP gateway recorded as a bus gap"
n=$(influx_query city "SELECT count(*) FROM citygate_gap WHERE device='tcp 127.0.0.1:$P1'" | grep -c '"series"' || true)
[ "$n" -eq 0 ] || fail "the healthy connection got a gap"
wait_for 20 sh -c "curl -fsS -G '$INFLUX_URL/query' --data-urlencode db=city --data-urlencode \"q=SELECT count(*) FROM water WHERE sensor_id='water-ok' OR device='water-ok'\" | grep -q series" ||
    { influx_query city 'SHOW TAG KEYS FROM water'; fail "the healthy device's readings are missing"; }
pass "the healthy connection has no gap and its device's readings arrive"
