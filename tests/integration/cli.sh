#!/usr/bin/env bash
# The command line as a user meets it: version, help, --check-config on every
# shipped example (OK) and on broken files (every error listed with its path,
# exit 1), usage errors (exit 2), and the option reference in docs matching the
# tables in the code.
. "$SRC_DIR/tests/integration/lib.sh"

out=$("$CITYGATE" --version)
[[ "$out" =~ ^citygate\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version: '$out'"
pass "--version: $out"
"$CITYGATE" --help | grep -q "Sources compiled in: exec modbus mqtt" || fail "--help does not list the adapters"
pass "--help lists the adapters"

for f in "$SRC_DIR"/config/*.example.json; do
    "$CITYGATE" --check-config "$f" >"$T/check.out" 2>&1 || { cat "$T/check.out"; fail "$f does not pass --check-config"; }
    grep -q "OK" "$T/check.out" || fail "$f: no OK line"
    pass "$(basename "$f") passes --check-config"
done

cat >"$T/bad.json" <<'J'
{
  "gateway": {"id": "gw1", "log_level": "loud", "drain_timeout_ms": -1},
  "tags": {"city": "tashkent", "_bad": "x"},
  "buffer": {"mode": "tape", "max_bytes": 100},
  "outputs": [
    {"type": "influxdb_v1", "url": "ftp://x", "batch_lines": 0},
    {"type": "influxdb_v3", "url": "http://127.0.0.1:8086"}
  ],
  "sources": [{"type": "opcua"}, {"name": "x"}, {"type": "modbus", "name": "m", "transport": "tcp"}],
  "extra": 1
}
J
set +e
"$CITYGATE" --check-config "$T/bad.json" >"$T/bad.out" 2>&1
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "broken config: exit $rc, want 1"
# Each error line: path, message, then where the path is in the file (its key,
# or the object that lacks it).
for want in \
    "extra: unknown key (line 10, column 3)" \
    "gateway.log_level: must be one of error, warn, info, debug; got 'loud' (line 2, column 28)" \
    "gateway.drain_timeout_ms: must be 0..600000, got -1 (line 2, column 49)" \
    "buffer.mode: must be one of disk, memory; got 'tape' (line 4, column 14)" \
    "buffer.max_bytes: must be at least 65536, got 100 (line 4, column 30)" \
    "tags._bad: tag keys and values must be non-empty, without newlines, not start with '_' (line 3, column 32)" \
    "outputs[0].batch_lines: must be 1..1000000, got 0 (line 6, column 47)" \
    "outputs[0].url: scheme must be http or https, got 'ftp' (line 6, column 29)" \
    "outputs[0].database: required for type influxdb_v1 (in the object at line 6, column 5)" \
    "outputs[1].type: must be one of influxdb_v1, influxdb_v2, mqtt; got 'influxdb_v3' (line 7, column 6)" \
    "sources[0].type: unknown source type 'opcua' (this build has: exec, modbus, mqtt) (line 9, column 16)" \
    "sources[1].type: missing (required) (in the object at line 9, column 34)"; do
    grep -qxF "  $want" "$T/bad.out" || { cat "$T/bad.out"; fail "missing error line: $want"; }
done
pass "broken config: every error listed with its path and position, exit 1"

# A hand-edited file with a misspelt key deep in a source: the line an editor
# should jump to, with LF and with CRLF line endings, from --check-config and
# from a start with that file.
cat >"$T/deep.json" <<'J'
{
  "gateway": {"id": "gw1", "state_dir": "/tmp/x"},
  "outputs": [
    {"type": "influxdb_v1", "url": "http://127.0.0.1:8086", "database": "city"}
  ],
  "sources": [
    {
      "type": "mqtt",
      "name": "broker",
      "url": "tcp://127.0.0.1:1883",
      "subscriptions": [{"topic": "city/+/aq"}],
      "rules": [
        {"topic": "city/{district}/aq", "format": "json", "measurement": "aq"},
        {
          "topic": "city/{district}/noise",
          "format": "json",
          "measurment": "noise"
        }
      ]
    }
  ]
}
J
sed 's/$/\r/' "$T/deep.json" >"$T/deep_crlf.json"
deep_want=(
    "  sources[0].rules[1].measurment: unknown key (did you mean 'measurement'?) (line 17, column 11)"
    "  sources[0].rules[1].measurement: missing (required for format json) (in the object at line 14, column 9)"
)
for f in deep.json deep_crlf.json; do
    for cmd in "--check-config" "--dry-run --run-for 1 --config"; do
        set +e
        # shellcheck disable=SC2086
        "$CITYGATE" $cmd "$T/$f" >"$T/deep.out" 2>&1
        rc=$?
        set -e
        [ "$rc" -eq 1 ] || { cat "$T/deep.out"; fail "$f ($cmd): exit $rc, want 1"; }
        for want in "${deep_want[@]}"; do
            grep -qxF "$want" "$T/deep.out" || { cat "$T/deep.out"; fail "$f ($cmd): missing: $want"; }
        done
    done
done
pass "misspelt key in a nested rule: line 17, column 11 (LF and CRLF; --check-config and start)"

# SIGHUP with that file: the rejection in the log names the same positions.
cat >"$T/live.json" <<J
{"gateway": {"id": "gw1", "state_dir": "$T/state"},
 "outputs": [{"type": "influxdb_v1", "url": "http://127.0.0.1:9", "database": "city"}],
 "sources": []}
J
"$CITYGATE" --config "$T/live.json" --dry-run --run-for 30 >"$T/live.out" 2>"$T/live.log" &
live_pid=$!
for _ in $(seq 100); do grep -q "running" "$T/live.log" && break; sleep 0.1; done
cp "$T/deep.json" "$T/live.json"
kill -HUP "$live_pid"
for _ in $(seq 100); do grep -q "reload rejected" "$T/live.log" && break; sleep 0.1; done
kill -TERM "$live_pid"
wait "$live_pid" || fail "daemon exit $? after a rejected reload"
for want in "${deep_want[@]}"; do
    grep -qF "citygate: $want" "$T/live.log" || { cat "$T/live.log"; fail "reload log lacks: $want"; }
done
pass "rejected reload logs each error with its position"

printf '{\n  "outputs": [\n    {"type": }\n  ]\n}\n' >"$T/syntax.json"
set +e
"$CITYGATE" --check-config "$T/syntax.json" >"$T/syntax.out" 2>&1
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "syntax error: exit $rc"
grep -q "invalid JSON near line 3, column 14" "$T/syntax.out" || { cat "$T/syntax.out"; fail "syntax error position"; }
pass "invalid JSON: line and column"

set +e
"$CITYGATE" --check-config /nonexistent/citygate.json >"$T/nofile.out" 2>&1; rc1=$?
"$CITYGATE" --bogus >/dev/null 2>&1; rc2=$?
"$CITYGATE" --config "$T/bad.json" --run-for 5x >/dev/null 2>&1; rc3=$?
set -e
[ "$rc1" -eq 1 ] && grep -q "cannot open: No such file or directory" "$T/nofile.out" || fail "missing file: rc=$rc1"
[ "$rc2" -eq 2 ] || fail "unknown option: exit $rc2, want 2"
[ "$rc3" -eq 2 ] || fail "bad --run-for: exit $rc3, want 2"
set +e
"$CITYGATE" --config "$T/bad.json" --test --test-wait 0 >/dev/null 2>"$T/tw.err"; rc4=$?
"$CITYGATE" --config "$T/bad.json" --test --dry-run >/dev/null 2>"$T/td.err"; rc5=$?
"$CITYGATE" --config /nonexistent/citygate.json --test >/dev/null 2>&1; rc6=$?
set -e
[ "$rc4" -eq 2 ] && grep -qx "citygate: --test-wait: expected 1..3600 seconds, got '0'" "$T/tw.err" || fail "bad --test-wait: exit $rc4"
[ "$rc5" -eq 2 ] && grep -qx "citygate: --test goes with neither --dry-run nor --run-for (use --test-wait)" "$T/td.err" ||
    fail "--test --dry-run: exit $rc5"
[ "$rc6" -eq 1 ] || fail "--test on a missing file: exit $rc6, want 1"
pass "missing file exit 1; usage errors exit 2 (--run-for, --test-wait, --test with --dry-run)"

"$CITYGATE" --print-options >"$T/ref.md"
sed -n "/^<!-- generated/,\$p" "$SRC_DIR/docs/config.md" | diff -u - "$T/ref.md" ||
    fail "docs/config.md is out of date: regenerate its reference part with citygate --print-options"
pass "docs/config.md matches the option tables"

# adapter API 2.0: each source type's keys come from its adapter's tables,
# nested sections included
for want in '### sources[] (type modbus)' '### sources[] (type modbus).devices[].registers[]' \
    '### sources[] (type mqtt).rules[].json' '### sources[] (type mqtt).subscriptions[]'; do
    grep -qxF "$want" "$T/ref.md" || fail "--print-options has no '$want' table"
done
grep -q '^| `unit_id` | integer | `1` | 0..255 |' "$T/ref.md" || fail "--print-options: no devices[].unit_id row"
pass "--print-options lists the sources' keys, nested sections included"
# sub-commands come from the registry, not weak symbols
"$CITYGATE" --help 2>&1 | grep -q '^  probe      read raw Modbus registers' || fail "--help does not list the probe command"
! grep -rn '__attribute__((weak' "$SRC_DIR/gateway" "$SRC_DIR/adapters" "$SRC_DIR/include" || fail "weak symbols left"
pass "probe is the modbus adapter's command; no weak symbols"
