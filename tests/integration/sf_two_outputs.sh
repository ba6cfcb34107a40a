#!/usr/bin/env bash
# Two outputs, one down for the whole run: the healthy one gets everything at
# once; the dead one's backlog waits on disk and is delivered, complete, when
# its database appears and the gateway restarts.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/tests/integration/sf_lib.sh"
start_influxd
influx_create_db city
FIRST_URL=$INFLUX_URL
dead_port=$(free_port)
start_mosquitto "max_queued_messages 0"  # the broker keeps all while the gateway is away
sf_config "$T/gw.json" "[$(influx_out up "$FIRST_URL"),$(influx_out down "http://127.0.0.1:$dead_port")]"
start_gw gw "$T/gw.json"
sf_publish d 0 2000 200 0.05
sf_expect_all d 0 2000 30
stop_pid "$GW_PID"
expect "healthy output sent" "$(out_stat "$T/gw.log" up sent)" 2000
expect "dead output sent" "$(out_stat "$T/gw.log" down sent)" 0
expect "dead output's backlog kept" "$(out_stat "$T/gw.log" down unsent)" 2000
# the second database appears on the dead port
mkdir -p "$T/second"
sed -e "s#$T/influxd/#$T/second/#g" -e "s#127.0.0.1:$INFLUX_PORT#127.0.0.1:$dead_port#" \
    -e "s#^bind-address = .*#bind-address = \"127.0.0.1:$(free_port)\"#" \
    "$T/influxd/influxd.conf" >"$T/second/influxd.conf"
bg influxd-second influxd -config "$T/second/influxd.conf"
wait_for 30 curl -fsS "http://127.0.0.1:$dead_port/ping" || fail "second influxd did not start"
curl -fsS -XPOST "http://127.0.0.1:$dead_port/query" --data-urlencode 'q=CREATE DATABASE "city"' >/dev/null
start_gw gw2 "$T/gw.json"
INFLUX_URL="http://127.0.0.1:$dead_port"
sf_expect_all d 0 2000 60
INFLUX_URL=$FIRST_URL
expect "healthy database still has each point once" "$(sf_count d)" 2000
