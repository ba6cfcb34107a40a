#!/bin/bash
# The broker restarts while a publisher keeps publishing (QoS 1, retrying until
# the broker acknowledges each message). The gateway reconnects with backoff,
# subscribes again, and every one of the 300 messages arrives exactly once.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"

start_influxd
influx_create_db city
# mosquitto started as root drops to user "mosquitto", which cannot write its store
# into our private temp dir: stay root so the session survives the restart.
start_mosquitto "max_queued_messages 100000" "autosave_interval 1"
MQTT_CONF="$T/mosquitto/mosquitto.conf"
gw_config "$T/gw.json" "$(counter_source city brokerrestart)"
start_gw gw "$T/gw.json"

publisher() {
    local i
    for i in $(seq 0 299); do
        # Half-way, wait until the broker has been stopped, so the second half
        # can only reach the gateway through its reconnect (a fast publisher
        # used to finish all 300 before the broker went down).
        if [ "$i" -eq 150 ]; then
            until [ -e "$T/broker_stopped" ]; do sleep 0.05; done
        fi
        until mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t city/a/count \
            -m "{\"seq\":$i,\"ts\":$((1700000000000 + i))}" 2>/dev/null; do
            sleep 0.1
        done
        echo "$i" >"$T/published"
    done
}
publisher &
PUB=$!
CG_PIDS+=("$PUB")
wait_for 30 sh -c "[ \$(cat $T/published 2>/dev/null || echo 0) -ge 149 ]" || fail "publisher stuck"
stop_pid "$MQTT_PID"                                   # broker down mid-stream (saves its store)
touch "$T/broker_stopped"
pass "broker stopped at message $(cat "$T/published")"
sleep 1.5
bg mosquitto2 mosquitto -c "$MQTT_CONF"
MQTT_PID=$LAST_PID
wait_port "$MQTT_PORT"
wait "$PUB"
pass "publisher done"
expect "all messages" "$(wait_scalar 30 city 'SELECT count(seq) FROM counter' 300)" 300
expect "sum(seq)" "$(scalar city 'SELECT sum(seq) FROM counter')" 44850
stop_pid "$GW_PID"
[ "$(mstat gw connects)" -ge 2 ] || fail "gateway did not reconnect (connects=$(mstat gw connects))"
pass "reconnected (connects=$(mstat gw connects))"
grep -q "connection lost" "$T/gw.log" || fail "connection loss not logged"
[ "$(grep -c "subscribed to 'city/+/count'" "$T/gw.log")" -ge 2 ] || fail "did not subscribe again after reconnect"
pass "subscribed again after reconnect"
