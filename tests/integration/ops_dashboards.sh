# Grafana dashboards (docs/dashboards/*.json): generated from build.py (no
# drift), and every panel's InfluxQL query returns data from an influxd that
# the real citygate filled with readings of the Modbus simulator (air quality,
# traffic, energy and water devices in two districts / corridors), with the
# default config: normalisation on. Every field every shipped profile reads
# must arrive (none dropped as unknown to the schema), none marked out of
# range or impossible (unsynced_clock is allowed: the test machine's clock may
# not be synchronised).
. "$SRC_DIR/tests/integration/lib.sh"
: "${CITYGATE_SIM:?citygate-sim is not built}"
D="$SRC_DIR/docs/dashboards"
$PY "$D/build.py" --check || fail "dashboards out of date: run docs/dashboards/build.py"
pass "dashboards match build.py"

start_influxd
influx_create_db city
P1=$(free_port)
bg sim "$CITYGATE_SIM" --profile-dir "$SRC_DIR/config/profiles" --step-ms 200 \
    --tcp "$P1=airq_rs485@1,2" --tcp "$P1=traffic_loop@3,4" --tcp "$P1=eastron_sdm630@5,6" --tcp "$P1=water_meter@7,8"
wait_port "$P1"
dev() { # name unit profile district tagkey tagvalue: sensor_id is the device name (the station tag)
    echo "{\"name\":\"$1\",\"unit_id\":$2,\"profile\":\"$3\",\"poll_interval_ms\":300,\"tags\":{\"district\":\"$4\",\"$5\":\"$6\",\"sensor_id\":\"$1\"}}"
}
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"cabinet-7","state_dir":"$T/state"},
 "outputs":[{"type":"influxdb_v1","url":"$INFLUX_URL","database":"city","batch_lines":200,"flush_interval_ms":200}],
 "sources":[{"type":"modbus","name":"cabinet7","transport":"tcp","host":"127.0.0.1","port":$P1,
   "profile_dirs":["$SRC_DIR/config/profiles"],"response_timeout_ms":250,"retries":0,
   "devices":[$(dev aq-north 1 airq_rs485 north city ghent), $(dev aq-south 2 airq_rs485 south city ghent),
              $(dev loop-ring 3 traffic_loop north corridor ring-east), $(dev loop-river 4 traffic_loop south corridor riverside),
              $(dev meter-north 5 eastron_sdm630 north site school-12), $(dev meter-south 6 eastron_sdm630 south site town-hall),
              $(dev water-north 7 water_meter north site pump-3), $(dev water-south 8 water_meter south site pump-4)]}]}
CONF
"$CITYGATE" --check-config "$T/cg.json" >"$T/check.log" 2>&1 || fail "config: $(cat "$T/check.log")"
"$CITYGATE" --config "$T/cg.json" --run-for 5 >"$T/citygate.log" 2>&1 || fail "citygate failed"
pass "citygate ran 5 s against the simulator into influxd"

$PY - "$INFLUX_URL" "$SRC_DIR/config/profiles" <<'PY' || fail "profile fields missing or not ok in influxd"
import glob, json, os, sys, urllib.parse, urllib.request
url, pdir = sys.argv[1], sys.argv[2]

def query(q):
    u = url + "/query?" + urllib.parse.urlencode({"db": "city", "q": q})
    with urllib.request.urlopen(u, timeout=10) as r:
        return json.load(r)["results"][0].get("series", [])

bad = []
for f in sorted(glob.glob(os.path.join(pdir, "*.json"))):
    p = json.load(open(f))
    for r in p["registers"]:
        meas = r.get("measurement", p["measurement"])
        got = query('SELECT count("%s") FROM "%s" GROUP BY "quality"' % (r["name"], meas))
        marks = {s.get("tags", {}).get("quality", "") for s in got}
        if not marks or not marks <= {"ok", "unsynced_clock"}:
            bad.append("%s: %s.%s: quality marks %s (want ok, or unsynced_clock)"
                       % (os.path.basename(f), meas, r["name"], sorted(marks)))
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
pass "every field of every shipped profile arrived, none out of range or impossible"
# the loop counters' running totals grow in every lane (a total pinned at its
# maximum would give the per-hour panels a flat zero)
grows=$(influx_query city 'SELECT spread("vehicles_total") FROM "traffic" GROUP BY "device", "lane"' | $PY -c '
import json, sys
s = json.load(sys.stdin)["results"][0].get("series", [])
print(len(s), sum(1 for x in s if x["values"][0][1] > 0))')
[ "$grows" = "8 8" ] || fail "vehicles_total series / growing: $grows, want 8 8"
pass "vehicles_total grows in all 8 lanes"

# every panel, its macros and template variables substituted as Grafana does
# (All selected, the last hour, 1 s interval)
$PY - "$INFLUX_URL" "$SRC_DIR/tests/integration" "$D"/*.json <<'PY' || fail "empty panels"
import sys, time
sys.path.insert(0, sys.argv[2])
import dashboards as gd
url, files = sys.argv[1], sys.argv[3:]
# no device went down here, and 5 s of data hold no 8-h mean:
# ops_dashboards_values.sh fills and checks those panels
NOT_HERE = {"Gaps open now", "Data completeness by source and device (from gap records)",
            "O3: highest daily 8-h mean by district"}
to = int(time.time() * 1000)
frm = to - 3600 * 1000

def has_values(series):
    return any(v is not None for s in series for row in s["values"] for v in row[1:])

bad, n = [], 0
for f in files:
    d = gd.load(f)
    for v in d["templating"]["list"]:
        if v["type"] == "query" and not gd.variable_values(url, "city", d, v["name"]):
            bad.append("%s: variable $%s: no values (%s)" % (f, v["name"], v["query"]))
    for p in d["panels"]:
        n += 1
        try:
            series = gd.run_panel(url, "city", d, p["title"], frm, to, "1s")
        except Exception as e:
            bad.append("%s: %s: error %s" % (f.split("/")[-1], p["title"], e))
            continue
        if p["title"] in NOT_HERE:
            continue
        if not has_values(series):
            bad.append("%s: %s: EMPTY\n  %s" % (f.split("/")[-1], p["title"], p["targets"][0]["query"]))
        else:
            groups = sorted(",".join("%s=%s" % kv for kv in sorted(s["tags"].items())) for s in series)
            print("  %-40s %d series %s" % (p["title"][:40], len(series), " ".join(groups)[:70]))
for b in bad:
    print(b, file=sys.stderr)
print("%d panels, %d empty" % (n, len(bad)))
sys.exit(1 if bad else 0)
PY
pass "every panel's query returns data"

# the data URLs scripts/demo prints: each answers without an error
n=0
while read -r u; do
    out=$(curl -fsS "$u") || fail "demo URL: $u"
    case "$out" in *'"error"'*) fail "demo URL answers an error: $out ($u)" ;; esac
    n=$((n + 1))
done < <($PY "$D/build.py" --urls "$INFLUX_URL" city | sed -n 's/^ *\(http:.*\)/\1/p')
[ "$n" -ge 8 ] || fail "build.py --urls printed $n URLs"
pass "the $n dashboard data URLs scripts/demo prints answer"
