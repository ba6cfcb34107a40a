#!/bin/bash
# `citygate probe --address` as docs/modbus.md says: N is shown as a protocol
# address (base 0) and as a 1-based register number (base 1), each block naming
# its base and the protocol address it read; --base picks one; --scale turns a
# x10 register into the unit of --range. Against the purpose-built server (not
# citygate-sim): register A of unit 7 holds 7000+A.
. "$SRC_DIR/tests/integration/lib.sh"
P=$(free_port)
bg slave $PY "$SRC_DIR/tests/integration/modbus_faulty.py" --tcp "$P" --log "$T/slave.jsonl" --unit 7
wait_port "$P"
probe() { "$CITYGATE" probe --tcp "127.0.0.1:$P" --unit 7 "$@"; }
probe --table holding --address 5 --count 1 >"$T/both.out" || fail "probe failed: $(cat "$T/both.out")"
cat "$T/both.out"
grep -q '^holding registers, protocol addresses 4\.\.5, unit 7, via 127\.0\.0\.1:' "$T/both.out" || fail "first line"
grep -q '^-- base 0: --address 5 is protocol address 5 (in a profile: "address_base": 0, "address": 5)$' "$T/both.out" ||
    fail "base 0 header"
grep -q '^-- base 1: --address 5 is register number 5 = protocol address 4 (in a profile: "address_base": 1, "address": 5)$' \
    "$T/both.out" || fail "base 1 header"
sed -n '/^-- base 0/,/^-- base 1/p' "$T/both.out" | grep -qE '^  uint16 +7005\*? ' || fail "base 0 must show register 5 = 7005"
sed -n '/^-- base 1/,$p' "$T/both.out" | grep -qE '^  uint16 +7004\*? ' || fail "base 1 must show register 4 = 7004"
pass "--address N: base 0 reads protocol address N, base 1 reads N-1, each says so"
probe --table holding --address 5 --base 1 --count 1 --scale 0.1 --range 700:700.45 >"$T/scaled.out" || fail "probe --scale"
cat "$T/scaled.out"
! grep -q '^-- base 0' "$T/scaled.out" || fail "--base 1 printed base 0"
grep -q '^values x 0.1 (--scale), then marked when inside --range 700:700.45$' "$T/scaled.out" || fail "scale line"
grep -qE '^  uint16 +700\.4\* ' "$T/scaled.out" || fail "scaled uint16 7004 x 0.1 must be 700.4, marked"
grep -qE '^  int16 +700\.4\* ' "$T/scaled.out" || fail "scaled int16"
pass "--base picks one reading, --scale scales before --range"
probe --table holding --address 40001 --count 1 >"$T/prefix.out" 2>&1 || true
grep -q "note: 40001 looks like a manual's holding register number with its '4' prefix: that is --address 1 --base 1 (protocol address 0)" \
    "$T/prefix.out" || fail "no note on the 4xxxx prefix: $(cat "$T/prefix.out")"
pass "a 40001-style number is explained"
# a gateway that first answers with another unit id (0xDEAD): the probe skips
# that frame and shows the device's own value
P2=$(free_port)
bg slave2 $PY "$SRC_DIR/tests/integration/modbus_faulty.py" --tcp "$P2" --log "$T/slave2.jsonl" --unit 7 --wrong-unit 7:1
wait_port "$P2"
"$CITYGATE" probe --tcp "127.0.0.1:$P2" --unit 7 --table holding --address 5 --base 0 --count 1 >"$T/wrong.out" ||
    fail "probe failed: $(cat "$T/wrong.out")"
cat "$T/wrong.out"
grep -q '^note: 1 frame(s) were not the answer (another unit id, transaction id, function or size) and were skipped$' \
    "$T/wrong.out" || fail "the wrong-unit frame was not reported"
grep -qE '^  uint16 +7005\*? ' "$T/wrong.out" || fail "the probe did not show the device's own value"
! grep -q '57005' "$T/wrong.out" || fail "the probe showed the other unit's 0xDEAD"
pass "the probe skips an answer with another unit id"
