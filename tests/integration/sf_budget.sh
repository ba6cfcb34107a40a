#!/usr/bin/env bash
# Disk budget exceeded while the database is down: the oldest data goes first,
# the gateway says so, and what is in the database plus what was counted as
# dropped is exactly what was published.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/tests/integration/sf_lib.sh"
start_influxd
influx_create_db city
stop_pid "$INFLUX_PID"
start_mosquitto "max_queued_messages 0"  # the broker keeps all while the gateway is away
sf_config "$T/gw.json" "[$(influx_out db "$INFLUX_URL")]" \
    '{"max_bytes":65536,"segment_bytes":4096,"fsync":"never"}'
start_gw gw "$T/gw.json"
sf_publish c 0 4000 500
sleep 2
restart_influxd
wait_for 30 sf_count_gt c 0 || fail "nothing arrived"
sleep 3
stop_pid "$GW_PID"
grep -q "disk budget exceeded: dropping the oldest" "$T/gw.log" || fail "the budget drop was not logged"
pass "budget drop logged"
sent=$(out_stat "$T/gw.log" db sent)
dropped=$(out_stat "$T/gw.log" db lost-to-buffer-limit)
unsent=$(out_stat "$T/gw.log" db unsent)
indb=$(sf_count c)
echo "in database: $indb, sent: $sent, dropped by budget: $dropped, unsent: $unsent"
[ "$dropped" -gt 0 ] || fail "nothing was dropped: the test did not exceed the budget"
expect "database holds what was sent" "$indb" "$sent"
expect "sent + dropped + unsent = published" "$((sent + dropped + unsent))" 4000
# the oldest went first: the newest 500 are all there (the 64 KiB budget holds
# about 900 of these messages). A batch the output had already taken into
# memory before the budget hit is still delivered.
expect "newest 500 kept" "$(scalar city "SELECT count(v) FROM sf WHERE run='c' AND v >= 3500")" 500
