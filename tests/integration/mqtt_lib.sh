# Helpers for the MQTT integration tests (source after lib.sh).

# expect WHAT GOT WANT
expect() {
    [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
    pass "$1 = $3"
}

# scalar DB 'QUERY': the first value of the first row (time column skipped), or 0.
scalar() {
    influx_query "$1" "$2" | $PY -c '
import json, sys
r = json.load(sys.stdin)["results"][0]
s = r.get("series")
v = s[0]["values"][0][1] if s else 0
print(int(v) if isinstance(v, float) and v.is_integer() else v)'
}

# rows DB 'QUERY': every row as "col=val,col=val" lines (time included).
rows() {
    influx_query "$1" "$2" | $PY -c '
import json, sys
r = json.load(sys.stdin)["results"][0]
for s in r.get("series", []):
    cols = s["columns"]
    tags = ",".join("%s=%s" % kv for kv in sorted((s.get("tags") or {}).items()))
    for row in s["values"]:
        print((s["name"] + ("," + tags if tags else "") + " " +
               ",".join("%s=%s" % (c, v) for c, v in zip(cols, row) if v is not None)))'
}

# wait_scalar SECONDS DB QUERY WANT: until scalar == WANT (prints the last value).
wait_scalar() {
    local secs=$1 db=$2 q=$3 want=$4 got i
    for i in $(seq $((secs * 5))); do
        got=$(scalar "$db" "$q" 2>/dev/null || echo err)
        [ "$got" = "$want" ] && { echo "$got"; return 0; }
        sleep 0.2
    done
    echo "$got"
    return 1
}

# gw_config FILE SOURCE_JSON [TAGS_JSON]: a gateway config writing to influxd db "city".
gw_config() {
    local file=$1 src=$2
    mkdir -p "$T/state-$(basename "$file" .json)"
    cat >"$file" <<J
{"gateway":{"id":"gw1","state_dir":"$T/state-$(basename "$file" .json)","log_level":"info"},
 "outputs":[{"type":"influxdb_v1","url":"$INFLUX_URL","database":"city","flush_interval_ms":100}],
 "sources":[$src]}
J
}

# start_gw NAME CONFIG: citygate in the background, waits until its MQTT source is connected
# and subscribed. Sets GW_PID.
start_gw() {
    local name=$1 cfg=$2
    bg "$name" "$CITYGATE" --config "$cfg" --log-level debug
    GW_PID=$LAST_PID
    wait_for 20 grep -q "subscribed to" "$T/$name.log" || fail "$name did not subscribe"
}

# mstat NAME KEY: a counter from the "mqtt stats:" line the source logs at stop.
mstat() {
    grep -o "mqtt stats: .*" "$T/$1.log" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# publish N messages "PREFIX i" style via one mosquitto_pub connection (-l: one per line).
# pub_lines TOPIC QOS < lines
pub_lines() {
    mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q "$2" -t "$1" -l "${@:3}"
}

# counter_source NAME CLIENT_ID [EXTRA_JSON]: an MQTT source on $MQTT_URL taking
# {"seq": i, "ts": ms} from city/<district>/count into measurement "counter".
counter_source() {
    echo '{"type":"mqtt","name":"'"$1"'","url":"'"$MQTT_URL"'","client_id":"'"$2"'",
      "reconnect_min_ms":100,"reconnect_max_ms":1000,"keepalive_s":5'"${3:+,$3}"',
      "rules":[{"topic":"city/{district}/count","format":"json","measurement":"counter",
        "json":{"time":"ts","time_format":"ms","fields":{"seq":{"path":"seq","type":"int"}}}}]}'
}

# seq_lines FROM TO: JSON payloads, one per line, seq FROM..TO with distinct timestamps.
seq_lines() {
    local i
    for i in $(seq "$1" "$2"); do echo "{\"seq\":$i,\"ts\":$((1700000000000 + i))}"; done
}

# retained_status TOPIC: the retained message on TOPIC (empty if none).
retained_status() {
    timeout 3 mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -t "$1" -C 1 -W 2 "${@:2}" 2>/dev/null || true
}
