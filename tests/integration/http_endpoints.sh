# HTTP status endpoints through the module's driver: /healthz 200/503 with
# reasons, /metrics families, /status.json, the page, 404/405, "address in use",
# and authentication (bearer token, basic) when configured.
. "$SRC_DIR/tests/integration/lib.sh"
: "${HTTP_DRIVER:?}"

# start_driver NAME CONFIG SCENARIO: sets URL, DPID
start_driver() {
    bg "$1" "$HTTP_DRIVER" "$2" "$3"
    DPID=$LAST_PID
    local i
    for i in $(seq 100); do
        grep -q '^listening on' "$T/$1.log" 2>/dev/null && break
        kill -0 "$DPID" 2>/dev/null || fail "$1 exited: $(cat "$T/$1.log")"
        sleep 0.1
    done
    URL="http://127.0.0.1:$(awk '/^listening on/ {print $3}' "$T/$1.log")"
}
code() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }

PORT=$(free_port)
echo "{\"http\": {\"listen\": \"127.0.0.1:$PORT\"}}" >"$T/plain.json"
start_driver ok "$T/plain.json" ok
[ "$URL" = "http://127.0.0.1:$PORT" ] || fail "bound $URL"

[ "$(code "$URL/healthz")" = 200 ] || fail "healthz: $(cat "$T/body")"
[ "$(cat "$T/body")" = ok ] || fail "healthz body: $(cat "$T/body")"
pass "/healthz 200 ok"

[ "$(code -D "$T/hdr" "$URL/metrics")" = 200 ] || fail "/metrics"
grep -qi '^content-type: text/plain; version=0.0.4' "$T/hdr" || fail "metrics content type: $(cat "$T/hdr")"
for fam in citygate_build_info citygate_healthy \
    citygate_source_points_in_total citygate_source_points_rejected_total citygate_source_points_refused_total \
    citygate_output_lines_sent_total citygate_output_lines_dead_lettered_total citygate_output_lines_dropped_total \
    citygate_output_up citygate_output_last_status citygate_output_oldest_unsent_age_seconds \
    citygate_journal_bytes citygate_journal_lines citygate_journal_capacity_bytes \
    citygate_device_up citygate_device_latency_seconds citygate_device_errors_total citygate_device_quarantined \
    process_resident_memory_bytes process_cpu_seconds_total; do
    grep -q "^# TYPE $fam " "$T/body" || fail "family $fam missing"
done
grep -q '^citygate_device_up{source="north-bus",device="airq-12"} 1$' "$T/body" || fail "device sample"
grep -q '^citygate_healthy 1$' "$T/body" || fail "healthy sample"
rss=$(awk '/^process_resident_memory_bytes / {print $2}' "$T/body")
[ "$rss" -gt 1000000 ] || fail "rss $rss"
pass "/metrics families present ($(grep -c '^# TYPE' "$T/body") families)"

[ "$(code "$URL/status.json")" = 200 ] || fail "/status.json"
$PY - "$T/body" <<'PYEOF' || fail "status.json content"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["gateway_id"] == "cabinet-17" and s["health"] == "ok", s
assert [d["name"] for d in s["sources"][0]["devices"]] == ["airq-12", "meter-7"]
assert s["outputs"][0]["state"] == "up" and s["outputs"][0]["unsent_lines"] == 1520
PYEOF
pass "/status.json"

[ "$(code -D "$T/hdr" "$URL/")" = 200 ] || fail "/"
grep -qi '^content-type: text/html' "$T/hdr" || fail "page content type"
grep -qi "^content-security-policy: default-src 'none'" "$T/hdr" || fail "page CSP"
grep -q 'fetch("status.json"' "$T/body" || fail "page does not poll status.json"
! grep -Eq '(src|href)="(https?:)?//' "$T/body" || fail "page loads external assets"
[ "$(code "$URL/nope")" = 404 ] || fail "404"
[ "$(code -X POST -d x=1 "$URL/metrics")" = 405 ] || fail "POST not refused"
[ "$(code -I "$URL/healthz")" = 200 ] || fail "HEAD"
pass "page, 404, 405, HEAD"

# The port is taken: a clear error, exit 1.
if "$HTTP_DRIVER" "$T/plain.json" ok >"$T/second.log" 2>&1; then fail "second server started"; fi
grep -q "cannot listen on 127.0.0.1:$PORT: Address already in use" "$T/second.log" || fail "$(cat "$T/second.log")"
pass "address in use reported"
stop_pid "$DPID"

# Degraded: 503 and the reason.
echo '{"http": {"listen": "127.0.0.1:0"}}' >"$T/any.json"
start_driver degraded "$T/any.json" degraded
[ "$(code "$URL/healthz")" = 503 ] || fail "degraded healthz: $(cat "$T/body")"
head -1 "$T/body" | grep -qx degraded || fail "degraded body: $(cat "$T/body")"
grep -q '^device north-bus/meter-7 down: unit 7: Connection timed out' "$T/body" || fail "reason: $(cat "$T/body")"
curl -fsS "$URL/metrics" >"$T/m0" && grep -q "^citygate_healthy 0$" "$T/m0" || fail "citygate_healthy 0"
pass "/healthz 503 degraded with reasons"
stop_pid "$DPID"

# Bearer token (from token_file), even on a non-loopback listen address.
printf 's3cr3t-t0ken\n' >"$T/token"
echo "{\"http\": {\"listen\": \"0.0.0.0:0\", \"token_file\": \"$T/token\"}}" >"$T/token.json"
start_driver token "$T/token.json" ok
for ep in /healthz /metrics /status.json; do
    [ "$(code "$URL$ep")" = 401 ] || fail "$ep without token"
    [ "$(code -H 'Authorization: Bearer wrong' "$URL$ep")" = 401 ] || fail "$ep wrong token"
    [ "$(code -H 'Authorization: Bearer s3cr3t-t0ken' "$URL$ep")" = 200 ] || fail "$ep with token"
done
[ "$(code -D "$T/hdr" "$URL/metrics")" = 401 ] && grep -qi '^www-authenticate: Bearer' "$T/hdr" || fail "WWW-Authenticate"
[ "$(code "$URL/")" = 200 ] || fail "page shell needs no token"
pass "bearer token required: 401 without, 200 with"
stop_pid "$DPID"

echo '{"http": {"listen": "127.0.0.1:0", "username": "tech", "password": "cabinet"}}' >"$T/basic.json"
start_driver basic "$T/basic.json" ok
[ "$(code "$URL/metrics")" = 401 ] || fail "basic: no credentials"
[ "$(code -u tech:wrong "$URL/metrics")" = 401 ] || fail "basic: wrong password"
[ "$(code -u tech:cabinet "$URL/metrics")" = 200 ] || fail "basic: right password"
pass "basic auth"
stop_pid "$DPID"

# Non-loopback without auth: refused at config time, naming the key.
echo '{"http": {"listen": "0.0.0.0:9273"}}' >"$T/open.json"
if "$HTTP_DRIVER" "$T/open.json" ok >"$T/open.log" 2>&1; then fail "open listener accepted"; fi
grep -q "http.listen: '0.0.0.0:9273' is not a loopback address" "$T/open.log" || fail "$(cat "$T/open.log")"
pass "non-loopback without auth is a config error"
