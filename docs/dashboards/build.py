#!/usr/bin/env python3
"""citygate Grafana dashboards: every measurement, field, tag and InfluxQL
query lives in this file; the dashboard JSON files next to it are generated.

    python3 docs/dashboards/build.py          write the *.json dashboards
    python3 docs/dashboards/build.py --check  exit 1 if they are out of date

When the schema changes, edit SCHEMA (and a query if a field changed), run the
script, commit both. tests/integration/ops_dashboards.sh runs every query
against an influxd that citygate filled from the Modbus simulator, and fails
on any panel without data."""
import json
import os
import sys

# ---- the schema the dashboards read (the normalised citygate schema) --------
SCHEMA = {
    "air_quality": "air_quality",   # airq_rs485 profile
    "traffic": "traffic",           # traffic_loop profile (one point per lane, tag lane)
    "energy": "energy",             # eastron_sdm630 profile
    "water": "water",               # water_meter profile
    # No profile emits a separate `weather` measurement yet: ambient
    # temperature/humidity/pressure come with the air-quality stations.
    "weather": "air_quality",
    "device": "citygate_device",    # per-device health points from the adapters
}
TAG_DISTRICT = "district"
TAG_CORRIDOR = "corridor"
TAG_DEVICE = "device"
TAG_GATEWAY = "gateway"
TAG_LANE = "lane"

DS = {"type": "influxdb", "uid": "${DS_INFLUXDB}"}
TF = "$timeFilter"
IV = "$__interval"


def m(key):
    return '"%s"' % SCHEMA[key]


def var(name, measurement_key, tag):
    return {
        "name": name, "label": name, "type": "query", "datasource": DS,
        "query": 'SHOW TAG VALUES FROM %s WITH KEY = "%s"' % (m(measurement_key), tag),
        "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2, "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    }


def where(tag, name):
    return '%s AND "%s" =~ /^$%s$/' % (TF, tag, name)


# ---- the panels: (title, type, unit, query, alias, legend/format hints) ------
# Panel units are the schema's canonical units (docs/schema.md), which the
# normaliser converts every source to: gases ug/m3 (not ppb), power kW, water
# pressure bar, flow m3/h (Grafana has no m3/h unit: a suffix).
def air_quality():
    w = where(TAG_DISTRICT, "district")
    g = 'GROUP BY time(%s), "%s" fill(null)' % (IV, TAG_DISTRICT)
    return "citygate-air-quality", "Air quality by district", [var("district", "air_quality", TAG_DISTRICT)], [
        ("PM2.5 by district", "timeseries", "conμgm3",
         'SELECT mean("pm2_5") FROM %s WHERE %s %s' % (m("air_quality"), w, g), "$tag_district"),
        ("PM10 by district", "timeseries", "conμgm3",
         'SELECT mean("pm10") FROM %s WHERE %s %s' % (m("air_quality"), w, g), "$tag_district"),
        ("NO2 by district", "timeseries", "conμgm3",
         'SELECT mean("no2") FROM %s WHERE %s %s' % (m("air_quality"), w, g), "$tag_district"),
        ("O3 by district", "timeseries", "conμgm3",
         'SELECT mean("o3") FROM %s WHERE %s %s' % (m("air_quality"), w, g), "$tag_district"),
        ("PM2.5 now (worst station per district)", "stat", "conμgm3",
         'SELECT max("last") FROM (SELECT last("pm2_5") FROM %s WHERE %s GROUP BY "%s", "%s") GROUP BY "%s"'
         % (m("air_quality"), w, TAG_DISTRICT, TAG_DEVICE, TAG_DISTRICT), "$tag_district"),
        ("Temperature by district", "timeseries", "celsius",
         'SELECT mean("temperature") FROM %s WHERE %s %s' % (m("weather"), w, g), "$tag_district"),
        ("Relative humidity by district", "timeseries", "humidity",
         'SELECT mean("humidity") FROM %s WHERE %s %s' % (m("weather"), w, g), "$tag_district"),
    ]


def traffic():
    w = where(TAG_CORRIDOR, "corridor")
    return "citygate-traffic", "Traffic by corridor", [var("corridor", "traffic", TAG_CORRIDOR)], [
        # vehicles_total / heavy_vehicles_total are the detectors' running totals
        # per lane (schema kind count, unit count): rate per lane with
        # non_negative_derivative (which skips wraps and resets), summed per corridor
        ("Vehicles per hour by corridor", "timeseries", "short",
         'SELECT sum("vph") FROM (SELECT non_negative_derivative(max("vehicles_total"), 1h) AS "vph" FROM %s '
         'WHERE %s GROUP BY time(%s), "%s", "%s", "%s") GROUP BY time(%s), "%s" fill(null)'
         % (m("traffic"), w, IV, TAG_CORRIDOR, TAG_DEVICE, TAG_LANE, IV, TAG_CORRIDOR), "$tag_corridor"),
        ("Average speed by corridor", "timeseries", "velocitykmh",
         'SELECT mean("speed_avg") FROM %s WHERE %s GROUP BY time(%s), "%s" fill(null)'
         % (m("traffic"), w, IV, TAG_CORRIDOR), "$tag_corridor"),
        ("Lane occupancy by corridor", "timeseries", "percent",
         'SELECT mean("occupancy") FROM %s WHERE %s GROUP BY time(%s), "%s" fill(null)'
         % (m("traffic"), w, IV, TAG_CORRIDOR), "$tag_corridor"),
        ("Heavy vehicles per hour by corridor", "timeseries", "short",
         'SELECT sum("hph") FROM (SELECT non_negative_derivative(max("heavy_vehicles_total"), 1h) AS "hph" FROM %s '
         'WHERE %s GROUP BY time(%s), "%s", "%s", "%s") GROUP BY time(%s), "%s" fill(null)'
         % (m("traffic"), w, IV, TAG_CORRIDOR, TAG_DEVICE, TAG_LANE, IV, TAG_CORRIDOR), "$tag_corridor"),
    ]


