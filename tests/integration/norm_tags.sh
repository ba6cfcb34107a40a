#!/bin/bash
# Configured tags win, and stay under the user's control (issues 11, 13).
#   passthrough: line protocol published over MQTT lands with byte-identical
#     series keys (SHOW SERIES) when the source removes the static tags
#     (normalise.static_tags {"gateway": null, "city": null}) and the quality
#     tag is off.
#   protect (default): a payload's gateway=/city= tags never replace the
#     configured ones; each replaced key is counted in
#     citygate_discarded_total{cause="protected_tag"} and logged once.
#   override (payload_tags: override, per source or per MQTT rule): the
#     payload's value is written.
#   reserved: a payload point under citygate_device (citygate's own health
#     measurement) is refused, counted and logged once.
#   rule capture: a rule's {city} topic capture is configuration and wins over
#     the static city tag on that rule's points (the codec already lets it
#     win over the payload's).
#   reload: the discard ledger survives SIGHUP (a key logged before is not
#     logged again).
#   per rule: an MQTT rule's static_tags {"gateway": null, "city": "town"}.
#   rename: static_tags {"gateway": "cabinet"} writes the gateway id as cabinet=.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"

start_influxd
influx_create_db city
start_mosquitto
HTTP_PORT=$(free_port)
mkdir -p "$T/state"
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"gw1","state_dir":"$T/state"},
 "tags":{"city":"tashkent"},
 "normalise":{"clock_check":false,"quality_tag":""},
 "http":{"listen":"127.0.0.1:$HTTP_PORT"},
 "outputs":[{"type":"influxdb_v1","url":"$INFLUX_URL","database":"city","flush_interval_ms":100}],
 "sources":[
  {"type":"mqtt","name":"raw","url":"$MQTT_URL","client_id":"tags-raw",
   "rules":[{"topic":"raw/lp","format":"influx"}],
   "normalise":{"static_tags":{"gateway":null,"city":null}}},
  {"type":"mqtt","name":"guarded","url":"$MQTT_URL","client_id":"tags-guarded",
   "rules":[{"topic":"guarded/lp","format":"influx"},
            {"topic":"guarded/upstream","format":"influx","payload_tags":"override"},
            {"topic":"guarded/ruled","format":"influx","static_tags":{"gateway":null,"city":"town"}}]},
  {"type":"mqtt","name":"captured","url":"$MQTT_URL","client_id":"tags-captured",
   "rules":[{"topic":"cap/{city}/lp","format":"influx"}]},
  {"type":"mqtt","name":"trusted","url":"$MQTT_URL","client_id":"tags-trusted",
   "rules":[{"topic":"trusted/lp","format":"influx"}],
   "normalise":{"payload_tags":"override","static_tags":{"gateway":"cabinet"}}}]}
CONF
"$CITYGATE" --check-config "$T/cg.json" >"$T/check.log" 2>&1 || fail "--check-config: $(cat "$T/check.log")"
bg citygate "$CITYGATE" --config "$T/cg.json" --log-level debug
GW_PID=$LAST_PID
subscribed() { [ "$(grep -c "subscribed to" "$T/citygate.log")" -ge 6 ]; } # 4 sources, 6 rule filters
wait_for 20 subscribed || fail "citygate did not subscribe"

cat >"$T/raw.lp" <<'LP'
plc_a,line=3,zone=n\ 1 temp=21.5 1700000000000000000
plc_b,host=edge-7,rack=r\,2 y=1i 1700000000000000000
LP
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t raw/lp -f "$T/raw.lp"
for i in 1 2; do
    mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t guarded/lp \
        -m "guarded_m,gateway=evil,city=fake,sensor_id=s$i v=$i 1700000000000000000"
done
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t guarded/lp -m 'citygate_device,device=forged up=true 1700000000000000000'
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t guarded/lp -m 'citygate_device,device=forged up=true 1700000000000000001'
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t guarded/upstream -m 'upstream_m,gateway=gw-far v=1 1700000000000000000'
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t guarded/ruled -m 'ruled_m,x=1 v=1 1700000000000000000'
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t cap/bukhara/lp -m 'cap_m,city=fake v=1 1700000000000000000'
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t trusted/lp -m 'trusted_m,city=samarkand v=1 1700000000000000000'

