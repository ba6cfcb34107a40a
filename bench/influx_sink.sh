#!/usr/bin/env bash
# InfluxDB output: lines/s end to end into a local influxd (v1 /write), gzip on
# and off, median of 5 runs of 200k lines in batches of 5000. Prints figures only.
: "${BUILD_DIR:?run through scripts/bench}" "${SRC_DIR:?}"
export CITYGATE=${CITYGATE:-/bin/true}
. "$SRC_DIR/tests/integration/lib.sh"
start_influxd
influx_create_db bench
"$BUILD_DIR/bench/influx_sink" "$INFLUX_URL" bench "${RUNS:-5}" "${LINES:-200000}" "${BATCH_LINES:-5000}"