def energy_water():
    w = where(TAG_DISTRICT, "district")
    g = 'GROUP BY time(%s), "%s" fill(null)' % (IV, TAG_DISTRICT)
    return "citygate-energy-water", "Energy and water use", [var("district", "energy", TAG_DISTRICT)], [
        ("Electric power by district", "timeseries", "kwatt",
         'SELECT sum("p") FROM (SELECT mean("power_total") AS "p" FROM %s WHERE %s GROUP BY time(%s), "%s", "%s") '
         '%s' % (m("energy"), w, IV, TAG_DISTRICT, TAG_DEVICE, g), "$tag_district"),
        ("Energy used in the period by district", "stat", "kwatth",
         'SELECT sum("used") FROM (SELECT spread("energy_import") AS "used" FROM %s WHERE %s GROUP BY "%s", "%s") '
         'GROUP BY "%s"' % (m("energy"), w, TAG_DISTRICT, TAG_DEVICE, TAG_DISTRICT), "$tag_district"),
        ("Water flow by district", "timeseries", "suffix:m³/h",
         'SELECT sum("q") FROM (SELECT mean("flow_rate") AS "q" FROM %s WHERE %s GROUP BY time(%s), "%s", "%s") '
         '%s' % (m("water"), w, IV, TAG_DISTRICT, TAG_DEVICE, g), "$tag_district"),
        ("Water used in the period by district", "stat", "m3",
         'SELECT sum("used") FROM (SELECT spread("volume_total") AS "used" FROM %s WHERE %s GROUP BY "%s", "%s") '
         'GROUP BY "%s"' % (m("water"), w, TAG_DISTRICT, TAG_DEVICE, TAG_DISTRICT), "$tag_district"),
        ("Water pressure by district", "timeseries", "pressurebar",
         'SELECT mean("pressure") FROM %s WHERE %s %s' % (m("water"), w, g), "$tag_district"),
    ]


def sensor_health():
    w = where(TAG_GATEWAY, "gateway")
    return "citygate-sensor-health", "Sensor health", [var("gateway", "device", TAG_GATEWAY)], [
        ("Devices: state now", "table", "none",
         'SELECT last("up") AS "up", last("quarantined") AS "quarantined", last("latency_ms") AS "latency_ms", '
         'last("consecutive_failures") AS "failures in a row", last("errors") AS "errors" FROM %s WHERE %s '
         'GROUP BY "%s", "%s"' % (m("device"), w, TAG_GATEWAY, TAG_DEVICE), None),
        ("Poll latency by device", "timeseries", "ms",
         'SELECT mean("latency_ms") FROM %s WHERE %s GROUP BY time(%s), "%s" fill(null)'
         % (m("device"), w, IV, TAG_DEVICE), "$tag_device"),
        ("Failures in a row by device", "timeseries", "short",
         'SELECT max("consecutive_failures") FROM %s WHERE %s GROUP BY time(%s), "%s" fill(null)'
         % (m("device"), w, IV, TAG_DEVICE), "$tag_device"),
    ]


def dashboard(uid, title, variables, panels):
    out = []
    for i, (ptitle, ptype, unit, query, alias) in enumerate(panels):
        w = 24 if ptype == "table" else 12
        target = {"refId": "A", "datasource": DS, "query": query, "rawQuery": True,
                  "resultFormat": "table" if ptype == "table" else "time_series"}
        if alias:
            target["alias"] = alias
        out.append({
            "id": i + 1, "type": ptype, "title": ptitle, "datasource": DS,
            "gridPos": {"h": 8, "w": w, "x": 0 if w == 24 else (i % 2) * 12, "y": (i // 2) * 8},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"]}} if ptype == "stat" else {},
            "targets": [target],
        })
    return {
        "__inputs": [{"name": "DS_INFLUXDB", "label": "InfluxDB (citygate)", "type": "datasource",
                      "pluginId": "influxdb", "pluginName": "InfluxDB"}],
        "uid": uid, "title": title, "tags": ["citygate"], "editable": True, "timezone": "browser",
        "schemaVersion": 37, "version": 1, "refresh": "1m", "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": variables}, "annotations": {"list": []}, "panels": out,
    }


FILES = {
    "air_quality.json": air_quality,
    "traffic.json": traffic,
    "energy_water.json": energy_water,
    "sensor_health.json": sensor_health,
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
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
    if stale:
        print("out of date (run docs/dashboards/build.py): " + " ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
