#!/bin/bash
# One --check-config run lists every Modbus config error: misspelt source,
# device, profile and register keys (each with "did you mean"), a misspelt
# profile name, bad values next to unknown keys, and a broken profile used by
# two devices (its errors once).
. "$SRC_DIR/tests/integration/lib.sh"
mkdir -p "$T/profiles"
cp "$SRC_DIR/config/profiles/water_meter.json" "$T/profiles/"
cat >"$T/profiles/badprof.json" <<'EOF2'
{"profile":"badprof","measurment":"x","poll_interval_ms":1000,
 "registers":[{"name":"a","address":0,"tpye":"uint16"},{"name":"b","address":1,"scale":"x"}]}
EOF2
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state"},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:9","database":"city"}],
 "sources":[{"type":"modbus","name":"s","transport":"tcp","host":"127.0.0.1","respons_timeout_ms":100,
   "profile_dirs":["$T/profiles"],
   "devices":[{"name":"d1","unit_id":1,"profil":"badprof","poll_interval_ms":5},
              {"name":"d2","unit_id":300,"profile":"badprof","pol_interval_ms":1000},
              {"name":"d3","unit_id":3,"profile":"water_metr",
               "registers":[{"name":"r","adress":3},{"name":"q","address":1,"type":"floot32"}]},
              {"name":"d4","unit_id":4,"profile":"badprof"}]}]}
CONF
if "$CITYGATE" --check-config "$T/cg.json" >"$T/out.txt" 2>&1; then fail "a broken config passed"; fi
cat "$T/out.txt"
want() { grep -qF -- "$1" "$T/out.txt" || fail "missing: $1"; }
want "citygate: $T/cg.json: 12 errors"
want "sources[0].respons_timeout_ms: unknown key (did you mean 'response_timeout_ms'?)"
want "sources[0].devices[0].profil: unknown key (did you mean 'profile'?)"
want "sources[0].devices[0].poll_interval_ms: must be 10..86400000, got 5"
want "sources[0].devices[1].unit_id: must be 0..255, got 300"
want "sources[0].devices[1].pol_interval_ms: unknown key (did you mean 'poll_interval_ms'?)"
want "$T/profiles/badprof.json.measurment: unknown key (did you mean 'measurement'?)"
want "$T/profiles/badprof.json.registers[0].tpye: unknown key (did you mean 'type'?)"
want "$T/profiles/badprof.json.registers[1].scale: must be a number"
want "sources[0].devices[2].profile: profile 'water_metr' not found in $T/profiles (did you mean 'water_meter'?)"
want "sources[0].devices[2].registers[0].adress: unknown key (did you mean 'address'?)"
want "sources[0].devices[2].registers[0].address: missing (required)"
want "sources[0].devices[2].registers[1].type: must be one of"
[ "$(grep -c 'badprof.json.measurment' "$T/out.txt")" -eq 1 ] || fail "a broken profile's errors repeated per device"
pass "every error in one run, each unknown key and profile name with did you mean"
