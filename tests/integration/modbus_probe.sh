#!/bin/bash
# `citygate probe` against the simulator: the manual's "30001" (1-based) for the
# SDM630's L1 voltage must show the served voltage as float32 ABCD, marked
# plausible, under address base 1; exceptions are explained.
. "$SRC_DIR/tests/integration/lib.sh"
: "${CITYGATE_SIM:?}"
P=$(free_port)
bg sim "$CITYGATE_SIM" --profile-dir "$SRC_DIR/config/profiles" --step-ms 0 --print-values --tcp "$P=traffic_loop@1" \
    --tcp "$P=eastron_sdm630@2"
wait_port "$P"
volts=$(grep '"field":"voltage_l1"' "$T/sim.log" | $PY -c 'import json,sys; print("%.7g" % json.load(sys.stdin)["value"])')
"$CITYGATE" probe --tcp "127.0.0.1:$P" --unit 2 --table input --address 1 --count 2 --range 180:260 >"$T/probe.out" ||
    fail "probe failed"
sed -n '/^-- base 1/,$p' "$T/probe.out" | grep -E "^  float32 +$volts\*" >/dev/null || fail "no plausible ABCD float at base 1"
pass "probe shows $volts V at base 1"
# the loop counter's forbidden (read-to-clear) registers answer ILLEGAL DATA ADDRESS
if "$CITYGATE" probe --tcp "127.0.0.1:$P" --unit 1 --table input --address 6 --count 2 2>"$T/probe.err"; then
    fail "probe should fail"
fi
grep -q 'exception 2 (ILLEGAL DATA ADDRESS)' "$T/probe.err" || fail "exception not named"
"$CITYGATE" probe --tcp "127.0.0.1:$P" --unit 1 --table discrete --address 0 --count 4 | grep -q '^discrete inputs, protocol addresses 0..3,' ||
    fail "bits"
pass "probe"
