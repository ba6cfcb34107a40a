#!/bin/bash
# TLS listener (CA, server and client certificates made here with openssl; the
# broker requires a client certificate) plus username/password with the password
# read from password_file. A wrong password is refused and reported.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"

P=$T/pki
mkdir -p "$P"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/ca.key" -out "$P/ca.crt" -days 2 -subj /CN=citygate-test-ca 2>/dev/null
for who in server client; do
    openssl req -newkey rsa:2048 -nodes -keyout "$P/$who.key" -out "$P/$who.csr" -subj "/CN=$who" 2>/dev/null
    echo "subjectAltName=IP:127.0.0.1" >"$P/$who.ext"
    openssl x509 -req -in "$P/$who.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 2 \
        -extfile "$P/$who.ext" -out "$P/$who.crt" 2>/dev/null
done
touch "$T/passwd"
mosquitto_passwd -b "$T/passwd" gw s3cret 2>/dev/null
printf 's3cret\n' >"$T/mqtt.password"
PUB_PORT=$(free_port)

start_influxd
influx_create_db city
# the first listener (TLS) is lib.sh's; a plain one for the test publisher
start_mosquitto "cafile $P/ca.crt" "certfile $P/server.crt" "keyfile $P/server.key" \
    "require_certificate true" "listener $PUB_PORT 127.0.0.1" "allow_anonymous false" "password_file $T/passwd"

src() {
    echo '{"type":"mqtt","name":"tls","url":"ssl://127.0.0.1:'"$MQTT_PORT"'","client_id":"'"$1"'",
      "username":"gw","password_file":"'"$2"'","reconnect_min_ms":200,"reconnect_max_ms":1000,
      "tls":{"ca_file":"'"$P/ca.crt"'","cert_file":"'"$P/client.crt"'","key_file":"'"$P/client.key"'"},
      "rules":[{"topic":"city/{district}/v/{quantity}","format":"value","measurement":"reading"}]}'
}
gw_config "$T/gw.json" "$(src tls1 "$T/mqtt.password")"
start_gw gw "$T/gw.json"
grep -q "connected to ssl://127.0.0.1:$MQTT_PORT as tls1" "$T/gw.log" || fail "not connected over TLS"
pass "connected over TLS with client certificate and password_file"
mosquitto_pub -h 127.0.0.1 -p "$PUB_PORT" -u gw -P s3cret -q 1 -t city/east/v/no2 -m 17.25
expect "value over TLS" "$(wait_scalar 20 city "SELECT value FROM reading WHERE quantity='no2'" 17.25)" 17.25
stop_pid "$GW_PID"

printf 'wrong\n' >"$T/wrong.password"
chmod 0600 "$T/wrong.password" # private, as documented: else the warning names the file
gw_config "$T/bad.json" "$(src tls2 "$T/wrong.password")"
bg badgw "$CITYGATE" --config "$T/bad.json"
wait_for 10 grep -q "connect failed" "$T/badgw.log" || fail "wrong password not reported"
grep "connect failed" "$T/badgw.log" | head -n 1
grep -q "s3cret\|wrong" "$T/badgw.log" && fail "a password appears in the log"
pass "wrong password refused, reported, never logged"
stop_pid "$LAST_PID"
