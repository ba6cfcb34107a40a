#!/usr/bin/env bash
# kill -9 right after an alarm is raised (while the database is away, so the
# event exists only in the alarm lane), restart: the event reaches influxd
# exactly once and the restored state raises nothing twice; the clear after
# another kill -9 is exactly one "cleared".
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/tests/integration/sf_lib.sh"
. "$SRC_DIR/tests/integration/alarm_lib.sh"
start_influxd
influx_create_db city
start_mosquitto "max_queued_messages 0"
al_config "$T/gw.json" "[$(influx_out db "$INFLUX_URL")]" '[
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
stop_pid "$GW_PID"
expect "lines still unsent at exit" "$(out_stat "$T/gw3.log" db unsent)" 0
