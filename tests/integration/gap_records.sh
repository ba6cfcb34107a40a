#!/usr/bin/env bash
# Gap records with the real binary: when the broker link goes down a
# citygate_gap record (scope=bus, open=true) is written, and when it comes back
# the same record is closed (open=false, duration). When the database is down,
# the uplink gap is written too (delivered once the database is back). The
# gateway's own counters arrive as `citygate` and `citygate_norm` points.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
start_influxd
influx_create_db city
start_mosquitto "max_queued_messages 0"
cat >"$T/gw.json" <<J
{"gateway":{"id":"gw1","state_dir":"$T/state","self_metrics_interval_s":1},
 "normalise":{"clock_check":false},
 "outputs":[{"name":"db","type":"influxdb_v1","url":"$INFLUX_URL","database":"city","flush_interval_ms":100,
             "retry_initial_ms":100,"retry_max_ms":300}],
 "sources":[$(counter_source city gapgw)]}
J
start_gw gw "$T/gw.json"
seq_lines 0 9 | pub_lines city/a/count 1
expect "first readings" "$(wait_scalar 20 city 'SELECT count(seq) FROM counter' 10)" 10

stop_pid "$MQTT_PID"          # the broker link goes down
sleep 3
bg mosquitto2 mosquitto -c "$T/mosquitto/mosquitto.conf"
MQTT_PID=$LAST_PID
wait_port "$MQTT_PORT"
got=$(wait_scalar 30 city "SELECT count(duration_s) FROM citygate_gap WHERE scope='bus' AND \"open\"=false" 1) ||
    fail "no closed bus gap: $got ($(influx_query city 'SELECT * FROM citygate_gap'))"
d=$(scalar city "SELECT last(duration_s) FROM citygate_gap WHERE scope='bus'")
$PY -c "import sys; d=float('$d'); sys.exit(0 if 2 <= d <= 30 else 1)" || fail "bus gap duration $d s, want about 3"
pass "broker link gap recorded and closed (duration ${d} s)"

stop_pid "$INFLUX_PID"        # the uplink goes down
seq_lines 10 19 | pub_lines city/a/count 1
sleep 2
restart_influxd
expect "readings during the outage" "$(wait_scalar 30 city 'SELECT count(seq) FROM counter' 20)" 20
got=$(wait_scalar 30 city "SELECT count(duration_s) FROM citygate_gap WHERE scope='uplink' AND \"open\"=false" 1) ||
    fail "no closed uplink gap: $got"
pass "uplink gap recorded and closed, delivered after the outage"

# the gateway's own metrics, as the schema names them
got=$(wait_scalar 20 city "SELECT last(points_in) FROM citygate" 20) || fail "citygate.points_in: $got, want 20"
expect "citygate.lines_dead_lettered" "$(scalar city 'SELECT last(lines_dead_lettered) FROM citygate')" 0
expect "citygate_norm.points_in counts the readings" "$(scalar city 'SELECT last(points_in) FROM citygate_norm')" 20
