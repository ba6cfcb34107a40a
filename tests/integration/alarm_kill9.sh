#!/usr/bin/env bash
# kill -9 right after an alarm is raised (while the database is away, so the
# event exists only in the alarm lane), restart: the event reaches influxd
# exactly once and the restored state raises nothing twice; the clear after
# another kill -9 is exactly one "cleared". An events-only MQTT output (the
# alert topic) sees the same: one "raised", one "cleared", QoS 1, retained.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/tests/integration/sf_lib.sh"
. "$SRC_DIR/tests/integration/alarm_lib.sh"
start_influxd
influx_create_db city
start_mosquitto "max_queued_messages 0"
alert='{"name":"sirens","type":"mqtt","url":"'"$MQTT_URL"'","client_id":"al-sirens","events_only":true,
        "alert_topic":"alerts/{alarm}/{site}","retry_initial_ms":100,"retry_max_ms":500}'
mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -v -t 'alerts/#' >"$T/alerts.txt" 2>/dev/null &
CG_PIDS+=("$!")
al_config "$T/gw.json" "[$(influx_out db "$INFLUX_URL"), $alert]" '[
  {"name":"flood_level","kind":"threshold","measurement":"river","field":"level_cm","raise_above":300,"clear_below":280}]'
start_gw gw "$T/gw.json"
level bridge 0 250
wait_scalar 20 city "SELECT count(level_cm) FROM river" 1 >/dev/null || fail "first reading not stored"

stop_pid "$INFLUX_PID"
level bridge 60 312
wait_for 20 grep -q "alarm: flood_level raised" "$T/gw.log" || fail "alarm not raised"
kill -9 "$GW_PID"
pass "killed -9 right after the raise, with the database away"

restart_influxd
start_gw gw2 "$T/gw.json"
level bridge 120 330 # still above: raised already, nothing new
level bridge 180 295 # between the thresholds: nothing
wait_scalar 30 city "SELECT count(level_cm) FROM river" 4 >/dev/null || fail "readings after the restart not stored"
wait_scalar 10 city "SELECT count(value) FROM citygate_event" 1 >/dev/null || fail "the raised event was lost"
grep -q "alarm: flood_level raised" "$T/gw2.log" && fail "raised again after the restart"
expect "events after kill -9 and restart" "$(events "alarm='flood_level'")" "flood_level raised 60 312"
retained=$(retained_status alerts/flood_level/bridge)
case "$retained" in
*'"state":"raised"'*'"value":312'*) pass "retained on alerts/flood_level/bridge: $retained" ;;
*) fail "retained alert after the restart: '$retained'" ;;
esac

level bridge 240 270 # below 280: cleared
wait_for 20 grep -q "alarm: flood_level cleared" "$T/gw2.log" || fail "alarm not cleared"
kill -9 "$GW_PID"
start_gw gw3 "$T/gw.json"
level bridge 300 260
wait_scalar 30 city "SELECT count(level_cm) FROM river" 6 >/dev/null || fail "readings after the second restart not stored"
wait_scalar 10 city "SELECT count(value) FROM citygate_event WHERE state='cleared'" 1 >/dev/null ||
    fail "the cleared event was lost"
grep -q "alarm: flood_level" "$T/gw3.log" && fail "a transition again after the second restart"
expect "events after the second kill -9" "$(events "alarm='flood_level'")" "flood_level raised 60 312
flood_level cleared 240 270"
retained=$(retained_status alerts/flood_level/bridge)
case "$retained" in
*'"state":"cleared"'*'"value":270'*) pass "retained on alerts/flood_level/bridge: cleared" ;;
*) fail "retained alert after the clear: '$retained'" ;;
esac
stop_pid "$GW_PID"
expect "lines still unsent at exit" "$(out_stat "$T/gw3.log" db unsent)" 0
# The third run sent no reading to the events-only output; at most the
# cleared event, when the second run was killed before it was acknowledged
# (or between the broker's PUBACK and the lane's saved position: QoS 1 is at
# least once; the same payload, event time included, so a receiver can tell
# it is the same event).
sent3=$(out_stat "$T/gw3.log" sirens sent)
[ "$sent3" -le 1 ] || fail "events-only output sent $sent3 lines in the third run (no reading, at most one event)"
wait_for 5 grep -q '"state":"cleared"' "$T/alerts.txt" || fail "no cleared message on the alert topic"
pass "events-only output: no reading counted as sent (the third run sent $sent3 event)"
expect "distinct alert events: raised" "$(grep '"state":"raised"' "$T/alerts.txt" | sort -u | wc -l)" 1
expect "distinct alert events: cleared" "$(grep '"state":"cleared"' "$T/alerts.txt" | sort -u | wc -l)" 1
for st in raised cleared; do
    n=$(grep -c "\"state\":\"$st\"" "$T/alerts.txt")
    [ "$n" -le 2 ] || fail "alert messages $st: $n (at most one redelivery per kill -9)"
    pass "alert messages $st: $n (identical redeliveries after kill -9: $((n - 1)))"
done
expect "readings on the alert topic" "$(grep -vc '^alerts/flood_level/bridge ' "$T/alerts.txt")" 0
