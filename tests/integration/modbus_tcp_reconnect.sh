#!/bin/bash
# A Modbus TCP server (purpose-built, not citygate-sim) drops the connection
# and refuses connections for 2 s. With the default quarantine (3 failed polls,
# 60 s) and a device polled every 200 ms, polls due while reconnecting are
# skipped and counted, not failed: the device is never quarantined and is back
# within one reconnect delay (reconnect_max_ms 1000) of the server's return.
# Readings queried back from influxd; counters from /metrics.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/modbus_lib.sh"
start_influxd
influx_create_db city
P=$(free_port); HP=$(free_port)
bg slave $PY "$SRC_DIR/tests/integration/modbus_faulty.py" --tcp "$P" --log "$T/slave.jsonl" --unit 1 \
    --drop-at 3 --refuse 2
wait_port "$P"
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state"},"normalise":{"enabled":false},
 "http":{"listen":"127.0.0.1:$HP"},
 "outputs":[{"type":"influxdb_v1","url":"$INFLUX_URL","database":"city","flush_interval_ms":200}],
 "sources":[{"type":"modbus","name":"gw","transport":"tcp","host":"127.0.0.1","port":$P,
   "response_timeout_ms":300,"reconnect_min_ms":200,"reconnect_max_ms":1000,
   "devices":[{"name":"m1","unit_id":1,"poll_interval_ms":200,"address_base":0,"registers":[$(reg 0),$(reg 1)]}]}]}
CONF
bg citygate "$CITYGATE" --config "$T/cg.json"
CG=$LAST_PID
wait_for 15 grep -q '"listening"' "$T/slave.jsonl" || fail "the server did not come back"
back_ns=$($PY -c 'import json,sys; print(int([json.loads(l)["wall"] for l in open(sys.argv[1]) if "listening" in l][0]*1e9))' "$T/slave.jsonl")
after() {
    influx_query city "SELECT count(r0) FROM modbus WHERE device='m1' AND time > ${back_ns}" |
        $PY -c 'import json,sys; s=json.load(sys.stdin)["results"][0].get("series"); print(s[0]["values"][0][1] if s else 0)'
}
enough_after() { [ "$(after)" -ge 5 ]; }
wait_for 10 enough_after || fail "no readings after the server came back"
curl -fsS "http://127.0.0.1:$HP/metrics" >"$T/metrics.txt" || fail "no /metrics"
stop_pid "$CG"
influx_query city 'SELECT * FROM "modbus" GROUP BY "device"' >"$T/points.json"
$PY "$SRC_DIR/tests/integration/modbus_lp_check.py" --influx "$T/points.json" m1=1:10 || fail "wrong values"
$PY - "$T/points.json" "$T/slave.jsonl" <<'PY' || fail "device not back within one reconnect delay"
import json, sys
ts = [r[0] / 1e9 for s in json.load(open(sys.argv[1]))["results"][0]["series"] for r in s["values"]]
ev = {json.loads(l)["kind"]: json.loads(l)["wall"] for l in open(sys.argv[2]) if "wall" in l}
first = min(t for t in ts if t > ev["listening"])
last = max(t for t in ts if t < ev["dropped"])
print("last reading %.0f ms before the drop; server refused for %.0f ms; first reading %.0f ms after it listened "
      "again; longest gap %.0f ms" % ((ev["dropped"] - last) * 1e3, (ev["listening"] - ev["dropped"]) * 1e3,
                                      (first - ev["listening"]) * 1e3, (first - last) * 1e3))
sys.exit(0 if first - ev["listening"] <= 1.0 + 0.3 else 1)
PY
pass "back within one reconnect delay of the server's return"
! grep -q 'quarantined for' "$T/citygate.log" || fail "the device was quarantined for a reconnect"
pass "not quarantined"
metric() { awk -v m="$1{source=\"gw\",device=\"m1\"}" '$1 == m {print $2}' "$T/metrics.txt"; }
echo "/metrics: polls skipped $(metric citygate_device_polls_skipped_total), errors $(metric citygate_device_errors_total), quarantined $(metric citygate_device_quarantined)"
[ "$(metric citygate_device_polls_skipped_total)" -ge 3 ] || fail "skipped polls not counted"
[ "$(metric citygate_device_errors_total)" -le 0 ] || fail "polls counted as failed for a reconnect"
grep -q 'citygate_device_polls_skipped_total' "$T/metrics.txt" || fail "no skipped family"
pass "skipped polls counted, not failed"
