#!/bin/bash
# A payload larger than max_payload_bytes must not reach citygate's memory.
# With MQTT 5 citygate announces a Maximum Packet Size (max_payload_bytes +
# the largest topic + header) in its CONNECT, so the broker never sends a
# larger packet (MQTT 5.0, 3.1.2.11.4: the server must not send it; mosquitto
# drops it for this client). Before, Paho read the whole packet first and
# citygate refused it afterwards (a 100 MB payload: 210 MB peak).
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"

start_influxd
influx_create_db city
start_mosquitto "max_queued_messages 1000"
gw_config "$T/gw.json" "$(counter_source city maxpacket '"mqtt_version":"5","max_payload_bytes":4096')"
start_gw gw "$T/gw.json"
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$GW_PID/status"; }
before=$(hwm)
head -c $((48 * 1024 * 1024)) /dev/zero | tr '\0' 'x' >"$T/big.txt"
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -V mqttv5 -q 1 -t city/a/count -f "$T/big.txt" ||
    fail "publishing the 48 MiB payload failed"
for i in $(seq 0 9); do
    mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t city/a/count -m "{\"seq\":$i,\"ts\":$((1700000000000 + i))}"
done
expect "small messages after the big one" "$(wait_scalar 20 city 'SELECT count(seq) FROM counter' 10)" 10
after=$(hwm)
pass "peak RSS before $before KiB, after the 48 MiB payload $after KiB"
[ $((after - before)) -lt 16384 ] || fail "the 48 MiB payload reached citygate: peak RSS grew by $((after - before)) KiB"
pass "the broker never sent the oversized packet (peak RSS grew by $((after - before)) KiB)"
stop_pid "$GW_PID"
