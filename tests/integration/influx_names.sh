#!/bin/bash
# Tricky names round trip: line protocol with escaped spaces, commas, equals
# signs, quotes, backslashes, UTF-8 and emoji (as the encoder writes them) is
# sent through the output (gzip, v1) and every value is queried back as meant.
. "$SRC_DIR/tests/integration/lib.sh"
. "$SRC_DIR/tests/integration/influx_lib.sh"

start_influxd
influx_create_db names
cat >"$T/check.py" <<'PY'
import json, sys, urllib.parse, urllib.request
# (line protocol as sent, measurement, tags, fields) as the user meant them
CASES = [
    (r'wind\ speed,station\ id=Nord\,Ost,zone\=a=b\ c speed\ m/s=3.5,note="he said \"hi\" \\ ok"',
     "wind speed", {"station id": "Nord,Ost", "zone=a": "b c"}, {"speed m/s": 3.5, "note": 'he said "hi" \\ ok'}),
    ('température,lieu=Zürich\\ Hauptbahnhof,capteur=Ω-7 valeur=21.5,état="ok ✓"',
     "température", {"lieu": "Zürich Hauptbahnhof", "capteur": "Ω-7"}, {"valeur": 21.5, "état": "ok ✓"}),
    (r'🚦traffic,crossing=A\,B cars=12i', "🚦traffic", {"crossing": "A,B"}, {"cars": 12}),
    (r'm3,t=x f\,1=1i,f\=2=2i,f\ 3=3i', "m3", {"t": "x"}, {"f,1": 1, "f=2": 2, "f 3": 3}),
    ('m4,t=y on=t,off=false,neg=-7i,tiny=1e-300', "m4", {"t": "y"}, {"on": True, "off": False, "neg": -7, "tiny": 1e-300}),
    (r'm5,t=z s="ends with \\",q="\"",e=""', "m5", {"t": "z"}, {"s": "ends with \\", "q": '"', "e": ""}),
]
N = 50  # points per case, 1 s apart
T0 = 1700000000000000000
if sys.argv[1] == "gen":
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        for k in range(N):
            for lp, *_ in CASES:
                f.write("%s %d\n" % (lp, T0 + k * 1000000000))
    sys.exit(0)
url, db = sys.argv[2], sys.argv[3]
def q(s):
    u = url + "/query?" + urllib.parse.urlencode({"db": db, "epoch": "ns", "q": s})
    return json.load(urllib.request.urlopen(u))["results"][0]
bad = 0
for lp, meas, tags, fields in CASES:
    ident = '"' + meas.replace("\\", "\\\\").replace('"', '\\"') + '"'
    r = q("SELECT * FROM %s" % ident)
    if "series" not in r:
        print("MISSING measurement %r: %s" % (meas, r)); bad += 1; continue
    s = r["series"][0]
    cols, rows = s["columns"], s["values"]
    if len(rows) != N:
        print("%r: %d rows, want %d" % (meas, len(rows), N)); bad += 1
    for k, row in enumerate(rows):
        got = dict(zip(cols, row))
        want = dict(tags, **fields, time=T0 + k * 1000000000)
        if got != want:
            print("%r row %d:\n got  %r\n want %r" % (meas, k, got, want)); bad += 1; break
    print("ok: %s: %d rows, tags %s fields %s" % (meas, len(rows), sorted(tags), sorted(fields)))
sys.exit(1 if bad else 0)
PY
$PY "$T/check.py" gen "$T/names.lp"
cat >"$T/n.json" <<J
{"name":"n","type":"influxdb_v1","url":"$INFLUX_URL","database":"names","batch_lines":64}
J
run_driver n --config "$T/n.json" --file "$T/names.lp"
expect "driver exit" "$DRIVER_RC" 0
expect "lines_sent" "$(st n lines_sent)" 300
expect "lines_dead_lettered" "$(st n lines_dead_lettered)" 0
expect "batches_sent" "$(st n batches_sent)" 5
$PY "$T/check.py" check "$INFLUX_URL" names || fail "values differ"
