#!/bin/bash
# MQTT ingest benchmark: N JSON messages (QoS 1) from a local mosquitto through
# citygate into influxd, next to mosquitto_sub that only counts the same messages
# on the same broker and load (the limit any subscriber can reach).
# Prints figures only; never passes or fails on time.
#   CITYGATE=build/citygate SRC_DIR=. bench/mqtt_bench.sh [N]
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
N=${1:-20000}   # 100k: see docs/mqtt.md (mosquitto_pub -l stalls the queue past ~35k)

start_influxd
influx_create_db city
start_mosquitto "max_queued_messages 0"
gw_config "$T/gw.json" "$(counter_source bench benchgw '"receive_maximum":1000')"
$PY - "$T/gw.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["outputs"][0].update({"batch_lines": 5000, "flush_interval_ms": 200})
json.dump(c, open(sys.argv[1], "w"))
PY
seq_lines 0 $((N - 1)) >"$T/payloads"

# both subscribe with persistent sessions first, then go offline so the broker
# queues all N for each; each then drains its queue as fast as it can.
start_gw gw "$T/gw.json"
stop_pid "$GW_PID"
timeout 5 mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -c -i benchcount -t 'city/+/count' -W 1 >/dev/null 2>&1 || true
pub_lines city/a/count 1 <"$T/payloads"

# counting subscriber
t0=$(date +%s.%N)
/usr/bin/time -f "%e %U %S %M" -o "$T/count.time" \
    mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -c -i benchcount -t 'city/+/count' -C "$N" -W 60 >"$T/counted" || echo "counter got $(wc -l <"$T/counted") of $N" >&2
t1=$(date +%s.%N)

# citygate: from connect until all N points are in influxd
t2=$(date +%s.%N)
bg gw2 /usr/bin/time -f "%e %U %S %M" -o "$T/gw.time" "$CITYGATE" --config "$T/gw.json"
GWP=$LAST_PID
wait_scalar 600 city 'SELECT count(seq) FROM counter' "$N" >/dev/null || echo "warning: not all points arrived"
t3=$(date +%s.%N)
pkill -TERM -P "$GWP"; wait "$GWP" 2>/dev/null || true   # citygate is the child of time

read -r _ cu cs crss <"$T/count.time"
read -r _ gu gs grss <"$T/gw.time"
$PY - "$N" "$t0" "$t1" "$t2" "$t3" "$cu" "$cs" "$crss" "$gu" "$gs" "$grss" <<'PY'
import sys
n = int(sys.argv[1]); t0, t1, t2, t3 = map(float, sys.argv[2:6])
cu, cs, crss, gu, gs, grss = map(float, sys.argv[6:12])
rc, rg = n / (t1 - t0), n / (t3 - t2)
print(f"messages                      {n}")
print(f"counting subscriber           {rc:10.0f} msg/s  cpu {100000*(cu+cs)/n:6.2f} s/100k  peak RSS {crss/1024:6.1f} MiB")
print(f"citygate -> influxd           {rg:10.0f} msg/s  cpu {100000*(gu+gs)/n:6.2f} s/100k  peak RSS {grss/1024:6.1f} MiB")
print(f"ratio citygate / counter      {rg/rc:10.2f}")
PY
