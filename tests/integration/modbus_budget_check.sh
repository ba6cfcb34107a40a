#!/bin/bash
# budget_check: "warn" (the default) means a warning from --check-config too,
# exit 0, exactly as the daemon runs the config; "refuse" refuses it.
. "$SRC_DIR/tests/integration/lib.sh"
mk() {
    cat >"$T/$1.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state"},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:9","database":"city"}],
 "sources":[{"type":"modbus","name":"slowbus","transport":"rtu","device":"/dev/null","baud":1200 $2,
   "profile_dirs":["$SRC_DIR/config/profiles"],
   "devices":[{"name":"m1","unit_id":1,"profile":"eastron_sdm630","poll_interval_ms":100}]}]}
CONF
}
mk default ''
mk warn ',"budget_check":"warn"'
mk refuse ',"budget_check":"refuse"'
for c in default warn; do
    "$CITYGATE" --check-config "$T/$c.json" >"$T/$c.out" 2>&1 || fail "$c: --check-config refused: $(cat "$T/$c.out")"
    grep -q '^warn slowbus: rtu /dev/null: the planned reads need about [0-9]* ms of every second' "$T/$c.out" ||
        fail "$c: no budget warning: $(cat "$T/$c.out")"
done
pass "budget_check warn: --check-config warns and exits 0"
if "$CITYGATE" --check-config "$T/refuse.json" >"$T/refuse.out" 2>&1; then
    fail "refuse: --check-config accepted an over-budget bus"
fi
grep -q 'sources\[0\]: rtu /dev/null: the planned reads need about [0-9]* ms of every second' "$T/refuse.out" ||
    fail "refuse: message: $(cat "$T/refuse.out")"
pass "budget_check refuse: --check-config refuses, naming the bus"

# the budget counts each poll group at its own interval: a slow device
# interval does not hide a group read every 100 ms (2 reads x 10/s + 1 read a minute)
mkdir -p "$T/profiles"
cat >"$T/profiles/grouped.json" <<'PROF'
{"profile":"grouped","address_base":0,"poll_groups":{"fast":{"poll_interval_ms":1000}},
 "registers":[{"name":"r0","address":0},{"name":"r10","address":10,"group":"fast"},
              {"name":"r20","address":20,"group":"fast"}]}
PROF
sed -e 's|"profile_dirs":\["[^"]*"\]|"profile_dirs":["'"$T"'/profiles"]|' \
    -e 's/"profile":"eastron_sdm630","poll_interval_ms":100}/"profile":"grouped","poll_interval_ms":60000,"poll_groups":{"fast":{"poll_interval_ms":100}}}/' \
    "$T/default.json" >"$T/groups.json"
"$CITYGATE" --check-config "$T/groups.json" >"$T/groups.out" 2>&1 || fail "groups: refused: $(cat "$T/groups.out")"
cat "$T/groups.out"
grep -q '^warn slowbus: rtu /dev/null: the planned reads need about [0-9]* ms of every second (20.0 requests/s' \
    "$T/groups.out" || fail "the fast group was not counted: $(cat "$T/groups.out")"
pass "the poll budget counts a group at its own interval"
