#!/usr/bin/env python3
"""citygate Grafana dashboards: every measurement, field, tag, limit line and
InfluxQL query lives in this file; the dashboard JSON files next to it are
generated, and docs/dashboards.md describes each panel.

    python3 docs/dashboards/build.py          write the *.json dashboards
    python3 docs/dashboards/build.py --check  exit 1 if they are out of date
    python3 docs/dashboards/build.py --urls INFLUX_URL [DB]
                                              the main panels' data, as influxd URLs

When the schema changes, edit SCHEMA (and a query if a field changed), run the
script, commit both. tests/integration/ops_dashboards.sh runs every query
against an influxd that citygate filled from the Modbus simulator (no panel
may be empty); tests/integration/ops_dashboards_values.sh checks one value of
each dashboard against numbers the test computes itself, from Modbus and MQTT
sources with known readings."""
import json
import os
import sys

# ---- the schema the dashboards read (the normalised citygate schema) --------
SCHEMA = {
    "air_quality": "air_quality",   # airq_rs485 profile, MQTT air-quality nodes
    "traffic": "traffic",           # traffic_loop profile (one point per lane, tag lane), MQTT radars
    "energy": "energy",             # eastron_sdm630 profile
    "water": "water",               # water_meter profile
    # No profile emits a separate `weather` measurement yet: ambient
    # temperature/humidity/pressure come with the air-quality stations.
    "weather": "air_quality",
    "device": "citygate_device",    # per-device health points from the adapters
    "gap": "citygate_gap",          # gap records (docs/normalise.md#gaps)
}
TAG_DISTRICT = "district"
TAG_CORRIDOR = "corridor"
TAG_SITE = "site"
# The station: one sensor or meter, whatever brought it. Modbus devices set it
# in their tags, MQTT rules take it from the topic ({sensor_id}) or the
# payload. `device` is not enough: only Modbus points carry it.
TAG_STATION = "sensor_id"
TAG_DEVICE = "device"
TAG_GATEWAY = "gateway"
TAG_LANE = "lane"
TAG_QUALITY = "quality"
# The tags that tell one running total (counter, meter register) from another:
# non_negative_difference must run inside one series, never across two meters.
COUNTER_SERIES = (TAG_STATION, TAG_DEVICE, TAG_LANE, "direction")

DS = {"type": "influxdb", "uid": "${DS_INFLUXDB}"}
TF = "$timeFilter"
IV = "$__interval"
RANGE_S = "$__range_s"   # Grafana global variable: the dashboard's time range in seconds

# ---- limit lines --------------------------------------------------------------
# WHO global air quality guidelines (2021), ISBN 978-92-4-003422-8, Table 0.1
# (AQG levels); EU Directive 2008/50/EC, Annex XI (limit values) and Annex VII
# (O3 target value). ug/m3, as the schema stores these gases.
WHO = "WHO 2021"
EU = "EU 2008/50"
LIMITS = {
    "pm2_5": [(WHO, "24-h", 15), (WHO, "annual", 5), (EU, "annual", 25)],
    "pm10": [(WHO, "24-h", 45), (WHO, "annual", 15), (EU, "24-h", 50), (EU, "annual", 40)],
    "no2": [(WHO, "24-h", 25), (WHO, "annual", 10), (EU, "1-h", 200), (EU, "annual", 40)],
    "o3": [(WHO, "peak season", 60), (WHO, "8-h", 100), (EU, "8-h target", 120)],
}
COLOURS = {WHO: "orange", EU: "red"}


def m(key):
    return '"%s"' % SCHEMA[key]


def group(*tags):
    return ", ".join('"%s"' % t for t in tags)


def var(name, measurement_keys, tag, where=None):
    """A multi-value template variable (All = .*) over a tag's values; measurement_keys:
    one key of SCHEMA, a tuple of them, or None (every measurement)."""
    if isinstance(measurement_keys, str):
        measurement_keys = (measurement_keys,)
    q = 'SHOW TAG VALUES %sWITH KEY = "%s"' % (
        "FROM %s " % ", ".join(m(k) for k in measurement_keys) if measurement_keys else "", tag)
    if where:
        q += " WHERE " + where
    return {
        "name": name, "label": name, "type": "query", "datasource": DS, "query": q,
        "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2, "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    }


