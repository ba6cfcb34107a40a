# Helpers of the Modbus tests against the purpose-built faulty slave
# (modbus_faulty.py). Source after lib.sh.

# start_pty_pair: a socat PTY pair, $T/ttySL (the slave's end) <-> $T/ttyCG.
start_pty_pair() {
    command -v socat >/dev/null || fail "socat is not installed"
    bg socat socat -d -d "pty,raw,echo=0,link=$T/ttySL" "pty,raw,echo=0,link=$T/ttyCG"
    wait_for 10 test -e "$T/ttyCG" || fail "socat made no PTYs"
    wait_for 10 test -e "$T/ttySL" || fail "socat made no PTYs"
}

# start_rtu_slave ARGS...: the faulty slave on $T/ttySL, log in $T/slave.jsonl.
start_rtu_slave() {
    bg slave $PY "$SRC_DIR/tests/integration/modbus_faulty.py" --rtu "$T/ttySL" --log "$T/slave.jsonl" "$@"
    wait_for 10 grep -q listening "$T/slave.log" || fail "slave did not start"
}

# reg N [EXTRA]: a uint16 holding register rN at protocol address N, as int.
reg() { echo "{\"name\":\"r$1\",\"address\":$1,\"type\":\"uint16\",\"output\":\"int\"${2:-}}"; }

# emitted_points DEVICE: lines of DEVICE's readings citygate printed (--dry-run).
emitted_points() { grep -c "^modbus,device=$1," "$T/citygate.log" || true; }

# dry_run_points: citygate's printed line protocol without its log lines.
dry_run_points() { grep -v -e '^info' -e '^warn' -e '^error' -e '^debug' "$T/citygate.log" >"$T/points.lp"; }
