# Helpers shared by the influx_*.sh integration tests (sourced after lib.sh).
: "${INFLUX_DRIVER:?INFLUX_DRIVER not set (run through ctest)}"

# jget FILE KEY: a top-level value of a JSON object file.
jget() { $PY -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(str(v).lower() if isinstance(v,bool) else v)' "$1" "$2"; }

# expect WHAT GOT WANT
expect() {
    [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
    pass "$1 = $3"
}

# run_driver NAME ARGS...: runs the driver, stats in $T/NAME.out.json, log in $T/NAME.log.
# Sets DRIVER_RC. st NAME KEY reads one stat.
run_driver() {
    local name=$1; shift
    DRIVER_RC=0
    "$INFLUX_DRIVER" --state-dir "$T" "$@" >"$T/$name.out.json" 2>"$T/$name.log" || DRIVER_RC=$?
    cat "$T/$name.out.json" >&2
}

st() { jget "$T/$1.out.json" "$2"; }

# influx_scalar DB QUERY: the first value of the first series' first row, column 1.
influx_scalar() {
    influx_query "$1" "$2" | $PY -c '
import json,sys
r=json.load(sys.stdin)["results"][0]
print(r["series"][0]["values"][0][1] if "series" in r else 0)'
}

# restart_influxd is in lib.sh.

# start_fault NAME ARGS...: tests/integration/fault_http.py on a free port;
# sets FAULT_URL and FAULT_LOG ($T/NAME.jsonl).
start_fault() {
    local name=$1; shift
    local port; port=$(free_port)
    FAULT_LOG="$T/$name.jsonl"
    : >"$FAULT_LOG"
    bg "$name" $PY "$SRC_DIR/tests/integration/fault_http.py" --port "$port" --log "$FAULT_LOG" "$@"
    FAULT_PID=$LAST_PID
    FAULT_URL="http://127.0.0.1:$port"
    wait_port "$port"
}

# fault_col COLUMN: that field of every request, one per line.
fault_col() { $PY -c 'import json,sys; [print(json.loads(l)[sys.argv[2]]) for l in open(sys.argv[1])]' "$FAULT_LOG" "$1"; }
# fault_gap I J: seconds between request I and J (0-based), 2 decimals.
fault_gap() { $PY -c 'import json,sys; t=[json.loads(l)["t"] for l in open(sys.argv[1])]; print("%.2f" % (t[int(sys.argv[3])]-t[int(sys.argv[2])]))' "$FAULT_LOG" "$1" "$2"; }
# ge A B: A >= B for decimals
ge() { $PY -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$1" "$2"; }
