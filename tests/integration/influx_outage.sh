#!/bin/bash
# Database down: lines appended while influxd is stopped are kept and retried;
# after influxd comes back on the same port and data dir, all of them arrive.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/influx_lib.sh"

start_influxd
influx_create_db test
stop_pid "$INFLUX_PID"
cat >"$T/o.json" <<J
{"name":"o","type":"influxdb_v1","url":"$INFLUX_URL","database":"test","batch_lines":1000,
 "retry_initial_ms":100,"retry_max_ms":500,"connect_timeout_ms":1000}
J
"$INFLUX_DRIVER" --state-dir "$T" --config "$T/o.json" --lines 3000 --timeout-ms 60000 >"$T/o.out.json" 2>"$T/o.log" &
DRV=$!
CG_PIDS+=("$DRV")
sleep 2
kill -0 "$DRV" 2>/dev/null || fail "the driver finished while the database was down"
grep -q "cannot write to http://127.0.0.1:$INFLUX_PORT: .*keeping 1000 lines" "$T/o.log" || fail "no outage log line"
pass "outage logged, data kept"
restart_influxd
rc=0
wait "$DRV" || rc=$?
cat "$T/o.out.json" >&2
expect "driver exit" "$rc" 0
expect "lines_sent" "$(st o lines_sent)" 3000
[ "$(st o retries)" -ge 2 ] || fail "retries $(st o retries) < 2"
pass "retries $(st o retries)"
grep -q "writes recovered" "$T/o.log" || fail "no recovery log line"
pass "recovery logged"
expect "count(value)" "$(influx_scalar test 'SELECT count(value) FROM drv')" 3000
expect "sum(value)" "$(influx_scalar test 'SELECT sum(value) FROM drv')" 4498500
