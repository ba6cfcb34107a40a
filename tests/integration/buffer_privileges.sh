#!/usr/bin/env bash
# Issue 11, the buffer's side of "one run as root breaks the service":
#   1. a root-owned segment left in the service user's buffer: the service
#      user's start fails with the file, its owner and mode, and the fix;
#   2. started as root on a state directory owned by the service user (here
#      `nobody`): citygate says so and runs as that user; afterwards the
#      directory holds no root-owned file, and a run as that user works;
#   3. after a clean stop with everything sent, the next start does not call
#      the kept lines unsent.
# Needs root (skipped otherwise).
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/tests/integration/sf_lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
chmod 0755 "$T" # nobody must reach its state dir below
start_influxd
influx_create_db city
start_mosquitto
sf_config "$T/gw.json" "[$(influx_out db "$INFLUX_URL")]"
chmod 0644 "$T/gw.json"
S="$T/state"
chown nobody:nogroup "$S"
AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

# 1. a root-owned segment: the service user cannot open the buffer
mkdir -p "$S/buffer" && chown nobody:nogroup "$S/buffer"
touch "$S/buffer/seg-0000000000000003.wal" && chmod 0600 "$S/buffer/seg-0000000000000003.wal"
set +e
"${AS_NOBODY[@]}" "$CITYGATE" --config "$T/gw.json" >"$T/denied.log" 2>&1
rc=$?
set -e
expect "exit code when the buffer cannot be opened" "$rc" 1
want="error buffer: cannot open the buffer: $S/buffer/seg-0000000000000003.wal: Permission denied (owner root:root, mode 0600; citygate runs as nobody). Fix: chown -R nobody: $S/buffer"
grep -qxF "$want" "$T/denied.log" || fail "want '$want', got: $(grep error "$T/denied.log")"
pass "the error names file, owner, mode and the fix"
rm "$S/buffer/seg-0000000000000003.wal"

# 2. started as root: runs as nobody, leaves nothing root-owned
start_gw root "$T/gw.json"
want="warn citygate: started as root on the state directory $S, which belongs to nobody: running as nobody:nogroup (uid 65534, gid 65534) from here on, so every file there stays theirs"
grep -qxF "$want" "$T/root.log" || fail "no privilege message: $(grep citygate: "$T/root.log" | head -3)"
expect "user of the running gateway" "$(ps -o user= -p "$GW_PID" | tr -d ' ')" nobody
sf_publish p 0 10
sf_expect_all p 0 10 30
stop_pid "$GW_PID"
[ -z "$(find "$S" -user root)" ] || fail "root-owned files in the state dir: $(find "$S" -user root)"
pass "no root-owned file in $S after a run started as root"

# 3. a run as the service user works, and the kept-but-sent lines are not called unsent
bg nobody "${AS_NOBODY[@]}" "$CITYGATE" --config "$T/gw.json" --log-level debug
GW_PID=$LAST_PID
wait_for 20 grep -q "subscribed to" "$T/nobody.log" || fail "the run as nobody did not start"
grep -qF "10 lines in 1 segments recovered (unsent: db=0; already delivered, kept until freed: 10)" "$T/nobody.log" ||
    fail "recovery line: $(grep recovered "$T/nobody.log")"
pass "recovery line: delivered lines are not called unsent"
sf_publish p 10 10
sf_expect_all p 0 20 30
