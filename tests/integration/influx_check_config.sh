#!/bin/bash
# The real binary validates outputs[] with the InfluxDB option table: every
# error with its path, exit 1; secrets never printed; a valid config passes.
. "$SRC_DIR/tests/integration/lib.sh"

printf 's3cr3t-pw\n' >"$T/pw"
cat >"$T/bad.json" <<J
{"gateway":{"id":"gw1","state_dir":"$T"},
 "sources":[],
 "outputs":[
  {"name":"a","type":"influxdb_v1","url":"http://127.0.0.1:8086","database":"d","batch_lines":0,"gzp":true},
  {"name":"b","type":"influxdb_v1","url":"http://u:s3cr3t-pw@h","database":"d","token_file":"$T/pw",
   "password_file":"$T/pw"},
  {"name":"c","type":"influxdb_v2","url":"ftp://h","retry_initial_ms":9000,"retry_max_ms":1000,"precision":"m"}
 ]}
J
rc=0
"$CITYGATE" --check-config "$T/bad.json" >"$T/bad.out" 2>&1 || rc=$?
cat "$T/bad.out"
[ "$rc" = 1 ] || fail "exit $rc, want 1"
for want in \
    "outputs[0].batch_lines: must be 1..1000000, got 0 (line 4, column 81)" \
    "outputs[0].gzp: unknown key (did you mean 'gzip'?) (line 4, column 97)" \
    "outputs[1].url: must not contain credentials (use username/password or token) (line 5, column 36)" \
    "outputs[1].token: only for type influxdb_v2 (in the object at line 5, column 3)" \
    "outputs[1].password: needs username (in the object at line 5, column 3)" \
    "outputs[2].precision: must be one of ns, us, ms, s; got 'm' (line 7, column 96)" \
    "outputs[2].url: scheme must be http or https, got 'ftp' (line 7, column 36)" \
    "outputs[2].bucket: required for type influxdb_v2 (in the object at line 7, column 3)" \
    "outputs[2].retry_initial_ms: must not exceed retry_max_ms (1000), got 9000 (line 7, column 52)"; do
    grep -qxF "  $want" "$T/bad.out" || fail "missing: $want"
done
pass "every error listed with its path"
if grep -q 's3cr3t' "$T/bad.out"; then fail "a secret was printed"; fi
pass "no secret printed"

cat >"$T/good.json" <<J
{"gateway":{"id":"gw1","state_dir":"$T"},
 "sources":[],
 "outputs":[
  {"name":"a","type":"influxdb_v1","url":"http://127.0.0.1:8086","database":"d","username":"u","password_file":"$T/pw"},
  {"name":"b","type":"influxdb_v2","url":"https://example.org/influx/","bucket":"x","token_file":"$T/pw","precision":"s"}
 ]}
J
"$CITYGATE" --check-config "$T/good.json" >"$T/good.out" 2>&1 || { cat "$T/good.out"; fail "valid config rejected"; }
grep -q 'OK (2 outputs' "$T/good.out" || fail "no OK line: $(cat "$T/good.out")"
pass "valid config accepted"
