# Alarm test helpers (source after lib.sh, mqtt_lib.sh and sf_lib.sh).
# The river source: JSON {"level_cm": x, "ts": ms} on river/<site>/level
# becomes river,site=<site> level_cm=x at ts (normalisation off: the alarm
# rules see the reading as published).

# al_config FILE OUTPUTS_JSON ALARMS_JSON [BUFFER_JSON]: sf_config's gateway
# (state dir, $SF_HTTP_PORT), plus the river rule and the alarms.
al_config() {
    sf_config "$1" "$2" "${4:-}"
    $PY - "$1" "$3" <<'PY'
import json, sys
f, alarms = sys.argv[1], sys.argv[2]
c = json.load(open(f))
c["alarms"] = json.loads(alarms)
s = c["sources"][0]
s["client_id"] = "al-gw"
s["subscriptions"] = [{"topic": "river/#", "qos": 1}, {"topic": "sf/#", "qos": 1}]
s["rules"].insert(0, {"topic": "river/{site}/level", "format": "json", "measurement": "river",
                      "json": {"time": "ts", "time_format": "ms",
                               "fields": {"level_cm": {"path": "level_cm", "type": "float"}}}})
if "http" not in c:
    c["http"] = {"enabled": False}
json.dump(c, open(f, "w"), indent=1)
PY
}

T0_MS=1700000000000
# level SITE SECONDS CM: one river reading at T0 + SECONDS.
level() {
    mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t "river/$1/level" \
        -m "{\"level_cm\":$3,\"ts\":$((T0_MS + $2 * 1000))}"
}

# events WHERE: the citygate_event rows matching WHERE, in time order, as
# "alarm state seconds-since-T0 value" lines.
events() {
    curl -fsS -G "$INFLUX_URL/query" --data-urlencode "db=city" --data-urlencode "epoch=ms" \
        --data-urlencode "q=SELECT alarm,state,value FROM citygate_event WHERE $1" | $PY -c '
import json, sys
r = json.load(sys.stdin)["results"][0]
for s in r.get("series", []):
    c = s["columns"]
    for row in s["values"]:
        d = dict(zip(c, row))
        t = (d["time"] - 1700000000000) / 1000
        print(d["alarm"], d["state"], "%g" % t, "%g" % d["value"])'
}
event_count() { events "$1" | wc -l; }
