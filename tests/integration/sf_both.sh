#!/usr/bin/env bash
# Database down AND gateway kill -9 while readings wait in the buffer (already
# acknowledged to the broker): the restarted gateway replays them from disk.
# Then the same with a torn tail: garbage appended to the newest segment is cut
# at restart and reported, and nothing before it is lost.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/tests/integration/sf_lib.sh"
start_influxd
influx_create_db city
stop_pid "$INFLUX_PID"
start_mosquitto "max_queued_messages 0"  # the broker keeps all while the gateway is away
sf_config "$T/gw.json" "[$(influx_out db "$INFLUX_URL")]"
start_gw gw "$T/gw.json"
sf_publish b 0 1000 250
sleep 2 # the gateway takes (and acknowledges) all 1000 into its disk buffer
kill -9 "$GW_PID"
# torn tail: half a record of garbage at the end of the newest non-empty segment
seg=$(ls -S "$T/state/buffer"/seg-*.wal | head -n 1)
head -c 37 /dev/urandom >>"$seg"
restart_influxd
start_gw gw2 "$T/gw.json"
grep -q "torn tail cut: 37 bytes" "$T/gw2.log" || fail "torn tail not reported"
pass "torn tail cut and reported"
grep -q "1000 lines in" "$T/gw2.log" || fail "recovery did not find the 1000 buffered lines"
pass "1000 buffered lines recovered from disk"
sf_expect_all b 0 1000 60
