#!/bin/bash
# Modbus TCP frame discipline against a purpose-built faulty server (not
# citygate-sim), all five units behind one shared "TCP-to-RTU gateway"
# connection; values queried back from influxd:
#   unit 1: every 2nd answer is preceded by one with the same transaction id
#           but unit id 2, carrying 0xDEAD (57005)
#   unit 2: same, with protocol id 1
#   unit 3: answers after 150-320 ms against a 200 ms timeout
#   unit 4: every 3rd answer stops after 5 bytes and never finishes
#   unit 5: healthy neighbour
#   unit 6: every 3rd answer stops after 5 bytes; the rest comes 300 ms later
#           (after the timeout, while the next request is outstanding)
# Register A of unit U holds U*1000+A: influxd must never hold another value;
# the neighbour's readings arrive on time.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/modbus_lib.sh"
start_influxd
influx_create_db city
P=$(free_port)
bg slave $PY "$SRC_DIR/tests/integration/modbus_faulty.py" --tcp "$P" --log "$T/slave.jsonl" --seed 7 \
    --unit 1 --unit 2 --unit 3 --unit 4 --unit 5 --unit 6 --stall-resume 6:3:300 \
    --wrong-unit 1:2 --bad-proto 2:2 --late 3:150:320 --stall 4:3
wait_port "$P"
dev() { echo "{\"name\":\"$1\",\"unit_id\":$2,\"poll_interval_ms\":1000,\"address_base\":0,\"max_gap_registers\":0,
               \"registers\":[$(reg 0),$(reg 1),$(reg 100),$(reg 101)]}"; }
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state"},"normalise":{"enabled":false},
 "outputs":[{"type":"influxdb_v1","url":"$INFLUX_URL","database":"city","flush_interval_ms":200}],
 "sources":[{"type":"modbus","name":"gw","transport":"tcp","host":"127.0.0.1","port":$P,
   "response_timeout_ms":200,"retries":1,"quarantine_after":0,
   "devices":[$(dev wrongunit 1),$(dev badproto 2),$(dev late 3),$(dev stall 4),$(dev neighbour 5),$(dev resume 6)]}]}
CONF
bg citygate "$CITYGATE" --config "$T/cg.json"
CG=$LAST_PID
npoints() {
    influx_query city "SELECT count(r0) FROM modbus WHERE device='$1'" |
        $PY -c 'import json,sys; d=json.load(sys.stdin); s=d["results"][0].get("series"); print(s[0]["values"][0][1] if s else 0)'
}
enough() { [ "$(npoints neighbour)" -ge 15 ] && [ "$(npoints wrongunit)" -ge 10 ]; }
wait_for 40 enough || fail "too few points: neighbour $(npoints neighbour), wrongunit $(npoints wrongunit)"
stop_pid "$CG"
influx_query city 'SELECT * FROM "modbus" GROUP BY "device"' >"$T/points.json"
echo "server: $(grep -c '"wrong_unit"' "$T/slave.jsonl") wrong-unit frames, $(grep -c '"bad_proto"' "$T/slave.jsonl") protocol-id-1 frames, $(grep -c '"late"' "$T/slave.jsonl") late answers, $(grep -c '"partial"' "$T/slave.jsonl") stalled partial frames"
$PY "$SRC_DIR/tests/integration/modbus_lp_check.py" --influx "$T/points.json" \
    wrongunit=1:10 badproto=2:10 late=3:1 stall=4:5 neighbour=5:15:2500 resume=6:5 ||
    fail "influxd holds a value the device did not have, or the neighbour was late"
pass "influxd never holds a wrong value; the neighbour is on time"
grep -q 'device wrongunit: late or stray frame discarded (MBAP frame from unit 2' "$T/citygate.log" ||
    fail "the wrong-unit frame was not reported"
grep -q 'device badproto: late or stray frame discarded' "$T/citygate.log" || fail "the protocol-id frame was not reported"
pass "foreign frames reported"
