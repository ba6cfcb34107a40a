#!/usr/bin/env bash
# Data-sharing agreement (issue 16): one MQTT stream, two outputs. The city
# influxd gets every reading; the regional influxd gets exactly the agreed
# subset: measurement air only, fields pm25/no2 only, quality ok only, the
# sensor id HMAC-hashed, the geohash cut to 5 characters, the district mapped,
# the serial dropped, as 15-min mean/min/max/count windows of the data's own
# timestamps. Run a: the regional influxd is down while half the data flows.
# Run b: citygate is killed -9 mid-stream, after its saved journal position has
# moved inside windows already sent. Both must end exactly as computed by
# share_check.py (python's hmac and arithmetic), and the city complete.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/tests/integration/sf_lib.sh"
CHECK="$PY $SRC_DIR/tests/integration/share_check.py"

start_influxd
influx_create_db city
CITY_URL=$INFLUX_URL
# the regional hub: a second influxd with its own data directory
REGION_PORT=$(free_port)
mkdir -p "$T/region"
sed -e "s#$T/influxd/#$T/region/#g" -e "s#127.0.0.1:$INFLUX_PORT#127.0.0.1:$REGION_PORT#" \
    -e "s#^bind-address = .*#bind-address = \"127.0.0.1:$(free_port)\"#" \
    "$T/influxd/influxd.conf" >"$T/region/influxd.conf"
start_region() {
    bg influxd-region influxd -config "$T/region/influxd.conf"
    REGION_PID=$LAST_PID
    wait_for 30 curl -fsS "http://127.0.0.1:$REGION_PORT/ping" || fail "regional influxd did not start"
}
start_region
REGION_URL="http://127.0.0.1:$REGION_PORT"
curl -fsS -XPOST "$REGION_URL/query" --data-urlencode 'q=CREATE DATABASE "region"' >/dev/null

printf 'eco-region-2026\n' >"$T/hash.key"
chmod 600 "$T/hash.key"
start_mosquitto "max_queued_messages 0"
SF_HTTP_PORT=$(free_port)
region_out='{"name":"region","type":"influxdb_v1","url":"'"$REGION_URL"'","database":"region",
  "flush_interval_ms":100,"retry_initial_ms":100,"retry_max_ms":500,
  "agreement":{
    "measurements":{"include":["air*"],"exclude":["debug*"]},
    "fields":{"include":["pm*","no2"]},
    "tags":{"exclude":["serial"]},
    "quality":{"include":["ok"]},
    "hash_tags":["sensor"],"hash_key_file":"'"$T/hash.key"'","hash_hex_chars":16,
    "coarsen_tags":{"geohash":{"keep_chars":5},
                    "district":{"map":{"north-1":"north","north-2":"north"},"other":"elsewhere"}},
    "aggregate":{"window_s":900,"window_grace_s":3}}}'
# The source: MQTT JSON with explicit millisecond timestamps, so windows are
# the data's, not arrival's. Persistent session, QoS 1 (kept across the kill).
# Live first after 1 s: the city output sends live readings ahead of its
# backlog after an outage; the aggregating region output must read in order.
mkdir -p "$T/state"
cat >"$T/gw.json" <<J
{"gateway":{"id":"gw1","state_dir":"$T/state","drain_timeout_ms":2000,"self_metrics_interval_s":0,"gap_records":false},
 "http":{"listen":"127.0.0.1:$SF_HTTP_PORT"},
 "normalise":{"enabled":false},
 "buffer":{"fsync":"interval","fsync_interval_ms":100,"live_first_after_s":1},
 "outputs":[$(influx_out city "$CITY_URL"),$region_out],
 "sources":[{"type":"mqtt","name":"broker","url":"$MQTT_URL","client_id":"share-gw","clean_session":false,
   "subscriptions":[{"topic":"share/#","qos":1}],
   "rules":[
     {"topic":"share/{run}/air","format":"json","measurement":"air",
      "json":{"time":"ts","time_format":"ms",
              "fields":{"pm25":{"path":"pm25","type":"float"},"no2":{"path":"no2","type":"int"},
                        "rssi":{"path":"rssi","type":"int"},"status":{"path":"status","type":"string"}},
              "tags":{"sensor":"sensor","serial":"serial","geohash":"geohash","district":"district",
                      "quality":"quality"}}},
     {"topic":"share/{run}/debug","format":"json","measurement":"debug",
      "json":{"time":"ts","time_format":"ms","fields":{"heap":{"path":"heap","type":"int"}},
              "tags":{"sensor":"sensor"}}}]}]}
J
"$CITYGATE" --check-config "$T/gw.json" >"$T/check.log" 2>&1 || { cat "$T/check.log"; fail "config refused"; }

