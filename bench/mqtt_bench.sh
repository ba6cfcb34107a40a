#!/usr/bin/env bash
# MQTT ingest benchmark. The broker holds N QoS 1 messages queued for a
# persistent session; each consumer connects and drains its queue as fast as it
# can:
#   - a subscriber that only counts (mosquitto_sub): the limit any client reaches
#     on this broker and machine;
#   - the same client library citygate uses (Paho C async), only counting, with
#     the trace level citygate sets and with Paho's default;
#   - citygate: messages taken into its disk buffer (and acknowledged), and
#     messages delivered into influxd, both timed from process start through
#     its /metrics counters.
# RUNS runs each (default 3); prints medians. Figures only; never pass/fail.
#   scripts/bench mqtt          (N=100000 RUNS=3 by default; N=200000 RUNS=1 for one long run)
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
N=${N:-100000}
RUNS=${RUNS:-3}
COMMIT=${COMMIT:-} # citygate's source "commit" (per_message when empty)
commit_json=""
[ -z "$COMMIT" ] || commit_json=",\"commit\":\"$COMMIT\""
CHUNK=20000 # one mosquitto_pub connection per chunk (a single -l stream stalls past ~35k)

start_influxd
start_mosquitto "max_queued_messages 0"
HTTP_PORT=$(free_port)

