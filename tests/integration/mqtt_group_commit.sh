#!/bin/bash
# commit "group" vs "per_message" under kill -9 (issue 15; docs/reliability.md).
# A burst of N QoS 1 messages queued for the gateway's persistent session; the
# gateway is killed with SIGKILL while it drains them, restarted, and every
# message the broker still had arrives. Counted from the publisher's side
# (seq 0..N-1) against influxd: "group" may lose at most 64 acknowledged
# messages (the group held in memory), "per_message" at most the one in hand.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
N=40000

start_influxd
influx_create_db city
start_mosquitto "max_queued_messages 0"

burst_kill_restart() { # MODE BOUND
    local mode=$1 bound=$2 got lost
    gw_config "$T/$mode.json" "$(counter_source "$mode" "gc-$mode" '"commit":"'"$mode"'"')"
    start_gw "$mode-reg" "$T/$mode.json"           # registers the persistent session
    stop_pid "$GW_PID"
    seq_lines 0 $((N - 1)) | pub_lines "city/$mode/count" 1
    start_gw "$mode-1" "$T/$mode.json"
    for _ in $(seq 1000); do
        [ "$(scalar city "SELECT count(seq) FROM counter WHERE district='$mode'")" -ge 1000 ] && break
        sleep 0.02
    done
    kill -KILL "$GW_PID"
    got=$(scalar city "SELECT count(seq) FROM counter WHERE district='$mode'")
    [ "$got" -lt "$N" ] || fail "$mode: the burst was over before the kill ($got of $N in influxd)"
    pass "$mode: killed with SIGKILL while draining ($got of $N in influxd at the kill)"
    start_gw "$mode-2" "$T/$mode.json"
    echo "{\"seq\":$N,\"ts\":$((1700000000000 + N))}" | pub_lines "city/$mode/count" 1   # sentinel, after the rest
    wait_scalar 60 city "SELECT count(seq) FROM counter WHERE district='$mode' AND seq = $N" 1 >/dev/null ||
        fail "$mode: sentinel did not arrive after the restart"
    stop_pid "$GW_PID"                             # clean stop: nothing held is lost
    got=$(scalar city "SELECT count(seq) FROM counter WHERE district='$mode' AND seq < $N")
    lost=$((N - got))
    echo "$mode: lost $lost of $N acknowledged messages across kill -9 (bound $bound)"
    [ "$lost" -ge 0 ] && [ "$lost" -le "$bound" ] || fail "$mode: lost $lost > bound $bound"
    pass "$mode: lost $lost <= $bound"
    expect "$mode: no message lost at the clean stop" "$(mstat "$mode-2" group_lost)" 0
}

burst_kill_restart group 64
w=$(mstat group-2 group_writes)
m=$(mstat group-2 messages)
echo "group: restarted gateway took $m messages in $w group writes"
[ "$w" -gt 0 ] && [ "$w" -lt "$m" ] || fail "group: $w group writes for $m messages: not grouped"
pass "group: messages written in groups ($w writes for $m messages)"

burst_kill_restart per_message 1
expect "per_message: no group writes" "$(mstat per_message-2 group_writes)" 0
