#!/usr/bin/env bash
# fdatasync failures with `fsync: always` (issue 13): the MQTT acknowledgement
# must come after the data is on disk, so while every fdatasync fails (an
# LD_PRELOAD shim makes it return EIO while a flag file exists) nothing may be
# taken: the source holds the message, the error is counted and named by
# /healthz. When syncs work again every message lands once, none lost.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/tests/integration/sf_lib.sh"
SHIM="$BUILD_DIR/tests/libcg_fsync_fail_shim.so"
[ -f "$SHIM" ] || fail "shim not built: $SHIM"
start_influxd
influx_create_db city
start_mosquitto "max_queued_messages 0"
SF_HTTP_PORT=$(free_port) SF_SRC_EXTRA='"emit_timeout_ms":200,'
sf_config "$T/gw.json" "[$(influx_out db "$INFLUX_URL")]" '{"fsync":"always"}'
export CG_FSYNC_FAIL_FILE="$T/fail-fsync"
LD_PRELOAD="$SHIM" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" start_gw gw "$T/gw.json"
touch "$CG_FSYNC_FAIL_FILE"
sf_publish s 0 50
write_errors() { [ "$(sf_metric citygate_buffer_write_errors_total)" -gt 0 ]; }
wait_for 20 write_errors || fail "no write error counted"
wait_for 10 grep -q "gateway buffer cannot write (Input/output error): holding the message" "$T/gw.log" ||
    fail "the source does not hold the message"
sleep 1
expect "lines taken while fdatasync fails" "$(sf_metric citygate_journal_appended_lines_total)" 0
expect "points in the database while fdatasync fails" "$(sf_count s)" 0
curl -s "http://127.0.0.1:$SF_HTTP_PORT/healthz" >"$T/healthz" || true
grep -qx "buffer cannot write to $T/state/buffer (fdatasync: Input/output error): readings are held" "$T/healthz" ||
    fail "healthz: $(cat "$T/healthz")"
pass "/healthz: $(grep ^buffer "$T/healthz")"
rm "$CG_FSYNC_FAIL_FILE"
sf_expect_all s 0 50 30
stop_pid "$GW_PID"
expect "bad messages" "$(mstat gw bad)" 0
expect "lines lost" "$(out_stat "$T/gw.log" db lost-to-buffer-limit)" 0
grep -q "buffer: writing to the disk buffer recovered" "$T/gw.log" || fail "no recovery line"
pass "published 50 = stored 50, 0 lost; the write error was reported, then recovered"
