#!/bin/bash
# Every codec end to end (mosquitto -> citygate -> influxd), values queried back
# exactly; bad payloads among good ones: all good ones arrive, every bad one is
# acknowledged and counted, unmatched topics counted.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"

start_influxd
influx_create_db city
start_mosquitto
gw_config "$T/gw.json" '{"type":"mqtt","name":"city-broker","url":"'"$MQTT_URL"'","client_id":"codecs",
  "max_payload_bytes":4096,
  "subscriptions":[{"topic":"city/#","qos":1}],
  "rules":[
   {"topic":"city/{district}/aq/{sensor_id}","format":"json","measurement":"aq","tags":{"source":"lora"},
    "json":{"records":"readings","time":"ts","time_format":"ms",
            "fields":{"pm25":"pm.p25","pm10":{"path":"pm.p10","type":"float"},"count":{"path":"n","type":"int"},
                      "ok":"ok","state":"state"},
            "tags":{"model":"$.meta.model"}}},
   {"topic":"city/{district}/senml","format":"senml","measurement":"senml"},
   {"topic":"city/{district}/lp","format":"influx","influx":{"precision":"ns"}},
   {"topic":"city/{district}/v/{quantity}","format":"value","measurement":"reading","value":{"field":"v"}}]}'
start_gw gw "$T/gw.json"

P="mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT -q 1"
# bad ones first, on the same topics as the good ones
$P -t city/north/aq/s17 -m '{"meta":{"model":"AQ-1"},"readings":[{"ts":1700000000000,"pm":{"p25":'   # truncated
$P -t city/north/v/temp -m 'NaN'
$P -t city/north/aq/s17 -m "$(printf '%.0s[' $(seq 40))$(printf '%.0s]' $(seq 40))"                 # nesting 40 > 32
printf 'lptest,lane=\xff count=1i\n' >"$T/bad_utf8.lp"
$P -t city/north/lp -f "$T/bad_utf8.lp"
head -c 5000 /dev/zero | tr '\0' '1' >"$T/big.txt"
$P -t city/north/v/temp -f "$T/big.txt"                                                                # > max_payload_bytes
$P -t city/north/senml -m '[{"n":"x","v":1,"rt_":"must-understand"}]'
$P -t city/north/unknown/x -m '1'                                                                      # no rule
# good ones
$P -t city/north/aq/s17 -m '{"meta":{"model":"AQ-1"},"readings":[
  {"ts":1700000000000,"pm":{"p25":4.5,"p10":"9.25"},"n":12,"ok":true,"state":"idle"},
  {"ts":1700000001000,"pm":{"p25":5.5,"p10":10}}]}'
$P -t city/north/senml -m '[{"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,"bu":"A","bver":5,
  "n":"voltage","u":"V","v":120.1},{"n":"current","t":-5,"v":1.2},{"n":"current","t":-4,"v":1.3},
  {"n":"current","t":-3,"v":1.4},{"n":"current","t":-2,"v":1.5},{"n":"current","t":-1,"v":1.6},
  {"n":"current","v":1.7}]'
printf 'lptest,lane=1 count=5i,speed=48.5,jam=f,note="ok, \\"fine\\"" 1700000000000000000\nlptest,lane=2,district=south count=7i 1700000000000000001\n' >"$T/good.lp"
$P -t city/north/lp -f "$T/good.lp"
$P -t city/south/v/temp -m ' 21.5
'

wait_scalar 20 city 'SELECT count(v) FROM reading' 1 >/dev/null || fail "value point did not arrive"
wait_scalar 10 city 'SELECT count(value) FROM senml' 7 >/dev/null || fail "senml points did not arrive"
wait_scalar 10 city 'SELECT count("count") FROM lptest' 2 >/dev/null || fail "line protocol points did not arrive"
wait_scalar 10 city 'SELECT count(pm25) FROM aq' 2 >/dev/null || fail "json points did not arrive"

expect "json rows" "$(rows city 'SELECT pm25, pm10, "count", ok, state, district, sensor_id, model, source FROM aq' | tr '\n' ';')" \
"aq time=1700000000000000000,pm25=4.5,pm10=9.25,count=12,ok=True,state=idle,district=north,sensor_id=s17,model=AQ-1,source=lora;aq time=1700000001000000000,pm25=5.5,pm10=10,district=north,sensor_id=s17,model=AQ-1,source=lora;"
expect "senml voltage" "$(rows city "SELECT value FROM senml WHERE \"name\"='urn:dev:ow:10e2073a0108006:voltage' AND unit='V'" | tr '\n' ';')" \
"senml time=1276020076001000000,value=120.1;"
expect "senml current" "$(rows city "SELECT value FROM senml WHERE \"name\"='urn:dev:ow:10e2073a0108006:current' AND unit='A'" | tr '\n' ';')" \
"senml time=1276020071001000000,value=1.2;senml time=1276020072001000000,value=1.3;senml time=1276020073001000000,value=1.4;senml time=1276020074001000000,value=1.5;senml time=1276020075001000000,value=1.6;senml time=1276020076001000000,value=1.7;"
expect "line protocol (topic tag wins over the line's)" "$(rows city 'SELECT "count", speed, jam, note, district, lane FROM lptest' | tr '\n' ';')" \
"lptest time=1700000000000000000,count=5,speed=48.5,jam=False,note=ok, \"fine\",district=north,lane=1;lptest time=1700000000000000001,count=7,district=north,lane=2;"
expect "value" "$(rows city 'SELECT v, district, quantity FROM reading' | cut -d, -f2- | tr '\n' ';')" \
"v=21.5,district=south,quantity=temp;"
expect "types: count is an integer field" "$(influx_query city 'SHOW FIELD KEYS FROM aq' | $PY -c '
import json,sys; print(sorted(map(tuple, json.load(sys.stdin)["results"][0]["series"][0]["values"])))')" \
"[('count', 'integer'), ('ok', 'boolean'), ('pm10', 'float'), ('pm25', 'float'), ('state', 'string')]"

stop_pid "$GW_PID"
expect "messages" "$(mstat gw messages)" 11
expect "points" "$(mstat gw points)" 12
expect "bad" "$(mstat gw bad)" 6
expect "bad parse" "$(mstat gw parse)" 2
expect "bad too_large" "$(mstat gw too_large)" 2
expect "bad nonfinite" "$(mstat gw nonfinite)" 1
expect "bad utf8" "$(mstat gw utf8)" 1
expect "unmatched" "$(mstat gw unmatched)" 1
grep -q "topic 'city/north/aq/s17': bad json payload (truncated JSON; dropped, acked): {\"meta\"" "$T/gw.log" ||
    fail "bad payload log line with topic and first bytes missing"
pass "bad payload logged with topic and first bytes"
