#!/usr/bin/env bash
# citygate's own cost per MQTT message as instruction counts (callgrind), which
# hold still on a shared machine where wall-clock figures do not. N QoS 1 JSON
# messages are queued for citygate's persistent session on a local mosquitto;
# citygate runs under callgrind until all N are in influxd. Prints instructions
# per message for the whole process (Paho, decode, normalise, encode, append,
# output) and the functions that cost most (self cost).
#   COMMIT=per_message|group (default per_message), N (default 10000)
#   scripts/bench mqtt_callgrind
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
N=${N:-10000}
COMMIT=${COMMIT:-per_message}
command -v valgrind >/dev/null || { echo "valgrind not installed: skipped"; exit 0; }

start_influxd
influx_create_db city
start_mosquitto "max_queued_messages 0"
HTTP_PORT=$(free_port)
metric() { curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" 2>/dev/null | awk -v m="$1" 'index($0, m) == 1 { print $2 }'; }
commit_key=""
[ "$COMMIT" = per_message ] || commit_key=',"commit":"'"$COMMIT"'"'
cat >"$T/gw.json" <<J
{"gateway":{"id":"bench","state_dir":"$T/state","self_metrics_interval_s":0},
 "http":{"listen":"127.0.0.1:$HTTP_PORT"},
 "outputs":[{"type":"influxdb_v1","url":"$INFLUX_URL","database":"city","flush_interval_ms":200}],
 "sources":[{"type":"mqtt","name":"b","url":"$MQTT_URL","client_id":"benchgw"$commit_key,
   "subscriptions":[{"topic":"city/#","qos":1}],
   "rules":[{"topic":"city/{district}/count","format":"json","measurement":"counter",
     "json":{"time":"ts","time_format":"ms","fields":{"seq":{"path":"seq","type":"int"}}}}]}]}
J
"$CITYGATE" --config "$T/gw.json" --run-for 2 >/dev/null 2>&1 # registers the session
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "{\"seq\":%d,\"ts\":1700000%06d}\n", i, i }' |
    mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t city/a/count -l
valgrind --tool=callgrind --callgrind-out-file="$T/cg.out" "$CITYGATE" --config "$T/gw.json" >"$T/gw.log" 2>&1 &
vp=$!
# lines sent also counts citygate's own points (gap records, self metrics): >= N
# (polled every second: each scrape of /metrics is counted too)
for _ in $(seq 300); do [ "$(metric 'citygate_output_lines_sent_total{')" -ge "$N" ] 2>/dev/null && break; sleep 1; done
got=$(metric 'citygate_source_points_in_total{')
kill -TERM "$vp"
wait "$vp" || true
[ "$got" = "$N" ] || { echo "only $got of $N taken"; exit 1; }
total=$(callgrind_annotate "$T/cg.out" 2>/dev/null | awk '/PROGRAM TOTALS/ { if (!d++) { gsub(",", "", $1); print $1 } }')
[ -z "${CG_KEEP:-}" ] || cp "$T/cg.out" "$CG_KEEP"
recv=$(callgrind_annotate --inclusive=yes "$T/cg.out" 2>/dev/null | awk '/:on_message / { if (!d++) { gsub(",", "", $1); print $1 } }')
echo "commit=$COMMIT N=$N: $total instructions, $((total / N)) per message (whole process, start and stop included)"
echo "  in the MQTT message callback (decode, match, normalise, encode, append): $((recv / N)) per message"
callgrind_annotate --threshold=90 "$T/cg.out" 2>/dev/null | awk '/file:function/ { p = 1; next } p && NF && k++ < 25 { print }'
