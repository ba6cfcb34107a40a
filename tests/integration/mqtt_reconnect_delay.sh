#!/bin/bash
# The MQTT source's reconnect delays (docs/mqtt.md, cg_backoff with full jitter):
# the first retry after a failed connect waits exactly reconnect_min_ms, and the
# source keeps retrying a broker that refuses connections. (The old +-20 % rand()
# jitter put the first retry anywhere in 800..1200 ms for a 1000 ms minimum.)
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"

INFLUX_URL="http://127.0.0.1:$(free_port)" # never reached: no reading arrives
MQTT_URL="tcp://127.0.0.1:$(free_port)"     # nobody listens: every connect is refused
gw_config "$T/gw.json" "$(echo '{"type":"mqtt","name":"m","url":"'"$MQTT_URL"'","client_id":"delay",
  "reconnect_min_ms":1000,"reconnect_max_ms":4000,
  "rules":[{"topic":"city/+/x","format":"value","measurement":"x"}]}')"
bg gw "$CITYGATE" --config "$T/gw.json" --log-level debug
wait_for 20 grep -q "retrying in" "$T/gw.log" || fail "no failed connect logged"
line=$(grep -m1 -o "retrying in [0-9]* ms" "$T/gw.log")
case "$line" in
"retrying in 1000 ms" | "retrying in 999 ms") pass "first retry after reconnect_min_ms exactly ($line)" ;;
*) fail "first retry: want 'retrying in 1000 ms', got '$line'" ;;
esac
