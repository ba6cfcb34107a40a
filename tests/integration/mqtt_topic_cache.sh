#!/bin/bash
# The per-topic routing cache (adapters/mqtt/mqtt.c, route()) never routes a
# message by another topic's entry: two topics that share a cache slot
# (city/d8/v/temp and city/d46/v/temp: FNV-1a mod 128 = 125), published in
# turn and repeatedly, each keep their own {district} tag and value; an
# unmatched topic stays unmatched when repeated.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"

start_influxd
influx_create_db city
start_mosquitto
gw_config "$T/gw.json" '{"type":"mqtt","name":"cache","url":"'"$MQTT_URL"'","client_id":"cache",
  "subscriptions":[{"topic":"city/#","qos":1},{"topic":"city/+/v/temp","qos":1}],
  "rules":[{"topic":"city/{district}/v/{quantity}","format":"value","measurement":"reading"}]}'
start_gw gw "$T/gw.json"
P="mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT -q 1"
# line i: district d8 or d46 in turn, value i; timestamps come from reception: distinct values suffice
for i in 1 2 3 4 5 6; do
    d=d8; [ $((i % 2)) = 0 ] && d=d46
    $P -t "city/$d/v/temp" -m "$i"
done
$P -t city/d8/other -m 1
$P -t city/d8/other -m 2
wait_scalar 20 city 'SELECT count(value) FROM reading' 6 >/dev/null || fail "readings did not arrive"
expect "d8 values" "$(rows city "SELECT value FROM reading WHERE district='d8'" | cut -d, -f2- | tr '\n' ';')" \
    "value=1;value=3;value=5;"
expect "d46 values" "$(rows city "SELECT value FROM reading WHERE district='d46'" | cut -d, -f2- | tr '\n' ';')" \
    "value=2;value=4;value=6;"
stop_pid "$GW_PID"
expect "unmatched (a repeated unmatched topic)" "$(mstat gw unmatched)" 2
expect "messages" "$(mstat gw messages)" 8