def textbox(name, default, label):
    return {"name": name, "label": label, "type": "textbox", "query": default,
            "current": {"text": default, "value": default}}


def flt(tag, name=None):
    return '"%s" =~ /^$%s$/' % (tag, name or tag)


def where(*filters):
    return " AND ".join((TF,) + filters)


def thresholds(field):
    """Grafana threshold steps drawn as dashed lines, one per limit."""
    steps = [{"color": "green", "value": None}]
    for org, _, value in sorted(LIMITS[field], key=lambda x: x[2]):
        steps.append({"color": COLOURS[org], "value": value})
    return {"mode": "absolute", "steps": steps}


def limit_note(field):
    return "Lines: " + "; ".join("%s %s %g µg/m³" % (o, p, v) for o, p, v in LIMITS[field])


class P:
    """A panel: title, type, unit, queries (one per target), legend alias, extras."""

    def __init__(self, title, ptype, unit, queries, alias=None, limits=None, bars=False, desc=None):
        self.title, self.type, self.unit, self.alias = title, ptype, unit, alias
        self.queries = [queries] if isinstance(queries, str) else list(queries)
        self.limits, self.bars, self.desc = limits, bars, desc


def over_time(title, unit, agg, field, measurement_key, w, tag):
    """A time series of agg(field) per `tag`, one point per Grafana interval."""
    return P(title, "timeseries", unit, 'SELECT %s("%s") FROM %s WHERE %s GROUP BY time(%s), "%s" fill(null)'
             % (agg, field, m(measurement_key), w, IV, tag), "$tag_" + tag)


# ---- air quality -------------------------------------------------------------
AQ_FIELDS = [("pm2_5", "PM2.5"), ("pm10", "PM10"), ("no2", "NO2"), ("o3", "O3")]


def exceedances(field, label, org, period, value):
    """Days (or hours) on which a station's mean was over a limit, per station."""
    gt = "1d" if period == "24-h" else "1h"
    what = "days" if gt == "1d" else "hours"
    q = ('SELECT count("v") AS "%s over %g" FROM (SELECT mean("%s") AS "v" FROM %s WHERE %s '
         'GROUP BY time(%s), %s) WHERE "v" > %g GROUP BY %s'
         % (what, value, field, m("air_quality"), where(flt(TAG_DISTRICT), flt(TAG_QUALITY)), gt,
            group(TAG_DISTRICT, TAG_STATION), value, group(TAG_DISTRICT, TAG_STATION)))
    return P("%s: %s over the %s %s %s (%g µg/m³), per station" % (label, what, org, period, "guideline"
             if org == WHO else "limit", value), "table", "none", q)


