#!/usr/bin/env bash
# Encoder: lines/s per core, median of 7 runs of 1M lines.
"$BUILD_DIR/bench/lineproto_bench" 7 1000000
