#!/bin/bash
# Every compiled-in adapter through the lifecycle contract of
# include/citygate/adapter.h (adapter_conformance.c): bad config then destroy,
# destroy without start, stop without start, start/stop/start/stop with
# readings flowing each time. Real mosquitto (a retained message every new
# subscription receives) and citygate-sim.
. "$SRC_DIR/tests/integration/lib.sh"
: "${CITYGATE_SIM:?}" "${ADAPTER_CONFORMANCE:?}"
start_mosquitto
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -r -t conformance/chilanzar/count -m '{"seq":7}'
MB_PORT=$(free_port)
bg sim "$CITYGATE_SIM" --profile-dir "$SRC_DIR/config/profiles" --tcp "$MB_PORT=eastron_sdm630@1"
wait_port "$MB_PORT"
CG_TEST_MQTT_URL=$MQTT_URL CG_TEST_MODBUS_PORT=$MB_PORT CG_TEST_PROFILE_DIR=$SRC_DIR/config/profiles \
    "$ADAPTER_CONFORMANCE" >"$T/conformance.log" 2>&1 || { cat "$T/conformance.log"; fail "adapter conformance"; }
cat "$T/conformance.log" | grep -v '^\[' || true
grep -q '^PASS: 3 adapters, 0 failures' "$T/conformance.log" || fail "summary"
pass "every adapter holds the lifecycle contract"
