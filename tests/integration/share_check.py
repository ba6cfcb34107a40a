#!/usr/bin/env python3
"""Data and expectations for share_agreement.sh (docs/outputs.md, "Data-sharing agreements").

  gen air|debug FROM TO [first|second]
                         MQTT JSON payloads (explicit ms "ts") of readings FROM..TO-1 of every sensor
                         (first: those before SPLIT, second: the others)
  filtered FROM TO       how many of those lines the regional agreement does not select
  windows all|first      how many windows a run (or its first part) makes
  check URL RUN KEYFILE  the regional database holds exactly the agreed aggregates of readings 0..59
                         of run RUN (exit 1 with the differences otherwise)
  count URL DB QUERY     the first value of the first row
The expectations are computed here, independently of citygate: HMAC with python's hmac,
means/min/max/count over the readings in each 15-min window of their own timestamps."""
import hashlib
import hmac
import json
import sys
import urllib.parse
import urllib.request

T0 = 1700000100  # s, a multiple of 900: window k = [T0 + 900k, T0 + 900(k+1))
WINDOW = 900
SENSORS = [  # id, serial, geohash, district
    ("AQ-0001", "SN-77-001", "tp5myz3k", "north-1"),
    ("AQ-0002", "SN-77-002", "tp5myq1a", "north-2"),
    ("AQ 0003", "SN-77-003", "tp5mv8b2", "south-9"),  # a space: escaped in line protocol, hashed unescaped
]
DISTRICT_MAP = {"north-1": "north", "north-2": "north"}  # others -> "elsewhere"
N = 60  # readings per sensor per run: 4 windows of 15


def reading(s, i):
    sid, serial, gh, district = SENSORS[s]
    # sensors 5 min apart: their windows close at different points of the stream, so a commit
    # (held at the oldest open window) falls inside windows already sent (what a replay must skip)
    ts = (T0 + i * 60 + s * 300) * 10**9
    quality = "out_of_range" if i % 7 == 3 else "ok"
    pm25 = round(5 + ((i * 37 + s * 11) % 100) / 7.0, 3)
    no2 = (i * 13 + s * 5) % 50
    return dict(sid=sid, serial=serial, gh=gh, district=district, ts=ts, quality=quality, pm25=pm25, no2=no2)


SPLIT = T0 + 3 * WINDOW  # "first": readings before it; every sensor's last window there is complete


def part_ok(r, part):
    return part == "all" or (r["ts"] < SPLIT * 10**9) == (part == "first")


def messages(kind, lo, hi, part="all"):
    """MQTT JSON payloads with explicit ms timestamps, one per line: kind air or debug."""
    out = []
    for i in range(lo, hi):
        for s in range(len(SENSORS)):
            r = reading(s, i)
            if not part_ok(r, part):
                continue
            if kind == "air":
                out.append(json.dumps({"ts": r["ts"] // 10**6, "sensor": r["sid"], "serial": r["serial"],
                                       "geohash": r["gh"], "district": r["district"], "quality": r["quality"],
                                       "pm25": r["pm25"], "no2": r["no2"], "rssi": -71, "status": "fine"}))
            elif i % 10 == 0:  # a measurement the region does not receive
                out.append(json.dumps({"ts": r["ts"] // 10**6, "sensor": r["sid"], "heap": 1000 + i}))
    return out


def filtered(lo, hi):
    """Lines the regional agreement selects nothing from: debug, and quality out_of_range."""
    n = len(messages("debug", lo, hi))
    for m in messages("air", lo, hi):
        n += json.loads(m)["quality"] != "ok"
    return n


def expected(run, key, part="all"):
    rows = {}
    for s in range(len(SENSORS)):
        acc = {}
        for i in range(N):
            r = reading(s, i)
            if r["quality"] != "ok" or not part_ok(r, part):
                continue
            start = (r["ts"] // (WINDOW * 10**9)) * WINDOW * 10**9
            a = acc.setdefault(start, {"pm25": [], "no2": []})
            a["pm25"].append(r["pm25"])
            a["no2"].append(float(r["no2"]))
        sid = hmac.new(key, r["sid"].encode(), hashlib.sha256).hexdigest()[:16]
        for start, a in acc.items():
            row = {"time": start, "district": DISTRICT_MAP.get(r["district"], "elsewhere"), "geohash": r["gh"][:5],
                   "quality": "ok", "run": run, "sensor": sid,
                   "gateway": "gw1"}  # the gateway's static tag
            for f, vals in a.items():
                total = 0.0
                for v in vals:  # the same order and arithmetic as the gateway: sum, then divide
                    total += v
                row[f + "_mean"] = total / len(vals)
                row[f + "_min"] = min(vals)
                row[f + "_max"] = max(vals)
                row[f + "_count"] = len(vals)
            rows[(start, sid)] = row
    return rows


def query(url, db, q):
    u = url + "/query?" + urllib.parse.urlencode({"db": db, "q": q, "epoch": "ns"})
    with urllib.request.urlopen(u, timeout=10) as resp:
        return json.load(resp)["results"][0]


def actual(url, run):
    res = query(url, "region", "SELECT * FROM air WHERE run='%s'" % run)
    rows = {}
    for s in res.get("series", []):
        for v in s["values"]:
            row = {c: x for c, x in zip(s["columns"], v) if x is not None}
            rows[(row["time"], row["sensor"])] = row
    return rows


def main():
    cmd = sys.argv[1]
    if cmd == "gen":
        part = sys.argv[5] if len(sys.argv) > 5 else "all"
        print("\n".join(messages(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), part)))
    elif cmd == "filtered":
        print(filtered(int(sys.argv[2]), int(sys.argv[3])))
    elif cmd == "check":
        url, run, keyfile = sys.argv[2:5]
        key = open(keyfile, "rb").read().rstrip(b"\n")
        want, got = expected(run, key), actual(url, run)
        bad = []
        for k in sorted(set(want) | set(got)):
            if want.get(k) != got.get(k):
                bad.append("window %s sensor %s: want %s got %s" % (k[0], k[1], want.get(k), got.get(k)))
        if bad:
            print("\n".join(bad[:10]))
            sys.exit(1)
        print(len(got))
    elif cmd == "windows":  # how many windows a part of a run makes
        print(len(expected("x", b"k", sys.argv[2])))
    elif cmd == "rows":
        print(len(actual(sys.argv[2], sys.argv[3])))
    elif cmd == "count":
        res = query(sys.argv[2], sys.argv[3], sys.argv[4])
        s = res.get("series")
        print(s[0]["values"][0][1] if s else 0)


if __name__ == "__main__":
    main()
