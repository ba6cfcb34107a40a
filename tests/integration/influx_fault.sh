#!/bin/bash
# What real servers will not do on demand (tests/integration/fault_http.py):
# 429 + Retry-After (seconds and HTTP-date), 5xx then success over one kept-alive
# connection, a slow answer past timeout_ms, a hanging server at stop time,
# InfluxDB-2-style whole-request 400 rejection, and batching by bytes.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/influx_lib.sh"

conf() { # conf FILE URL EXTRA-JSON
    cat >"$1" <<J
{"name":"f","type":"influxdb_v2","url":"$2","org":"o","bucket":"b","token":"tok-123",
 "flush_interval_ms":50,"retry_initial_ms":100,"retry_max_ms":200${3:-}}
J
}

# -- 429 with Retry-After: 1 (seconds) --------------------------------------
start_fault ra --script 429:ra=1
conf "$T/ra.json" "$FAULT_URL"
run_driver ra --config "$T/ra.json" --lines 100
expect "ra: exit" "$DRIVER_RC" 0
expect "ra: requests" "$(st ra requests)" 2
expect "ra: retries" "$(st ra retries)" 1
expect "ra: statuses" "$(fault_col status | tr '\n' ' ')" "429 204 "
gap=$(fault_gap 0 1)
ge "$gap" 0.95 && ! ge "$gap" 2.5 || fail "ra: gap $gap s, want ~1 s (Retry-After over retry_max_ms 200)"
pass "ra: waited $gap s"
expect "ra: lines accepted" "$(wc -l <"$FAULT_LOG.accepted")" 100
expect "ra: auth header" "$(fault_col auth | sort -u)" "Token tok-123"
expect "ra: encoding" "$(fault_col encoding | sort -u)" "gzip"
expect "ra: path" "$(fault_col path | sort -u)" "/api/v2/write?org=o&bucket=b&precision=ns"
if grep -q 'tok-123' "$T/ra.log"; then fail "token in the log"; fi
stop_pid "$FAULT_PID"

# -- 429 with Retry-After as an HTTP-date 2 s ahead --------------------------
start_fault date --script 429:date=2
conf "$T/date.json" "$FAULT_URL"
run_driver date --config "$T/date.json" --lines 100
expect "date: exit" "$DRIVER_RC" 0
gap=$(fault_gap 0 1)
ge "$gap" 0.95 && ! ge "$gap" 3.5 || fail "date: gap $gap s, want 1..3 s"
pass "date: waited $gap s"
stop_pid "$FAULT_PID"

# -- 500, 503, 502, 504 then 204: backoff within [100, 200] ms, one connection
start_fault five --script 500,503,502,504
conf "$T/five.json" "$FAULT_URL"
run_driver five --config "$T/five.json" --lines 100
expect "5xx: exit" "$DRIVER_RC" 0
expect "5xx: statuses" "$(fault_col status | tr '\n' ' ')" "500 503 502 504 204 "
expect "5xx: retries" "$(st five retries)" 4
expect "5xx: lines_sent" "$(st five lines_sent)" 100
for i in 0 1 2 3; do
    gap=$(fault_gap $i $((i + 1)))
    ge "$gap" 0.09 && ! ge "$gap" 0.6 || fail "5xx: gap $i $gap s not in [0.1, 0.6)"
done
pass "5xx: backoff gaps in range"
expect "5xx: one kept-alive connection" "$(fault_col port | sort -u | wc -l)" 1
expect "5xx: lines accepted" "$(wc -l <"$FAULT_LOG.accepted")" 100
stop_pid "$FAULT_PID"

# -- slow answer: 3 s against timeout_ms 1000 -> retried, then delivered -----
start_fault slow --script slow:3
conf "$T/slow.json" "$FAULT_URL" ',"timeout_ms":1000'
run_driver slow --config "$T/slow.json" --lines 100
expect "slow: exit" "$DRIVER_RC" 0
expect "slow: requests" "$(st slow requests)" 2
expect "slow: lines_sent" "$(st slow lines_sent)" 100
grep -q 'Operation timed out\|Timeout was reached' "$T/slow.log" || fail "slow: no timeout logged"
pass "slow: timeout logged"
stop_pid "$FAULT_PID"

# -- hanging server at stop: stop returns within drain_ms (+ ~1 s) ------------
start_fault hang --default hang
conf "$T/hang.json" "$FAULT_URL" ',"timeout_ms":60000'
run_driver hang --config "$T/hang.json" --lines 100 --timeout-ms 1000 --drain-ms 1000
expect "hang: exit (timeout)" "$DRIVER_RC" 3
expect "hang: lines_sent" "$(st hang lines_sent)" 0
expect "hang: journal_unread_lines (kept)" "$(st hang journal_unread_lines)" 100
sm=$(st hang stop_ms)
[ "$sm" -ge 900 ] && [ "$sm" -le 2500 ] || fail "hang: stop took $sm ms, want ~1000..2500"
pass "hang: stop took $sm ms"
stop_pid "$FAULT_PID"

# -- v2-style rejection: the whole request refused for one bad line ----------
$PY - "$T/rej.lp" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(200):
        host = "BAD" if i == 77 else "h%d" % (i % 4)
        f.write("rj,host=%s v=%di %d\n" % (host, i, 1700000000000000000 + i))
PY
start_fault rej --reject host=BAD
conf "$T/rej.json" "$FAULT_URL"
run_driver rej --config "$T/rej.json" --file "$T/rej.lp"
expect "rej: exit" "$DRIVER_RC" 0
expect "rej: lines_sent" "$(st rej lines_sent)" 199
expect "rej: lines_dead_lettered" "$(st rej lines_dead_lettered)" 1
expect "rej: lines accepted by the server" "$(wc -l <"$FAULT_LOG.accepted")" 199
expect "rej: accepted sum" "$(awk '{split($2,a,"="); s+=a[2]} END {print s}' "$FAULT_LOG.accepted" | tr -d i)" $((19900 - 77))
grep -q "^# .* output=f status=400 reason=unable to parse 'rj,host=BAD v=77i 1700000000000000077': invalid field format$" \
    "$T/deadletter-f.lp" || fail "rej: dead-letter header: $(head -1 "$T/deadletter-f.lp")"
expect "rej: dead-lettered line" "$(sed -n 2p "$T/deadletter-f.lp")" "rj,host=BAD v=77i 1700000000000000077"
stop_pid "$FAULT_PID"

# -- batching by bytes: batch_bytes 1024, gzip off -----------------------------
start_fault bytes
cat >"$T/bytes.json" <<J
{"name":"f","type":"influxdb_v2","url":"$FAULT_URL","bucket":"b","batch_bytes":1024,"gzip":false}
J
run_driver bytes --config "$T/bytes.json" --lines 100
expect "bytes: exit" "$DRIVER_RC" 0
expect "bytes: lines in all requests" "$(fault_col lines | paste -sd+ | bc)" 100
expect "bytes: largest request (lines)" "$(fault_col lines | sort -n | tail -1)" 16
max=$(fault_col bytes | sort -n | tail -1)
[ "$max" -le 1024 ] && [ "$max" -ge 900 ] || fail "bytes: largest body $max bytes, want 900..1024"
pass "bytes: largest body $max bytes"
expect "bytes: encoding" "$(fault_col encoding | sort -u)" ""
