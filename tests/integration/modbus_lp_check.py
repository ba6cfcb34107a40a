#!/usr/bin/python3
"""Checks the points citygate stored against the registers of
tests/integration/modbus_faulty.py: field rN of a device with unit id U must be
(U * 1000 + N) & 0xffff, always.

usage: modbus_lp_check.py LPFILE|--influx JSONFILE DEVICE=UNIT[:MIN_POINTS[:MAX_GAP_MS]] ...
LPFILE: line protocol printed by --dry-run; JSONFILE: influxd's answer to
SELECT * FROM "modbus" GROUP BY "device" (epoch=ns).
Prints per device: points, wrong values (expected vs stored), longest gap
between two points; exits 1 when any value is wrong, or a device has fewer
points or a longer gap than asked for."""
import json
import re
import sys

LINE = re.compile(r"^([^, ]+),(\S*) (\S+) (\d+)$")


def lp_points(lp):
    for line in open(lp, errors="replace"):
        m = LINE.match(line.strip())
        if not m or m.group(1) == "citygate_device":
            continue
        tags = dict(t.split("=", 1) for t in m.group(2).split(",") if "=" in t)
        fields = {}
        for kv in m.group(3).split(","):
            k, v = kv.split("=", 1)
            fields[k] = int(v.rstrip("i")) if v.endswith("i") else float(v)
        yield tags.get("device"), int(m.group(4)), fields


def influx_points(path):
    doc = json.load(open(path))
    for res in doc.get("results", []):
        for ser in res.get("series", []):
            dev = ser.get("tags", {}).get("device")
            cols = ser["columns"]
            for row in ser["values"]:
                rec = dict(zip(cols, row))
                yield dev, int(rec.pop("time")), {k: v for k, v in rec.items() if v is not None}


def main():
    args = sys.argv[1:]
    if args[0] == "--influx":
        points, wants = influx_points(args[1]), args[2:]
    else:
        points, wants = lp_points(args[0]), args[1:]
    devs = {}
    for w in wants:
        name, rest = w.split("=")
        parts = rest.split(":") + [None, None]
        devs[name] = {"unit": int(parts[0]), "min": int(parts[1] or 0),
                      "max_gap": int(parts[2]) if parts[2] else None, "ts": [], "wrong": [], "fields": 0}
    for dev, ts, fields in points:
        d = devs.get(dev)
        if d is None:
            continue
        d["ts"].append(ts)
        for k, got in fields.items():
            if not re.fullmatch(r"r\d+", k):
                continue
            want = (d["unit"] * 1000 + int(k[1:])) & 0xFFFF
            d["fields"] += 1
            if got != want:
                d["wrong"].append("%s expected %d stored %s" % (k, want, got))
    bad = False
    for name, d in devs.items():
        ts = sorted(d["ts"])
        gap = max((b - a for a, b in zip(ts, ts[1:])), default=0) / 1e6
        print("%s (unit %d): %d points, %d values, %d wrong%s; longest gap %.0f ms" % (
            name, d["unit"], len(ts), d["fields"], len(d["wrong"]),
            (": " + "; ".join(d["wrong"][:5])) if d["wrong"] else "", gap))
        if d["wrong"] or len(ts) < d["min"] or (d["max_gap"] is not None and gap > d["max_gap"]):
            bad = True
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