series() { influx_query city 'SHOW SERIES' | $PY -c 'import json,sys; s=json.load(sys.stdin)["results"][0].get("series") or []; print("\n".join(sorted(v[0] for x in s for v in x["values"])))'; }
all_in() { [ "$(series | wc -l)" -ge 8 ]; }
wait_for 20 all_in || fail "points did not land: $(series)"
# the forged points are refused by then: wait until they are counted, then look
refused() { curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" >"$T/metrics.txt" &&
    grep -q 'cause="reserved_measurement".*} 2$' "$T/metrics.txt"; }
wait_for 20 refused || fail "the forged points were not counted: $(grep discarded "$T/metrics.txt")"
series >"$T/series.txt"
cat "$T/series.txt"
# a reload keeps the ledger: the count goes on, the key is not logged again
kill -HUP "$GW_PID"
wait_for 20 grep -q "reloaded:" "$T/citygate.log" || fail "no reload"
resubscribed() { [ "$(grep -c "subscribed to" "$T/citygate.log")" -ge 12 ]; }
wait_for 20 resubscribed || fail "sources did not come back after the reload"
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t guarded/lp -m 'citygate_device,device=forged up=true 1700000000000000002'
refused3() { curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" >"$T/metrics2.txt" &&
    grep -q 'cause="reserved_measurement".*} 3$' "$T/metrics2.txt"; }
wait_for 20 refused3 || fail "the ledger did not survive the reload: $(grep reserved "$T/metrics2.txt")"
stop_pid "$GW_PID"

# passthrough: byte-identical series keys (measurement and tag set as published)
grep -qxF 'plc_a,line=3,zone=n\ 1' "$T/series.txt" || fail "plc_a series key changed"
grep -qxF 'plc_b,host=edge-7,rack=r\,2' "$T/series.txt" || fail "plc_b series key changed"
pass "line-protocol passthrough: series keys byte-identical"

# protect
grep -qxF 'guarded_m,city=tashkent,gateway=gw1,sensor_id=s1' "$T/series.txt" || fail "payload tags replaced the configured ones"
grep -qxF 'guarded_m,city=tashkent,gateway=gw1,sensor_id=s2' "$T/series.txt" || fail "second guarded point"
! grep -q 'evil\|fake' "$T/series.txt" || fail "a payload's gateway/city tag was written"
for k in gateway city; do
    grep -qx "citygate_discarded_total{cause=\"protected_tag\",source=\"guarded\",measurement=\"guarded_m\",field=\"$k\"} 2" "$T/metrics.txt" ||
        fail "protected_tag counter for $k: $(grep protected "$T/metrics.txt")"
    w="warn guarded: measurement 'guarded_m', field '$k': payload tag replaced by the configured static tag of the same key; counted in citygate_discarded_total{cause=\"protected_tag\"}, logged once"
    [ "$(grep -cF "$w" "$T/citygate.log")" = 1 ] || fail "not logged exactly once: $w"
done
pass "configured tags win over payload tags (counted, logged once)"

# reserved measurement
! grep -q '^citygate_device' "$T/series.txt" || fail "a payload forged a citygate_device point"
grep -qx 'citygate_discarded_total{cause="reserved_measurement",source="guarded",measurement="citygate_device",field=""} 2' "$T/metrics.txt" ||
    fail "reserved_measurement counter: $(grep reserved "$T/metrics.txt")"
[ "$(grep -cF "warn guarded: measurement 'citygate_device': measurement name is reserved for citygate's own points: point dropped" "$T/citygate.log")" = 1 ] ||
    fail "reserved measurement not logged exactly once"
pass "citygate's own measurement names are refused for payloads"

# a rule's own tags (topic capture {city}) are configuration: they win over the static tag
grep -qxF 'cap_m,city=bukhara,gateway=gw1' "$T/series.txt" || fail "rule capture: $(grep cap_m "$T/series.txt")"
! grep -q 'cause="protected_tag",source="captured"' "$T/metrics.txt" || fail "a rule capture was counted as a protected tag"
pass "a rule's topic capture replaces the static tag of the same key"

# override + rename
grep -qxF 'trusted_m,cabinet=gw1,city=samarkand' "$T/series.txt" || fail "override/rename: $(grep trusted "$T/series.txt")"
grep -qxF 'upstream_m,city=tashkent,gateway=gw-far' "$T/series.txt" || fail "rule payload_tags override: $(grep upstream "$T/series.txt")"
grep -qxF 'ruled_m,town=tashkent,x=1' "$T/series.txt" || fail "rule static_tags: $(grep ruled "$T/series.txt")"
pass "payload_tags override (per source and per rule), static tags renamed/removed per source and per rule"
