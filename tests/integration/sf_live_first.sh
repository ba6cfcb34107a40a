#!/usr/bin/env bash
# Live first: after an outage, new readings reach the database at once while the
# backlog drains beside them at the capped rate; in the end everything is there.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/tests/integration/sf_lib.sh"
start_influxd
influx_create_db city
stop_pid "$INFLUX_PID"
start_mosquitto "max_queued_messages 0"
# batches of 500: during the outage the output holds one batch in memory and
# retries it; the rest of the backlog waits on disk.
out='{"name":"db","type":"influxdb_v1","url":"'$INFLUX_URL'","database":"city","flush_interval_ms":100,
      "batch_lines":500,"retry_initial_ms":100,"retry_max_ms":500}'
sf_config "$T/gw.json" "[$out]" \
    '{"fsync":"interval","live_first_after_s":1,"replay_max_lines_per_s":300}'
start_gw gw "$T/gw.json"
sf_publish old 0 3000 500      # the outage's backlog: 10 s of replay at 300 lines/s
sleep 2
restart_influxd
sleep 0.5
sf_publish new 0 200 50 0.2    # live readings after the database is back
got=$(wait_scalar 5 city "SELECT count(v) FROM sf WHERE run='new'" 200) || fail "live readings not first: $got of 200 after 5 s"
backlog=$(sf_count old)
echo "live readings all in; backlog so far: $backlog of 3000"
[ "$backlog" -lt 3000 ] || fail "the backlog was not capped (all 3000 already there)"
pass "live readings went first while the backlog was still draining"
sf_expect_all old 0 3000 60
grep -q "live readings go first" "$T/gw.log" || fail "live-first switch not logged"
grep -q "backlog replayed (2500 lines)" "$T/gw.log" || fail "replay end not logged with its count (500 went in the batch held during the outage)"
pass "live-first and replay logged"
