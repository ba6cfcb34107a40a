#!/bin/bash
# N simulated Modbus TCP devices (Eastron SDM630 profile, one port each) polled
# by the real citygate every second, output in --dry-run to /dev/null.
# Prints: register reads/s achieved, requests per poll vs one request per
# field, citygate CPU seconds per 1000 register reads, peak RSS, poll lateness.
# Usage: bench/modbus.sh BUILD_DIR N [SECONDS] [PROFILE]
set -euo pipefail
B=${1:?build dir}; N=${2:-100}; SECS=${3:-20}; PROFILE=${4:-eastron_sdm630}
SRC=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/cgbench.XXXXXX)
BASE=$((20000 + RANDOM % 30000))
ulimit -n "$(ulimit -Hn)" || true
"$B/tools/sim/citygate-sim" --profile-dir "$SRC/config/profiles" --tcp "$BASE-$((BASE + N - 1))=$PROFILE@1" \
    --stats "$T/stats.json" 2>"$T/sim.log" &
SIM=$!
trap 'kill $SIM ${CG:-} 2>/dev/null || true; wait $SIM 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
CG=
for _ in $(seq 100); do grep -q 'devices on' "$T/sim.log" && break; sleep 0.1; done
{
    printf '{"gateway":{"id":"bench","state_dir":"%s/state","log_level":"warn"},' "$T"
    printf '"outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:9","database":"b"}],'
    printf '"sources":[{"type":"modbus","name":"bench","transport":"tcp","host":"127.0.0.1","port":%d,' "$BASE"
    printf '"profile_dirs":["%s"],"devices":[' "$SRC/config/profiles"
    for i in $(seq 0 $((N - 1))); do
        [ "$i" -gt 0 ] && printf ','
        printf '{"name":"m%d","unit_id":1,"port":%d,"profile":"%s","poll_interval_ms":1000}' "$i" $((BASE + i)) "$PROFILE"
    done
    printf ']}]}\n'
} >"$T/cg.json"
"$B/citygate" --dry-run --log-level info --config "$T/cg.json" >"$T/out.lp" 2>"$T/cg.log" &
CG=$!
sleep 2 # let every device get connected and staggered
kill -USR1 $SIM; sleep 0.2; cp "$T/stats.json" "$T/s0.json"
read -r u0 s0 < <(awk '{print $14, $15}' /proc/$CG/stat)
t0=$(date +%s.%N)
sleep "$SECS"
kill -USR1 $SIM; sleep 0.2
read -r u1 s1 < <(awk '{print $14, $15}' /proc/$CG/stat)
t1=$(date +%s.%N)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$CG/status)
kill -INT $CG; wait $CG || true
summary=$(grep -o '[0-9]* reads per round instead of [0-9]* one per field' "$T/cg.log" | head -1)
/usr/bin/python3 - "$T/s0.json" "$T/stats.json" "$t0" "$t1" "$u0" "$s0" "$u1" "$s1" "$hwm" "$N" "$summary" "$T/out.lp" <<'PY'
import json, sys, collections
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
t = float(sys.argv[4]) - float(sys.argv[3])
hz = 100.0
cpu = (int(sys.argv[7]) + int(sys.argv[8]) - int(sys.argv[5]) - int(sys.argv[6])) / hz
regs = b["registers"] - a["registers"]; reqs = b["requests"] - a["requests"]
n = int(sys.argv[10])
print("devices                      %d (one TCP connection each, 1 s poll interval)" % n)
print("plan                         %s" % sys.argv[11])
print("register reads/s             %.0f  (%.0f requests/s)" % (regs / t, reqs / t))
print("citygate CPU                 %.2f s over %.1f s = %.1f%% of one core" % (cpu, t, 100 * cpu / t))
print("CPU s per 1000 register reads %.5f" % (cpu / (regs / 1000.0) if regs else float("nan")))
print("peak RSS                     %.1f MiB" % (int(sys.argv[9]) / 1024.0))
# poll lateness: spacing of each device's health points vs the 1000 ms interval
ts = collections.defaultdict(list)
for l in open(sys.argv[12]):
    if l.startswith("citygate_device,"):
        ts[l.split("device=")[1].split(",")[0]].append(int(l.rsplit(" ", 1)[1]) / 1e6)
dev = sorted(abs((y - x) - 1000) for v in ts.values() for x, y in zip(v, v[1:]))
if dev:
    print("poll interval deviation      median %.1f ms, p99 %.1f ms, max %.1f ms" %
          (dev[len(dev) // 2], dev[int(len(dev) * 0.99)], dev[-1]))
PY