def air_quality():
    w = where(flt(TAG_DISTRICT), flt(TAG_QUALITY))
    g = 'GROUP BY time(%s), "%s" fill(null)' % (IV, TAG_DISTRICT)
    panels = [P("%s by district" % label, "timeseries", "conμgm3",
                'SELECT mean("%s") FROM %s WHERE %s %s' % (f, m("air_quality"), w, g), "$tag_district",
                limits=f, desc=limit_note(f)) for f, label in AQ_FIELDS]
    panels += [
        P("24-h means by district", "timeseries", "conμgm3",
          'SELECT mean("pm2_5") AS "PM2.5", mean("pm10") AS "PM10", mean("no2") AS "NO2" FROM %s WHERE %s '
          'GROUP BY time(1d), "%s" fill(none)' % (m("air_quality"), w, TAG_DISTRICT),
          "$tag_district $col", bars=True,
          desc="Daily (UTC) mean of all readings in the district; compare with the 24-h lines above."),
        P("O3: highest daily 8-h mean by district", "timeseries", "conμgm3",
          'SELECT max("o3_8h") FROM (SELECT moving_average(mean("o3"), 8) AS "o3_8h" FROM %s WHERE %s '
          'GROUP BY time(1h), %s) GROUP BY time(1d), "%s" fill(none)'
          % (m("air_quality"), w, group(TAG_DISTRICT, TAG_STATION), TAG_DISTRICT),
          "$tag_district", limits="o3", bars=True, desc=limit_note("o3")),
        P("PM2.5 now (worst station per district)", "stat", "conμgm3",
          'SELECT max("last") FROM (SELECT last("pm2_5") FROM %s WHERE %s GROUP BY %s) GROUP BY "%s"'
          % (m("air_quality"), w, group(TAG_DISTRICT, TAG_STATION), TAG_DISTRICT), "$tag_district"),
        exceedances("pm2_5", "PM2.5", WHO, "24-h", 15),
        exceedances("pm10", "PM10", WHO, "24-h", 45),
        exceedances("pm10", "PM10", EU, "24-h", 50),
        exceedances("no2", "NO2", WHO, "24-h", 25),
        exceedances("no2", "NO2", EU, "1-h", 200),
        P("Temperature by district", "timeseries", "celsius",
          'SELECT mean("temperature") FROM %s WHERE %s %s' % (m("weather"), w, g), "$tag_district"),
        P("Relative humidity by district", "timeseries", "humidity",
          'SELECT mean("humidity") FROM %s WHERE %s %s' % (m("weather"), w, g), "$tag_district"),
    ]
    return "citygate-air-quality", "Air quality by district", [
        var("district", "air_quality", TAG_DISTRICT), var("quality", "air_quality", TAG_QUALITY)], panels


# ---- traffic -----------------------------------------------------------------
def vehicles(field_total, field_interval, tag, w):
    """The vehicles each reading adds, as field "n", from both kinds of source:
    a detector's running total (the increase since its previous reading; a wrap
    or restart gives a negative difference, which is skipped) and a count per
    interval (as it is). A detector reports one or the other (docs/schema.md)."""
    a = ('SELECT non_negative_difference("%s") AS "n" FROM %s WHERE %s GROUP BY %s'
         % (field_total, m("traffic"), w, group(tag, *COUNTER_SERIES)))
    b = 'SELECT "%s" AS "n" FROM %s WHERE %s GROUP BY "%s"' % (field_interval, m("traffic"), w, tag)
    return "(%s), (%s)" % (a, b)


def traffic():
    panels = []
    for tag in (TAG_CORRIDOR, TAG_DISTRICT):
        w = where(flt(tag), flt(TAG_QUALITY))
        src = vehicles("vehicles_total", "vehicles", tag, w)
        hsrc = vehicles("heavy_vehicles_total", "heavy_vehicles", tag, w)
        panels += [
            P("Vehicles per day by %s" % tag, "timeseries", "short",
              'SELECT sum("n") FROM %s GROUP BY time(1d), "%s" fill(none)' % (src, tag), "$tag_%s" % tag, bars=True),
            P("Peak hour by %s (vehicles in the busiest hour of each day)" % tag, "timeseries", "short",
              'SELECT max("h") FROM (SELECT sum("n") AS "h" FROM %s GROUP BY time(1h), "%s") GROUP BY time(1d), "%s" fill(none)'
              % (src, tag, tag), "$tag_%s" % tag, bars=True),
            P("Vehicles per hour by %s" % tag, "timeseries", "short",
              'SELECT sum("n") FROM %s GROUP BY time(1h), "%s" fill(none)' % (src, tag), "$tag_%s" % tag),
            P("Heavy vehicles per day by %s" % tag, "timeseries", "short",
              'SELECT sum("n") FROM %s GROUP BY time(1d), "%s" fill(none)' % (hsrc, tag), "$tag_%s" % tag, bars=True),
        ]
    w = where(flt(TAG_CORRIDOR), flt(TAG_QUALITY))
    panels += [
        over_time("Average speed by corridor", "velocitykmh", "mean", "speed_avg", "traffic", w, TAG_CORRIDOR),
        over_time("Lane occupancy by corridor", "percent", "mean", "occupancy", "traffic", w, TAG_CORRIDOR),
    ]
    return "citygate-traffic", "Traffic by corridor and district", [
        var("corridor", "traffic", TAG_CORRIDOR), var("district", "traffic", TAG_DISTRICT),
        var("quality", "traffic", TAG_QUALITY)], panels


