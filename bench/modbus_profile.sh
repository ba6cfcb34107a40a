#!/usr/bin/env bash
# Profiles citygate's Modbus poll path the way the peer bench runs it
# (harness modbus-sim in ports mode, the harness's citygate config: buffer on
# disk, gzip to influxd, health off), without the peers:
#   CITYGATE=build/bench/citygate DEVICES=100 POLL_MS=100 SECS=20 bench/modbus_profile.sh OUTDIR
# Prints CPU ms per 1k values (from /proc), peak RSS, threads, and a perf
# report (software cpu-clock samples; this machine has no hardware counters).
# Needs build/peer-bench (run `scripts/bench peers` once).
set -euo pipefail
OUT=${1:?outdir}
: "${CITYGATE:?}"
H=${H:-$(cd "$(dirname "$0")/.." && pwd)/build/peer-bench}
DEVICES=${DEVICES:-100} POLL_MS=${POLL_MS:-100} SECS=${SECS:-20} PERF=${PERF:-1}
BASE=${BASE:-20020} IP=${IP:-28086} # sim ports BASE..BASE+DEVICES-1 must miss IP..IP+3
mkdir -p "$OUT"; rm -rf "$OUT"/state "$OUT"/influx
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
mkdir -p "$OUT/influx"
cat >"$OUT/influx/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$((IP + 2))"
[meta]
  dir = "$OUT/influx/meta"
[data]
  dir = "$OUT/influx/data"
  wal-dir = "$OUT/influx/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$IP"
  log-enabled = false
CONF
influxd -config "$OUT/influx/influxdb.conf" >"$OUT/influxd.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$IP/ping" && break; sleep 0.1; done
curl -sf -XPOST "http://127.0.0.1:$IP/query" --data-urlencode "q=CREATE DATABASE city" >/dev/null
"$H/src/bin/modbus-sim" -n "$DEVICES" -p "$BASE" >"$OUT/sim.log" 2>&1 & pids+=($!)
sleep "${SIM_WAIT:-1}"
python3 "$H/tools/gen_configs.py" citygate-modbus "$OUT/cg.json" --devices "$DEVICES" --base-port "$BASE" \
    --poll-ms "$POLL_MS" --influx-port "$IP" --db city --state-dir "$OUT/state" --http-port $((IP + 3)) >/dev/null
${WRAP:-} "$CITYGATE" --config "$OUT/cg.json" >"$OUT/citygate.log" 2>&1 & CG=$!; pids+=($CG)
sleep "${WARM:-3}" # connected, first flushes done
t0=$(awk '{print $14 + $15}' "/proc/$CG/stat")
v0=$(curl -sf "http://127.0.0.1:$((IP + 3))/metrics" | awk '/^citygate_points_in_total|^citygate_source_points_total/ {s += $2} END {print s + 0}')
if [ "$PERF" = 1 ]; then
    perf record -F 999 --call-graph "${PERF_CG:-dwarf,16384}" -p "$CG" -o "$OUT/perf.data" -- sleep "$SECS" >/dev/null 2>&1
else
    sleep "$SECS"
fi
t1=$(awk '{print $14 + $15}' "/proc/$CG/stat")
threads=$(awk '/^Threads:/ {print $2}' "/proc/$CG/status")
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$CG/status")
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$CG/status")
cp "/proc/$CG/smaps_rollup" "$OUT/smaps_rollup" 2>/dev/null || true
cp "/proc/$CG/smaps" "$OUT/smaps" 2>/dev/null || true
tick=$(getconf CLK_TCK)
values=$((DEVICES * 7 * SECS * 1000 / POLL_MS))
echo "devices=$DEVICES poll_ms=$POLL_MS secs=$SECS cpu_ms=$(( (t1 - t0) * 1000 / tick )) values_target=$values" \
     "cpu_ms_per_1k_values=$(python3 -c "print(round(($t1-$t0)*1000/$tick/($values/1000),2))")" \
     "threads=$threads rss_kb=$rss peak_rss_kb=$hwm"
if [ "$PERF" = 1 ]; then
    perf report -i "$OUT/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -v '^$' | grep '%' | head -60 >"$OUT/perf.txt"
fi
