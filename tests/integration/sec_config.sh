#!/usr/bin/env bash
# Credentials as a careless operator writes them, through the real binary's
# --check-config: empty tokens and passwords (literal or an empty ${VAR}) are
# errors, not "no authentication"; URLs with user:password@ are refused without
# echoing the password; secret files others can read give a warning, an error
# with gateway.secret_files "refuse" (what the packaged config sets).
. "$SRC_DIR/tests/integration/lib.sh"

# check NAME JSON_BODY: writes $T/NAME.json (gateway + one output + BODY),
# runs --check-config, leaves the exit code in RC and the output in $T/NAME.out.
check() {
    local name=$1 body=$2
    cat >"$T/$name.json" <<J
{"gateway":{"id":"gw1","state_dir":"$T/state"$EXTRA_GW},
 "outputs":[$OUT]$body}
J
    set +e
    "$CITYGATE" --check-config "$T/$name.json" >"$T/$name.out" 2>&1
    RC=$?
    set -e
}
EXTRA_GW=""
DEFAULT_OUT='{"type":"influxdb_v1","url":"http://127.0.0.1:8086","database":"city"}'
OUT=$DEFAULT_OUT
# expect_error NAME WANT_TEXT
expect_error() {
    [ "$RC" -eq 1 ] || fail "$1: exit $RC, want 1: $(cat "$T/$1.out")"
    grep -qF -- "$2" "$T/$1.out" || fail "$1: no '$2' in: $(cat "$T/$1.out")"
}

check tok_empty ',"http":{"listen":"127.0.0.1:0","token":""}'
expect_error tok_empty 'http.token: must not be empty'
export CG_TEST_EMPTY=""
check tok_env ',"http":{"listen":"127.0.0.1:0","token":"${CG_TEST_EMPTY}"}'
expect_error tok_env 'http.token: must not be empty'
check pw_empty ',"http":{"listen":"127.0.0.1:0","username":"tech","password":""}'
expect_error pw_empty 'http.password: must not be empty'
check user_empty ',"http":{"listen":"127.0.0.1:0","username":"","password":"cabinet"}'
expect_error user_empty 'http.username: must not be empty'
pass "HTTP: empty token (literal and empty \${VAR}), password, user name are config errors"

OUT='{"type":"influxdb_v2","url":"http://127.0.0.1:8086","org":"o","bucket":"b","token":""}'
check out_tok ''
expect_error out_tok 'outputs[0].token: must not be empty'
OUT='{"type":"influxdb_v1","url":"http://127.0.0.1:8086","database":"city","username":"gw","password":"${CG_TEST_EMPTY}"}'
check out_pw ''
expect_error out_pw 'outputs[0].password: must not be empty'
OUT='{"type":"influxdb_v1","url":"http://127.0.0.1:8086","database":"city","username":"","password":"x"}'
check out_user ''
expect_error out_user 'outputs[0].username: must not be empty'
OUT='{"type":"influxdb_v1","url":"http://gw:hunter2@127.0.0.1:8086","database":"city"}'
check out_url ''
expect_error out_url 'outputs[0].url: must not contain credentials'
! grep -q hunter2 "$T/out_url.out" || fail "output url: the password is printed: $(cat "$T/out_url.out")"
OUT=$DEFAULT_OUT
pass "outputs: empty token, password, user name and user:password@ in the url are config errors"

MQ='"subscriptions":[{"topic":"a/#"}],"rules":[{"topic":"a/{x}","format":"influx"}]'
for url in "mqtt://gw:hunter2@127.0.0.1:1883" "tcp://gw:hunter2@127.0.0.1" "mqtts://gw@127.0.0.1:8883"; do
    check mqtt_url ",\"sources\":[{\"type\":\"mqtt\",\"name\":\"b\",\"url\":\"$url\",$MQ}]"
    expect_error mqtt_url 'sources[0].url: must not contain credentials (user:password@): use the username and password (or password_file) keys'
    ! grep -q hunter2 "$T/mqtt_url.out" || fail "mqtt url: the password is printed: $(cat "$T/mqtt_url.out")"
done
check mqtt_pw ",\"sources\":[{\"type\":\"mqtt\",\"name\":\"b\",\"url\":\"mqtt://127.0.0.1\",\"username\":\"gw\",\"password\":\"\",$MQ}]"
expect_error mqtt_pw 'sources[0].password: must not be empty'
check mqtt_user ",\"sources\":[{\"type\":\"mqtt\",\"name\":\"b\",\"url\":\"mqtt://127.0.0.1\",\"username\":\"\",\"password\":\"x\",$MQ}]"
expect_error mqtt_user 'sources[0].username: must not be empty'
pass "MQTT: user:password@ in the url refused (password not echoed); empty password or user name an error"

