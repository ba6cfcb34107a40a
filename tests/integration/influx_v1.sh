#!/bin/bash
# v1 /write into a real influxd: every line arrives with its values and time,
# in batches of batch_lines, gzip on; then precision s + rp + gzip off.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/influx_lib.sh"

start_influxd
influx_create_db test
cat >"$T/v1.json" <<J
{"name":"v1","type":"influxdb_v1","url":"$INFLUX_URL/","database":"test","precision":"us",
 "batch_lines":1000,"flush_interval_ms":200}
J
run_driver v1 --config "$T/v1.json" --lines 20000 --ts0 1700000000000000000 --step-ns 1000000
expect "driver exit" "$DRIVER_RC" 0
expect "lines_sent" "$(st v1 lines_sent)" 20000
expect "batches_sent" "$(st v1 batches_sent)" 20
expect "requests" "$(st v1 requests)" 20
expect "retries" "$(st v1 retries)" 0
expect "lines_dead_lettered" "$(st v1 lines_dead_lettered)" 0
expect "last_status" "$(st v1 last_status)" 204
expect "count(value)" "$(influx_scalar test 'SELECT count(value) FROM drv')" 20000
expect "sum(value)" "$(influx_scalar test 'SELECT sum(value) FROM drv')" 199990000
expect "sum(temp)" "$(influx_scalar test 'SELECT sum(temp) FROM drv')" 199995000
# i = 23 is the first with host=h3 sensor=s2: time ts0 + 23 ms, value 23, temp 23.25
row=$(influx_query test "SELECT value, temp FROM drv WHERE host='h3' AND sensor='s2' LIMIT 1" |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["series"][0]["values"][0])')
expect "first h3/s2 row" "$row" "[1700000000023000000, 23, 23.25]"
[ ! -e "$T/deadletter-v1.lp" ] || fail "a dead-letter file was created without rejections"

# precision s truncates to seconds: 10 lines one second apart, rp given, gzip off
cat >"$T/v1s.json" <<J
{"name":"v1s","type":"influxdb_v1","url":"$INFLUX_URL","database":"test","retention_policy":"autogen",
 "precision":"s","gzip":false}
J
run_driver v1s --config "$T/v1s.json" --lines 10 --measurement drv_s --ts0 1700000000123456789 --step-ns 1000000000
expect "driver exit (s)" "$DRIVER_RC" 0
expect "count (s)" "$(influx_scalar test 'SELECT count(value) FROM autogen.drv_s')" 10
expect "first time (s)" "$(influx_query test 'SELECT value FROM drv_s LIMIT 1' |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["series"][0]["values"][0][0])')" 1700000000000000000
