#!/usr/bin/env bash
# Encoder: lines/s per core (median of 7 runs of 1M lines, min/max, ns/line), 5 and 8
# float fields, through cg_lp_encode and through a precomputed series key.
"$BUILD_DIR/bench/lineproto_bench" 7 1000000
