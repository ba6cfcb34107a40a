#!/bin/bash
# Modbus RTU over TCP (a serial device server in transparent mode): RTU frames
# on a TCP socket. socat bridges a TCP port to a PTY on which the purpose-built
# faulty slave answers (not citygate-sim): unit 17 answers after 150-320 ms
# against a 200 ms timeout, unit 19 is healthy but every 2nd answer comes after
# junk and a frame for another slave id. Same frame discipline as on a serial
# line: no wrong value ever, the healthy device on time.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/modbus_lib.sh"
command -v socat >/dev/null || fail "socat is not installed"
P=$(free_port)
bg socat socat -d -d "pty,raw,echo=0,link=$T/ttySL" "tcp-listen:$P,bind=127.0.0.1,reuseaddr"
wait_for 10 test -e "$T/ttySL" || fail "socat made no PTY"
start_rtu_slave --unit 17 --unit 19 --late 17:150:320 --stray 19:2
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state"},"normalise":{"enabled":false},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:9","database":"city"}],
 "sources":[{"type":"modbus","name":"cabinet","transport":"rtu_over_tcp","host":"127.0.0.1","port":$P,
   "response_timeout_ms":200,"retries":1,"quarantine_after":0,"stagger":false,
   "devices":[{"name":"slow","unit_id":17,"poll_interval_ms":1000,"address_base":0,"max_gap_registers":0,
               "registers":[$(reg 0),$(reg 1),$(reg 100),$(reg 101)]},
              {"name":"good","unit_id":19,"poll_interval_ms":500,"address_base":0,
               "registers":[$(reg 0),$(reg 1),$(reg 2),$(reg 3)]}]}]}
CONF
"$CITYGATE" --check-config "$T/cg.json" >"$T/check.out" 2>&1 || fail "config: $(cat "$T/check.out")"
bg citygate "$CITYGATE" --dry-run --config "$T/cg.json"
CG=$LAST_PID
enough() { [ "$(emitted_points good)" -ge 20 ]; }
wait_for 40 enough || fail "good device: only $(emitted_points good) points"
stop_pid "$CG"
grep -q '^info cabinet: 2 devices on 1 connection; ' "$T/citygate.log" || fail "no plan summary"
dry_run_points
echo "slave: $(grep -c '"late"' "$T/slave.jsonl") late answers, $(grep -c '"other_unit"' "$T/slave.jsonl") frames for another unit"
$PY "$SRC_DIR/tests/integration/modbus_lp_check.py" "$T/points.lp" slow=17:1 good=19:20:2000 ||
    fail "a wrong value was stored, or the good device was late"
pass "RTU over TCP: no wrong value, the good device on time"
grep -q 'late or stray frame discarded' "$T/citygate.log" || fail "late/stray frames not reported"
pass "late/stray frames reported"
