#!/usr/bin/env bash
# The emergency lane during a database outage with a large backlog: 50 000
# lines wait in the buffer when a river level crosses its alarm threshold;
# when influxd comes back, the alarm's event is in the database within 2 s and
# before any of the backlog: influxd's own write trace (write-tracing, with
# its timestamps) shows the first write it received after it listened again
# is the event alone, and when. Then the whole backlog lands, each line once,
# and the event once.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/mqtt_lib.sh"
. "$SRC_DIR/tests/integration/sf_lib.sh"
. "$SRC_DIR/tests/integration/alarm_lib.sh"
INFLUX_HTTP_EXTRA="  write-tracing = true" start_influxd
influx_create_db city
start_mosquitto "max_queued_messages 0"
SF_HTTP_PORT=$(free_port)
# retry_max_ms 5000: the backlog's own retries are slow; the lane must not wait for them
out='{"name":"db","type":"influxdb_v1","url":"'"$INFLUX_URL"'","database":"city","flush_interval_ms":100,
      "retry_initial_ms":1000,"retry_max_ms":5000}'
al_config "$T/gw.json" "[$out]" '[
  {"name":"flood_level","kind":"threshold","measurement":"river","field":"level_cm","raise_above":300,"clear_below":280}]'
start_gw gw "$T/gw.json"
level bridge 0 250
wait_scalar 20 city "SELECT count(level_cm) FROM river" 1 >/dev/null || fail "first reading not stored"

stop_pid "$INFLUX_PID"
sf_publish a 0 50000 5000
appended_ge() { [ "$(sf_metric citygate_journal_appended_lines_total)" -ge "$1" ]; }
wait_for 60 appended_ge 50001 ||
    fail "the backlog did not reach the buffer: $(sf_metric citygate_journal_appended_lines_total) lines"
pass "50000 lines wait in the buffer"
level bridge 60 312
wait_for 20 grep -q "alarm: flood_level raised" "$T/gw.log" || fail "alarm not raised"
pass "alarm raised during the outage"
expect "/metrics citygate_alarms_active" "$(sf_metric citygate_alarms_active)" 1
expect "/metrics raised transitions" "$(sf_metric 'citygate_alarm_transitions_total{state="raised"}')" 1
expect "/metrics alarm series" "$(sf_metric citygate_alarm_series)" 1
expect "/status.json alarms" "$(curl -fsS "http://127.0.0.1:$SF_HTTP_PORT/status.json" | $PY -c '
import json, sys
a = json.load(sys.stdin)["alarms"]
print(a["active"], a["raised"], a["cleared"], [(r["alarm"], r["series"], r["since_ms"]) for r in a["raised_now"]])')" \
    "1 1 0 [('flood_level', 'site=bridge', 1700000060000)]"
sleep 2 # the output is deep in its backoff

restart_influxd
sf_expect_all a 0 50000 90
# influxd's log: when it listened again, and each write it received, in order
$PY - "$T/influxd2.log" >"$T/race.txt" <<'PY'
import re, sys, datetime
def ts(l):
    m = re.match(r"ts=(\S+)Z", l)
    return datetime.datetime.fromisoformat(m.group(1)[:26]).timestamp()
up, writes = None, []
for l in open(sys.argv[1], errors="replace"):
    if up is None and "Listening on HTTP" in l:
        up = ts(l)
    elif "Write body received" in l:
        writes.append((ts(l), "citygate_event" in l, l.count("sf,run=a")))
ev = [i for i, w in enumerate(writes) if w[1]]
if up is None or not ev:
    print("none 0 0 0"); sys.exit(0)
i = ev[0]
print("%.3f %d %d %.3f" % (writes[i][0] - up, i, sum(w[2] for w in writes[:i]), writes[-1][0] - up))
PY
read -r latency index before drained <"$T/race.txt"
echo "measured: event received by influxd ${latency}s after it listened again; writes before it: $index; backlog lines before it: $before; backlog fully received after ${drained}s"
[ "$latency" != none ] || fail "influxd traced no event write after the outage"
$PY -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 2 else 1)" "$latency" ||
    fail "event latency ${latency}s > 2 s"
pass "event within 2 s of the outage's end (${latency}s)"
expect "backlog lines influxd received before the event" "$before" 0
first=$(grep -m 1 "Write body received" "$T/influxd2.log") || fail "influxd traced no write after the outage"
case "$first" in
*citygate_event*alarm=flood_level*) ;;
*) fail "the first write after the outage is not the event: ${first:0:300}" ;;
esac
case "$first" in
*sf,run=a*) fail "the first write after the outage carries backlog lines too" ;;
esac
pass "influxd's first write after the outage is the event alone"
expect "raised events" "$(event_count "alarm='flood_level' AND state='raised'")" 1
expect "event time is the reading's" "$(events "alarm='flood_level'")" "flood_level raised 60 312"
stop_pid "$GW_PID"
expect "lines still unsent at exit" "$(out_stat "$T/gw.log" db unsent)" 0
