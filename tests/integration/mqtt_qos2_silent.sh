#!/usr/bin/env bash
# QoS 2 end to end (exactly the published messages arrive), and the
# per-subscription "connected but silent" alarm: raised once while nothing
# comes, cleared ("recovered") when messages flow again.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
start_influxd
influx_create_db city
start_mosquitto "max_queued_messages 0"
gw_config "$T/gw.json" "$(counter_source city qos2gw '"subscriptions":[{"topic":"city/+/count","qos":2,"silent_alarm_s":1}]')"
start_gw gw "$T/gw.json"
wait_for 10 grep -q "subscription 'city/+/count': connected but silent for" "$T/gw.log" ||
    fail "no silent alarm after 1 s without messages"
pass "silent alarm raised"
sleep 2
[ "$(grep -c "connected but silent for" "$T/gw.log")" -eq 1 ] || fail "the silent alarm is repeated instead of rate-limited"
pass "silent alarm logged once (rate-limited)"
seq_lines 0 299 | pub_lines city/a/count 2
expect "QoS 2 messages in influxd" "$(wait_scalar 30 city 'SELECT count(seq) FROM counter' 300)" 300
expect "sum of seq" "$(scalar city 'SELECT sum(seq) FROM counter')" 44850
wait_for 10 grep -q "subscription 'city/+/count' silence recovered" "$T/gw.log" || fail "silent alarm not cleared"
pass "silent alarm cleared when messages came"
stop_pid "$GW_PID"
expect "messages taken" "$(mstat gw messages)" 300
