#!/usr/bin/env bash
# Reload and the MQTT source (issue 13), real mosquitto and influxd:
# - a reload rejected after the old sources were stopped (the new buffer
#   cannot be opened) rolls back: the old MQTT source starts again and every
#   message published afterwards lands;
# - counters are cumulative across reloads: after N messages with three valid
#   reloads in between, /metrics and the exit summary say N, not what the last
#   generation saw.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/tests/integration/sf_lib.sh"
start_influxd
influx_create_db city
start_mosquitto
HTTP_PORT=$(free_port)
touch "$T/not-a-dir"

write_config() { # write_config SITE_TAG [BUFFER_JSON]
    cat >"$T/gw.json" <<J
{"gateway":{"id":"gw1","state_dir":"$T/state","drain_timeout_ms":3000,"self_metrics_interval_s":0,"gap_records":false},
 "tags":{"site":"$1"},
 "http":{"listen":"127.0.0.1:$HTTP_PORT"},
 "normalise":{"enabled":false},
 "buffer":${2:-{\}},
 "outputs":[$(influx_out db "$INFLUX_URL")],
 "sources":[{"type":"mqtt","name":"broker","url":"$MQTT_URL","client_id":"reload-gw","clean_session":false,
   "reconnect_min_ms":100,"reconnect_max_ms":500,
   "subscriptions":[{"topic":"sf/#","qos":1}],
   "rules":[{"topic":"sf/{run}","format":"influx"}]}]}
J
}
write_config cab1
start_gw gw "$T/gw.json"
sf_publish a 0 200
sf_expect_all a 0 200 30

# Rolled back: valid config, but its buffer directory cannot be created.
write_config cab1 "{\"dir\":\"$T/not-a-dir/buffer\"}"
kill -HUP "$GW_PID"
wait_for 20 grep -q "the new buffer cannot be opened; going on with the old config" "$T/gw.log" ||
    fail "reload not rolled back"
count_gt() { [ "$(grep -c "$1" "$T/gw.log")" -gt "$2" ]; } # count_gt PATTERN N, for wait_for
wait_for 20 count_gt "subscribed to" 1 ||
    fail "the old MQTT source did not subscribe again after the rollback"
subs=$(grep -c "subscribed to" "$T/gw.log")
sf_publish b 0 200
sf_expect_all b 0 200 30
pass "after a rolled-back reload the old MQTT source runs: 200 of 200 messages landed"

# Three valid reloads, messages between each (all landed before the next
# reload, so none is in flight and none can come twice).
total=400
for site in cab2 cab3 cab4; do
    write_config "$site"
    n=$(grep -c "reloaded: 1 source, 1 output" "$T/gw.log" || true)
    kill -HUP "$GW_PID"
    wait_for 20 count_gt "reloaded: 1 source, 1 output" "$n" || fail "reload to $site"
    wait_for 20 count_gt "subscribed to" "$subs" || fail "not subscribed after reload"
    subs=$(grep -c "subscribed to" "$T/gw.log")
    sf_publish "$site" 0 100
    sf_expect_all "$site" 0 100 30
    total=$((total + 100))
done
curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" >"$T/metrics"
grep -q "^citygate_output_lines_sent_total{output=\"db\"} $total\$" "$T/metrics" ||
    { grep lines_sent "$T/metrics"; fail "metrics: lines sent after reloads, want $total"; }
grep -q "^citygate_source_points_in_total{source=\"broker\",type=\"mqtt\"} $total\$" "$T/metrics" ||
    { grep points_in "$T/metrics"; fail "metrics: points in after reloads, want $total"; }
grep -q "^citygate_source_item_reads_total{.*item=\"subscription sf/#\",kind=\"subscription\"} $total\$" "$T/metrics" ||
    { grep reads_total "$T/metrics"; fail "metrics: subscription reads after reloads, want $total"; }
pass "/metrics after 4 reloads: lines sent, points in and the subscription's reads = $total"

stop_pid "$GW_PID"
expect "exit summary: lines sent" "$(out_stat "$T/gw.log" db sent)" "$total"
grep -q "^info broker: points accepted=$total " "$T/gw.log" || { grep "points accepted" "$T/gw.log"; fail "exit summary: points accepted"; }
pass "exit summary counts the whole run: sent=$total"
