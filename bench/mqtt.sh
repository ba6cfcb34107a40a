#!/usr/bin/env bash
# MQTT ingest: citygate vs a counting subscriber and a counting Paho client.
bash "$SRC_DIR/bench/mqtt_bench.sh"
