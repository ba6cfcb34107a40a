#!/usr/bin/python3
"""Checks that what citygate wrote equals what citygate-sim served.

  modbus_check.py --sim VALUES.jsonl --map PORT/UNIT=DEVICE,... (--lp FILE | --influx URL DB)
                  [--measurement-of DEVICE=MEAS,...] [--min-polls N]

VALUES.jsonl comes from `citygate-sim --print-values --step-ms 0`. Every
served field of every mapped device must appear with exactly that value
(floats compared as doubles, no tolerance), under the device's tag and the
register's own tags. Exits 1 with the differences listed.
"""
import argparse
import json
import sys
import urllib.parse
import urllib.request


def split_unescaped(s, sep):
    out, cur, i, quoted = [], "", 0, False
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            cur += s[i:i + 2]
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        if c == sep and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    out.append(cur)
    return out


def unescape(s):
    return s.replace("\\,", ",").replace("\\ ", " ").replace("\\=", "=").replace('\\"', '"').replace("\\\\", "\\")


def parse_value(v):
    if v.startswith('"'):
        return unescape(v[1:-1])
    if v in ("t", "T", "true", "True"):
        return True
    if v in ("f", "F", "false", "False"):
        return False
    if v.endswith("i") or v.endswith("u"):
        return int(v[:-1])
    return float(v)


def parse_lp(text):
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = split_unescaped(line, " ")
        if len(parts) < 2:
            continue
        key, fields = parts[0], parts[1]
        ts = int(parts[2]) if len(parts) > 2 else 0
        kp = split_unescaped(key, ",")
        tags = {}
        for t in kp[1:]:
            k, v = t.split("=", 1)
            tags[unescape(k)] = unescape(v)
        fl = {}
        for f in split_unescaped(fields, ","):
            k, v = f.split("=", 1)
            fl[unescape(k)] = parse_value(v)
        rows.append({"measurement": unescape(kp[0]), "tags": tags, "fields": fl, "time": ts})
    return rows


def influx_rows(url, db, devices):
    rows = []
    q = "SELECT * FROM /.*/ WHERE " + " OR ".join("\"device\"='%s'" % d for d in devices)
    data = urllib.parse.urlencode({"db": db, "q": q, "epoch": "ns"})
    with urllib.request.urlopen(url + "/query?" + data) as r:
        res = json.load(r)
    for series in res["results"][0].get("series", []):
        cols = series["columns"]
        for vals in series["values"]:
            row = dict(zip(cols, vals))
            rows.append({"measurement": series["name"], "row": row, "time": row["time"]})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sim", required=True)
    ap.add_argument("--map", required=True)
    ap.add_argument("--lp")
    ap.add_argument("--influx", nargs=2)
    ap.add_argument("--measurement-of", default="")
    ap.add_argument("--min-polls", type=int, default=1)
    a = ap.parse_args()
    devmap = dict(kv.split("=") for kv in a.map.split(","))
    meas = dict(kv.split("=") for kv in a.measurement_of.split(",") if kv)
    served = [json.loads(l) for l in open(a.sim)]
    served = [s for s in served if "%d/%d" % (s["port"], s["unit"]) in devmap or
              ("rtu/%d" % s["unit"]) in devmap and s["port"] == -1]
    problems, checked = [], 0
    if a.lp:
        rows = parse_lp(open(a.lp).read())
    else:
        rows = influx_rows(a.influx[0], a.influx[1], set(devmap.values()))
    for s in served:
        key = "rtu/%d" % s["unit"] if s["port"] == -1 else "%d/%d" % (s["port"], s["unit"])
        dev = devmap[key]
        want_meas = s["measurement"] or meas.get(dev)
        got = []
        for r in rows:
            if want_meas and r["measurement"] != want_meas:
                continue
            if a.lp:
                if r["tags"].get("device") != dev or any(r["tags"].get(k) != v for k, v in s["tags"].items()):
                    continue
                if s["field"] in r["fields"]:
                    got.append(r["fields"][s["field"]])
            else:
                row = r["row"]
                if row.get("device") != dev or any(row.get(k) != v for k, v in s["tags"].items()):
                    continue
                if row.get(s["field"]) is not None:
                    got.append(row[s["field"]])
        if len(got) < a.min_polls:
            problems.append("%s %s%s: seen %d times, want >= %d" % (dev, s["field"], s["tags"] or "", len(got),
                                                                  a.min_polls))
            continue
        want = s["value"]
        for g in got:
            same = (g == want) if not isinstance(want, float) else (isinstance(g, (int, float)) and float(g) == want)
            if not same:
                problems.append("%s %s%s: wrote %r, served %r" % (dev, s["field"], s["tags"] or "", g, want))
                break
        checked += 1
    for p in problems[:40]:
        print("MISMATCH", p)
    print("checked %d served fields, %d problems" % (checked, len(problems)))
    sys.exit(1 if problems else 0)


main()
