# The demo's river gauge and its flood alarm (sourced by scripts/demo and by
# tests/integration/alarm_demo.sh, so the test runs exactly what the demo shows).
#
# An MQTT river gauge at bridge-3 in chilanzar reports its level every
# RIVER_PERIOD_S seconds: 250 cm, rising 5 cm a report up to 330 cm, then
# steady. The alarm river_flood is raised once, above 300 cm, and the
# citygate_event goes out on the alarm lane ahead of everything else.

# river_rule: the MQTT source rule for city/<district>/river/<site>.
river_rule() {
    echo '{"topic": "city/{district}/river/{site}", "format": "json", "measurement": "water_level",
        "json": {"time": "ts", "time_format": "ms", "fields": {"level": {"path": "level_cm", "type": "float"}}}}'
}

# river_alarms: the top-level "alarms" value.
river_alarms() {
    echo '[{"name": "river_flood", "kind": "threshold", "measurement": "water_level", "field": "level",
         "raise_above": 300, "clear_below": 280, "message": "river above 3 m at the gauge: flood warning"}]'
}

# river_gauge HOST PORT: publishes until killed.
river_gauge() {
    local host=$1 port=$2 level=250
    while :; do
        mosquitto_pub -h "$host" -p "$port" -q 1 -t city/chilanzar/river/bridge-3 \
            -m "{\"ts\":$(date +%s%3N),\"level_cm\":$level}" || true
        [ "$level" -ge 330 ] || level=$((level + 5))
        sleep "${RIVER_PERIOD_S:-2}"
    done
}

# river_alarm_lines LOG SEEN: the alarm log lines past the first SEEN, as the demo prints them.
river_alarm_lines() {
    grep -E '^(warn|info) alarm: ' "$1" 2>/dev/null | tail -n +$(($2 + 1)) | sed 's/^[a-z]* alarm: /  ALARM /' || true
}
