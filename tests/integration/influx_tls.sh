#!/bin/bash
# HTTPS: the certificate is verified by default (a self-signed one is refused,
# the data kept), ca_file makes it trusted, tls_verify false skips the check.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/influx_lib.sh"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
port=$(free_port)
FAULT_LOG="$T/tls.jsonl"
bg tls $PY "$SRC_DIR/tests/integration/fault_http.py" --port "$port" --log "$FAULT_LOG" --tls "$T/cert.pem" "$T/key.pem"
wait_port "$port"
URL="https://127.0.0.1:$port"

cat >"$T/untrusted.json" <<J
{"name":"t","type":"influxdb_v2","url":"$URL","bucket":"b","flush_interval_ms":50,"retry_initial_ms":100,"retry_max_ms":200}
J
run_driver untrusted --config "$T/untrusted.json" --lines 20 --timeout-ms 1500 --drain-ms 0
expect "untrusted: exit (not delivered)" "$DRIVER_RC" 3
expect "untrusted: lines_sent" "$(st untrusted lines_sent)" 0
expect "untrusted: journal_unread_lines (kept)" "$(st untrusted journal_unread_lines)" 20
st untrusted last_error | grep -qi 'certificate' || fail "untrusted: last_error '$(st untrusted last_error)'"
pass "untrusted: $(st untrusted last_error)"
expect "untrusted: nothing reached the server" "$(wc -l <"$FAULT_LOG")" 0

cat >"$T/ca.json" <<J
{"name":"t","type":"influxdb_v2","url":"$URL","bucket":"b","ca_file":"$T/cert.pem"}
J
run_driver ca --config "$T/ca.json" --lines 20
expect "ca_file: exit" "$DRIVER_RC" 0
expect "ca_file: lines_sent" "$(st ca lines_sent)" 20

cat >"$T/noverify.json" <<J
{"name":"t","type":"influxdb_v2","url":"$URL","bucket":"b","tls_verify":false}
J
run_driver noverify --config "$T/noverify.json" --lines 20
expect "tls_verify false: exit" "$DRIVER_RC" 0
expect "server got" "$(wc -l <"$FAULT_LOG.accepted")" 40
