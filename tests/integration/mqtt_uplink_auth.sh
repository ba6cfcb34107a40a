#!/bin/bash
# MQTT uplink output: config errors name the key (check-config), a broker that
# refuses the credentials is HOLD (the data stays in the buffer, an error names
# the CONNACK code and what to check), and with the right password everything
# that waited arrives, exactly once.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"

# -- config errors ----------------------------------------------------------
mkdir -p "$T/state"
cat >"$T/bad.json" <<J
{"gateway":{"id":"gw1","state_dir":"$T/state"},
 "outputs":[
  {"type":"mqtt","name":"a","url":"tcp://u:s3cr3t@127.0.0.1:1883"},
  {"type":"mqtt","name":"b","url":"tcp://127.0.0.1:1883","topic":"city/#","password":"x"},
  {"type":"mqtt","name":"c","url":"tcp://127.0.0.1:1883","topic":"city/{measurement}","format":"xml"},
  {"type":"mqtt","name":"d","url":"http://127.0.0.1:1883","topic":"city/{site}","bucket":"b"}]}
J
rc=0
"$CITYGATE" --check-config "$T/bad.json" 2>"$T/bad.err" || rc=$?
[ "$rc" -eq 1 ] || fail "check-config exit $rc, want 1"
for want in \
    "outputs[0].url: must not contain credentials (user:password@): use the username and password (or password_file) keys" \
    "outputs[1].topic: must not contain the wildcards + or #, got 'city/#'" \
    "outputs[1].password: needs username" \
    "outputs[2].format: must be one of line_protocol, json; got 'xml'" \
    "outputs[2].topic: {measurement} needs \"message\": \"line\" (a batch holds many measurements)" \
    "outputs[3].bucket: unknown key" \
    "outputs[3].url: must be tcp://host[:port] or ssl://host[:port] (mqtt://, mqtts://), got 'http://127.0.0.1:1883'" \
    "outputs[3].topic: unknown placeholder at '{site}' (known: {client_id}, {name}, {hostname}, {measurement})"; do
    grep -qF "  $want" "$T/bad.err" || { cat "$T/bad.err" >&2; fail "missing error: $want"; }
done
! grep -q s3cr3t "$T/bad.err" || fail "a password from the url is echoed"
pass "config errors name the key, secrets not echoed"

# -- a broker that refuses the credentials ----------------------------------
start_mosquitto "max_queued_messages 100000"   # the cabinet's broker (source, anonymous)
CPORT=$(free_port)
mkdir -p "$T/central"
mosquitto_passwd -c -b "$T/central/pw" cabinet right-pw
chmod 600 "$T/central/pw"
{
    echo "listener $CPORT 127.0.0.1"
    echo "allow_anonymous false"
    echo "password_file $T/central/pw"
    echo "log_dest stderr"
    [ "$(id -u)" -eq 0 ] && echo "user root"
} >"$T/central/mosquitto.conf"
bg central mosquitto -c "$T/central/mosquitto.conf"
wait_port "$CPORT"
bg sub mosquitto_sub -h 127.0.0.1 -p "$CPORT" -u cabinet -P right-pw -q 1 -c -i auth-sub -t 'city/#' -N
wait_for 10 grep -q "as auth-sub" "$T/central.log" || fail "subscriber did not connect"

printf 'wrong-pw\n' >"$T/pw"
chmod 600 "$T/pw"
cat >"$T/gw.json" <<J
{"gateway":{"id":"gw1","state_dir":"$T/state","self_metrics_interval_s":0,"gap_records":false},
 "normalise":{"clock_check":false},
 "http":{"listen":"127.0.0.1:0"},
 "outputs":[{"type":"mqtt","name":"uplink","url":"tcp://127.0.0.1:$CPORT","client_id":"gw1-uplink",
   "username":"cabinet","password_file":"$T/pw","topic":"city/{name}","flush_interval_ms":100,
   "retry_initial_ms":100,"retry_max_ms":500,"connect_timeout_s":2}],
 "sources":[$(counter_source city auth-src)]}
J
start_gw gw1 "$T/gw.json"
seq_lines 0 49 | pub_lines city/a/count 1
wait_for 20 grep -q "error output.uplink: tcp://127.0.0.1:$CPORT refused the write: MQTT CONNACK 5 " "$T/gw1.log" ||
    fail "no HOLD error for the refused password"
line=$(grep -m1 "refused the write" "$T/gw1.log")
case "$line" in
*"(not authorised: check username/password and the broker's ACL); keeping 50 lines, retrying every 500 ms") ;;
*) fail "HOLD line: $line" ;;
esac
pass "HOLD: $line"
sleep 1
[ ! -s "$T/sub.log" ] || fail "something arrived with a wrong password"
stop_pid "$GW_PID"

printf 'right-pw\n' >"$T/pw"
start_gw gw2 "$T/gw.json"
for i in $(seq 100); do [ "$(grep -c . "$T/sub.log" || true)" -ge 50 ] && break; sleep 0.2; done
for i in $(seq 0 49); do
    echo "counter,district=a,gateway=gw1,quality=ok seq=${i}i $((1700000000000 + i))000000"
done >"$T/want"
diff -u "$T/want" "$T/sub.log" >&2 || fail "after the password fix: not exactly the 50 held lines"
pass "after the password fix: exactly the 50 held lines, in order, once"
stop_pid "$GW_PID"
