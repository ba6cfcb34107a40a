#!/bin/bash
# MQTT uplink output (type mqtt): points read from a local broker (MQTT source)
# are published to a central broker, QoS 1, the journal committed on PUBACK.
# A subscriber on the central broker must see every line, exactly:
#   1. N points in, N lines out (line protocol, one message per batch) and N
#      JSON messages (one per line, topic from {measurement});
#   2. central broker stopped mid-stream, points keep coming, broker restarted:
#      all arrive (duplicates only from QoS 1 redelivery: counted and printed);
#   3. citygate killed with SIGKILL mid-stream and restarted: all arrive.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"

start_mosquitto "max_queued_messages 100000"   # the cabinet's local broker (source)

# The central broker, on its own port and store so it can stop alone.
CPORT=$(free_port)
mkdir -p "$T/central"
{
    echo "listener $CPORT 127.0.0.1"
    echo "allow_anonymous true"
    echo "persistence true"
    echo "persistence_location $T/central/"
    echo "max_queued_messages 100000"
    echo "log_dest stderr"
    [ "$(id -u)" -eq 0 ] && echo "user root"
} >"$T/central/mosquitto.conf"
start_central() {
    bg "central$1" mosquitto -c "$T/central/mosquitto.conf"
    CENTRAL_PID=$LAST_PID
    wait_port "$CPORT"
}
start_central 1

# Subscribers with persistent sessions (QoS 1), so a broker restart loses
# nothing on their side either; -N: payloads as they are (they end in '\n').
bg sub_lp mosquitto_sub -h 127.0.0.1 -p "$CPORT" -q 1 -c -i uplink-sub-lp -t 'city/uplink/#' -N
bg sub_json mosquitto_sub -h 127.0.0.1 -p "$CPORT" -q 1 -c -i uplink-sub-json -t 'city/json/#' -v
wait_for 10 grep -q "as uplink-sub-json" "$T/central1.log" && wait_for 10 grep -q "as uplink-sub-lp" "$T/central1.log" || fail "subscribers did not connect"

mkdir -p "$T/state"
cat >"$T/gw.json" <<J
{"gateway":{"id":"gw1","state_dir":"$T/state","log_level":"info","self_metrics_interval_s":0,"gap_records":false},
 "normalise":{"clock_check":false},
 "outputs":[
  {"type":"mqtt","name":"uplink","url":"tcp://127.0.0.1:$CPORT","client_id":"gw1-uplink",
   "topic":"city/uplink/{name}","batch_lines":50,"flush_interval_ms":100,
   "retry_initial_ms":100,"retry_max_ms":1000,"timeout_ms":3000,"connect_timeout_s":2},
  {"type":"mqtt","name":"uplinkjson","url":"mqtt://127.0.0.1:$CPORT","client_id":"gw1-json",
   "topic":"city/json/{measurement}","message":"line","format":"json","max_inflight":20,
   "batch_lines":50,"flush_interval_ms":100,"retry_initial_ms":100,"retry_max_ms":1000,
   "timeout_ms":3000,"connect_timeout_s":2}],
 "sources":[$(counter_source city uplink-src)]}
J
"$CITYGATE" --check-config "$T/gw.json" >/dev/null || fail "config rejected"

