#!/bin/bash
# Back-pressure: influxd is down and the gateway's memory buffer is tiny, so the
# buffer fills. The MQTT source then holds the message in hand and reads nothing
# more (nothing more is acknowledged; the broker keeps the rest). When influxd
# comes back every message arrives, exactly once.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"

start_influxd
influx_create_db city
start_mosquitto "max_queued_messages 100000"
stop_pid "$INFLUX_PID"
gw_config "$T/gw.json" "$(counter_source city bp '"emit_timeout_ms":200')"
$PY - "$T/gw.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["buffer"] = {"mode": "memory", "max_bytes": 65536}
c["gateway"]["backpressure_wait_ms"] = 200
json.dump(c, open(sys.argv[1], "w"))
PY
start_gw gw "$T/gw.json"
seq_lines 0 2999 | pub_lines city/a/count 1
wait_for 20 grep -q "gateway buffer full: holding the message" "$T/gw.log" || fail "buffer never filled"
pass "buffer full: source holds the message"
sleep 1
held_at=$(grep -c . "$T/gw.log")
bg influxd2 influxd -config "$T/influxd/influxd.conf"          # influxd back, same port and data
wait_for 30 curl -fsS "$INFLUX_URL/ping" || fail "influxd did not come back"
expect "all messages" "$(wait_scalar 60 city 'SELECT count(seq) FROM counter' 3000)" 3000
expect "sum(seq)" "$(scalar city 'SELECT sum(seq) FROM counter')" 4498500
stop_pid "$GW_PID"
expect "messages" "$(mstat gw messages)" 3000
expect "bad" "$(mstat gw bad)" 0
[ "$(mstat gw held)" -gt 0 ] || fail "held counter is 0"
pass "held waits: $(mstat gw held)"
: "$held_at"