# ---- energy and water --------------------------------------------------------
def used(field, meas, w, outer_group):
    """What a meter register (energy_import, volume_total) advanced, summed per site."""
    return ('SELECT sum("n") FROM (SELECT non_negative_difference("%s") AS "n" FROM %s WHERE %s GROUP BY %s) %s'
            % (field, m(meas), w, group(TAG_SITE, *COUNTER_SERIES), outer_group))


def energy_water():
    w = where(flt(TAG_SITE), flt(TAG_DISTRICT), flt(TAG_QUALITY))
    g = 'GROUP BY time(%s), "%s" fill(null)' % (IV, TAG_SITE)
    per_day = 'GROUP BY time(1d), "%s" fill(none)' % TAG_SITE
    period = 'GROUP BY "%s"' % TAG_SITE
    panels = [
        P("Electric power by site", "timeseries", "kwatt",
          'SELECT sum("p") FROM (SELECT mean("power_total") AS "p" FROM %s WHERE %s GROUP BY time(%s), %s) %s'
          % (m("energy"), w, IV, group(TAG_SITE, *COUNTER_SERIES), g), "$tag_site"),
        P("Energy per day by site", "timeseries", "kwatth", used("energy_import", "energy", w, per_day),
          "$tag_site", bars=True),
        P("Energy used in the period by site", "stat", "kwatth", used("energy_import", "energy", w, period),
          "$tag_site"),
        P("Water flow by site", "timeseries", "suffix:m³/h",
          'SELECT sum("q") FROM (SELECT mean("flow_rate") AS "q" FROM %s WHERE %s GROUP BY time(%s), %s) %s'
          % (m("water"), w, IV, group(TAG_SITE, *COUNTER_SERIES), g), "$tag_site"),
        P("Water per day by site", "timeseries", "m3", used("volume_total", "water", w, per_day),
          "$tag_site", bars=True),
        P("Water used in the period by site", "stat", "m3", used("volume_total", "water", w, period), "$tag_site"),
        P("Water pressure by site", "timeseries", "pressurebar",
          'SELECT mean("pressure") FROM %s WHERE %s %s' % (m("water"), w, g), "$tag_site"),
    ]
    return "citygate-energy-water", "Energy and water by site", [
        var("site", ("energy", "water"), TAG_SITE),
        var("district", "energy", TAG_DISTRICT), var("quality", "energy", TAG_QUALITY)], panels


# ---- sensor health and data completeness --------------------------------------
# The readings that say a station reported, per measurement (one field each).
PRESENCE = [("air_quality", "pm2_5"), ("traffic", "vehicles_total"), ("traffic", "vehicles"),
            ("energy", "energy_import"), ("water", "volume_total")]


