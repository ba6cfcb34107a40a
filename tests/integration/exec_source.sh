#!/usr/bin/env bash
# The exec source with the real binary and a real influxd:
#  1. a python3 program prints known points (line protocol with tags, ints,
#     floats, strings, bools, its own timestamps) and one JSON-lines program:
#     the exact values come back from influxd;
#  2. a program that exits at once is restarted with the backoff doubling
#     from restart_min_ms (exact delays in the log, restarts in /metrics);
#  3. a program flooding stderr: stderr_lines_per_min lines logged, the rest
#     counted in one line;
#  4. malformed and over-long stdout lines: counted in /metrics, logged once;
#  5. a program silent for silence_timeout_s is restarted;
#  6. a program that ignores SIGTERM is killed on stop; no zombie, no orphan.
. "$SRC_DIR/tests/integration/lib.sh"
start_influxd
influx_create_db city
HP=$(free_port)

cat >"$T/good.py" <<'PY'
import sys, time
print("env_probe,site=depot temp_c=21.5,count=7i,ok=t,label=\"A \\\"b\\\"\" 1700000000000000000", flush=True)
print("env_probe,site=yard temp_c=-3.25,count=8i,ok=f,label=\"x\" 1700000001000000000", flush=True)
# malformed: counted and logged once; then a line over max_line_bytes
print("env_probe,site=depot temp_c=", flush=True)
print("env_probe,site=depot this_is_not_lp", flush=True)
print("env_probe,site=depot temp_c=" + "9" * 300 + " 1700000002000000000", flush=True)
print("# a comment", flush=True)
sys.stderr.write("starting \x1b[31mred\n"); sys.stderr.flush()
time.sleep(3600)
PY
cat >"$T/json.sh" <<'SH'
#!/bin/sh
echo '{"t": 1700000005, "flow_l_min": 12.5, "pump": "p1"}'
exec sleep 3600
SH
chmod +x "$T/json.sh"
cat >"$T/crash.sh" <<'SH'
#!/bin/sh
echo "dying" >&2
exit 3
SH
cat >"$T/flood.py" <<'PY'
import sys
for i in range(5000):
    sys.stderr.write("noise %d\n" % i)
PY
cat >"$T/stubborn.sh" <<'SH'
#!/bin/sh
trap '' TERM
echo "stubborn v=1i 1700000009000000000"
while :; do sleep 1; done
SH
cat >"$T/gw.json" <<J
{"gateway":{"id":"gw1","state_dir":"$T/state","self_metrics_interval_s":0,"drain_timeout_ms":2000},
 "normalise":{"enabled":false},
 "http":{"listen":"127.0.0.1:$HP"},
 "outputs":[{"type":"influxdb_v1","url":"$INFLUX_URL","database":"city","batch_lines":10,"flush_interval_ms":100}],
 "sources":[
  {"type":"exec","name":"good","command":["python3","-u","$T/good.py"],"max_line_bytes":200},
  {"type":"exec","name":"js","command":["$T/json.sh"],"format":"json","measurement":"water","time":"t",
   "time_format":"s","env":{"UNUSED":"1"},"working_dir":"$T"},
  {"type":"exec","name":"crash","command":["sh","crash.sh"],"working_dir":"$T","restart_min_ms":200,"restart_max_ms":800},
  {"type":"exec","name":"flood","command":["/usr/bin/python3","$T/flood.py"],"stderr_lines_per_min":5,
   "restart_min_ms":60000,"restart_max_ms":60000},
  {"type":"exec","name":"quiet","command":["sh","-c","echo quiet v=1i 1700000010000000000; exec sleep 3600"],
   "silence_timeout_s":1,"restart_min_ms":100,"restart_max_ms":100000,"stop_timeout_ms":300},
  {"type":"exec","name":"stubborn","command":["$T/stubborn.sh"],"stop_timeout_ms":300}]}
J
chmod +x "$T/stubborn.sh"
"$CITYGATE" --check-config "$T/gw.json" >/dev/null || fail "config refused: $("$CITYGATE" --check-config "$T/gw.json" 2>&1)"
bg gw "$CITYGATE" --config "$T/gw.json" --log-level info
GW_PID=$LAST_PID

q() { influx_query city "$1"; }
has() { q "$1" | grep -qF "$2"; }
wait_for 20 has 'SELECT count(temp_c) FROM env_probe' '[[0,2]]' ||
    fail "2 env_probe points not in influxd: $(q 'SELECT * FROM env_probe')"
q 'SELECT site, temp_c, "count", ok, label FROM env_probe ORDER BY time' >"$T/good.json"
$PY - "$T/good.json" <<'PY' || fail "values: $(cat "$T/good.json")"
import json, sys
rows = json.load(open(sys.argv[1]))["results"][0]["series"][0]["values"]
assert rows == [[1700000000000000000, "depot", 21.5, 7, True, 'A "b"'],
                [1700000001000000000, "yard", -3.25, 8, False, "x"]], rows
