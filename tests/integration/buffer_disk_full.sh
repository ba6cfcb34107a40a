#!/usr/bin/env bash
# The disk under the buffer fills up (issue 13): 40000 QoS 1 messages go to a
# gateway whose state directory is a 1 MiB tmpfs, the database down, so the
# buffer runs out of space after about a third of them. Appends then fail with
# ENOSPC: the MQTT source must hold the message in hand (nothing more is read,
# so nothing more is acknowledged and the broker keeps the rest), export the
# error and a health reason, and take again by itself when space returns:
#   1. a filler file is deleted -> intake resumes, fills the disk again;
#   2. the database comes back -> the output drains, segments are freed,
#      intake resumes, and in the end published == stored, 0 lost.
# Needs root (mount); the tmpfs is unmounted by the exit trap.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/tests/integration/sf_lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for mount -t tmpfs"; exit 77; }
N=40000
FS="$T/fs"
mkdir -p "$FS"
mount -t tmpfs -o size=1m,mode=0700 cgtest "$FS"
trap 'rc=$?; [ -n "${GW_PID:-}" ] && kill -9 "$GW_PID" 2>/dev/null; umount -l "$FS" 2>/dev/null; (exit $rc); cg_cleanup' EXIT
head -c 262144 /dev/zero >"$FS/filler"

start_influxd
influx_create_db city
stop_pid "$INFLUX_PID"
start_mosquitto "max_queued_messages 0"
SF_HTTP_PORT=$(free_port) SF_STATE=$FS SF_SRC_EXTRA='"emit_timeout_ms":200,'
sf_config "$T/gw.json" "[$(influx_out db "$INFLUX_URL")]" '{"fsync":"interval","fsync_interval_ms":100,"segment_bytes":32768}'
start_gw gw "$T/gw.json"
sf_publish f 0 "$N" 10000 &
PUB=$!
write_errors_grow() { [ "$(sf_metric citygate_buffer_write_errors_total)" -gt "${1:-0}" ]; }
wait_for 60 write_errors_grow || fail "the disk never filled"
taken1=$(sf_metric citygate_journal_appended_lines_total)
pass "disk full after $taken1 readings; write errors: $(sf_metric citygate_buffer_write_errors_total)"
code=$(curl -s -o "$T/healthz" -w '%{http_code}' "http://127.0.0.1:$SF_HTTP_PORT/healthz")
expect "/healthz status while the disk is full" "$code" 503
grep -q "^buffer cannot write to $FS/buffer (write: No space left on device): readings are held" "$T/healthz" ||
    fail "healthz: $(cat "$T/healthz")"
grep -q "because the buffer is full" "$T/healthz" && fail "healthz blames a full buffer: $(cat "$T/healthz")"
pass "/healthz: $(grep "^buffer" "$T/healthz")"
wait_for 10 grep -q "gateway buffer cannot write (No space left on device): holding the message" "$T/gw.log" ||
    fail "the source did not say it holds the message: $(grep -i space "$T/gw.log" | head -3)"
grep -q "dropped" "$T/gw.log" && fail "something was dropped: $(grep dropped "$T/gw.log" | head -3)"
sleep 1
taken2=$(sf_metric citygate_journal_appended_lines_total)
[ $((taken2 - taken1)) -lt 100 ] || fail "intake went on while the disk was full: $taken1 -> $taken2"
pass "intake held while the disk is full ($taken2 taken of $N)"

rm "$FS/filler" # 1. space returns: intake resumes by itself
more_taken() { [ "$(sf_metric citygate_journal_appended_lines_total)" -gt $((taken2 + 1000)) ]; }
wait_for 30 more_taken || fail "intake did not resume after space was freed: $(sf_metric citygate_journal_appended_lines_total)"
pass "space freed: intake resumed ($(sf_metric citygate_journal_appended_lines_total) taken)"

wait "$PUB" || fail "mosquitto_pub failed"
restart_influxd # 2. the output drains, freeing segments; intake resumes again
sf_expect_all f 0 "$N" 120
stop_pid "$GW_PID"
GW_PID=
expect "bad messages (too_large, ...)" "$(mstat gw bad)" 0
expect "lines lost to the buffer limit" "$(out_stat "$T/gw.log" db lost-to-buffer-limit)" 0
pass "published $N = stored $N, 0 lost; held $(mstat gw held) times"
