#!/bin/bash
# 300 Modbus TCP endpoints (citygate-sim, one port each, one device behind
# each), 6 of them silent (they accept and never answer). citygate polls them
# all from a small worker pool, not a thread per endpoint: the process never
# has more than 40 threads (/proc/PID/status Threads), every served value of
# the 294 live devices comes out of `citygate --dry-run` exactly, each of them
# polled at least 3 times, and the silent ones are counted as timeouts; with
# socket numbers past 1023 (FD_SETSIZE).
. "$SRC_DIR/tests/integration/lib.sh"
: "${CITYGATE_SIM:?}"
N=300
# N consecutive free ports
BASE=$($PY - "$N" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(50):
    base = random.randrange(20000, 60000 - n)
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base); break
PY
)
[ -n "$BASE" ] || fail "no $N consecutive free ports"
LAST=$((BASE + N - 1))
DEAD="0 50 100 150 200 250"
faults=(); for i in $DEAD; do faults+=(--fault "$((BASE + i))/1:dead"); done
bg sim "$CITYGATE_SIM" --profile-dir "$SRC_DIR/config/profiles" --step-ms 0 --print-values \
    --tcp "$BASE-$LAST=airq_rs485@1" "${faults[@]}"
SIM=$LAST_PID
wait_port "$BASE"; wait_port "$LAST"
grep '^{' "$T/sim.log" >"$T/values.jsonl"
devs=""; map=""
for i in $(seq 0 $((N - 1))); do
    devs+="${devs:+,}{\"name\":\"d$i\",\"unit_id\":1,\"port\":$((BASE + i)),\"profile\":\"airq_rs485\",\"poll_interval_ms\":1000}"
    case " $DEAD " in *" $i "*) ;; *) map+="${map:+,}$((BASE + i))/1=d$i" ;; esac
done
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state"},"normalise":{"enabled":false},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:9","database":"city"}],
 "sources":[{"type":"modbus","name":"street","transport":"tcp","host":"127.0.0.1",
   "profile_dirs":["$SRC_DIR/config/profiles"],"response_timeout_ms":300,"retries":0,
   "devices":[$devs]}]}
CONF
"$CITYGATE" --check-config "$T/cg.json" >/dev/null || fail "config rejected"
# citygate starts with 1024 descriptors open (inherited), so its sockets are
# numbered past FD_SETSIZE, as they are on a box with 1000+ endpoints: nothing
# may put them in a select() fd_set (libmodbus's connect did: abort)
(for _ in $(seq 1024); do exec {fd}</dev/null; done
 exec "$CITYGATE" --dry-run --config "$T/cg.json" >"$T/out.lp" 2>"$T/citygate.log") &
CG=$!
CG_PIDS+=("$CG")
max_threads=0
polled_enough() {
    local t
    t=$(awk '/^Threads:/ {print $2}' "/proc/$CG/status" 2>/dev/null || echo 0)
    [ "${t:-0}" -gt "$max_threads" ] && max_threads=$t
    # every live device has 3 points of its own
    [ "$(grep -o '^air_quality,device=d[0-9]*' "$T/out.lp" | sort | uniq -c | awk '$1 >= 3' | wc -l)" -ge $((N - 6)) ]
}
wait_for 50 polled_enough || fail "not every live device polled 3 times in 50 s"
rss=$(awk '/^VmHWM:/ {print $2}' "/proc/$CG/status")
kill -INT "$CG"; wait "$CG" || true
echo "threads at most $max_threads, peak RSS ${rss} kB for $N endpoints"
[ "$max_threads" -le 40 ] || fail "$max_threads threads for $N endpoints"
pass "threads bounded ($max_threads <= 40)"
$PY "$SRC_DIR/tests/integration/modbus_check.py" --sim "$T/values.jsonl" --map "$map" --lp "$T/out.lp" \
    --min-polls 3 --measurement-of "$(echo "$map" | sed 's/[0-9]*\/1=\(d[0-9]*\)/\1=air_quality/g')" ||
    fail "values differ"
pass "every served value of the live endpoints written exactly"
for i in $DEAD; do
    grep -q "device d$i: no response (timeout)" "$T/citygate.log" || fail "silent d$i not reported"
done
pass "silent endpoints reported as timeouts"
stop_pid "$SIM"
