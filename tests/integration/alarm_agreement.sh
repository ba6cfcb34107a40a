#!/usr/bin/env bash
# Alarm events obey each output's data-sharing agreement: a regional hub gets
# the event with its privacy rules applied (the site hashed, the gateway tag
# renamed), never the raw identifiers; an output whose agreement does not
# select citygate_event gets the readings and no event. The city database
# gets the event as raised. (Before, events bypassed agreements.)
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/tests/integration/sf_lib.sh"
. "$SRC_DIR/tests/integration/alarm_lib.sh"
start_influxd
for db in city region quiet; do influx_create_db "$db"; done
start_mosquitto
printf 'hub-key' >"$T/hub.key"
chmod 600 "$T/hub.key"
out() { # NAME DB AGREEMENT
    echo "{\"name\":\"$1\",\"type\":\"influxdb_v1\",\"url\":\"$INFLUX_URL\",\"database\":\"$2\",\"flush_interval_ms\":100,
           \"retry_initial_ms\":100,\"retry_max_ms\":500,\"agreement\":$3}"
}
al_config "$T/gw.json" "[$(influx_out db "$INFLUX_URL"),
  $(out region region '{"hash_tags":["site"],"hash_key_file":"'"$T/hub.key"'","rename_tags":{"gateway":"cabinet"}}'),
  $(out quiet quiet '{"measurements":{"exclude":["citygate_event"]}}')]" '[
  {"name":"flood_level","kind":"threshold","measurement":"river","field":"level_cm","raise_above":300,"clear_below":280}]'
start_gw gw "$T/gw.json"
level bridge 0 250
level bridge 60 312
wait_for 20 grep -q "alarm: flood_level raised" "$T/gw.log" || fail "alarm not raised"
wait_scalar 20 city "SELECT count(value) FROM citygate_event" 1 >/dev/null || fail "event not in the city database"
wait_scalar 20 region "SELECT count(value) FROM citygate_event" 1 >/dev/null || fail "event not in the regional database"
wait_scalar 20 quiet "SELECT count(level_cm) FROM river" 2 >/dev/null || fail "readings not in the quiet database"
want=$($PY -c 'import hmac,hashlib;print(hmac.new(b"hub-key",b"bridge",hashlib.sha256).hexdigest()[:16])')
tags() { # DB: the event's tag keys and values, sorted
    curl -fsS -G "$INFLUX_URL/query" --data-urlencode "db=$1" --data-urlencode "q=SHOW SERIES FROM citygate_event" |
        $PY -c 'import json,sys; r=json.load(sys.stdin)["results"][0]; [print(v[0]) for s in r.get("series",[]) for v in s["values"]]'
}
city=$(tags city)
region=$(tags region)
case "$city" in *",site=bridge"*) pass "city database: the event with site=bridge ($city)" ;; *) fail "city event: $city" ;; esac
case "$region" in
*",site=$want"*) pass "regional database: the event's site hashed as agreed ($want)" ;;
*) fail "regional event not hashed: $region (want site=$want)" ;;
esac
case "$region" in *bridge*|*",gateway="*) fail "raw site or gateway tag reached the regional hub: $region" ;; esac
case "$region" in *",cabinet="*) pass "regional database: gateway renamed to cabinet" ;; *) fail "no cabinet tag: $region" ;; esac
expect "events in the quiet database (not selected)" "$(scalar quiet 'SELECT count(value) FROM citygate_event')" 0
stop_pid "$GW_PID"
