"""Known readings for ops_dashboards_values.sh and the numbers the dashboards
must show for them, computed here in plain Python (no InfluxQL).

    ops_dashboards_values.py payloads DIR     one JSON array per MQTT node: DIR/<topic with / as _>.json
    ops_dashboards_values.py check URL DASHDIR STATE_JSON

The past readings are hourly over two whole UTC days, W0 .. W0+48h, where W0 is
00:00 UTC three days ago: two air-quality nodes in district north, one in south
(one reading out of range), a radar reporting a running total (with a restart)
and one reporting counts per interval on corridor ring-east, an energy meter at
site school-12 and a water meter at site pump-3."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dashboards as gd  # noqa: E402

H = 3600 * 1000
DAY = 24 * H
W0 = (int(time.time() * 1000) // DAY - 3) * DAY
HOURS = range(48)
GAP_08 = range(30, 36)  # lora-08 is silent these hours


def aq07(h):
    return {"pm2_5": (10.0 if h % 2 == 0 else 30.0) if h < 24 else 10.0,
            "pm10": 60.0 if h < 24 else 40.0,
            "no2": 250.0 if h in (5, 6, 7) else 40.0,
            "o3": 140.0 if 30 <= h <= 37 else 80.0}


def aq08(h):
    return {"pm2_5": 12.0 if h < 24 else 16.0, "pm10": 20.0, "no2": 20.0, "o3": 50.0}


def aq09(h):
    return {"pm2_5": 1500.0 if h == 12 else 8.0, "pm10": 20.0, "no2": 20.0, "o3": 50.0}


def r1_total():  # running total, +100/h, a 500 hour, a 700 hour, restart at h=40
    c, out = 1000, []
    for h in HOURS:
        if h > 0:
            c = 5 if h == 40 else c + (500 if h == 8 else 700 if h == 33 else 100)
        out.append(c)
    return out


def r2_count(h):
    return 300 if h == 17 else 10 if h == 33 else 50


def energy(h):
    return 5000.0 + 2.5 * h + (7.5 if h >= 12 else 0)  # +10 kWh in hour 12, else +2.5


def water(h):
    return 100.0 + 0.75 * h


NODES = {  # topic -> hour -> reading
    "city/north/aq/lora-07": lambda h: aq07(h),
    "city/north/aq/lora-08": lambda h: None if h in GAP_08 else aq08(h),
    "city/south/aq/lora-09": lambda h: aq09(h),
    "city/north/traffic/ring-east/r-1": lambda h: {"vehicles_total": r1_total()[h]},
    "city/south/traffic/ring-east/r-2": lambda h: {"vehicles": r2_count(h)},
    "city/north/energy/school-12/em-1": lambda h: {"energy_import": energy(h), "power_total": 3.0},
    "city/south/water/pump-3/wm-1": lambda h: {"volume_total": water(h), "flow_rate": 0.75},
}


def payloads(d):
    for topic, fn in NODES.items():
        rows = []
        for h in HOURS:
            r = fn(h)
            if r is not None:
                rows.append(dict(r, ts=W0 + h * H))
        with open(os.path.join(d, topic.replace("/", "_") + ".json"), "w") as f:
            json.dump(rows, f)


# ---- the expected numbers, from the readings above ---------------------------
def mean(xs):
    return sum(xs) / len(xs)


def day_hours(day):
    return range(24 * day, 24 * day + 24)


def increases(values):
    """What each reading adds to a running total: the rise since the previous
    reading; a fall (a restart) adds nothing, as docs/dashboards.md says."""
    return [None] + [b - a if b >= a else None for a, b in zip(values, values[1:])]


FAILED = []


def expect(what, got, want, tol=1e-6):
    ok = got is not None and want is not None and abs(got - want) <= tol * max(1.0, abs(want))
    print("%s %s: got %s, want %s" % ("ok:" if ok else "FAIL:", what, got, want))
    if not ok:
        FAILED.append(what)


def one(series, **tags):
    """The single non-null value of the series whose tags match (time column skipped)."""
    vals = [v for s in series if all(s["tags"].get(k) == w for k, w in tags.items())
            for row in s["values"] for v in row[1:] if v is not None]
    return vals[0] if len(vals) == 1 else (None if not vals else ("several", vals))


def at(series, t_ms, **tags):
    for s in series:
        if all(s["tags"].get(k) == w for k, w in tags.items()):
            for row in s["values"]:
                if row[0] == t_ms:
                    return row[1]
    return None


def check(url, dash_dir, state):
    db = "city"
    aq = gd.load(os.path.join(dash_dir, "air_quality.json"))
    tr = gd.load(os.path.join(dash_dir, "traffic.json"))
    ew = gd.load(os.path.join(dash_dir, "energy_water.json"))
    sh = gd.load(os.path.join(dash_dir, "sensor_health.json"))
    frm, to = W0, W0 + 2 * DAY - 1          # the two past days, as a Grafana range
    good = state["good_marks"]               # ok, or unsynced_clock on a machine without NTP

    # -- air quality -----------------------------------------------------------
    s = gd.run_panel(url, db, aq, "24-h means by district", frm, to, values={"quality": good})
    for day in (0, 1):
        want = mean([fn(h)["pm2_5"] for fn, hs in ((aq07, HOURS), (aq08, [h for h in HOURS if h not in GAP_08]))
                     for h in hs if h in day_hours(day)])
        got = [row[s[0]["columns"].index("PM2.5")] for x in s if x["tags"] == {"district": "north"}
               for row in x["values"] if row[0] == W0 + day * DAY]
        expect("air: north PM2.5 24-h mean day %d" % (day + 1), got[0] if got else None, want)
    # the out-of-range reading (1500) is left out with quality = ok, counted with All
    s = gd.run_panel(url, db, aq, "24-h means by district", frm, to, values={"quality": good, "district": ["south"]})
    got = [r[1] for x in s for r in x["values"] if r[0] == W0]
    expect("air: south PM2.5 day 1 without the out-of-range reading", got[0] if got else None, 8.0)
    s = gd.run_panel(url, db, aq, "24-h means by district", frm, to, values={"district": ["south"]})
    got = [r[1] for x in s for r in x["values"] if r[0] == W0]
    expect("air: south PM2.5 day 1, every quality", got[0] if got else None, mean([aq09(h)["pm2_5"] for h in range(24)]))

    def days_over(fn, field, limit, hours=HOURS):
        return sum(1 for d in (0, 1) if mean([fn(h)[field] for h in day_hours(d) if h in hours]) > limit)

    ex = "PM2.5: days over the WHO 2021 24-h guideline (15 µg/m³), per station"
    s = gd.run_panel(url, db, aq, ex, frm, to, values={"quality": good})
    expect("air: PM2.5 days over WHO 15, lora-07", one(s, sensor_id="lora-07"), days_over(aq07, "pm2_5", 15))
    expect("air: PM2.5 days over WHO 15, lora-08", one(s, sensor_id="lora-08"),
           days_over(aq08, "pm2_5", 15, [h for h in HOURS if h not in GAP_08]))
    expect("air: PM2.5 days over WHO 15, lora-09 (quality ok: none)", 0 if one(s, sensor_id="lora-09") is None else -1, 0)
    s = gd.run_panel(url, db, aq, "PM10: days over the EU 2008/50 24-h limit (50 µg/m³), per station", frm, to)
    expect("air: PM10 days over EU 50, lora-07", one(s, sensor_id="lora-07"), days_over(aq07, "pm10", 50))
    s = gd.run_panel(url, db, aq, "NO2: hours over the EU 2008/50 1-h limit (200 µg/m³), per station", frm, to)
    expect("air: NO2 hours over EU 200, lora-07", one(s, sensor_id="lora-07"),
           sum(1 for h in HOURS if aq07(h)["no2"] > 200))
    s = gd.run_panel(url, db, aq, "O3: highest daily 8-h mean by district", frm, to, values={"district": ["north"]})
    o3 = [aq07(h)["o3"] for h in HOURS]
    want = max(mean(o3[h - 7:h + 1]) for h in day_hours(1))
    expect("air: O3 highest 8-h mean, north, day 2", at(s, W0 + DAY, district="north"), want)

    # worst station per district now: two MQTT nodes and a Modbus device in north
    now_frm, now_to = state["now_from_ms"], state["now_to_ms"]
    raw = gd.query(url, db, 'SELECT "pm2_5", "sensor_id" FROM "air_quality" WHERE "district" = \'north\' '
                   'AND time >= %dms AND time <= %dms' % (now_frm, now_to))
    last = {}
    for row in raw[0]["values"]:
        last[row[2]] = row[1]          # rows come in time order: the last one stays
    s = gd.run_panel(url, db, aq, "PM2.5 now (worst station per district)", now_frm, now_to)
    print("   last PM2.5 per north station: %s" % last)
    if not {"lora-07", "lora-08", "aq-north"} <= set(last):
        FAILED.append("north stations missing: %s" % sorted(last))
    expect("air: worst station now, north", one(s, district="north"), max(last.values()))
    # the query before sensor_id: MQTT nodes have no `device` tag, so both north
    # nodes fell into one group whose last reading (5) hid the worst (700)
    before = gd.query(url, db, 'SELECT max("last") FROM (SELECT last("pm2_5") FROM "air_quality" WHERE time >= %dms '
                      'AND time <= %dms GROUP BY "district", "device") GROUP BY "district"' % (now_frm, now_to))
    print("   grouped by device instead, north shows %s" % one(before, district="north"))

    # -- traffic ---------------------------------------------------------------
    inc1 = increases(r1_total())
    hourly = [(inc1[h] or 0) + r2_count(h) for h in HOURS]
    s = gd.run_panel(url, db, tr, "Vehicles per day by corridor", frm, to)
    for d in (0, 1):
        expect("traffic: ring-east vehicles day %d (total + counts)" % (d + 1), at(s, W0 + d * DAY, corridor="ring-east"),
               sum(hourly[h] for h in day_hours(d)))
    s = gd.run_panel(url, db, tr, "Peak hour by corridor (vehicles in the busiest hour of each day)", frm, to)
    for d in (0, 1):
        expect("traffic: ring-east peak hour day %d" % (d + 1), at(s, W0 + d * DAY, corridor="ring-east"),
               max(hourly[h] for h in day_hours(d)))
    s = gd.run_panel(url, db, tr, "Vehicles per day by district", frm, to)
    expect("traffic: north (running total) day 1", at(s, W0, district="north"), sum(inc1[h] or 0 for h in day_hours(0)))
    expect("traffic: south (counts) day 2", at(s, W0 + DAY, district="south"), sum(r2_count(h) for h in day_hours(1)))

    # -- energy and water ------------------------------------------------------
    s = gd.run_panel(url, db, ew, "Energy per day by site", frm, to)
    expect("energy: school-12 day 1 (MQTT meter)", at(s, W0, site="school-12"), energy(23) - energy(0))
    s = gd.run_panel(url, db, ew, "Water used in the period by site", frm, to)
    expect("water: pump-3 two days (MQTT meter)", one(s, site="pump-3"), water(47) - water(0))
    raw = gd.query(url, db, 'SELECT "energy_import" FROM "energy" WHERE "site" = \'town-hall\' '
                   'AND time >= %dms AND time <= %dms' % (now_frm, now_to))
    vals = [r[1] for r in raw[0]["values"]] if raw else []
    s = gd.run_panel(url, db, ew, "Energy used in the period by site", now_frm, now_to)
    expect("energy: town-hall now (Modbus meter, %d readings)" % len(vals), one(s, site="town-hall"),
           sum(i for i in increases(vals)[1:] if i is not None) if len(vals) > 1 else None)

    # -- completeness ----------------------------------------------------------
    s = gd.run_panel(url, db, sh, "Data completeness by district and station "
                     "(readings received x report interval / range)", frm, to + 1, values={"report_interval_s": "3600"})
    expect("completeness: lora-08 (6 of 48 hours silent)", one(s, sensor_id="lora-08"),
           100.0 * (48 - len(GAP_08)) / 48)
    expect("completeness: lora-07", one(s, sensor_id="lora-07"), 100.0)
    s = gd.run_panel(url, db, sh, "Stations: last reading (Modbus and MQTT/LoRa)", frm, to)
    expect("health: lora-08 last PM2.5 (an MQTT node in the sensor view)", one(s, sensor_id="lora-08"), aq08(47)["pm2_5"])
    s = gd.run_panel(url, db, sh, "Readings by quality mark and district", frm, to,
                     values={"quality": ["out_of_range"], "district": ["south"]})
    expect("quality: out-of-range PM2.5 readings in south", one(s, district="south", quality="out_of_range"), 1)

    # gap records: the device whose simulator was stopped, chosen through the
    # district variable (the device variable follows it)
    devs = gd.variable_values(url, db, sh, "device", {"district": ["south"]})
    print("   devices offered for district south: %s" % devs)
    if "aq-gap" not in devs or "aq-north" in devs:
        FAILED.append("device variable for south: %s" % devs)
    g = gd.query(url, db, 'SELECT "start_ns", "end_ns" FROM "citygate_gap" WHERE "device" = \'aq-gap\' AND "open" = false')
    if not g:
        FAILED.append("no closed gap for aq-gap")
    else:
        start_ns, end_ns = g[0]["values"][0][1], g[0]["values"][0][2]
        gfrm, gto = state["gap_from_ms"], state["gap_to_ms"]
        range_s = (gto - gfrm) // 1000
        s = gd.run_panel(url, db, sh, "Data completeness by source and device (from gap records)", gfrm, gto,
                         values={"device": devs})
        got = [r[s[0]["columns"].index("completeness %")] for x in s if x["tags"].get("device") == "aq-gap"
               for r in x["values"]] if s else []
        expect("completeness: aq-gap over %d s with a %.2f s gap" % (range_s, (end_ns - start_ns) / 1e9),
               got[0] if got else None, 100.0 - 100.0 * (end_ns - start_ns) / 1e9 / range_s)
    s = gd.run_panel(url, db, sh, "Gaps open now", state["gap_from_ms"], now_to)
    opened = sorted(x["tags"].get("device") for x in s)
    print("   gaps open now: %s" % opened)
    if opened != ["aq-missing"]:
        FAILED.append("gaps open now: %s, want aq-missing only" % opened)

    print("%d checks failed" % len(FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    if sys.argv[1] == "payloads":
        payloads(sys.argv[2])
    else:
        sys.exit(check(sys.argv[2], sys.argv[3], json.load(open(sys.argv[4]))))
