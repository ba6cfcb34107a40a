#!/bin/bash
# --check-config lists every MQTT config error with its exact path.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"

cat >"$T/bad.json" <<'J'
{"gateway":{"id":"gw1","state_dir":"/tmp/x"},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:8086","database":"city"}],
 "sources":[{"type":"mqtt","name":"b","url":"tcp://127.0.0.1:1883","qos":1,"keepalive_s":1,
   "tls":{"ca_file":"/x"},
   "subscriptions":[{"topic":"city/+/aq","qos":3},{"topic":"a/#/b"},{"topic":"$share/g","qos":1}],
   "rules":[{"topic":"city/{district}/aq/{sensor_id","format":"json","measurement":"aq"},
            {"topic":"x/y","format":"senml"},
            {"topic":"x/z","format":"xml","measurement":"m"},
            {"topic":"x/w","format":"json","measurement":"m","json":{"time_format":"minutes","fields":{"a":{"path":"a","type":"int8"}}},"value":{"field":"v"}}]}]}
J
set +e
out=$("$CITYGATE" --check-config "$T/bad.json" 2>&1)
rc=$?
set -e
echo "$out"
expect "exit code" "$rc" 1
for want in \
    "sources[0].qos: unknown key" \
    "sources[0].keepalive_s: must be 5..3600, got 1" \
    "sources[0].tls: given, but url is not ssl:// or mqtts://" \
    "sources[0].subscriptions[0].qos: must be 0..2, got 3" \
    "sources[0].subscriptions[1].topic: '#' must be the last topic level, got 'a/#/b'" \
    "sources[0].subscriptions[2].topic: shared subscription needs \$share/<group>/<filter>, got '\$share/g'" \
    "sources[0].rules[0].topic: a capture must be a whole level: {name}, got 'city/{district}/aq/{sensor_id'" \
    "sources[0].rules[1].measurement: missing (required for format senml)" \
    "sources[0].rules[2].format: must be one of json, senml, influx, value, chirpstack_v4, ttn_v3; got 'xml'" \
    "sources[0].rules[3].json.time_format: must be one of auto, s, ms, us, ns, rfc3339; got 'minutes'" \
    "sources[0].rules[3].json.fields.a.type: must be one of auto, float, int, uint, bool, string; got 'int8' (did you mean 'int'?)" \
    "sources[0].rules[3].value: only for format value (this rule is format json)"; do
    grep -qF -- "$want" <<<"$out" || fail "missing error: $want"
    pass "$want"
done
