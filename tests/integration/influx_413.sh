#!/bin/bash
# 413: influxd with a small max-body-size, gzip off; batches are split in
# halves until they fit, every line arrives; one line bigger than the limit on
# its own is dead-lettered with status 413.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/influx_lib.sh"

INFLUX_HTTP_EXTRA='max-body-size = 20000'
start_influxd
influx_create_db test
$PY - "$T/lines.lp" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(3000):
        f.write("big,host=h%d,zone=z%d value=%di,note=\"n%d\" %d\n" % (i % 10, i % 3, i, i, 1700000000000000000 + i * 1000000))
        if i == 1234:
            f.write("big,host=huge value=1i,s=\"%s\" 1700000000000000001\n" % ("x" * 30000))
PY
cat >"$T/s.json" <<J
{"name":"s","type":"influxdb_v1","url":"$INFLUX_URL","database":"test","gzip":false,"batch_lines":5000}
J
run_driver s --config "$T/s.json" --file "$T/lines.lp"
expect "driver exit" "$DRIVER_RC" 0
expect "lines_sent" "$(st s lines_sent)" 3000
expect "lines_dead_lettered" "$(st s lines_dead_lettered)" 1
[ "$(st s splits)" -ge 4 ] || fail "splits $(st s splits) < 4"
pass "splits $(st s splits)"
expect "count(value)" "$(influx_scalar test 'SELECT count(value) FROM big')" 3000
expect "sum(value)" "$(influx_scalar test 'SELECT sum(value) FROM big')" 4498500
expect "huge line absent" "$(influx_scalar test "SELECT count(value) FROM big WHERE host='huge'")" 0
grep -q '^# .* output=s status=413 reason=line too large for the server' "$T/deadletter-s.lp" ||
    fail "dead-letter header: $(head -c 300 "$T/deadletter-s.lp")"
expect "dead-lettered line is the huge one" "$(sed -n 2p "$T/deadletter-s.lp" | cut -c1-30)" "big,host=huge value=1i,s=\"xxxx"
