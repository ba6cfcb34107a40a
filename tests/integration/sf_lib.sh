# Store-and-forward test helpers (source after lib.sh and mqtt_lib.sh).
# Each message is one line-protocol point `sf,run=R v=<i>i <T0+i>`, so the
# database holds exactly one point per message and counting them tells loss.

# (awk's numbers are doubles: the timestamp is built as text, 1700000000<i as 9 digits>.)

# sf_config FILE OUTPUTS_JSON [BUFFER_JSON]: MQTT source (persistent session,
# QoS 1, line protocol), disk buffer in $T/state (or $SF_STATE). With
# $SF_HTTP_PORT set, the status server listens there (see sf_metric);
# $SF_SRC_EXTRA adds keys to the source ('"emit_timeout_ms":200,').
sf_config() {
    local file=$1 outputs=$2 buffer=${3:-'{"fsync":"interval","fsync_interval_ms":100}'}
    local state=${SF_STATE:-$T/state} http=""
    [ -z "${SF_HTTP_PORT:-}" ] || http="\"http\":{\"listen\":\"127.0.0.1:$SF_HTTP_PORT\"},"
    mkdir -p "$state"
    cat >"$file" <<J
{"gateway":{"id":"gw1","state_dir":"$state","drain_timeout_ms":2000,"self_metrics_interval_s":0,"gap_records":false},
 $http"normalise":{"enabled":false},
 "buffer":$buffer,
 "outputs":$outputs,
 "sources":[{"type":"mqtt","name":"broker","url":"$MQTT_URL","client_id":"sf-gw","clean_session":false,${SF_SRC_EXTRA:-}
   "subscriptions":[{"topic":"sf/#","qos":1}],
   "rules":[{"topic":"sf/{run}","format":"influx"}]}]}
J
}

# sf_metric NAME: a sample without labels from /metrics on $SF_HTTP_PORT.
sf_metric() { curl -fsS "http://127.0.0.1:$SF_HTTP_PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

influx_out() { # influx_out NAME URL
    echo "{\"name\":\"$1\",\"type\":\"influxdb_v1\",\"url\":\"$2\",\"database\":\"city\",\"flush_interval_ms\":100,\"retry_initial_ms\":100,\"retry_max_ms\":500}"
}

# sf_publish RUN FROM COUNT [CHUNK] [PAUSE]: publish COUNT messages, CHUNK per
# mosquitto_pub connection with PAUSE seconds between chunks.
sf_publish() {
    local run=$1 from=$2 count=$3 chunk=${4:-$3} pause=${5:-0} i
    for ((i = from; i < from + count; i += chunk)); do
        local n=$((from + count - i < chunk ? from + count - i : chunk))
        seq "$i" $((i + n - 1)) | awk -v r="$run" '{ printf "sf,run=%s v=%di 1700000000%09d\n", r, $1, $1 }' |
            mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t "sf/$run" -l
        [ "$pause" = 0 ] || sleep "$pause"
    done
}

sf_count() { scalar city "SELECT count(v) FROM sf WHERE run='$1'"; }
sf_count_gt() { [ "$(sf_count "$1")" -gt "$2" ]; } # for wait_for
sf_sum() { scalar city "SELECT sum(v) FROM sf WHERE run='$1'"; }

# sf_expect_all RUN FROM COUNT SECONDS: exactly messages FROM..FROM+COUNT-1, each once.
sf_expect_all() {
    local run=$1 from=$2 count=$3 secs=$4
    local got; got=$(wait_scalar "$secs" city "SELECT count(v) FROM sf WHERE run='$run'" "$count") ||
        fail "run $run: $got points in the database, want $count"
    local want_sum=$(((from + from + count - 1) * count / 2))
    expect "run $run sum of values" "$(sf_sum "$run")" "$want_sum"
    expect "run $run distinct points" "$(sf_count "$run")" "$count"
}

# out_stat LOG OUTPUT KEY: a counter from the output summary line logged at exit.
out_stat() {
    grep "^info $2: lines sent=" "$1" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$3=//p"
}
