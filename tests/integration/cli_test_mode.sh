#!/usr/bin/env bash
# citygate --test (issue 11), with real mosquitto, citygate-sim and influxd:
# - reads every device once and listens to MQTT for --test-wait seconds,
#   prints the points as line protocol (static tags added), stores nothing
#   (the state directory is never created, influxd stays empty), exit 0;
# - exit 1 naming the source / device that produced nothing;
# - beside a running daemon on the same config, --test and --dry-run connect
#   with their own client id and a clean session: the daemon keeps its
#   connection and every message published meanwhile lands in influxd.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/tests/integration/sf_lib.sh"
: "${CITYGATE_SIM:?}"
start_influxd
influx_create_db city
start_mosquitto
MB=$(free_port)
bg sim "$CITYGATE_SIM" --profile-dir "$SRC_DIR/config/profiles" --step-ms 0 --stats "$T/sim.json" \
    --tcp "$MB=eastron_sdm630@1"
SIM_PID=$LAST_PID
wait_port "$MB"
DEAD=$(free_port)

write_config() { # write_config FILE MODBUS_DEVICES_JSON MQTT_TOPIC
    cat >"$1" <<J
{"gateway":{"id":"gw1","state_dir":"$T/state","self_metrics_interval_s":0,"gap_records":false},
 "tags":{"site":"cab1"},
 "normalise":{"enabled":false},
 "outputs":[$(influx_out db "$INFLUX_URL")],
 "sources":[{"type":"modbus","name":"meters","transport":"tcp","host":"127.0.0.1","port":$MB,
   "profile_dirs":["$SRC_DIR/config/profiles"],"response_timeout_ms":300,"retries":0,"devices":$2},
  {"type":"mqtt","name":"broker","url":"$MQTT_URL","client_id":"gw-live","clean_session":false,
   "reconnect_min_ms":100,"reconnect_max_ms":500,
   "subscriptions":[{"topic":"$3","qos":1}],"rules":[{"topic":"sf/{run}","format":"influx"}]}]}
J
}
write_config "$T/gw.json" '[{"name":"m1","unit_id":1,"profile":"eastron_sdm630","poll_interval_ms":60000}]' 'sf/#'
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -r -t sf/retained -m 'sf,run=retained v=1i 1700000000000000001'

# run_test NAME CONFIG WANT_RC: citygate --test for 3 s, stdout in NAME.lp, stderr in NAME.log.
run_test() {
    local rc=0
    "$CITYGATE" --config "$2" --test --test-wait 3 >"$T/$1.lp" 2>"$T/$1.log" || rc=$?
    expect "--test exit code ($1)" "$rc" "$3"
}

# 1. --test: one poll, now (the interval is a minute), MQTT for 3 s, nothing stored.
run_test test "$T/gw.json" 0
grep -q '^energy,device=m1,gateway=gw1,.*,site=cab1,.* voltage_l1=' "$T/test.lp" || { cat "$T/test.lp"; fail "no Modbus reading printed"; }
grep -qx 'sf,gateway=gw1,run=retained,site=cab1 v=1i 1700000000000000001' "$T/test.lp" || fail "no MQTT reading printed"
n=$(grep -c '^energy,' "$T/test.lp")
expect "Modbus polls in --test (poll_interval_ms 60000, read once)" "$n" 1
grep -q '^citygate --test: meters: [0-9]* points$' "$T/test.log" || fail "no verdict for meters"
grep -qx 'citygate --test: broker: 1 points' "$T/test.log" || fail "no verdict for broker"
[ ! -e "$T/state" ] || fail "--test created the state directory: $(find "$T/state")"
expect "points in influxd after --test" "$(scalar city 'SELECT count(v) FROM sf')" 0
grep -q "New client connected from .* as gw-live-test-[0-9]* (p2, c1," "$T/mosquitto.log" ||
    fail "--test did not connect with its own id and a clean session"
pass "--test printed one poll and the MQTT reading, stored nothing, exit 0"

# 2. Exit 1: a dead device, a subscription with no message.
write_config "$T/bad.json" '[{"name":"m1","unit_id":1,"profile":"eastron_sdm630"},
  {"name":"m9","unit_id":1,"port":'"$DEAD"',"profile":"eastron_sdm630"}]' 'quiet/#'
run_test bad "$T/bad.json" 1
grep -q '^citygate --test: meters: device m9: no reading (' "$T/bad.log" || { cat "$T/bad.log"; fail "dead device not named"; }
grep -qx 'citygate --test: broker: no reading' "$T/bad.log" || fail "silent source not named"
pass "--test exit 1 names the dead device and the silent source"

# 3. Beside the daemon: --test and --dry-run do not take its session.
start_gw gw "$T/gw.json"
wait_for 20 grep -q "connected to .* as gw-live " "$T/gw.log" || fail "daemon not connected"
bg guest "$CITYGATE" --config "$T/gw.json" --test --test-wait 4
GUEST=$LAST_PID
wait_for 20 grep -q "as gw-live-test-$GUEST (p2, c1," "$T/mosquitto.log" || fail "--test not connected"
sf_publish during 0 50
bg dry "$CITYGATE" --config "$T/gw.json" --dry-run --run-for 3
DRY=$LAST_PID
wait_for 20 grep -q "as gw-live-dryrun-$DRY (p2, c1," "$T/mosquitto.log" || fail "--dry-run not connected"
sf_publish during 50 50
set +e
wait "$GUEST"; rc=$?
wait "$DRY"
set -e
expect "--test beside the daemon: exit code" "$rc" 0
sf_expect_all during 0 100 30
grep -q "connection lost" "$T/gw.log" && fail "the daemon lost its connection: $(grep 'connection lost' "$T/gw.log" | head -n 3)"
n=$(grep -c "connected to .* as gw-live " "$T/gw.log")
expect "daemon connections during the guests' runs" "$n" 1
pass "--test and --dry-run beside the daemon: own ids, clean sessions; the daemon kept its connection and stored 100 of 100"