preload() { # preload TOPIC: N JSON payloads, seq 0..N-1, distinct ms timestamps
    local c
    for ((c = 0; c < N; c += CHUNK)); do
        awk -v a="$c" -v b="$((c + CHUNK < N ? c + CHUNK : N))" \
            'BEGIN { for (i = a; i < b; i++) printf "{\"seq\":%d,\"ts\":1700000%06d}\n", i, i }' |
            mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t "$1" -l
    done
}
metric() { curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" 2>/dev/null | awk -v m="$1" 'index($0, m) == 1 { print $2 }'; }
now() { date +%s.%N; }

cat >"$T/gw.json" <<J
{"gateway":{"id":"bench","state_dir":"$T/state","self_metrics_interval_s":0},
 "http":{"listen":"127.0.0.1:$HTTP_PORT"},
 "outputs":[{"type":"influxdb_v1","url":"$INFLUX_URL","database":"city","flush_interval_ms":200}],
 "sources":[{"type":"mqtt","name":"b","url":"$MQTT_URL","client_id":"benchgw"$commit_json,
   "subscriptions":[{"topic":"city/#","qos":1}],
   "rules":[{"topic":"city/{district}/count","format":"json","measurement":"counter",
     "json":{"time":"ts","time_format":"ms","fields":{"seq":{"path":"seq","type":"int"}}}}]}]}
J

for r in $(seq "$RUNS"); do
    # counting subscriber
    # -E: leave once subscribed (-W plus timeout's TERM can deadlock mosquitto_sub's signal handler)
    timeout -s KILL 10 mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -c -i counter -t 'city/#' -E >/dev/null 2>&1 || true
    preload city/b/count
    t0=$(now)
    /usr/bin/time -f "%U %S %M" -o "$T/count.time" \
        mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -c -i counter -t 'city/#' -C "$N" -W 300 >/dev/null
    t1=$(now)
    read -r cu cs crss <"$T/count.time"
    echo "$N $t0 $t1 $cu $cs $crss" >>"$T/counter.runs"

    # the same client library citygate uses, only counting
    "$BUILD_DIR/bench/paho_count" "$MQTT_URL" pahocount 'city/#' 0 >/dev/null 2>&1 || true
    preload city/p/count
    /usr/bin/time -f "%U %S %M" -o "$T/paho.time" "$BUILD_DIR/bench/paho_count" "$MQTT_URL" pahocount 'city/#' "$N" \
        >"$T/paho.out"
    read -r pn pdt <"$T/paho.out"
    read -r pu ps prss <"$T/paho.time"
    echo "$pn $pdt $pu $ps $prss" >>"$T/paho.runs"

    # the same, with Paho's default trace level (what citygate had before it set ERROR)
    preload city/p/count
    /usr/bin/time -f "%U %S %M" -o "$T/pahot.time" "$BUILD_DIR/bench/paho_count" "$MQTT_URL" pahocount 'city/#' "$N" \
        default-trace >"$T/pahot.out"
    read -r pn pdt <"$T/pahot.out"
    read -r pu ps prss <"$T/pahot.time"
    echo "$pn $pdt $pu $ps $prss" >>"$T/pahot.runs"

    # citygate
    influx_query city 'DROP DATABASE city' >/dev/null 2>&1 || true
    influx_create_db city
    rm -rf "$T/state"
    "$CITYGATE" --config "$T/gw.json" --run-for 2 >/dev/null 2>&1 # registers the session
    preload city/a/count
    t0=$(now)
    /usr/bin/time -f "%U %S %M" -o "$T/gw.time" "$CITYGATE" --config "$T/gw.json" >"$T/gw.log" 2>&1 &
    tp=$!
    while [ "$(metric 'citygate_source_points_in_total{')" != "$N" ]; do sleep 0.05; done
    t1=$(now)
    while [ "$(metric 'citygate_output_lines_sent_total{')" != "$N" ]; do sleep 0.05; done
    t2=$(now)
    pkill -TERM -P "$tp" 2>/dev/null || true
    wait "$tp" || true
    read -r gu gs grss <"$T/gw.time"
    echo "$N $t0 $t1 $t2 $gu $gs $grss" >>"$T/gw.runs"
done

$PY - "$T/counter.runs" "$T/gw.runs" "$T/paho.runs" "$T/pahot.runs" <<'PY'
import statistics, sys
c = [list(map(float, l.split())) for l in open(sys.argv[1])]
g = [list(map(float, l.split())) for l in open(sys.argv[2])]
med = statistics.median
n = c[0][0]
rc = [r[0] / (r[2] - r[1]) for r in c]
rt = [r[0] / (r[2] - r[1]) for r in g]
rd = [r[0] / (r[3] - r[1]) for r in g]
ratio = [a / b for a, b in zip(rt, rc)]
p = [list(map(float, l.split())) for l in open(sys.argv[3])]
rp = [r[0] / r[1] for r in p]
ratio_p = [a / b for a, b in zip(rt, rp)]
pt = [list(map(float, l.split())) for l in open(sys.argv[4])]
rpt = [r[0] / r[1] for r in pt]
print(f"{int(n)} QoS 1 messages, {len(c)} runs, medians:")
print(f"  counting subscriber        {med(rc):9.0f} msg/s  cpu {med([1e5*(r[3]+r[4])/n for r in c]):5.2f} s/100k  peak RSS {med([r[5] for r in c])/1024:6.1f} MiB")
print(f"  Paho async, only counting  {med(rp):9.0f} msg/s  cpu {med([1e5*(r[2]+r[3])/n for r in p]):5.2f} s/100k  peak RSS {med([r[4] for r in p])/1024:6.1f} MiB")
print(f"  Paho, default trace level  {med(rpt):9.0f} msg/s  cpu {med([1e5*(r[2]+r[3])/n for r in pt]):5.2f} s/100k  peak RSS {med([r[4] for r in pt])/1024:6.1f} MiB")
print(f"  citygate, taken (on disk)  {med(rt):9.0f} msg/s  cpu {med([1e5*(r[4]+r[5])/n for r in g]):5.2f} s/100k  peak RSS {med([r[6] for r in g])/1024:6.1f} MiB")
print(f"  citygate, in influxd       {med(rd):9.0f} msg/s  (cpu and RSS: the same process)")
gcpu = [1e6 * (r[4] + r[5]) / n for r in g]  # CPU ms per 1k messages
print(f"  citygate taken: msg/s median {med(rt):.0f} (range {min(rt):.0f}..{max(rt):.0f}); "
      f"CPU ms per 1k msgs median {med(gcpu):.1f} (range {min(gcpu):.1f}..{max(gcpu):.1f})")
print(f"  ratio taken / counting     {med(ratio):9.2f}  (per run: {', '.join('%.2f' % x for x in ratio)})")
print(f"  ratio Paho count / counting {med([a / b for a, b in zip(rp, rc)]):8.2f}  (the ceiling for any Paho-based client)")
print(f"  ratio taken / Paho count   {med(ratio_p):9.2f}  (per run: {', '.join('%.2f' % x for x in ratio_p)})")
PY
