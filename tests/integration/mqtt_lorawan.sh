#!/bin/bash
# LoRaWAN network servers in one line (issue 16): the uplink JSON examples of the
# ChirpStack v4 and The Things Stack v3 docs (tests/integration/lorawan/, sources
# named in its README) published to a real mosquitto on the network servers' own
# topics, through the chirpstack_v4 / ttn_v3 presets into influxd: device tags,
# decoded-object fields, the network server's timestamp, radio metadata of the
# best gateway (opt-in), and a rule that matches on a payload value (one
# application, two device types) ahead of the catch-all rule.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
FIX="$SRC_DIR/tests/integration/lorawan"

start_influxd
influx_create_db city
start_mosquitto
gw_config "$T/gw.json" '{"type":"mqtt","name":"lns","url":"'"$MQTT_URL"'","client_id":"lorawan",
  "rules":[
   {"topic":"application/+/device/+/event/up","format":"chirpstack_v4","measurement":"lht65",
    "match":{"deviceInfo.deviceProfileName":"Dragino-LHT65"},"lorawan":{"radio":true}},
   {"topic":"application/+/device/+/event/up","format":"chirpstack_v4","measurement":"lorawan"},
   {"topic":"v3/+/devices/+/up","format":"ttn_v3","measurement":"ttn","lorawan":{"radio":true}}]}'
"$CITYGATE" --check-config "$T/gw.json" >"$T/check.out" 2>&1 || { cat "$T/check.out"; fail "config refused"; }
start_gw gw "$T/gw.json"

P="mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT -q 1"
APP=17c82e96-be03-4f38-aef3-f83d48582d97
$P -t "application/$APP/device/0101010101010101/event/up" -f "$FIX/chirpstack_v4_up.json"
$P -t "application/$APP/device/a840414ab1834b2c/event/up" -f "$FIX/chirpstack_v4_lht65.json"
$P -t "v3/app1@ttn/devices/dev1/up" -f "$FIX/ttn_v3_up.json"
# a ChirpStack uplink of a device without a codec (no "object"): counted as bad, not stored
$P -t "application/$APP/device/0202020202020202/event/up" -m '{"time":"2022-07-18T09:40:00Z","deviceInfo":{"devEui":"0202020202020202","deviceProfileName":"Test device-profile"},"fPort":1,"data":"qg=="}'

wait_scalar 20 city 'SELECT count(luminosity) FROM ttn' 1 >/dev/null || fail "ttn_v3 point did not arrive"
wait_scalar 10 city 'SELECT count(TempC_SHT) FROM lht65' 1 >/dev/null || fail "chirpstack_v4 LHT65 point did not arrive"
wait_scalar 10 city 'SELECT count(temperature) FROM lorawan' 1 >/dev/null || fail "chirpstack_v4 point did not arrive"

expect "chirpstack_v4: devEui tag, object fields (nested joined by _), time, no radio fields" \
"$(rows city 'SELECT dev_eui, humidity, status_battery, temperature, gateway_id, rssi, snr FROM lorawan' | tr '\n' ';')" \
"lorawan time=1658136855775023242,dev_eui=0101010101010101,humidity=48,status_battery=3.61,temperature=21.5;"
expect "chirpstack_v4 + match on deviceProfileName: LHT65 fields, best gateway's radio metadata" \
"$(rows city 'SELECT BatV, Hum_SHT, TempC_SHT, dev_eui, gateway_id, rssi, snr FROM lht65' | tr '\n' ';')" \
"lht65 time=1658136962125000000,BatV=3.05,Hum_SHT=55.9,TempC_SHT=22.34,dev_eui=a840414ab1834b2c,gateway_id=0016c001f1500812,rssi=-101,snr=7.5;"
expect "ttn_v3: device_id and dev_eui tags, decoded_payload fields, uplink_message.received_at, radio" \
"$(rows city 'SELECT dev_eui, device_id, gateway_id, luminosity, rssi, snr, temperature FROM ttn' | tr '\n' ';')" \
"ttn time=1581520545789585559,dev_eui=0004A30B001C0530,device_id=dev1,gateway_id=gtw1,luminosity=0.64,rssi=-35,snr=5,temperature=1;"
expect "device ids are tags" "$(influx_query city 'SHOW TAG KEYS FROM ttn' | $PY -c '
import json,sys; print(sorted(v[0] for v in json.load(sys.stdin)["results"][0]["series"][0]["values"]))')" \
"['dev_eui', 'device_id', 'gateway', 'quality']"

stop_pid "$GW_PID"
expect "messages" "$(mstat gw messages)" 4
expect "points" "$(mstat gw points)" 3
expect "bad parse (uplink without a decoded object)" "$(mstat gw parse)" 1
grep -q "bad chirpstack_v4 payload (no decoded object (\"object\"); dropped, acked)" "$T/gw.log" ||
    fail "bad uplink not logged with its reason"
pass "uplink without a decoded object logged with its reason"
