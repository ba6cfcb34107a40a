#!/bin/bash
# Persistent session, QoS 1: messages published while the gateway is down (killed
# with SIGKILL, then stopped with SIGTERM) all arrive after it restarts, exactly.
# The retained status topic says offline (last will / clean stop) and online again.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"

start_influxd
influx_create_db city
start_mosquitto "max_queued_messages 100000"
gw_config "$T/gw.json" "$(counter_source city restart)"
STATUS=citygate/restart/status

start_gw gw1 "$T/gw.json"
expect "status after start" "$(retained_status $STATUS)" online
seq_lines 0 99 | pub_lines city/a/count 1
expect "first 100" "$(wait_scalar 20 city 'SELECT count(seq) FROM counter' 100)" 100

kill -KILL "$GW_PID"
wait_for 10 sh -c "[ \"\$(timeout 3 mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT -t $STATUS -C 1 -W 2)\" = offline ]" ||
    fail "last will 'offline' not published after SIGKILL"
pass "last will: offline after SIGKILL"
seq_lines 100 299 | pub_lines city/a/count 1      # gateway is down
start_gw gw2 "$T/gw.json"
expect "after SIGKILL + restart" "$(wait_scalar 20 city 'SELECT count(seq) FROM counter' 300)" 300
expect "status after restart" "$(retained_status $STATUS)" online

stop_pid "$GW_PID"                                 # clean stop
expect "status after clean stop" "$(retained_status $STATUS)" offline
expect "gw2 took exactly the 200 queued messages" "$(mstat gw2 messages)" 200
seq_lines 300 499 | pub_lines city/b/count 1
start_gw gw3 "$T/gw.json"
expect "after SIGTERM + restart" "$(wait_scalar 20 city 'SELECT count(seq) FROM counter' 500)" 500
expect "sum(seq)" "$(scalar city 'SELECT sum(seq) FROM counter')" 124750
stop_pid "$GW_PID"
expect "gw3 messages" "$(mstat gw3 messages)" 200
expect "gw3 points" "$(mstat gw3 points)" 200
