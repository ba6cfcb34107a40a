#!/usr/bin/env bash
# The alarm part of scripts/demo, with the demo's own pieces
# (scripts/demo_river.sh): the rising river gauge fires river_flood exactly
# once, the demo's printer shows the event line, influxd holds one event.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/scripts/demo_river.sh"
start_influxd
influx_create_db city
start_mosquitto
mkdir -p "$T/state"
cat >"$T/gw.json" <<J
{"gateway": {"id": "demo-gw", "state_dir": "$T/state", "self_metrics_interval_s": 0},
 "tags": {"city": "demo-city"},
 "http": {"enabled": false},
 "outputs": [{"name": "influx", "type": "influxdb_v1", "url": "$INFLUX_URL", "database": "city", "flush_interval_ms": 200}],
 "sources": [{"type": "mqtt", "name": "city-broker", "url": "$MQTT_URL", "client_id": "demo-gw",
              "subscriptions": [{"topic": "city/#", "qos": 1}],
              "rules": [$(river_rule)],
              "normalise": {"units": {"level": "cm"}}}],
 "alarms": $(river_alarms)}
J
start_gw gw "$T/gw.json"
RIVER_PERIOD_S=0.2 river_gauge 127.0.0.1 "$MQTT_PORT" >"$T/river.log" 2>&1 &
CG_PIDS+=("$!")
wait_for 30 grep -q "alarm: river_flood raised" "$T/gw.log" || fail "river_flood not raised"
printed=$(river_alarm_lines "$T/gw.log" 0)
echo "the demo prints:"
echo "$printed"
case "$printed" in
"  ALARM river_flood raised: citygate_event,alarm=river_flood,city=demo-city,district=chilanzar,gateway=demo-gw,series_id=water_level.level,site=bridge-3,state=raised value=305,threshold=300,message=\"river above 3 m at the gauge: flood warning\" "*) ;;
*) fail "the demo's alarm line: '$printed'" ;;
esac
pass "the demo prints the event line"
# the gauge goes on to 330 and stays: nothing more fires
wait_scalar 30 city "SELECT count(level) FROM water_level WHERE level = 330" 3 >/dev/null ||
    fail "the gauge did not reach its plateau"
expect "events in influxd" "$(scalar city "SELECT count(value) FROM citygate_event")" 1
expect "the event" "$(scalar city "SELECT value FROM citygate_event WHERE alarm='river_flood' AND state='raised' AND site='bridge-3' AND district='chilanzar'")" 305
expect "alarm lines the demo printed" "$(river_alarm_lines "$T/gw.log" 0 | wc -l)" 1
stop_pid "$GW_PID"
