#!/bin/bash
# 401: influxd with auth; a wrong password keeps the data (nothing sent,
# nothing dropped, nothing dead-lettered), retries slowly and loudly, and
# never logs the password; the right one from password_file delivers it all.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/influx_lib.sh"

INFLUX_HTTP_EXTRA='auth-enabled = true'
start_influxd
curl -fsS -XPOST "$INFLUX_URL/query" --data-urlencode "q=CREATE USER admin WITH PASSWORD 'Right-pw-1' WITH ALL PRIVILEGES" >/dev/null
curl -fsS -XPOST -u admin:Right-pw-1 "$INFLUX_URL/query" --data-urlencode 'q=CREATE DATABASE test' >/dev/null

printf 'Wrong-pw-9\n' >"$T/wrong.pw"
printf 'Right-pw-1\n' >"$T/right.pw"
cat >"$T/bad.json" <<J
{"name":"a","type":"influxdb_v1","url":"$INFLUX_URL","database":"test","username":"admin",
 "password_file":"$T/wrong.pw","retry_initial_ms":100,"retry_max_ms":400,"flush_interval_ms":100}
J
run_driver bad --config "$T/bad.json" --lines 100 --timeout-ms 3000 --drain-ms 0
expect "driver exit (wrong password)" "$DRIVER_RC" 3
expect "last_status" "$(st bad last_status)" 401
expect "lines_sent" "$(st bad lines_sent)" 0
expect "lines_dead_lettered" "$(st bad lines_dead_lettered)" 0
expect "lines_dropped" "$(st bad lines_dropped)" 0
expect "journal_unread_lines (kept)" "$(st bad journal_unread_lines)" 100
# 3 s at one retry per retry_max_ms (400 ms): about 8 requests, not a storm
req=$(st bad requests)
[ "$req" -ge 4 ] && [ "$req" -le 10 ] || fail "requests $req not in 4..10"
pass "requests $req"
grep -q 'HTTP 401.*check username/password' "$T/bad.log" || fail "no loud 401 log line"
pass "401 logged"
if grep -q 'Wrong-pw-9' "$T/bad.log" "$T/bad.out.json"; then fail "the password leaked into the log"; fi
pass "password not logged"
expect "nothing written" "$(influx_query test 'SELECT count(value) FROM drv' 2>/dev/null | grep -c '"values"' || true)" 0

cat >"$T/good.json" <<J
{"name":"a","type":"influxdb_v1","url":"$INFLUX_URL","database":"test","username":"admin",
 "password_file":"$T/right.pw"}
J
run_driver good --config "$T/good.json" --lines 100
expect "driver exit (right password)" "$DRIVER_RC" 0
expect "lines_sent" "$(st good lines_sent)" 100
n=$(curl -fsS -G -u admin:Right-pw-1 "$INFLUX_URL/query" --data-urlencode db=test --data-urlencode 'q=SELECT count(value) FROM drv' |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["series"][0]["values"][0][1])')
expect "count(value)" "$n" 100
