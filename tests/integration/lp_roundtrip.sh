#!/usr/bin/env bash
# The encoder's output, written to a real influxd and read back, is identical.
. "$SRC_DIR/tests/integration/lib.sh"
start_influxd
influx_create_db rt
"$BUILD_DIR/tests/lp_roundtrip" "$INFLUX_URL" rt
