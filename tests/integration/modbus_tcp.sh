#!/bin/bash
# Modbus TCP against citygate-sim: four profiles behind one connection (a
# TCP-to-RTU gateway with unit ids 1-4) plus a meter on its own port. Every
# served value must come out of `citygate --dry-run` exactly; the planner's
# request count per poll is what the sim saw; nothing forbidden is ever read
# and nothing is ever written; the fields of one poll share one timestamp.
. "$SRC_DIR/tests/integration/lib.sh"
: "${CITYGATE_SIM:?}"
P1=$(free_port); P2=$(free_port)
bg sim "$CITYGATE_SIM" --profile-dir "$SRC_DIR/config/profiles" --step-ms 0 --print-values --stats "$T/stats.json" \
    --tcp "$P1=eastron_sdm630@1" --tcp "$P1=airq_rs485@2" --tcp "$P1=traffic_loop@3" --tcp "$P1=water_meter@4" \
    --tcp "$P2=eastron_sdm630@1"
SIM=$LAST_PID
wait_port "$P1"; wait_port "$P2"
grep '^{' "$T/sim.log" >"$T/values.jsonl"
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state"},"normalise":{"enabled":false},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:9","database":"city"}],
 "sources":[{"type":"modbus","name":"cabinet17","transport":"tcp","host":"127.0.0.1","port":$P1,
   "profile_dirs":["$SRC_DIR/config/profiles"],"response_timeout_ms":300,"retries":0,
   "devices":[{"name":"m1","unit_id":1,"profile":"eastron_sdm630","poll_interval_ms":400},
              {"name":"aq1","unit_id":2,"profile":"airq_rs485","poll_interval_ms":400,"tags":{"district":"chilanzar"}},
              {"name":"t1","unit_id":3,"profile":"traffic_loop","poll_interval_ms":400},
              {"name":"w1","unit_id":4,"profile":"water_meter","poll_interval_ms":400},
              {"name":"m2","unit_id":1,"port":$P2,"profile":"eastron_sdm630","poll_interval_ms":400}]}]}
CONF
"$CITYGATE" --check-config "$T/cg.json" >/dev/null || fail "config rejected"
timeout -s INT 3 "$CITYGATE" --dry-run --config "$T/cg.json" >"$T/out.lp" 2>"$T/citygate.log" || true
grep -q 'device m1 (unit 1, profile eastron_sdm630): 36 fields in 4 reads' "$T/citygate.log" || fail "no plan in the log"
grep -q '5 devices on 2 connections; 18 reads per round instead of 115 one per field' "$T/citygate.log" ||
    fail "plan summary"
$PY "$SRC_DIR/tests/integration/modbus_check.py" --sim "$T/values.jsonl" \
    --map "$P1/1=m1,$P1/2=aq1,$P1/3=t1,$P1/4=w1,$P2/1=m2" --lp "$T/out.lp" --min-polls 5 \
    --measurement-of m1=energy,m2=energy,aq1=air_quality,t1=traffic,w1=water || fail "values differ"
pass "every served value written exactly"
grep -q '^air_quality,device=aq1,district=chilanzar,gateway=gw1,sensor_kind=air_quality_station ' "$T/out.lp" || fail "instance tags"
grep -q '^citygate_device,device=w1,.* up=t,quarantined=f,latency_ms=' "$T/out.lp" || fail "health points"
stop_pid "$SIM"
$PY - "$T/stats.json" "$T/out.lp" "$P1" "$P2" <<'PY' || fail "request counts / forbidden reads / timestamps"
import json, sys, collections
st = json.load(open(sys.argv[1])); p1, p2 = sys.argv[3], sys.argv[4]
assert st["write_attempts"] == 0, st
assert st["forbidden_reads"] == 0, st
assert st["exceptions"] == 0, st
lines = open(sys.argv[2]).read().splitlines()
polls = collections.Counter()
for l in lines:
    if l.startswith("citygate_device,"):
        polls[l.split("device=")[1].split(",")[0]] += 1
plan = {"m1": 4, "aq1": 1, "t1": 6, "w1": 3, "m2": 4}
for dev, key in (("m1", p1 + "/1"), ("aq1", p1 + "/2"), ("t1", p1 + "/3"), ("w1", p1 + "/4"), ("m2", p2 + "/1")):
    # the stop (SIGINT) may land inside a poll: its requests reached the sim
    # but it wrote no point; every complete poll sent exactly its plan
    n = st["devices"][key]
    assert plan[dev] * polls[dev] <= n < plan[dev] * (polls[dev] + 1), (dev, n, polls[dev])
    print("%s: %d polls, %d requests (%d per poll)" % (dev, polls[dev], n, plan[dev]))
# the traffic counter writes 5 points per poll (4 lanes + device level), one timestamp
ts = collections.Counter(l.rsplit(" ", 1)[1] for l in lines if l.startswith("traffic,"))
assert all(n == 5 for n in ts.values()) and len(ts) == polls["t1"], ts
PY
pass "requests per poll = plan, no forbidden read, no write, one timestamp per poll"
