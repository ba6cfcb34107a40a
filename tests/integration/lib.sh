# citygate integration-test helpers. Source from a test script:
#   . "$SRC_DIR/tests/integration/lib.sh"
# Every server is started on 127.0.0.1 with a free port and a temp dir, and
# stopped by PID when the script exits (trap), whatever happened.
set -euo pipefail

: "${SRC_DIR:?SRC_DIR not set (run through ctest)}"
: "${CITYGATE:?CITYGATE not set (run through ctest)}"
PY=/usr/bin/python3 # Debian's python: sees python3-pymodbus; the PATH one may not

T=$(mktemp -d /tmp/cgtest.XXXXXX)
CG_PIDS=()

cg_cleanup() {
    local rc=$?
    for pid in "${CG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${CG_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [ "$rc" -ne 0 ]; then
        echo "--- test failed (rc=$rc); logs in $T:" >&2
        for f in "$T"/*.log; do [ -f "$f" ] && { echo "=== $f" >&2; tail -n 40 "$f" >&2; }; done
    else
        rm -rf "$T"
    fi
    exit "$rc"
}
trap cg_cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# free_port: a TCP port on 127.0.0.1 nobody listens on now.
free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT.
wait_port() {
    local port=$1 secs=${2:-30} i
    for i in $(seq $((secs * 10))); do
        (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0
        sleep 0.1
    done
    fail "nothing listens on 127.0.0.1:$port after ${secs}s"
}

# bg NAME CMD...: run CMD in the background, log to $T/NAME.log, remember PID in $LAST_PID.
bg() {
    local name=$1; shift
    "$@" >"$T/$name.log" 2>&1 &
    LAST_PID=$!
    CG_PIDS+=("$LAST_PID")
}

stop_pid() { # stop_pid PID [signal]
    local pid=$1 sig=${2:-TERM}
    kill -"$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

# start_influxd: sets INFLUX_PORT, INFLUX_URL, INFLUX_PID. Extra [http] lines via $INFLUX_HTTP_EXTRA.
start_influxd() {
    INFLUX_PORT=$(free_port)
    local bind_port; bind_port=$(free_port)
    local d="$T/influxd"
    mkdir -p "$d"
    cat >"$d/influxd.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$bind_port"
[meta]
  dir = "$d/meta"
[data]
  dir = "$d/data"
  wal-dir = "$d/wal"
  query-log-enabled = false
[coordinator]
[retention]
  enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$INFLUX_PORT"
  log-enabled = false
${INFLUX_HTTP_EXTRA:-}
[continuous_queries]
  enabled = false
CONF
    bg influxd influxd -config "$d/influxd.conf"
    INFLUX_PID=$LAST_PID
    INFLUX_URL="http://127.0.0.1:$INFLUX_PORT"
    wait_influx_ping
}

wait_influx_ping() {
    local i
    for i in $(seq 300); do
        curl -fsS "$INFLUX_URL/ping" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "influxd did not answer /ping on $INFLUX_URL"
}

# influx_query DB 'QUERY' -> JSON on stdout (epoch=ns).
influx_query() {
    curl -fsS -G "$INFLUX_URL/query" --data-urlencode "db=$1" --data-urlencode "epoch=ns" \
        --data-urlencode "q=$2"
}
influx_create_db() { curl -fsS -XPOST "$INFLUX_URL/query" --data-urlencode "q=CREATE DATABASE \"$1\"" >/dev/null; }

# start_vm: victoria-metrics; sets VM_PORT, VM_URL, VM_PID.
start_vm() {
    VM_PORT=$(free_port)
    bg victoria-metrics victoria-metrics -storageDataPath="$T/vm" -httpListenAddr="127.0.0.1:$VM_PORT" \
        -retentionPeriod=100y -search.latencyOffset=0s -search.disableCache
    VM_PID=$LAST_PID
    VM_URL="http://127.0.0.1:$VM_PORT"
    local i
    for i in $(seq 300); do
        curl -fsS "$VM_URL/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "victoria-metrics did not answer /health"
}
vm_flush() { curl -fsS "$VM_URL/internal/force_flush" >/dev/null; }

# start_mosquitto [extra config lines]: sets MQTT_PORT, MQTT_URL, MQTT_PID.
start_mosquitto() {
    MQTT_PORT=$(free_port)
    local d="$T/mosquitto"
    mkdir -p "$d"
    {
        echo "listener $MQTT_PORT 127.0.0.1"
        echo "allow_anonymous true"
        echo "persistence true"
        echo "persistence_location $d/"
        echo "log_dest stderr"
        # as root, mosquitto drops to user mosquitto, which cannot write its
        # store into our 0700 temp dir: persistence would be silently off
        [ "$(id -u)" -eq 0 ] && echo "user root"
        [ $# -gt 0 ] && printf '%s\n' "$@"
    } >"$d/mosquitto.conf"
    bg mosquitto mosquitto -c "$d/mosquitto.conf"
    MQTT_PID=$LAST_PID
    MQTT_URL="tcp://127.0.0.1:$MQTT_PORT"
    wait_port "$MQTT_PORT"
}

# wait_for SECONDS CMD...: retry CMD until it succeeds.
wait_for() {
    local secs=$1; shift
    local i
    for i in $(seq $((secs * 5))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    return 1
}

# restart_influxd: start the influxd of start_influxd again (same port, same
# data), after stop_pid "$INFLUX_PID".
restart_influxd() {
    bg influxd2 influxd -config "$T/influxd/influxd.conf"
    INFLUX_PID=$LAST_PID
    wait_influx_ping
}
