#!/bin/bash
# RTU frame discipline against a purpose-built faulty slave (not citygate-sim)
# on a socat PTY pair. One bus, three devices:
#   slow  (unit 17) answers every request after 150-320 ms (timeout 200 ms);
#         its two reads have the same size (r0..r1, r100..r101)
#   late1 (unit 18) answers every 3rd request 480 ms late: the late frame
#         (one register) arrives while the next request is outstanding
#   good  (unit 19) answers at once, but every 2nd answer is preceded by junk
#         bytes and a frame for another slave id carrying 0xDEAD
# Register A of unit U holds U*1000+A: no stored value may differ, ever; the
# good device's values arrive on time; late and stray frames are counted.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/modbus_lib.sh"
start_pty_pair
start_rtu_slave --unit 17 --unit 18 --unit 19 --late 17:150:320 --late-every 18:3:480 --stray 19:2

cat >"$T/cg.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state"},"normalise":{"enabled":false},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:9","database":"city"}],
 "sources":[{"type":"modbus","name":"bus1","transport":"rtu","device":"$T/ttyCG","baud":38400,
   "response_timeout_ms":200,"retries":1,"quarantine_after":0,"stagger":false,
   "devices":[{"name":"slow","unit_id":17,"poll_interval_ms":1000,"address_base":0,"max_gap_registers":0,
               "registers":[$(reg 0),$(reg 1),$(reg 100),$(reg 101)]},
              {"name":"late1","unit_id":18,"poll_interval_ms":700,"address_base":0,"registers":[$(reg 5)]},
              {"name":"good","unit_id":19,"poll_interval_ms":500,"address_base":0,
               "registers":[$(reg 0),$(reg 1),$(reg 2),$(reg 3)]}]}]}
CONF
bg citygate "$CITYGATE" --dry-run --config "$T/cg.json"
CG=$LAST_PID
enough() { [ "$(emitted_points good)" -ge 24 ]; }
wait_for 40 enough || fail "good device: only $(emitted_points good) points"
stop_pid "$CG"
dry_run_points
echo "slave: $(grep -c '"late"' "$T/slave.jsonl") late answers, $(grep -c '"other_unit"' "$T/slave.jsonl") frames for another unit, $(grep -c '"junk"' "$T/slave.jsonl") junk"
# good: polled every 500 ms; a slow device's worst poll holds the bus ~1.2 s
$PY "$SRC_DIR/tests/integration/modbus_lp_check.py" "$T/points.lp" slow=17:1 late1=18:3 good=19:24:2000 ||
    fail "a wrong value was stored, or the good device was late"
pass "no wrong value on a bus with late, stray and foreign frames"
grep -q 'late or stray frame' "$T/citygate.log" || fail "late/stray frames were not reported"
pass "late/stray frames reported"
