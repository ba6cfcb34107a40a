#!/usr/bin/env bash
# citygate side by side with its peers (collectd, Node-RED, a mosquitto_sub|awk|curl
# pipeline, and a counting MQTT subscriber as the limit), using the shared peer
# harness in ../shared/peer-bench. Called as `scripts/bench peers`; prints the
# medians, ranges and per-run ratios (citygate / peer) of every scenario part.
# Never passes or fails on figures.
#   REPS=3 PARTS="mqtt-q0 mqtt-q1 mb-d100-p100 mb-d100-p20 mb-d1000-p1000" scripts/bench peers
# The harness is copied into build/peer-bench first: shared/ may be read-only, and
# its results.log then belongs to this checkout.
set -euo pipefail
: "${SRC_DIR:?}" "${CITYGATE:?}"
H_SRC="${PEER_BENCH:-$SRC_DIR/../shared/peer-bench}"
[ -d "$H_SRC" ] || { echo "peer harness not found at $H_SRC (set PEER_BENCH)" >&2; exit 2; }
H="$SRC_DIR/build/peer-bench"
mkdir -p "$H"
# Keep node_modules and built tools between runs; refresh scripts and sources.
tar -C "$H_SRC" --exclude=node_modules --exclude=work --exclude=results.log \
    --exclude=results.dev.log -cf - . | tar -C "$H" -xf -
chmod -R u+w "$H"
(cd "$H" && ./setup.sh >"$H/setup.log" 2>&1) || { tail -30 "$H/setup.log"; exit 1; }
export REPS="${REPS:-3}" PREFIX="${PREFIX:-cg$(date -u +%Y%m%d%H%M)}"
export PARTS="${PARTS:-mqtt-q0 mqtt-q1 mb-d100-p100 mb-d100-p20 mb-d1000-p1000}"
echo "peer bench: $PARTS, $REPS repetitions, label $PREFIX, citygate $("$CITYGATE" --version 2>&1 | head -1)"
GATEWAY_BIN="$CITYGATE" "$H/compare_citygate.sh" >"$H/run-$PREFIX.out" 2>"$H/run-$PREFIX.err" || true
grep '^RESULT' "$H/run-$PREFIX.out" | grep -c . | sed 's/^/RESULT lines: /'
python3 "$H/tools/summarize.py" --log "$H/results.log" "$PREFIX"
