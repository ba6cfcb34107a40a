#!/usr/bin/env bash
# Database stopped under load, then restarted: nothing lost, nothing doubled.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/tests/integration/sf_lib.sh"
start_influxd
influx_create_db city
start_mosquitto "max_queued_messages 0"  # the broker keeps all while the gateway is away
sf_config "$T/gw.json" "[$(influx_out db "$INFLUX_URL")]"
start_gw gw "$T/gw.json"
sf_publish a 0 500 100 0.05
stop_pid "$INFLUX_PID"                 # the database goes away under load
sf_publish a 500 1000 100 0.05
sleep 1
restart_influxd
sf_publish a 1500 500 100 0.05
sf_expect_all a 0 2000 60
stop_pid "$GW_PID"
expect "lines lost to the buffer budget" "$(out_stat "$T/gw.log" db lost-to-buffer-limit)" 0
expect "lines still unsent at exit" "$(out_stat "$T/gw.log" db unsent)" 0
