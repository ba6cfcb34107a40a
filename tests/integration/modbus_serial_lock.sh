#!/bin/bash
# One master per serial line: citygate (here --dry-run, like the daemon) takes
# the UUCP lock file (/run/lock/LCK..<dev>) and TIOCEXCL on its RTU port; a
# second citygate on the same port refuses to start, naming the first one's
# pid; a stale lock file (its pid gone) is taken over; the lock goes with the
# process. Slave: the purpose-built one (not citygate-sim) on a socat PTY.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/modbus_lib.sh"
start_pty_pair
start_rtu_slave --unit 3
real=$(readlink -f "$T/ttyCG")
LOCK=/run/lock/LCK..${real#/dev/}
LOCK=${LOCK//pts\//pts_}
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state"},"normalise":{"enabled":false},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:9","database":"city"}],
 "sources":[{"type":"modbus","name":"bus","transport":"rtu","device":"$T/ttyCG","baud":38400,
   "devices":[{"name":"d3","unit_id":3,"poll_interval_ms":300,"address_base":0,
               "registers":[{"name":"r0","address":0,"type":"uint16","output":"int"}]}]}]}
CONF
sed "s|$T/state|$T/state2|" "$T/cg.json" >"$T/cg2.json"
bg first "$CITYGATE" --dry-run --config "$T/cg.json"
FIRST=$LAST_PID
wait_for 10 grep -q '^modbus,device=d3,.* r0=3000i' "$T/first.log" || fail "first citygate reads nothing"
[ -f "$LOCK" ] || fail "no lock file $LOCK"
[ "$(tr -d ' \n' <"$LOCK")" = "$FIRST" ] || fail "lock file holds '$(cat "$LOCK")', not $FIRST"
pass "lock file $LOCK holds the pid of the citygate using the port"
$PY - "$T/ttyCG" <<'PY' || fail "TIOCEXCL not set on the port"
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)  # root may open it anyway
TIOCGEXCL = 0x80045440
excl = struct.unpack("i", fcntl.ioctl(fd, TIOCGEXCL, b"\0\0\0\0"))[0]
os.close(fd)
sys.exit(0 if excl == 1 else 1)
PY
pass "TIOCEXCL is set on the open port"
if timeout 20 "$CITYGATE" --dry-run --config "$T/cg2.json" >"$T/second.log" 2>&1; then
    fail "a second citygate ran on the same serial port"
fi
cat "$T/second.log"
grep -q "^error bus: serial port $T/ttyCG ($real) is in use by pid $FIRST (lock file $LOCK); refusing to be a second master on the line" \
    "$T/second.log" || fail "refusal does not name the holder"
pass "a second citygate refuses, naming pid $FIRST"
# a reload stops the old generation and starts the new one on the same port
kill -HUP "$FIRST"
wait_for 10 grep -q 'reloaded: 1 source' "$T/first.log" || fail "reload failed: $(grep -e '^error' -e 'reload' "$T/first.log")"
n=$(grep -c '^modbus,device=d3,' "$T/first.log")
more() { [ "$(grep -c '^modbus,device=d3,' "$T/first.log")" -gt $((n + 2)) ]; }
wait_for 10 more || fail "no readings after the reload"
[ "$(tr -d ' \n' <"$LOCK")" = "$FIRST" ] || fail "lock file after the reload holds '$(cat "$LOCK")'"
pass "a reload keeps the port (and its lock)"
stop_pid "$FIRST"
[ ! -e "$LOCK" ] || fail "lock file left behind after a clean stop"
# a stale lock: a pid that does not exist
sleep 0.1 & dead=$!; wait "$dead"
printf '%10d\n' "$dead" >"$LOCK"
bg third "$CITYGATE" --dry-run --config "$T/cg.json"
THIRD=$LAST_PID
wait_for 10 grep -q '^modbus,device=d3,.* r0=3000i' "$T/third.log" || fail "a stale lock file blocked the port"
[ "$(tr -d ' \n' <"$LOCK")" = "$THIRD" ] || fail "stale lock not taken over"
stop_pid "$THIRD"
pass "a stale lock file is taken over"