def sensor_health():
    wd = where(flt(TAG_GATEWAY), flt(TAG_DEVICE))
    ws = where(flt(TAG_DISTRICT), flt(TAG_QUALITY))
    presence = ['SELECT count("%s") * $report_interval_s * 100 / %s AS "completeness %%" FROM %s WHERE %s '
                'GROUP BY %s' % (f, RANGE_S, m(k), ws, group(TAG_DISTRICT, TAG_STATION)) for k, f in PRESENCE]
    panels = [
        P("Devices: state now", "table", "none",
          'SELECT last("up") AS "up", last("quarantined") AS "quarantined", last("latency_ms") AS "latency_ms", '
          'last("consecutive_failures") AS "failures in a row", last("errors") AS "errors" FROM %s WHERE %s '
          'GROUP BY %s' % (m("device"), wd, group(TAG_GATEWAY, "source", TAG_DEVICE))),
        P("Data completeness by source and device (from gap records)", "table", "percent",
          'SELECT 100 - 100 * sum("duration_s") / %s AS "completeness %%", count("duration_s") AS "gaps", '
          'sum("duration_s") AS "down (s)" FROM %s WHERE %s AND "scope" = \'device\' GROUP BY %s'
          % (RANGE_S, m("gap"), wd, group("source", TAG_DEVICE)),
          desc="Closed gaps that started in the range; a device without a row had no gap. Open gaps: next panel."),
        P("Gaps open now", "table", "none",
          'SELECT "start_ns", "cause" FROM (SELECT last("start_ns") AS "start_ns", last("open") AS "open" FROM %s '
          'WHERE %s GROUP BY %s) WHERE "open" = true GROUP BY %s'
          % (m("gap"), wd, group("scope", "source", TAG_DEVICE, "cause"), group("scope", "source", TAG_DEVICE, "cause"))),
        P("Data completeness by district and station (readings received x report interval / range)", "table",
          "percent", presence,
          desc="Every station, Modbus or MQTT/LoRa: readings in the range times the expected report "
               "interval ($report_interval_s), as a share of the range."),
        P("Stations: last reading (Modbus and MQTT/LoRa)", "table", "none",
          ['SELECT last("%s") AS "%s" FROM %s WHERE %s GROUP BY %s'
           % (f, f, m(k), ws, group(TAG_DISTRICT, TAG_STATION)) for k, f in PRESENCE]),
        P("Readings by quality mark and district", "table", "none",
          ['SELECT count("%s") AS "%s" FROM %s WHERE %s GROUP BY %s'
           % (f, f, m(k), ws, group(TAG_DISTRICT, TAG_QUALITY)) for k, f in PRESENCE]),
        over_time("Poll latency by device", "ms", "mean", "latency_ms", "device", wd, TAG_DEVICE),
        over_time("Failures in a row by device", "short", "max", "consecutive_failures", "device", wd, TAG_DEVICE),
    ]
    return "citygate-sensor-health", "Sensor health and data completeness", [
        var("gateway", "device", TAG_GATEWAY),
        var("district", None, TAG_DISTRICT),
        # the devices of the chosen districts (Modbus devices carry both tags),
        # so the gap and device panels follow the district choice
        var("device", None, TAG_DEVICE, '"%s" =~ /^$district$/' % TAG_DISTRICT),
        var("quality", "air_quality", TAG_QUALITY),
        textbox("report_interval_s", "60", "expected report interval (s)"),
    ], panels


# The panels whose data URL scripts/demo prints (build.py --urls).
MAIN = {
    "citygate-air-quality": ["24-h means by district", "PM2.5 now (worst station per district)",
                             "PM2.5: days over the WHO 2021 24-h guideline (15 µg/m³), per station"],
    "citygate-traffic": ["Vehicles per day by corridor", "Peak hour by corridor (vehicles in the busiest hour of each day)",
                         "Vehicles per day by district"],
    "citygate-energy-water": ["Energy per day by site", "Water per day by site"],
    "citygate-sensor-health": ["Data completeness by district and station (readings received x report interval / range)",
                               "Data completeness by source and device (from gap records)", "Devices: state now"],
}


def urls(influx, db, hours=24):
    """Each main panel's query as an influxd /query URL over the last `hours`,
    with every variable on All, as Grafana sends it for a relative range."""
    import urllib.parse
    out = []
    for name, fn in FILES.items():
        uid, title, variables, panels = fn()
        out.append("%s (%s)" % (title, name))
        for p in panels:
            if p.title not in MAIN[uid]:
                continue
            q = p.queries[0].replace(TF, "time >= now() - %dh" % hours).replace(IV, "5m")
            q = q.replace(RANGE_S, str(hours * 3600))
            for v in sorted(variables, key=lambda v: -len(v["name"])):
                q = q.replace("$" + v["name"], v["query"] if v["type"] == "textbox" else v["allValue"])
            out.append("  %s\n    %s/query?%s" % (p.title, influx, urllib.parse.urlencode({"db": db, "q": q})))
    return out


