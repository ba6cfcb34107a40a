#!/bin/bash
# An RTU slave that answers 100-400 ms late against a 200 ms timeout,
# with retries: the answer to a first try arrives while the retry is
# outstanding, and the retry's own answer after that. Its two reads have the
# same size (r0, r50): neither late answer may ever be taken for the other
# read. Purpose-built slave (not citygate-sim) on a socat PTY.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/modbus_lib.sh"
start_pty_pair
start_rtu_slave --unit 21 --late 21:100:400 --seed 3
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state"},"normalise":{"enabled":false},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:9","database":"city"}],
 "sources":[{"type":"modbus","name":"bus1","transport":"rtu","device":"$T/ttyCG","baud":38400,
   "response_timeout_ms":200,"retries":2,"quarantine_after":0,"stagger":false,
   "devices":[{"name":"lag","unit_id":21,"poll_interval_ms":300,"address_base":0,"max_gap_registers":0,
               "registers":[$(reg 0),$(reg 50)]}]}]}
CONF
bg citygate "$CITYGATE" --dry-run --config "$T/cg.json"
CG=$LAST_PID
sleep 12
stop_pid "$CG"
dry_run_points
echo "slave: $(grep -c "\"late\"" "$T/slave.jsonl") answers, 100-400 ms late"
$PY "$SRC_DIR/tests/integration/modbus_lp_check.py" "$T/points.lp" lag=21:3 || fail "a late answer was taken for another read"
pass "no late answer taken for another read of the same size"
grep -q 'device lag: late or stray frame discarded (late answer to a' "$T/citygate.log" || fail "late answers not reported"
pass "late answers discarded and reported"
