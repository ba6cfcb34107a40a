#!/usr/bin/python3
"""Checks the points citygate emitted (line protocol, from --dry-run) against
the registers of tests/integration/modbus_faulty.py: field rN of a device with
unit id U must be (U * 1000 + N) & 0xffff, always.

usage: modbus_lp_check.py LPFILE DEVICE=UNIT[:MIN_POINTS[:MAX_GAP_MS]] ...
Prints per device: points, wrong values (expected vs stored), longest gap
between two points; exits 1 when any value is wrong, or a device has fewer
points or a longer gap than asked for."""
import re
import sys

LINE = re.compile(r"^([^, ]+),(\S*) (\S+) (\d+)$")


def main():
    lp, wants = sys.argv[1], sys.argv[2:]
    devs = {}
    for w in wants:
        name, rest = w.split("=")
        parts = rest.split(":") + [None, None]
        devs[name] = {"unit": int(parts[0]), "min": int(parts[1] or 0),
                      "max_gap": int(parts[2]) if parts[2] else None, "ts": [], "wrong": [], "fields": 0}
    for line in open(lp, errors="replace"):
        m = LINE.match(line.strip())
        if not m or m.group(1) == "citygate_device":
            continue
        tags = dict(t.split("=", 1) for t in m.group(2).split(",") if "=" in t)
        d = devs.get(tags.get("device"))
        if d is None:
            continue
        d["ts"].append(int(m.group(4)))
        for kv in m.group(3).split(","):
            k, v = kv.split("=", 1)
            if not re.fullmatch(r"r\d+", k):
                continue
            want = (d["unit"] * 1000 + int(k[1:])) & 0xFFFF
            got = int(v.rstrip("i")) if v.endswith("i") else float(v)
            d["fields"] += 1
            if got != want:
                d["wrong"].append("%s expected %d stored %s" % (k, want, v))
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