pub() { # pub RUN FROM TO [first|second]
    local kind
    for kind in air debug; do
        $CHECK gen "$kind" "$2" "$3" "${4:-all}" |
            mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t "share/$1/$kind" -l
    done
}
city_air() { $CHECK count "$CITY_URL" city "SELECT count(pm25) FROM air WHERE run='$1'"; }
city_debug() { $CHECK count "$CITY_URL" city "SELECT count(heap) FROM debug WHERE run='$1'"; }
region_rows() { $CHECK rows "$REGION_URL" "$1"; }
wait_eq() { # wait_eq SECONDS WANT CMD...: until CMD prints WANT
    local secs=$1 want=$2 got=""; shift 2
    for _ in $(seq $((secs * 5))); do
        got=$("$@" 2>/dev/null || echo err)
        [ "$got" = "$want" ] && return 0
        sleep 0.2
    done
    echo "$got"
    return 1
}

# ---- run a: the regional database goes away while data flows -------------
start_gw gw "$T/gw.json"
# the first part: readings before a window boundary (sensors' windows are
# staggered by 5 min, so that is a different reading index for each)
pub a 0 60 first
FIRST=$($CHECK gen air 0 60 first | wc -l)
wait_eq 30 "$FIRST" city_air a || fail "run a: city has $(city_air a) air readings after the first part, want $FIRST"
# every window of the first part (the last of each sensor closed by window_grace_s)
HALF=$($CHECK windows first)
ALL=$($CHECK windows all)
wait_eq 30 "$HALF" region_rows a || fail "run a: region has $(region_rows a) windows, want $HALF"
stop_pid "$REGION_PID"
pub a 0 60 second
wait_eq 30 180 city_air a || fail "run a: city has $(city_air a) air readings during the outage, want 180"
expect "run a: city debug readings" "$(city_debug a)" 18
wait_for 20 sh -c "[ \"\$(curl -fsS http://127.0.0.1:$SF_HTTP_PORT/metrics | awk '\$1 ~ /^citygate_output_up/ && /region/ {print \$2}')\" = 0 ]" ||
    fail "region output not seen down"
start_region
wait_eq 40 "$ALL" region_rows a || fail "run a: region has $(region_rows a) windows after the outage, want $ALL"
got=$($CHECK check "$REGION_URL" a "$T/hash.key") || fail "run a: region differs from the agreement: $got"
pass "run a: region holds exactly the $ALL agreed windows (hashed ids, coarse tags, mean/min/max/count)"
expect "run a: city air readings (every one)" "$(city_air a)" 180
metric() { curl -fsS "http://127.0.0.1:$SF_HTTP_PORT/metrics" | awk -v m="$1" -v o="output=\"$2\"" 'index($0, m "{") == 1 && index($0, o) { print $2 }'; }
expect "run a: region lines filtered (debug + out_of_range)" "$(metric citygate_output_lines_filtered_total region)" "$($CHECK filtered 0 60)"
expect "run a: city lines filtered" "$(metric citygate_output_lines_filtered_total city)" 0
expect "run a: region windows sent" "$(metric citygate_output_windows_sent_total region)" "$ALL"
expect "run a: region late lines" "$(metric citygate_output_lines_late_total region)" 0

# ---- run b: kill -9 mid-stream ---------------------------------------------
( for c in $(seq 0 5 55); do pub b "$c" $((c + 5)); sleep 0.3; done ) &
PUB_PID=$!
CG_PIDS+=("$PUB_PID")
# kill once some windows are in and the journal position has been saved (the
# main loop saves it every 200 ms): with the sensors' windows staggered, a
# saved position lies inside windows already sent, which the restart must not
# send again from part of their readings
wait_for 30 sh -c "[ \"\$($CHECK rows $REGION_URL b)\" -ge 5 ]" || fail "run b: no window reached the region"
sleep 0.5
kill -9 "$GW_PID"
pass "run b: citygate killed -9 with $(region_rows b) windows in the region"
wait "$PUB_PID" || fail "publisher failed"
start_gw gw2 "$T/gw.json"
wait_eq 40 180 city_air b || fail "run b: city has $(city_air b) air readings after the kill, want 180"
wait_eq 40 "$ALL" region_rows b || fail "run b: region has $(region_rows b) windows after the kill, want $ALL"
got=$($CHECK check "$REGION_URL" b "$T/hash.key") || fail "run b: region differs after kill -9: $got"
pass "run b: region holds exactly the $ALL agreed windows, none counted twice or from part of its readings"
# run a is untouched by run b's kill and replay
got=$($CHECK check "$REGION_URL" a "$T/hash.key") || fail "run a changed: $got"
pass "run a: still exactly the $ALL agreed windows"
expect "run b: city debug readings" "$(city_debug b)" 18
late=$(metric citygate_output_lines_late_total region)
echo "run b: lines replayed after kill -9 and skipped as already sent (late): $late; repeated readings counted once: $(metric citygate_output_lines_duplicate_total region)"
[ "$late" -gt 0 ] || fail "run b: the restart replayed no line of a sent window: the kill did not test the marks"
if [ "$late" -gt 0 ]; then
    grep -q "warn output.region: agreement did not send 0 unreadable lines, [0-9]* lines for windows already sent (replayed after a restart, or later than window_grace_s), 0 lines of series past aggregate.max_series 10000" "$T/gw2.log" ||
        fail "run b: the skipped replayed lines were not logged"
    pass "run b: skipped replayed lines logged once"
fi
stop_pid "$GW_PID"
