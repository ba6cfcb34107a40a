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
dev() { # name unit profile tagkey tagvalue
    echo "{\"name\":\"$1\",\"unit_id\":$2,\"profile\":\"$3\",\"poll_interval_ms\":300,\"tags\":{\"$4\":\"$5\"}}"
}
cat >"$T/cg.json" <<CONF
{"gateway":{"id":"cabinet-7","state_dir":"$T/state"},
 "outputs":[{"type":"influxdb_v1","url":"$INFLUX_URL","database":"city","batch_lines":200,"flush_interval_ms":200}],
 "sources":[{"type":"modbus","name":"cabinet7","transport":"tcp","host":"127.0.0.1","port":$P1,
   "profile_dirs":["$SRC_DIR/config/profiles"],"response_timeout_ms":250,"retries":0,
   "devices":[$(dev aq-north 1 airq_rs485 district north), $(dev aq-south 2 airq_rs485 district south),
              $(dev loop-ring 3 traffic_loop corridor ring-east), $(dev loop-river 4 traffic_loop corridor riverside),
              $(dev meter-north 5 eastron_sdm630 district north), $(dev meter-south 6 eastron_sdm630 district south),
              $(dev water-north 7 water_meter district north), $(dev water-south 8 water_meter district south)]}]}
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

$PY - "$INFLUX_URL" "$D"/*.json <<'PY' || fail "empty panels"
import json, sys, urllib.parse, urllib.request
url, files = sys.argv[1], sys.argv[2:]

def query(q):
    u = url + "/query?" + urllib.parse.urlencode({"db": "city", "q": q})
    with urllib.request.urlopen(u, timeout=10) as r:
        res = json.load(r)["results"][0]
    if "error" in res:
        raise RuntimeError(res["error"])
    return res.get("series", [])

def has_values(series):
    return any(v is not None for s in series for row in s.get("values", []) for v in row[1:])

bad, n = [], 0
for f in files:
    d = json.load(open(f))
    variables = [v["name"] for v in d["templating"]["list"]]
    for v in d["templating"]["list"]:
        if not query(v["query"]):
            bad.append("%s: variable $%s: no values (%s)" % (f, v["name"], v["query"]))
    for p in d["panels"]:
        for t in p["targets"]:
            q = t["query"].replace("$timeFilter", "time > now() - 1h").replace("$__interval", "1s")
            for name in variables:
                q = q.replace("$" + name, ".*")
            n += 1
            try:
                series = query(q)
            except Exception as e:
                bad.append("%s: %s: error %s\n  %s" % (f.split("/")[-1], p["title"], e, q))
                continue
            if not has_values(series):
                bad.append("%s: %s: EMPTY\n  %s" % (f.split("/")[-1], p["title"], q))
            else:
                groups = sorted(",".join("%s=%s" % kv for kv in sorted(s.get("tags", {}).items())) for s in series)
                print("  %-40s %d series %s" % (p["title"][:40], len(series), " ".join(groups)[:70]))
for b in bad:
    print(b, file=sys.stderr)
print("%d panels, %d empty" % (n, len(bad)))
sys.exit(1 if bad else 0)
PY
pass "every panel's query returns data"
