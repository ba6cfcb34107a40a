#!/usr/bin/env bash
# --check-config lists every error in one run, in every section (issue 11):
# errors in gateway, outputs and normalise no longer hide those of the sources
# (a bad output `precision` hid a misspelt Modbus device key), nor those of a
# source's own normalise section; every unknown key at every level gets
# "did you mean". Starting the daemon on the file lists the same.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"

cat >"$T/bad.json" <<J
{"gateway": {"id": "gw1", "state_dir": "$T/state", "log_levl": "info"},
 "buffer": {"fsyncc": "always"},
 "http": {"listn": "127.0.0.1:9273"},
 "tagz": {"a": "b"},
 "outputs": [{"type": "influxdb_v1", "url": "http://127.0.0.1:8086", "databse": "city", "precision": "sec"}],
 "normalise": {"enabled": true, "max_seriess": 10},
 "sources": [
  {"type": "modbus", "name": "meters", "transport": "tcp", "host": "127.0.0.1", "port": 502,
   "profile_dirs": ["$SRC_DIR/config/profiles"], "normalise": {"unitz": {}},
   "devices": [{"name": "m1", "unit_idd": 1, "profile": "eastron_sdm630", "poll_intervall_ms": 1000}]},
  {"type": "mqtt", "name": "broker", "url": "tcp://127.0.0.1:1883", "keepalive": 5,
   "subscriptions": [{"topic": "city/#", "qoss": 1}],
   "rules": [{"topic": "city/{district}/aq", "format": "json", "measurment": "air_quality",
              "json": {"fields": {"pm25": {"pathh": "pm25"}}}}]}
 ]}
J
want=(
    "gateway.log_levl: unknown key (did you mean 'log_level'?)"
    "tagz: unknown key (did you mean 'tags'?)"
    "buffer.fsyncc: unknown key (did you mean 'fsync'?)"
    "http.listn: unknown key (did you mean 'listen'?)"
    "outputs[0].databse: unknown key (did you mean 'database'?)"
    "outputs[0].precision: must be one of ns, us, ms, s; got 'sec' (did you mean 's'?)"
    "normalise.max_seriess: unknown key (did you mean 'max_series'?)"
    "sources[0].normalise.unitz: unknown key (did you mean 'units'?)"
    "sources[0].devices[0].unit_idd: unknown key (did you mean 'unit_id'?)"
    "sources[0].devices[0].poll_intervall_ms: unknown key (did you mean 'poll_interval_ms'?)"
    "sources[1].keepalive: unknown key (did you mean 'keepalive_s'?)"
    "sources[1].subscriptions[0].qoss: unknown key (did you mean 'qos'?)"
    "sources[1].rules[0].measurment: unknown key (did you mean 'measurement'?)"
    "sources[1].rules[0].json.fields.pm25.pathh: unknown key (did you mean 'path'?)"
)
set +e
"$CITYGATE" --check-config "$T/bad.json" >"$T/check.out" 2>"$T/check.err"
rc=$?
set -e
expect "--check-config exit code" "$rc" 1
for w in "${want[@]}"; do
    grep -qF "  $w (line " "$T/check.err" || { cat "$T/check.err"; fail "not listed: $w"; }
done
pass "--check-config lists the ${#want[@]} unknown or bad keys of gateway, buffer, http, tags, outputs, normalise and both sources, each with did-you-mean and its position"
n=$(sed -n 's/^citygate: .*: \([0-9]*\) errors$/\1/p' "$T/check.err")
[ "$n" -ge "${#want[@]}" ] || fail "error count $n"
[ ! -s "$T/check.out" ] || fail "stdout not empty"

# The same errors when the daemon is started on that file.
set +e
"$CITYGATE" --config "$T/bad.json" --run-for 1 >/dev/null 2>"$T/run.err"
rc=$?
set -e
expect "daemon start exit code on a bad config" "$rc" 1
grep -qF "sources[0].devices[0].unit_idd: unknown key (did you mean 'unit_id'?)" "$T/run.err" ||
    fail "start does not list the device key error"
pass "starting on the bad file lists the source errors too"