PY
pass "line protocol from a python3 program: exact values, tags and timestamps in influxd"
wait_for 20 has 'SELECT * FROM water' flow_l_min ||
    fail "no water point"
q 'SELECT flow_l_min, pump FROM water' | grep -q '\[\[1700000005000000000,12.5,"p1"\]\]' || fail "json line: $(q 'SELECT * FROM water')"
pass "JSON lines from a shell script (env, working_dir, time path): exact value in influxd"

# 2. restarts with backoff: 200, 400, 800, 800 ms
wait_for 20 grep -q "program sh: exited with status 3; restart 4 in 800 ms" "$T/gw.log" ||
    fail "no 4th restart: $(grep -a 'restart' "$T/gw.log")"
for want in "restart 1 in 200 ms" "restart 2 in 400 ms" "restart 3 in 800 ms"; do
    grep -q "program sh: exited with status 3; $want" "$T/gw.log" || fail "missing '$want': $(grep -a restart "$T/gw.log")"
done
grep -q "stderr: dying" "$T/gw.log" || fail "the crashing program's stderr is not in the log"
curl -fsS "http://127.0.0.1:$HP/metrics" >"$T/m"
n=$(sed -n 's/^citygate_source_item_errors_total{source="crash",item="program",kind="link"} \([0-9]*\)$/\1/p' "$T/m")
[ -n "$n" ] && [ "$n" -ge 4 ] || fail "restarts not counted: $(grep 'source="crash"' "$T/m")"
pass "a crashing program is restarted after 200, 400, 800, 800 ms; $n restarts in /metrics"

# 3. stderr flood: 5 lines logged, the other 4995 counted
wait_for 20 grep -q "stderr: 4995 more lines not logged (more than 5 a minute)" "$T/gw.log" ||
    fail "no suppression summary: $(grep -a 'flood' "$T/gw.log" | tail -3)"
n=$(grep -c "stderr: noise" "$T/gw.log")
[ "$n" -eq 5 ] || fail "$n stderr lines of the flood logged, want 5"
grep -q 'stderr: starting \\x1bred' "$T/gw.log" || grep -q 'stderr: starting \\x1b\[31mred' "$T/gw.log" ||
    fail "stderr escape not escaped: $(grep -a starting "$T/gw.log" | od -c | head)"
pass "a stderr flood: 5 lines logged, 4995 counted in one line; control bytes escaped"

# 4. malformed and over-long lines: 3 counted, one log line (rate-limited)
grep -q '^citygate_source_item_errors_total{source="good",item="stdout",kind="rule"} 3$' "$T/m" ||
    fail "bad lines not counted: $(grep 'source="good"' "$T/m")"
n=$(grep -c "stdout line discarded" "$T/gw.log")
[ "$n" -eq 1 ] || fail "$n 'discarded' log lines, want 1: $(grep -a discarded "$T/gw.log")"
grep -q '^citygate_source_item_reads_total{source="good",item="stdout",kind="rule"} 2$' "$T/m" || fail "good lines"
grep -q '^citygate_source_item_up{source="good",item="program",kind="link"} 1$' "$T/m" || fail "program not up"
pass "2 malformed lines and one over max_line_bytes: 3 counted in /metrics, logged once"

# silence: one line, then nothing for silence_timeout_s: stopped, restarted
wait_for 20 grep -q "program sh: no line on stdout for 1 s: stopped; restart 2 in 200 ms" "$T/gw.log" ||
    fail "silent program not restarted: $(grep -a 'quiet' "$T/gw.log" | tail -3)"
pass "a program silent for silence_timeout_s is stopped and restarted"

# 6. stop: SIGTERM, then SIGKILL for the one that ignores it; nothing left
wait_for 20 has 'SELECT * FROM stubborn' 1700000009 ||
    fail "stubborn program's point missing"
# running: good, js, stubborn (flood waits 60 s to restart, crash comes and goes)
kids=$(pgrep -P "$GW_PID" | wc -l)
[ "$kids" -ge 3 ] || fail "only $kids children before stop"
zombies=$(ps -o stat= --ppid "$GW_PID" | grep -c '^Z' || true)
[ "$zombies" -eq 0 ] || fail "$zombies zombie children: $(ps -o pid,stat,args --ppid "$GW_PID")"
groups=$(pgrep -P "$GW_PID" | tr '\n' ' ')
stop_pid "$GW_PID"
rc=0
wait "$GW_PID" 2>/dev/null || rc=$?
[ "$rc" -eq 0 ] || fail "citygate exit $rc"
grep -q "program did not exit 300 ms after SIGTERM: SIGKILL" "$T/gw.log" || fail "no SIGKILL of the stubborn program"
# each program ran in its own process group (pgid = its pid): all empty now
# (members killed by the last SIGKILL may take a moment to be reaped by init)
for g in $groups; do
    wait_for 5 sh -c "! pgrep -g $g" || fail "process group $g still has: $(ps -o pid,stat,args -g "$g")"
done
pass "stop: SIGTERM, SIGKILL after stop_timeout_ms; no process left"
