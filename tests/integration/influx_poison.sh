#!/bin/bash
# 400 poison line (field type conflict, which influxd 1.6 answers with
# "partial write" after writing the valid lines): bisection isolates the one
# line, only it goes to the dead-letter file, every other line is queried back.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/influx_lib.sh"

start_influxd
influx_create_db test
curl -fsS -XPOST "$INFLUX_URL/write?db=test" --data-binary 'poison,host=seed v=1i 1' >/dev/null
# 1000 lines, v an integer except line 537 (a string: type conflict)
$PY - "$T/lines.lp" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(1000):
        v = '"oops"' if i == 537 else "%di" % i
        f.write("poison,host=h%d v=%s,w=%d %d\n" % (i % 5, v, i, 1700000000000000000 + i * 1000000))
PY
cat >"$T/p.json" <<J
{"name":"p","type":"influxdb_v1","url":"$INFLUX_URL","database":"test","batch_lines":1000}
J
run_driver p --config "$T/p.json" --file "$T/lines.lp"
expect "driver exit" "$DRIVER_RC" 0
expect "lines_sent" "$(st p lines_sent)" 999
expect "lines_dead_lettered" "$(st p lines_dead_lettered)" 1
expect "lines_dropped" "$(st p lines_dropped)" 0
expect "retries" "$(st p retries)" 0
# one poison line in 1000: 2 requests per level of a binary search (log2 1000 ~ 10)
bis=$(st p bisect_requests)
[ "$bis" -ge 10 ] && [ "$bis" -le 20 ] || fail "bisect_requests $bis not in 10..20"
pass "bisect_requests $bis"
expect "count(w)" "$(influx_scalar test 'SELECT count(w) FROM poison')" 999
expect "sum(w)" "$(influx_scalar test 'SELECT sum(w) FROM poison')" $((499500 - 537))
expect "count(v)" "$(influx_scalar test 'SELECT count(v) FROM poison')" 1000 # 999 + the seed
dl="$T/deadletter-p.lp"
expect "dead-letter mode" "$(stat -c %a "$dl")" 640
expect "dead-letter lines" "$(wc -l <"$dl")" 2
sed -n 1p "$dl" | grep -Eq '^# [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z output=p status=400 reason=.*field type conflict' ||
    fail "dead-letter header: $(sed -n 1p "$dl")"
pass "dead-letter header: $(sed -n 1p "$dl")"
expect "dead-letter line" "$(sed -n 2p "$dl")" "$(sed -n 538p "$T/lines.lp")"
grep -q "1 of 1000 lines rejected" "$T/p.log" || fail "no rejection log line"
expect "rejection log lines" "$(grep -c 'rejected by' "$T/p.log")" 1

# bisect_max_requests caps the search: with 2 requests allowed, the first split
# costs both (lines 0..499 accepted, 500..999 refused); the refused half is then
# dead-lettered whole instead of searched further.
influx_create_db test2
curl -fsS -XPOST "$INFLUX_URL/write?db=test2" --data-binary 'poison,host=seed v=1i 1' >/dev/null
cat >"$T/q.json" <<J
{"name":"q","type":"influxdb_v1","url":"$INFLUX_URL","database":"test2","batch_lines":1000,"bisect_max_requests":2}
J
run_driver q --config "$T/q.json" --file "$T/lines.lp"
expect "capped: driver exit" "$DRIVER_RC" 0
expect "capped: bisect_requests" "$(st q bisect_requests)" 2
expect "capped: lines_sent" "$(st q lines_sent)" 500
expect "capped: lines_dead_lettered" "$(st q lines_dead_lettered)" 500
expect "capped: dead-letter entries" "$(grep -c '^# ' "$T/deadletter-q.lp")" 500
grep -q "not isolated (bisect_max_requests reached)" "$T/deadletter-q.lp" || fail "no cap reason"
pass "cap reason in dead-letter file"

# dead_letter_max_bytes caps the file: entries are written while they fit,
# every later rejected line is only counted (lines_dropped) and logged once.
# A file left by an earlier run counts against the cap from its first line.
influx_create_db test3
curl -fsS -XPOST "$INFLUX_URL/write?db=test3" --data-binary 'poison,host=seed v=1i 1' >/dev/null
cap=4096
cat >"$T/r.json" <<J
{"name":"r","type":"influxdb_v1","url":"$INFLUX_URL","database":"test3","batch_lines":1000,"bisect_max_requests":2,
 "dead_letter_max_bytes":$cap}
J
run_driver r --config "$T/r.json" --file "$T/lines.lp"
expect "cap: driver exit" "$DRIVER_RC" 0
expect "cap: lines_sent" "$(st r lines_sent)" 500
dl="$T/deadletter-r.lp"
kept=$(st r lines_dead_lettered)
dropped=$(st r lines_dropped)
size=$(stat -c %s "$dl")
[ "$kept" -gt 0 ] && [ "$dropped" -gt 0 ] || fail "cap: kept $kept, dropped $dropped: the cap was not reached"
expect "cap: kept + dropped" "$((kept + dropped))" 500
expect "cap: entries in the file" "$(grep -c '^# ' "$dl")" "$kept"
[ "$size" -le "$cap" ] || fail "cap: dead-letter file $size bytes > $cap"
# full: one more entry (same size as the last) would not have fitted
last=$(tail -n 2 "$dl" | wc -c)
[ $((size + last)) -gt "$cap" ] || fail "cap: file $size bytes + entry $last still fits $cap, yet lines were dropped"
pass "cap: $kept entries kept ($size of $cap bytes), $dropped only counted"
grep -q "is full (dead_letter_max_bytes $cap)" "$T/r.log" || fail "cap: no 'is full' log line"
expect "cap: 'is full' logged once (rate-limited)" "$(grep -c 'is full' "$T/r.log")" 1
# a second run on the same full file writes nothing more
run_driver r --config "$T/r.json" --file "$T/lines.lp"
expect "cap, second run: lines_dead_lettered" "$(st r lines_dead_lettered)" 0
expect "cap, second run: lines_dropped" "$(st r lines_dropped)" 500
expect "cap, second run: file size" "$(stat -c %s "$dl")" "$size"

# dead_letter_max_bytes 0: no file at all, rejected lines counted
cat >"$T/z.json" <<J
{"name":"z","type":"influxdb_v1","url":"$INFLUX_URL","database":"test3","batch_lines":1000,"bisect_max_requests":2,
 "dead_letter_max_bytes":0}
J
run_driver z --config "$T/z.json" --file "$T/lines.lp"
expect "off: lines_dropped" "$(st z lines_dropped)" 500
[ ! -e "$T/deadletter-z.lp" ] || fail "off: a dead-letter file was created"
grep -q "dead-letter file disabled" "$T/z.log" || fail "off: not logged"
pass "dead_letter_max_bytes 0: nothing written, 500 counted"
