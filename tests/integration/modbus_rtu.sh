#!/bin/bash
# Modbus RTU through a socat PTY pair: three devices (two unit ids of one
# profile and a water meter) on one bus; values exact; then the "USB-serial
# adapter" is unplugged (the PTYs vanish) and plugged back in: citygate must
# reconnect by itself and deliver again.
. "$SRC_DIR/tests/integration/lib.sh"
: "${CITYGATE_SIM:?}"
command -v socat >/dev/null || fail "socat is not installed"

start_bus() {
    bg socat socat -d -d "pty,raw,echo=0,link=$T/ttySIM" "pty,raw,echo=0,link=$T/ttyCG"
    SOCAT=$LAST_PID
    wait_for 10 test -e "$T/ttyCG" || fail "socat made no PTYs"
    wait_for 10 test -e "$T/ttySIM" || fail "socat made no PTYs"
    bg "sim$1" "$CITYGATE_SIM" --profile-dir "$SRC_DIR/config/profiles" --step-ms 0 --print-values --baud 38400 \
        --rtu "$T/ttySIM=airq_rs485@1-2" --rtu "$T/ttySIM=water_meter@3" --stats "$T/stats$1.json"
    SIM=$LAST_PID
    wait_for 10 grep -q 'devices on' "$T/sim$1.log" || fail "sim did not start"
}
start_bus 1
grep '^{' "$T/sim1.log" >"$T/values.jsonl"
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state"},"normalise":{"enabled":false},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:9","database":"city"}],
 "sources":[{"type":"modbus","name":"cabinet3-rs485","transport":"rtu","device":"$T/ttyCG","baud":38400,
   "parity":"none","data_bits":8,"stop_bits":1,"response_timeout_ms":300,"retries":0,
   "reconnect_min_ms":200,"reconnect_max_ms":400,"quarantine_after":0,
   "profile_dirs":["$SRC_DIR/config/profiles"],
   "devices":[{"name":"aq1","unit_id":1,"profile":"airq_rs485","poll_interval_ms":300},
              {"name":"aq2","unit_id":2,"profile":"airq_rs485","poll_interval_ms":300},
              {"name":"w1","unit_id":3,"profile":"water_meter","poll_interval_ms":300}]}]}
CONF
bg citygate "$CITYGATE" --dry-run --config "$T/cg.json"
CG=$LAST_PID
# citygate's stdout is in citygate.log (line protocol) together with stderr
wait_for 10 grep -q '^water,device=w1' "$T/citygate.log" || fail "no data over RTU"
sleep 1
$PY "$SRC_DIR/tests/integration/modbus_check.py" --sim "$T/values.jsonl" --map "rtu/1=aq1,rtu/2=aq2,rtu/3=w1" \
    --lp <(grep -v -e '^info' -e '^warn' -e '^error' "$T/citygate.log") --min-polls 2 \
    --measurement-of aq1=air_quality,aq2=air_quality,w1=water || fail "values differ over RTU"
pass "RTU values exact"

# unplug: both PTYs disappear
stop_pid "$SIM"; stop_pid "$SOCAT"
wait_for 10 grep -q 'cabinet3-rs485: .*\(connection lost\|cannot connect\)' "$T/citygate.log" || fail "unplug not noticed"
sleep 1
before=$(grep -c '^water,device=w1' "$T/citygate.log")
start_bus 2
more_data() { test "$(grep -c '^water,device=w1' "$T/citygate.log")" -gt $((before + 2)); }
wait_for 15 more_data || fail "no data after replug"
grep -q 'rtu .*recovered' "$T/citygate.log" || fail "no 'recovered' log line"
pass "reconnected after the serial device came back"
stop_pid "$CG"
stop_pid "$SIM"
$PY -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["write_attempts"]==0 and s["forbidden_reads"]==0, s' \
    "$T/stats2.json" || fail "forbidden read or write attempt"
