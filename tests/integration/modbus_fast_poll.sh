#!/bin/bash
# Fast polls: 10 devices on their own TCP endpoints (citygate-sim), polled
# every 20 ms. The config is accepted (the minimum was 100 ms), each device is
# read at >= 90% of its target rate over the run (points per device against
# the span of their timestamps / 20 ms), and every served value comes out of
# `citygate --dry-run` exactly.
. "$SRC_DIR/tests/integration/lib.sh"
: "${CITYGATE_SIM:?}"
N=10
sim_args=(); devs=""; map=""; meas=""
for i in $(seq 0 $((N - 1))); do
    p=$(free_port)
    sim_args+=(--tcp "$p=airq_rs485@1")
    devs+="${devs:+,}{\"name\":\"f$i\",\"unit_id\":1,\"port\":$p,\"profile\":\"airq_rs485\",\"poll_interval_ms\":20}"
    map+="${map:+,}$p/1=f$i"; meas+="${meas:+,}f$i=air_quality"
    ports+=("$p")
done
bg sim "$CITYGATE_SIM" --profile-dir "$SRC_DIR/config/profiles" --step-ms 0 --print-values "${sim_args[@]}"
SIM=$LAST_PID
for p in "${ports[@]}"; do wait_port "$p"; done
grep '^{' "$T/sim.log" >"$T/values.jsonl"
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state"},"normalise":{"enabled":false},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:9","database":"city"}],
 "sources":[{"type":"modbus","name":"fast","transport":"tcp","host":"127.0.0.1","health":false,
   "profile_dirs":["$SRC_DIR/config/profiles"],"response_timeout_ms":200,"retries":0,
   "devices":[$devs]}]}
CONF
"$CITYGATE" --check-config "$T/cg.json" >"$T/check.txt" 2>&1 || { cat "$T/check.txt"; fail "20 ms polls refused"; }
pass "20 ms polls accepted"
"$CITYGATE" --dry-run --config "$T/cg.json" >"$T/out.lp" 2>"$T/citygate.log" &
CG=$!
CG_PIDS+=("$CG")
enough() { [ "$(grep -o '^air_quality,device=f[0-9]*' "$T/out.lp" | sort | uniq -c | awk '$1 >= 150' | wc -l)" -ge $N ]; }
wait_for 40 enough || fail "not every device read 150 times in 40 s"
kill -INT "$CG"; wait "$CG" || true
$PY - "$T/out.lp" <<'PY' || fail "below 90% of the target rate"
import collections, sys
ts = collections.defaultdict(list)
for l in open(sys.argv[1]):
    if l.startswith("air_quality,device="):
        ts[l.split("device=")[1].split(",")[0]].append(int(l.rsplit(" ", 1)[1]))
worst = 1.0
for dev, t in sorted(ts.items()):
    span = (max(t) - min(t)) / 20e6 + 1
    worst = min(worst, len(t) / span)
    print("%s: %d points over %.0f slots of 20 ms: %.3f of target" % (dev, len(t), span, len(t) / span))
sys.exit(0 if worst >= 0.9 else 1)
PY
pass "every device at >= 90% of 50 polls/s"
$PY "$SRC_DIR/tests/integration/modbus_check.py" --sim "$T/values.jsonl" --map "$map" --lp "$T/out.lp" \
    --min-polls 150 --measurement-of "$meas" || fail "values differ"
pass "every served value written exactly"
stop_pid "$SIM"
