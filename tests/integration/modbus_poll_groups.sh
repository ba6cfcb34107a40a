#!/bin/bash
# Poll groups: a profile puts registers in groups with their own intervals; a
# device entry overrides one; the same unit id is listed twice with different
# registers. Against a purpose-built TCP server (not citygate-sim): the server's
# own request log must show each group read at its interval, merged within the
# group (one read for r0..r1, one for r10..r11, one for r20), and every value
# exact. --check-config names an unknown group with "did you mean".
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/modbus_lib.sh"
P=$(free_port)
bg slave $PY "$SRC_DIR/tests/integration/modbus_faulty.py" --tcp "$P" --log "$T/slave.jsonl" --unit 7
wait_port "$P"
mkdir -p "$T/profiles"
cat >"$T/profiles/grouped.json" <<PROF
{"profile":"grouped","measurement":"modbus","address_base":0,"poll_interval_ms":5000,"max_gap_registers":20,
 "poll_groups":{"power":{"poll_interval_ms":300},"energy":{"poll_interval_ms":60000}},
 "registers":[$(reg 0 ',"group":"power"'),$(reg 1 ',"group":"power"'),
              $(reg 10 ',"group":"energy"'),$(reg 11 ',"group":"energy"')]}
PROF
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state"},"normalise":{"enabled":false},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:9","database":"city"}],
 "sources":[{"type":"modbus","name":"gw","transport":"tcp","host":"127.0.0.1","port":$P,"stagger":false,
   "profile_dirs":["$T/profiles"],
   "devices":[{"name":"meter","unit_id":7,"profile":"grouped","poll_groups":{"energy":{"poll_interval_ms":1500}}},
              {"name":"meter-extra","unit_id":7,"poll_interval_ms":3000,"address_base":0,"registers":[$(reg 20)]}]}]}
CONF
"$CITYGATE" --check-config "$T/cg.json" >"$T/check.out" 2>&1 || fail "check-config: $(cat "$T/check.out")"
bg citygate "$CITYGATE" --dry-run --config "$T/cg.json"
CG=$LAST_PID
wait_for 20 grep -q '"n": 40' "$T/slave.jsonl" || fail "too few requests"
t0=$(grep -c . "$T/slave.jsonl")
sleep 6
stop_pid "$CG"
dry_run_points
$PY - "$T/slave.jsonl" <<'PY' || fail "groups not read at their intervals"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1]) if '"addr"' in l]
t_end = reqs[-1]["t"]
win = [r for r in reqs if r["t"] > t_end - 6.0]
by = {}
for r in win:
    by.setdefault((r["addr"], r["count"]), []).append(r["t"])
def iv(ts):
    return (ts[-1] - ts[0]) / (len(ts) - 1) * 1000 if len(ts) > 1 else float("inf")
print("reads in the last 6 s (address, count): " + ", ".join("%s x%d every %.0f ms" % (k, len(v), iv(v)) for k, v in sorted(by.items())))
ok = set(by) == {(0, 2), (10, 2), (20, 1)}
ok = ok and 250 <= iv(by[(0, 2)]) <= 400 and 1300 <= iv(by[(10, 2)]) <= 1700 and 2700 <= iv(by[(20, 1)]) <= 3300
sys.exit(0 if ok else 1)
PY
pass "each group at its own interval, merged within the group"
$PY "$SRC_DIR/tests/integration/modbus_lp_check.py" "$T/points.lp" meter=7:10 meter-extra=7:1 || fail "wrong values"
grep -q '^modbus,device=meter,gateway=gw1 r0=7000i,r1=7001i [0-9]*$' "$T/points.lp" || fail "no power-only point"
grep -q '^modbus,device=meter,gateway=gw1 r10=7010i,r11=7011i [0-9]*$' "$T/points.lp" || fail "no energy-only point"
pass "values exact, one point per group poll"

# an unknown group, in a device override and in a register, with did you mean
sed -e 's/"energy":{"poll_interval_ms":1500}/"enrgy":{"poll_interval_ms":1500}/' \
    -e 's/"registers":\[{"name":"r20","address":20,"type":"uint16","output":"int"}\]/"registers":[{"name":"r20","address":20,"group":"powr"}]/' \
    "$T/cg.json" >"$T/bad.json"
if "$CITYGATE" --check-config "$T/bad.json" >"$T/bad.out" 2>&1; then fail "unknown group accepted"; fi
cat "$T/bad.out"
grep -q "sources\[0\].devices\[0\].poll_groups.enrgy: no poll group 'enrgy' in profile 'grouped' (did you mean 'energy'?)" "$T/bad.out" ||
    fail "device override of an unknown group"
grep -q "sources\[0\].devices\[1\].registers\[0\].group: no poll group 'powr'" "$T/bad.out" || fail "register in an unknown group"
pass "unknown poll groups named, with did you mean"
