#!/usr/bin/env bash
# Device-controlled text cannot forge log lines. The real binary under a
# journald-style stderr (JOURNAL_STREAM set: every line is "<N>who: msg"),
# fed MQTT payloads whose names, tags and text carry "\n<0>" and other control
# bytes: every line of the log must still start with a priority of ours
# (3, 4, 6 or 7), none may be "<0>", and the control bytes appear as \xNN.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
# Topics: mosquitto refuses control characters in them, a hostile or careless
# broker does not. One that publishes "j/x\n<0>citygate: forged-topic".
bg broker $PY "$SRC_DIR/tests/integration/hostile_broker.py" "$T/broker.port" \
    'j/x\n<0>citygate: forged-topic' '{"v": 1}' 'nomatch/\n<0>citygate: forged-unmatched-topic' 'x'
wait_for 10 test -s "$T/broker.port" || fail "hostile broker did not start"
cat >"$T/gw2.json" <<J
{"gateway":{"id":"gw1","state_dir":"$T/state2","self_metrics_interval_s":0,"drain_timeout_ms":0},
 "normalise":{"enabled":false},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:1","database":"city"}],
 "sources":[{"type":"mqtt","name":"b","url":"tcp://127.0.0.1:$(cat "$T/broker.port")","clean_session":true,
   "subscriptions":[{"topic":"#","qos":0}],
   "rules":[{"topic":"j/{device}","format":"json","measurement":"m"}]}]}
J
JOURNAL_STREAM=8:8 bg gw2 "$CITYGATE" --config "$T/gw2.json" --log-level debug
wait_for 20 grep -q "forged-unmatched-topic" "$T/gw2.log" || fail "the hostile topics were not logged: $(cat "$T/gw2.log")"
stop_pid "$LAST_PID"
bad=$(grep -anv '^<[3467]>[A-Za-z0-9_.:\[ -]*: ' "$T/gw2.log" || true)
[ -z "$bad" ] || fail "MQTT topic forged a log line: $bad"
grep -aqF 'topic '\''j/x\x0a<0>citygate: forged-topic'\''' "$T/gw2.log" || fail "topic not shown escaped: $(grep -a forged "$T/gw2.log")"
pass "a topic with \\n<0> from a hostile broker is logged as \\x0a<0>, no forged line"
start_mosquitto
cat >"$T/gw.json" <<J
{"gateway":{"id":"gw1","state_dir":"$T/state","self_metrics_interval_s":0,"drain_timeout_ms":0},
 "normalise":{"enabled":false},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:1","database":"city"}],
 "sources":[{"type":"mqtt","name":"b","url":"$MQTT_URL","subscriptions":[{"topic":"#"}],"rules":[
   {"topic":"j/{device}","format":"json","measurement":"m"},
   {"topic":"s/{device}","format":"senml","measurement":"m"},
   {"topic":"l/{device}","format":"influx"}]}]}
J
JOURNAL_STREAM=8:8 start_gw gw "$T/gw.json"
pub() { mosquitto_pub -p "$MQTT_PORT" -q 1 -t "$1" -m "$2"; }
pub j/a '{"a\n<0>forged-json-key": 1, "b\n<0>x": "s"}'
pub j/b '{"tags":{"d\n<0>forged-json-tag":"x"}, "v": 1}'
pub s/a '[{"bn":"dev\n<0>forged-senml-bn","n":"t\n<0>e","v":1}]'
pub s/b '[{"n":"t\u0001<0>forged-senml-name","v":1}]'
pub l/a $'m\x01<0>forged-lp,t=a v=1'
pub l/b $'m,t=b\x1b[31m<0>forged-lp-tag v=x\r<0>forged-cr'
pub "unmatched/x" $'\n<0>forged-unmatched'
wait_for 20 grep -q "forged-lp-tag" "$T/gw.log" || fail "rejected payload not logged"
sleep 1
stop_pid "$GW_PID"
wait_for 10 grep -q "mqtt stats" "$T/gw.log" || fail "no exit summary"
m=$(mstat gw messages); [ "${m:-0}" -ge 7 ] || fail "not every message arrived: $(grep "mqtt stats" "$T/gw.log")"
bad=$(grep -anv '^<[3467]>[A-Za-z0-9_.:\[ -]*: ' "$T/gw.log" || true)
[ -z "$bad" ] || fail "log lines without our priority prefix (forged or split): $bad"
! grep -aq '<0>forged[^ ]*$' "$T/gw.log" || true
! LC_ALL=C grep -aqP '[\x00-\x08\x0b-\x1f\x7f]' "$T/gw.log" ||
    fail "raw control bytes in the log: $(LC_ALL=C grep -aP '[\x00-\x08\x0b-\x1f\x7f]' "$T/gw.log" | cat -A)"
n=$(grep -ac 'forged' "$T/gw.log" || true)
[ "$n" -ge 2 ] || fail "expected the rejected payloads to be logged (escaped), saw $n lines: $(cat "$T/gw.log")"
pass "$n log lines carry device text with control bytes, all escaped as \\xNN; every line keeps its own priority"
