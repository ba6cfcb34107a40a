#!/usr/bin/env bash
# Gateway kill -9 under load, then restarted: every message arrives exactly once
# (the broker keeps what was not acknowledged, the disk buffer what was).
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/tests/integration/sf_lib.sh"
start_influxd
influx_create_db city
start_mosquitto "max_queued_messages 0"  # the broker keeps all while the gateway is away
sf_config "$T/gw.json" "[$(influx_out db "$INFLUX_URL")]"
start_gw gw "$T/gw.json"
sf_publish k 0 3000 100 0.05 &
pub=$!
wait_for 20 sf_count_gt k 300 || fail "nothing arrived before the kill"
kill -9 "$GW_PID"
arrived=$(sf_count k)
echo "killed the gateway with $arrived points in the database"
[ "$arrived" -lt 3000 ] || fail "the kill came too late to test anything"
wait "$pub"
start_gw gw2 "$T/gw.json"
sf_expect_all k 0 3000 60
