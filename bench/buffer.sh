#!/usr/bin/env bash
# Buffer: memory vs disk (each fsync policy), replay speed, peak RSS during replay.
d=$(mktemp -d /var/tmp/cgbench.XXXXXX)
trap 'rm -rf "$d"' EXIT
"$BUILD_DIR/bench/buffer_bench" "$d" 1000000 3000000
