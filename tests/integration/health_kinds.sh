#!/usr/bin/env bash
# Health items carry their kind, with the real binary and a real broker: an
# MQTT source's broker connection (link), subscription and rules (and
# "unmatched topics") are not devices. citygate_device_* families hold devices
# only (so the documented `citygate_device_up == 0` alert means devices); the
# others are in citygate_source_item_* with a kind label; /status.json and the
# page say the kind of every item.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
start_mosquitto
HP=$(free_port)
cat >"$T/gw.json" <<J
{"gateway":{"id":"gw1","state_dir":"$T/state","self_metrics_interval_s":0,"drain_timeout_ms":0},
 "normalise":{"enabled":false},
 "http":{"listen":"127.0.0.1:$HP"},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:1","database":"city"}],
 "sources":[{"type":"mqtt","name":"b","url":"$MQTT_URL","subscriptions":[{"topic":"t/#"}],
   "rules":[{"topic":"t/{device}","format":"json","measurement":"m"}]}]}
J
start_gw gw "$T/gw.json"
mosquitto_pub -p "$MQTT_PORT" -q 1 -t t/a -m '{"v": 1}'
mosquitto_pub -p "$MQTT_PORT" -q 1 -t t/b -m 'not json'
wait_for 10 sh -c "curl -fsS http://127.0.0.1:$HP/metrics | grep -q 'citygate_source_item_errors_total{source=\"b\",item=\"rule t/{device}\",kind=\"rule\"} 1'" ||
    fail "no rule item with its error: $(curl -fsS "http://127.0.0.1:$HP/metrics" | grep -v '^#' | grep 'item\|device')"
curl -fsS "http://127.0.0.1:$HP/metrics" >"$T/m"
! grep -q '^citygate_device_' "$T/m" || fail "non-devices in device families: $(grep '^citygate_device_' "$T/m")"
for fam in citygate_source_item_up citygate_source_item_reads_total citygate_source_item_errors_total; do
    grep -q "^# TYPE $fam " "$T/m" || fail "family $fam missing"
done
grep -q "^citygate_source_item_up{source=\"b\",item=\"$MQTT_URL\",kind=\"link\"} 1$" "$T/m" || fail "link item: $(grep item_up "$T/m")"
grep -q '^citygate_source_item_up{source="b",item="subscription t/#",kind="subscription"} 1$' "$T/m" || fail "subscription item"
grep -q '^citygate_source_item_reads_total{source="b",item="unmatched topics",kind="rule"} 0$' "$T/m" || fail "unmatched topics item"
pass "/metrics: no device_* samples for an MQTT source; link, subscription, rule items with their kind"
curl -fsS "http://127.0.0.1:$HP/status.json" >"$T/s.json"
$PY - "$T/s.json" "$MQTT_URL" <<'PY' || fail "status.json kinds: $(cat "$T/s.json")"
import json, sys
s = json.load(open(sys.argv[1]))
kinds = {d["name"]: d["kind"] for d in s["sources"][0]["devices"]}
assert kinds == {sys.argv[2]: "link", "subscription t/#": "subscription", "rule t/{device}": "rule",
                 "unmatched topics": "rule"}, kinds
PY
curl -fsS "http://127.0.0.1:$HP/" >"$T/page.html"
grep -q '\["name", "kind", "state"' "$T/page.html" || fail "the status page does not show the kind"
pass "/status.json and the page carry each item's kind"
