#!/bin/bash
# MQTT 5 shared subscription: two gateways in share group "city" on one mosquitto.
# Every message lands exactly once (counts summed over both gateways and in
# influxd); when one gateway stops, the other takes the whole load.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"

start_influxd
influx_create_db city
start_mosquitto "max_queued_messages 100000"
sub='"mqtt_version":"5","subscriptions":[{"topic":"city/+/count","qos":1,"share_group":"city"}]'
gw_config "$T/a.json" "$(counter_source a shareA "$sub")"
gw_config "$T/b.json" "$(counter_source b shareB "$sub")"
start_gw gwa "$T/a.json"
A=$GW_PID
start_gw gwb "$T/b.json"
B=$GW_PID

seq_lines 0 399 | pub_lines city/a/count 1
expect "phase 1 in influxd" "$(wait_scalar 20 city 'SELECT count(seq) FROM counter' 400)" 400
stop_pid "$B"
b_msgs=$(mstat gwb messages)
[ "$b_msgs" -gt 0 ] && [ "$b_msgs" -lt 400 ] || fail "gateway b got $b_msgs of 400 (no split)"
pass "gateway b took $b_msgs of 400"
grep -q "left share group" "$T/gwb.log" || fail "b did not leave the share group"

seq_lines 400 599 | pub_lines city/a/count 1      # b is gone: a takes it all
expect "phase 2 in influxd" "$(wait_scalar 20 city 'SELECT count(seq) FROM counter' 600)" 600
stop_pid "$A"
a_msgs=$(mstat gwa messages)
expect "a + b messages (exactly once)" "$((a_msgs + b_msgs))" 600
expect "a + b points" "$(( $(mstat gwa points) + $(mstat gwb points) ))" 600
expect "a took all of phase 2" "$a_msgs" "$((600 - b_msgs))"
expect "sum(seq)" "$(scalar city 'SELECT sum(seq) FROM counter')" 179700
pass "split: a=$a_msgs b=$b_msgs"
