#!/bin/bash
# Fault injection: on one TCP connection (a gateway with unit ids 1-5) sit a
# healthy sensor, a dead one, one answering ILLEGAL DATA ADDRESS, one answering
# garbage half of the time and a flaky one; a dead device also has a connection
# of its own, and a healthy meter has its own. Checked: nothing crashes; the
# healthy devices keep their poll timing (measured and printed); the dead
# devices are quarantined and reported as down; exceptions are logged by name;
# what is written is exactly what was served; stop() returns promptly.
. "$SRC_DIR/tests/integration/lib.sh"
: "${CITYGATE_SIM:?}"
PA=$(free_port); PB=$(free_port); PC=$(free_port)
bg sim "$CITYGATE_SIM" --profile-dir "$SRC_DIR/config/profiles" --step-ms 0 --print-values --seed 7 \
    --tcp "$PA=airq_rs485@1-5" --tcp "$PB=eastron_sdm630@1" --tcp "$PC=eastron_sdm630@9" \
    --fault "$PA/2:dead" --fault "$PA/3:exception=2" --fault "$PA/4:garbage:0.5" --fault "$PA/5:timeout:0.3" \
    --fault "$PC/9:dead"
wait_port "$PA"; wait_port "$PB"; wait_port "$PC"
grep '^{' "$T/sim.log" >"$T/values.jsonl"
IV=500
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state"},"normalise":{"enabled":false},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:9","database":"city"}],
 "sources":[{"type":"modbus","name":"faulty","transport":"tcp","host":"127.0.0.1","port":$PA,
   "profile_dirs":["$SRC_DIR/config/profiles"],"response_timeout_ms":150,"retries":1,
   "quarantine_after":2,"quarantine_ms":2000,"reconnect_min_ms":100,"reconnect_max_ms":1000,
   "devices":[{"name":"healthy","unit_id":1,"profile":"airq_rs485","poll_interval_ms":$IV},
              {"name":"dead","unit_id":2,"profile":"airq_rs485","poll_interval_ms":$IV},
              {"name":"refuser","unit_id":3,"profile":"airq_rs485","poll_interval_ms":$IV},
              {"name":"garbler","unit_id":4,"profile":"airq_rs485","poll_interval_ms":$IV},
              {"name":"flaky","unit_id":5,"profile":"airq_rs485","poll_interval_ms":$IV},
              {"name":"meter","unit_id":1,"port":$PB,"profile":"eastron_sdm630","poll_interval_ms":$IV},
              {"name":"deadmeter","unit_id":9,"port":$PC,"profile":"eastron_sdm630","poll_interval_ms":$IV}]}]}
CONF
bg citygate "$CITYGATE" --dry-run --config "$T/cg.json"
CG=$LAST_PID
sleep 6
t0=$(date +%s%N)
stop_pid "$CG" INT
t1=$(date +%s%N)
stop_ms=$(((t1 - t0) / 1000000))
echo "citygate stopped in ${stop_ms} ms"
[ "$stop_ms" -lt 3000 ] || fail "stop took ${stop_ms} ms"
! grep -q 'AddressSanitizer\|runtime error' "$T/citygate.log" || fail "sanitizer report"
grep -q 'device refuser: exception 2 (ILLEGAL DATA ADDRESS) reading holding 0..15 (unit 3)' "$T/citygate.log" ||
    fail "exception not logged by name"
grep -q 'device dead: 2 failed polls in a row, quarantined for 2000 ms' "$T/citygate.log" || fail "no quarantine"
test "$(grep -c 'device dead: no response' "$T/citygate.log")" -eq 1 || fail "a dead device must log once"
grep -v -e '^info' -e '^warn' -e '^error' "$T/citygate.log" >"$T/out.lp"
$PY "$SRC_DIR/tests/integration/modbus_check.py" --sim "$T/values.jsonl" --lp "$T/out.lp" --min-polls 1 \
    --map "$PA/1=healthy,$PA/4=garbler,$PA/5=flaky,$PB/1=meter" \
    --measurement-of healthy=air_quality,garbler=air_quality,flaky=air_quality,meter=energy ||
    fail "a written value differs from the served one"
$PY - "$T/out.lp" "$IV" <<'PY' || fail "timing / health"
import sys, collections
iv = int(sys.argv[2])
polls = collections.defaultdict(list)
for l in open(sys.argv[1]):
    if not l.startswith("citygate_device,"):
        continue
    dev = l.split("device=")[1].split(",")[0]
    fields = dict(kv.split("=") for kv in l.split(" ")[1].split(","))
    polls[dev].append((int(l.split(" ")[2]) / 1e6, fields))
def jitter(dev, skip=0):
    ts = [t for t, _ in polls[dev]][skip:]
    d = [b - a for a, b in zip(ts, ts[1:])]
    return len(ts), max(abs(x - iv) for x in d)
for dev in ("meter", "healthy", "flaky", "garbler"):
    n, j = jitter(dev)
    print("%-9s %2d polls, worst deviation from the %d ms interval: %5.1f ms" % (dev, n, iv, j))
# a healthy device on its own connection is untouched by the dead ones
n, j = jitter("meter")
assert n >= 10 and j < 60, (n, j)
assert all(f["up"] == "t" for _, f in polls["meter"])
# on the shared connection: never a poll lost; delays bounded by one dead poll
# (timeout x (1 + retries) = 300 ms) until the dead devices are quarantined
n, j = jitter("healthy")
assert n >= 10 and j < 2 * 150 + 100, (n, j)
assert all(f["up"] == "t" for _, f in polls["healthy"])
# after quarantine (from the 4th poll on) the shared bus is back on time,
# apart from the flaky device's own timeouts (150 ms each)
n, j = jitter("healthy", skip=4)
print("healthy after the dead devices were quarantined: worst deviation %.1f ms" % j)
for dev in ("dead", "deadmeter", "refuser"):
    st = [f for _, f in polls[dev]]
    assert st and all(f["up"] == "f" for f in st), dev
    assert any(f["quarantined"] == "t" for f in st), dev
    assert "latency_ms" not in st[-1]
assert any(f["up"] == "t" for _, f in polls["garbler"]) and any(int(f["errors"][:-1]) > 0 for _, f in polls["garbler"])
PY
pass "faults contained; healthy devices on time"