# lp_want FROM TO / json_want FROM TO: the exact lines the subscribers must see.
lp_want() {
    local i
    for i in $(seq "$1" "$2"); do
        echo "counter,district=a,gateway=gw1,quality=ok seq=${i}i $((1700000000000 + i))000000"
    done
}
json_want() {
    local i
    for i in $(seq "$1" "$2"); do
        echo "city/json/counter {\"measurement\":\"counter\",\"tags\":{\"district\":\"a\",\"gateway\":\"gw1\",\"quality\":\"ok\"},\"fields\":{\"seq\":$i},\"time\":$((1700000000000 + i))000000}"
    done
}
# uniq_count FILE: distinct non-empty lines.
uniq_count() { grep -v '^$' "$1" | sort -u | wc -l; }
total_count() { grep -cv '^$' "$1" || true; }
wait_lines() { # wait_lines FILE N SECONDS
    local i
    for i in $(seq $(($3 * 5))); do
        [ "$(uniq_count "$1")" -ge "$2" ] && return 0
        sleep 0.2
    done
    return 1
}
# check FROM TO: both subscribers hold exactly the lines FROM..TO (as a set),
# nothing else.
check() {
    lp_want "$1" "$2" | sort >"$T/want_lp"
    grep -v '^$' "$T/sub_lp.log" | sort -u >"$T/got_lp"
    diff -u "$T/want_lp" "$T/got_lp" >&2 || fail "line protocol content differs ($3)"
    json_want "$1" "$2" | sort >"$T/want_json"
    grep -v '^$' "$T/sub_json.log" | sort -u >"$T/got_json"
    diff -u "$T/want_json" "$T/got_json" >&2 || fail "JSON content differs ($3)"
    pass "$3: exactly seq $1..$2 on both topics ($(total_count "$T/sub_lp.log") LP lines and $(total_count "$T/sub_json.log") JSON messages received, $(( $(total_count "$T/sub_lp.log") - $(uniq_count "$T/sub_lp.log") )) / $(( $(total_count "$T/sub_json.log") - $(uniq_count "$T/sub_json.log") )) duplicates)"
}

# -- 1. N in, N out ------------------------------------------------------------
start_gw gw1 "$T/gw.json"
seq_lines 0 199 | pub_lines city/a/count 1
wait_lines "$T/sub_lp.log" 200 30 || fail "LP: $(uniq_count "$T/sub_lp.log") of 200 lines arrived"
wait_lines "$T/sub_json.log" 200 30 || fail "JSON: $(uniq_count "$T/sub_json.log") of 200 messages arrived"
check 0 199 "200 points"
expect "duplicates without faults" "$(( $(total_count "$T/sub_lp.log") - 200 ))" 0
grep -q "output.uplink: connected to tcp://127.0.0.1:$CPORT as gw1-uplink" "$T/gw1.log" || fail "no 'connected' log line"

# -- 2. central broker outage mid-stream ---------------------------------------
seq_lines 200 299 | pub_lines city/a/count 1
stop_pid "$CENTRAL_PID"
seq_lines 300 499 | pub_lines city/a/count 1
wait_for 20 grep -q "output.uplink: cannot write to tcp://127.0.0.1:$CPORT" "$T/gw1.log" ||
    fail "no 'cannot write' while the broker is down"
pass "outage logged: $(grep -m1 "output.uplink: cannot write" "$T/gw1.log")"
# the data waits in the buffer, uncommitted
sleep 1
start_central 2
wait_lines "$T/sub_lp.log" 500 40 || fail "LP after outage: $(uniq_count "$T/sub_lp.log") of 500"
wait_lines "$T/sub_json.log" 500 40 || fail "JSON after outage: $(uniq_count "$T/sub_json.log") of 500"
check 0 499 "broker stopped and restarted"
wait_for 10 grep -q "output.uplink: writes .*recovered\|output.uplink: .*recovered" "$T/gw1.log" || true

# -- 3. kill -9 of citygate mid-stream ----------------------------------------
# paced, 50 points every 0.2 s, so that the kill lands mid-stream; what is
# published while citygate is dead waits in its persistent session
( for k in $(seq 0 9); do seq_lines $((500 + 50 * k)) $((549 + 50 * k)) | pub_lines city/a/count 1; sleep 0.2; done ) &
PUBPID=$!
wait_lines "$T/sub_lp.log" 600 20 || fail "no progress before the kill"
kill -KILL "$GW_PID"
AT_KILL=$(uniq_count "$T/sub_lp.log")
wait "$PUBPID" || true
[ "$AT_KILL" -lt 1000 ] || fail "the kill came after the stream ended ($AT_KILL lines); not a mid-stream kill"
pass "killed citygate mid-stream with $AT_KILL of 1000 lines delivered"
start_gw gw2 "$T/gw.json"
wait_lines "$T/sub_lp.log" 1000 40 || fail "LP after kill -9: $(uniq_count "$T/sub_lp.log") of 1000"
wait_lines "$T/sub_json.log" 1000 40 || fail "JSON after kill -9: $(uniq_count "$T/sub_json.log") of 1000"
check 0 999 "SIGKILL and restart"
stop_pid "$GW_PID"
