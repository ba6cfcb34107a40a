#!/usr/bin/env bash
# Alarm rules on readings with controlled timestamps (MQTT JSON with ts):
# threshold with hysteresis, rate of rise over a window, an all-combination
# per site, and a stale sensor; each transition is exactly one citygate_event
# in influxd, at the reading's time.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/tests/integration/sf_lib.sh"
. "$SRC_DIR/tests/integration/alarm_lib.sh"
start_influxd
influx_create_db city
start_mosquitto
al_config "$T/gw.json" "[$(influx_out db "$INFLUX_URL")]" '[
  {"name":"flood_level","kind":"threshold","measurement":"river","field":"level_cm","raise_above":300,"clear_below":280},
  {"name":"flood_rise","kind":"rate_of_rise","measurement":"river","field":"level_cm","rise":20,"window_s":600,"clear_rise":10},
  {"name":"flood","kind":"all","of":["flood_level","flood_rise"],"group_by":"site"},
  {"name":"silent","kind":"stale","measurement":"river","field":"level_cm","where":{"site":"quiet"},"stale_s":3}]'
start_gw gw "$T/gw.json"

# seconds after T0, level in cm
level bridge 0 250
level bridge 60 260
level bridge 120 269    # rise 19 over the window: not yet
level bridge 180 270    # rise 20 (from t=0): flood_rise raised at 180
level bridge 240 300    # not above 300
level bridge 300 300.5  # above: flood_level raised at 300, and with it flood (all)
level bridge 360 280    # not below 280: stays raised (hysteresis)
level bridge 420 279.9  # below: flood_level cleared at 420, flood cleared
level bridge 700 279.5  # rise from t=120 (269) is 10.5: flood_rise stays
level bridge 1000 279   # rise from t=420 (279.9) is -0.9 < 10: flood_rise cleared at 1000
want="flood_rise raised 180 270
flood raised 300 2
flood_level raised 300 300.5
flood cleared 420 1
flood_level cleared 420 279.9
flood_rise cleared 1000 279"
for _ in $(seq 100); do
    [ "$(event_count "site='bridge'" 2>/dev/null)" -ge 6 ] && break
    sleep 0.2
done
got=$(events "site='bridge'" | sort -k3,3n -k1,1 -s)
want=$(echo "$want" | sort -k3,3n -k1,1 -s)
expect "bridge events (alarm state time value)" "$got" "$want"
expect "flood_rise raised: rise field" \
    "$(scalar city "SELECT rise FROM citygate_event WHERE alarm='flood_rise' AND state='raised'")" 20
expect "flood_level raised: threshold field" \
    "$(scalar city "SELECT threshold FROM citygate_event WHERE alarm='flood_level' AND state='raised'")" 300
expect "flood_level cleared: threshold field" \
    "$(scalar city "SELECT threshold FROM citygate_event WHERE alarm='flood_level' AND state='cleared'")" 280
expect "event carries the static gateway tag and the series" \
    "$(scalar city "SELECT count(value) FROM citygate_event WHERE gateway='gw1' AND series_id='river.level_cm' AND alarm='flood_level'")" 2
grep -q 'alarm: flood_level raised: citygate_event,alarm=flood_level,gateway=gw1,series_id=river.level_cm,site=bridge,state=raised' "$T/gw.log" ||
    fail "the raise is not logged with its event line"
pass "the raise is logged with its event line"

# a reload keeps the running rules (and says so when they changed)
$PY -c 'import json, sys; c = json.load(open(sys.argv[1])); c["alarms"][3]["message"] = "gauge silent"
json.dump(c, open(sys.argv[1], "w"))' "$T/gw.json"
kill -HUP "$GW_PID"
wait_for 20 grep -q "reloaded:" "$T/gw.log" || fail "no reload"
grep -q "reload: the alarms section changed; the running alarm rules stay until the next restart" "$T/gw.log" ||
    fail "the reload did not say the alarm rules stay"
pass "reload: the alarm rules stay until a restart, and it says so"

# stale: one reading, then silence for stale_s = 3
now_s=$(( $(date +%s) - T0_MS / 1000 ))
level quiet "$now_s" 10
wait_scalar 15 city "SELECT count(value) FROM citygate_event WHERE alarm='silent' AND state='raised'" 1 >/dev/null ||
    fail "stale alarm not raised after 3 s of silence"
grep -q 'alarm: silent raised' "$T/gw.log" || fail "stale raise not logged"
pass "stale alarm raised after 3 s of silence"
expect "no clear while silent" "$(event_count "alarm='silent' AND state='cleared'")" 0
level quiet $((now_s + 10)) 11
wait_scalar 10 city "SELECT count(value) FROM citygate_event WHERE alarm='silent' AND state='cleared'" 1 >/dev/null ||
    fail "stale alarm not cleared when data returned"
pass "stale alarm cleared when data returned"
expect "stale events" "$(events "alarm='silent'" | awk '{ print $1, $2, $4 }')" "silent raised 10
silent cleared 11"
expect "the readings themselves are all stored" \
    "$(wait_scalar 10 city "SELECT count(level_cm) FROM river" 12)" 12
stop_pid "$GW_PID"