def dashboard(uid, title, variables, panels):
    out = []
    for i, p in enumerate(panels):
        w = 24 if p.type == "table" else 12
        targets = []
        for k, q in enumerate(p.queries):
            t = {"refId": chr(ord("A") + k), "datasource": DS, "query": q, "rawQuery": True,
                 "resultFormat": "table" if p.type == "table" else "time_series"}
            if p.alias:
                t["alias"] = p.alias
            targets.append(t)
        defaults = {"unit": p.unit}
        custom = {}
        if p.limits:
            defaults["thresholds"] = thresholds(p.limits)
            custom["thresholdsStyle"] = {"mode": "dashed"}
        if p.bars:
            custom["drawStyle"] = "bars"
        if custom:
            defaults["custom"] = custom
        panel = {
            "id": i + 1, "type": p.type, "title": p.title, "datasource": DS,
            "gridPos": {"h": 8, "w": w, "x": 0 if w == 24 else (i % 2) * 12, "y": i * 8},
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"]}} if p.type == "stat" else {},
            "targets": targets,
        }
        if p.desc:
            panel["description"] = p.desc
        out.append(panel)
    return {
        "__inputs": [{"name": "DS_INFLUXDB", "label": "InfluxDB (citygate)", "type": "datasource",
                      "pluginId": "influxdb", "pluginName": "InfluxDB"}],
        "uid": uid, "title": title, "tags": ["citygate"], "editable": True, "timezone": "utc",
        "schemaVersion": 37, "version": 1, "refresh": "1m", "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": variables}, "annotations": {"list": []}, "panels": out,
    }


FILES = {
    "air_quality.json": air_quality,
    "traffic.json": traffic,
    "energy_water.json": energy_water,
    "sensor_health.json": sensor_health,
}


BEGIN = "<!-- BEGIN GENERATED by docs/dashboards/build.py -->"
END = "<!-- END GENERATED -->"


def reference():
    """The panel reference in docs/dashboards.md: every panel and its query."""
    out = [BEGIN]
    for name, fn in FILES.items():
        uid, title, variables, panels = fn()
        out += ["", "### %s (`%s`)" % (title, name), "",
                "Variables: " + ", ".join("`$%s` (%s)" % (v["name"], "`" + v["query"] + "`" if v["type"] == "query"
                                                           else "text, default " + v["query"]) for v in variables), ""]
        for p in panels:
            out.append("- **%s** (%s%s)%s" % (p.title, p.type, ", " + p.unit if p.unit != "none" else "",
                                              ". " + p.desc if p.desc else ""))
            if p.limits:
                out.append("  Limit lines: " + "; ".join("%s %s %g µg/m³" % x for x in LIMITS[p.limits]) + ".")
            for q in p.queries:
                out.append("  `%s`" % q)
    out += ["", END]
    return "\n".join(out) + "\n"


def update_md(path, check):
    text = open(path, encoding="utf-8").read()
    a, b = text.index(BEGIN), text.index(END) + len(END) + 1
    new = text[:a] + reference() + text[b:]
    if check:
        return new == text
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)
    return True


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.argv[1:2] == ["--urls"]:
        print("\n".join(urls(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "city")))
        return 0
    check = "--check" in sys.argv[1:]
    stale = []
    for name, fn in FILES.items():
        text = json.dumps(dashboard(*fn()), indent=2, ensure_ascii=False) + "\n"
        path = os.path.join(here, name)
        if check:
            if not os.path.exists(path) or open(path, encoding="utf-8").read() != text:
                stale.append(name)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    md = os.path.join(here, "..", "dashboards.md")
    if not update_md(md, check):
        stale.append("docs/dashboards.md")
    if stale:
        print("out of date (run docs/dashboards/build.py): " + " ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