# Secret files: 0600 is quiet; 0644 warns (exit 0); with "refuse" it is an error.
printf 's3cr3t\n' >"$T/tok.ok"
chmod 0600 "$T/tok.ok"
printf 's3cr3t\n' >"$T/tok.open"
chmod 0644 "$T/tok.open"
check sf_ok ",\"http\":{\"listen\":\"127.0.0.1:0\",\"token_file\":\"$T/tok.ok\"}"
[ "$RC" -eq 0 ] || fail "0600 secret file: exit $RC: $(cat "$T/sf_ok.out")"
! grep -qi warning "$T/sf_ok.out" || fail "0600 secret file warned: $(cat "$T/sf_ok.out")"
check sf_warn ",\"http\":{\"listen\":\"127.0.0.1:0\",\"token_file\":\"$T/tok.open\"}"
[ "$RC" -eq 0 ] || fail "0644 secret file (warn): exit $RC: $(cat "$T/sf_warn.out")"
grep -qF "warning: http.token_file: $T/tok.open is readable by others (mode 0644): chmod o-rwx $T/tok.open" "$T/sf_warn.out" ||
    fail "no warning for a world-readable secret file: $(cat "$T/sf_warn.out")"
! grep -q s3cr3t "$T/sf_warn.out" || fail "secret printed"
EXTRA_GW=',"secret_files":"refuse"'
check sf_refuse ",\"http\":{\"listen\":\"127.0.0.1:0\",\"token_file\":\"$T/tok.open\"}"
expect_error sf_refuse "http.token_file: $T/tok.open is readable by others (mode 0644): chmod o-rwx $T/tok.open"
check sf_refuse_ok ",\"http\":{\"listen\":\"127.0.0.1:0\",\"token_file\":\"$T/tok.ok\"}"
[ "$RC" -eq 0 ] || fail "0600 secret file with refuse: exit $RC: $(cat "$T/sf_refuse_ok.out")"
# Group-readable is fine only for the daemon's own group (root:citygate 0640).
chmod 0640 "$T/tok.open"
check sf_group ",\"http\":{\"listen\":\"127.0.0.1:0\",\"token_file\":\"$T/tok.open\"}"
[ "$RC" -eq 0 ] || fail "0640 secret file of our own group: exit $RC: $(cat "$T/sf_group.out")"
EXTRA_GW=""
pass "secret files: others-readable warns, refused with gateway.secret_files=refuse, 0600/0640-own-group quiet"

# The daemon itself logs the warning at start (journal), not only --check-config.
PORT=$(free_port)
chmod 0644 "$T/tok.open"
cat >"$T/run.json" <<J
{"gateway":{"id":"gw1","state_dir":"$T/state","self_metrics_interval_s":0},
 "normalise":{"enabled":false},
 "http":{"listen":"127.0.0.1:$PORT","token_file":"$T/tok.open"},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:1","database":"city"}]}
J
bg gw "$CITYGATE" --config "$T/run.json"
wait_port "$PORT" 20
grep -qF "warn citygate: http.token_file: $T/tok.open is readable by others (mode 0644)" "$T/gw.log" ||
    fail "daemon did not log the warning: $(cat "$T/gw.log")"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer ' "http://127.0.0.1:$PORT/metrics")
[ "$code" = 401 ] || fail "empty bearer: $code"
GW=$LAST_PID
pass "daemon logs the secret-file warning; 'Authorization: Bearer ' is 401"
# A reload frees the config the HTTP server started with: the server keeps its
# own copy of the credentials (ASan caught a use after free here).
kill -HUP "$GW"
wait_for 20 grep -q "reloaded:" "$T/gw.log" || fail "no reload: $(cat "$T/gw.log")"
[ "$(grep -c "is readable by others (mode 0644)" "$T/gw.log")" -eq 2 ] || fail "reload did not log the warning again"
for i in 1 2 3; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 's3cr3t' -H 'Authorization: Bearer s3cr3t' "http://127.0.0.1:$PORT/metrics")
    [ "$code" = 200 ] || fail "after reload, right token: $code"
done
kill -0 "$GW" || fail "daemon died after reload"
pass "after a reload the HTTP server still checks the token (200 with it)"
stop_pid "$GW"
