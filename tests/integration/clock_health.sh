#!/usr/bin/env bash
# An unsynchronised clock is a degraded state, with the real binary. This
# machine's clock reports itself unsynchronised (adjtimex: TIME_ERROR /
# STA_UNSYNC), which the test checks first. Then: one log line, the
# citygate_clock_synchronized gauge at 0, /status.json's clock, and /healthz
# 503 with the reason; with gateway.unsynced_clock "ignore" /healthz is 200
# and still says so. With normalise.clock_check off nothing is claimed.
. "$SRC_DIR/tests/integration/lib.sh"
$PY - <<'PY' || { echo "SKIP: this machine's clock is synchronised; the test needs an unsynchronised one"; exit 0; }
import ctypes, sys
class Timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("pad", ctypes.c_long * 60)]
t = Timex()
st = ctypes.CDLL(None).adjtimex(ctypes.byref(t))
sys.exit(0 if st == 5 else 1)   # TIME_ERROR: not synchronised
PY

# run_gw NAME EXTRA_GATEWAY_JSON NORMALISE_JSON: starts citygate, sets URL.
run_gw() {
    local port
    port=$(free_port)
    cat >"$T/$1.json" <<J
{"gateway":{"id":"gw1","state_dir":"$T/state-$1","self_metrics_interval_s":0,"drain_timeout_ms":0$2},
 "normalise":$3,
 "http":{"listen":"127.0.0.1:$port"},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:1","database":"city"}]}
J
    bg "$1" "$CITYGATE" --config "$T/$1.json"
    GW=$LAST_PID
    wait_port "$port" 20
    URL="http://127.0.0.1:$port"
}

run_gw degrade "" '{}'
code=$(curl -s -o "$T/hz" -w '%{http_code}' "$URL/healthz")
[ "$code" = 503 ] || fail "healthz with an unsynchronised clock: $code $(cat "$T/hz")"
grep -q '^system clock not synchronised (adjtimex); timestamps may be wrong, readings are marked quality=unsynced_clock$' "$T/hz" ||
    fail "healthz reason: $(cat "$T/hz")"
curl -fsS "$URL/metrics" >"$T/m"
grep -q '^# TYPE citygate_clock_synchronized gauge$' "$T/m" || fail "no clock gauge family"
grep -q '^citygate_clock_synchronized 0$' "$T/m" || fail "gauge: $(grep clock "$T/m")"
grep -q '^citygate_healthy 0$' "$T/m" || fail "citygate_healthy should be 0"
curl -fsS "$URL/status.json" >"$T/s.json"
$PY - "$T/s.json" <<'PY' || fail "status.json clock: $(cat "$T/s.json")"
import json, sys
s = json.load(open(sys.argv[1]))
c = s["clock"]
assert c["synchronized"] is False and c["affects_health"] is True, c
assert s["health"] == "degraded" and any("clock" in r for r in s["reasons"]), s["reasons"]
PY
wait_for 5 grep -q "warn citygate: system clock not synchronised (adjtimex)" "$T/degrade.log" ||
    fail "no log line: $(cat "$T/degrade.log")"
sleep 2.5 # a few ticks: the state does not change, so no second line
[ "$(grep -c "system clock not synchronised" "$T/degrade.log")" = 1 ] || fail "clock logged more than once per change"
pass "unsynchronised clock: /healthz 503 with the reason, gauge 0, status.json, one log line"
stop_pid "$GW"

run_gw ignore ',"unsynced_clock":"ignore"' '{}'
code=$(curl -s -o "$T/hz" -w '%{http_code}' "$URL/healthz")
[ "$code" = 200 ] || fail "healthz with unsynced_clock ignore: $code $(cat "$T/hz")"
[ "$(head -1 "$T/hz")" = ok ] || fail "healthz body: $(cat "$T/hz")"
grep -q '^note: system clock not synchronised (adjtimex); ignored by gateway.unsynced_clock$' "$T/hz" ||
    fail "healthz does not report the clock: $(cat "$T/hz")"
curl -fsS "$URL/metrics" >"$T/m2"
grep -q '^citygate_clock_synchronized 0$' "$T/m2" || fail "gauge with ignore"
curl -fsS "$URL/status.json" | $PY -c 'import json,sys; c=json.load(sys.stdin)["clock"]; assert c=={"synchronized":False,"affects_health":False,"checked":True}, c' ||
    fail "status.json with ignore"
pass "gateway.unsynced_clock ignore: /healthz 200 with a note, gauge still 0"
stop_pid "$GW"

run_gw nocheck "" '{"clock_check":false}'
code=$(curl -s -o "$T/hz" -w '%{http_code}' "$URL/healthz")
[ "$code" = 200 ] || fail "healthz with clock_check off: $code $(cat "$T/hz")"
curl -fsS "$URL/metrics" >"$T/m3"
grep -q '^# TYPE citygate_clock_synchronized gauge$' "$T/m3" || fail "clock family missing"
! grep -q '^citygate_clock_synchronized ' "$T/m3" || fail "gauge without a check"
curl -fsS "$URL/status.json" | $PY -c 'import json,sys; c=json.load(sys.stdin)["clock"]; assert c["checked"] is False and c["synchronized"] is None, c' ||
    fail "status.json with clock_check off"
pass "normalise.clock_check off: no claim either way"
stop_pid "$GW"
