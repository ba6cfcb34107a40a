#!/usr/bin/python3
"""The config's JSON Schema (issue 14), generated from the option tables:

1. config/citygate.schema.json is exactly what `citygate --print-schema`
   writes (no drift), and is a valid draft 2020-12 schema;
2. the example config and every config in the docs (the blocks
   doc_configs.py checks, completed the same way) validate against it;
3. the schema and `citygate --check-config` agree on a base config (both
   accept it) and on every bad config below (both reject it; citygate names
   the exact path and problem).

usage: config_schema.py CITYGATE SRC_DIR TMPDIR"""
import copy
import json
import os
import subprocess
import sys

import jsonschema

CITYGATE, SRC, TMP = sys.argv[1:4]
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import doc_configs  # noqa: E402  (reads the same argv: CITYGATE SRC TMP)

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def check_config(conf, name):
    path = os.path.join(TMP, name + ".json")
    with open(path, "w") as fh:
        json.dump(conf, fh, indent=1)
    r = subprocess.run([CITYGATE, "--check-config", path], capture_output=True, text=True)
    return r.returncode, r.stderr


# 1. no drift
r = subprocess.run([CITYGATE, "--print-schema"], capture_output=True, text=True)
committed = open(os.path.join(SRC, "config", "citygate.schema.json"), encoding="utf-8").read()
if r.returncode != 0 or r.stdout != committed:
    fail("config/citygate.schema.json differs from `citygate --print-schema` (exit %d): regenerate it with "
         "citygate --print-schema > config/citygate.schema.json" % r.returncode)
    sys.exit(1)
schema = json.loads(committed)
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
print("ok: committed schema == --print-schema, a valid draft 2020-12 schema")

# 2. the example and every doc config validate
example = json.load(open(os.path.join(SRC, "config", "citygate.example.json"), encoding="utf-8"))
if example.get("$schema") != "file:///usr/share/citygate/citygate.schema.json":
    fail("config/citygate.example.json does not reference the installed schema with \"$schema\"")
errs = sorted(validator.iter_errors(example), key=lambda e: list(e.absolute_path))
for e in errs:
    fail("citygate.example.json: %s: %s" % ("/".join(map(str, e.absolute_path)), e.message))
n = 1
for f, line, text, mark in doc_configs.blocks():
    workdir = os.path.join(TMP, "doc-%s-%d" % (f.replace("/", "_"), line))
    os.makedirs(workdir)
    conf = doc_configs.build(text, mark, workdir)
    if conf is None:
        continue
    n += 1
    for e in validator.iter_errors(conf):
        fail("%s:%d: %s: %s" % (f, line, "/".join(map(str, e.absolute_path)), e.message))
print("ok: %d configs (example + docs) checked against the schema" % n)

# 3. agreement on bad configs
STATE = os.path.join(TMP, "state")
BASE = {
    "$schema": "file:///usr/share/citygate/citygate.schema.json",
    "gateway": {"id": "schema-test", "state_dir": STATE},
    "buffer": {"mode": "memory"},
    "tags": {"city": "ghent"},
    "outputs": [{"type": "influxdb_v1", "url": "http://127.0.0.1:8086", "database": "city"}],
    "sources": [{"type": "mqtt", "name": "m", "url": "tcp://127.0.0.1:1883",
                 "rules": [{"topic": "t/+", "format": "value", "measurement": "air_quality",
                            "value": {"field": "pm2_5"}}],
                 "normalise": {"rename": {"PM25": "pm2_5"}}}],
}


def setp(conf, path, value):
    """path: list of keys/indexes; value DELETE removes the key."""
    node = conf
    for k in path[:-1]:
        node = node.setdefault(k, {}) if isinstance(node, dict) else node[k]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value


DELETE = object()
BAD = [
    # (what, path, value, citygate's error line, exactly as printed, without the location)
    ("bad enum name", ["gateway", "log_level"], "loud",
     "gateway.log_level: must be one of error, warn, info, debug; got 'loud'"),
    ("enum name with a typo", ["buffer", "fsync"], "alway",
     "buffer.fsync: must be one of always, interval, never; got 'alway' (did you mean 'always'?)"),
    ("below minimum", ["gateway", "backpressure_wait_ms"], -1, "gateway.backpressure_wait_ms: must be 0..600000, got -1"),
    ("above maximum", ["buffer", "fsync_interval_ms"], 600001, "buffer.fsync_interval_ms: must be 1..600000, got 600001"),
    ("string for an integer", ["gateway", "drain_timeout_ms"], "10", "gateway.drain_timeout_ms: must be an integer"),
    ("fraction for an integer", ["buffer", "segment_bytes"], 8192.5, "buffer.segment_bytes: must be an integer"),
    ("string for a boolean", ["gateway", "gap_records"], "yes", "gateway.gap_records: must be true or false"),
    ("unknown gateway key", ["gateway", "log_levle"], "info",
     "gateway.log_levle: unknown key (did you mean 'log_level'?)"),
    ("unknown top-level key", ["output"], [], "output: unknown key (did you mean 'outputs'?)"),
    ("section not an object", ["http"], "on", "http: must be an object"),
    ("outputs missing", ["outputs"], DELETE, "outputs: missing (at least one output is required)"),
    ("outputs empty", ["outputs"], [], "outputs: must be a non-empty array"),
    ("output without type", ["outputs", 0, "type"], DELETE, "outputs[0].type: missing (required)"),
    ("unknown output type", ["outputs", 0, "type"], "graphite",
     "outputs[0].type: must be one of influxdb_v1, influxdb_v2, mqtt; got 'graphite'"),
    ("output missing url", ["outputs", 0, "url"], DELETE, "outputs[0].url: missing (required)"),
    ("unknown output key", ["outputs", 0, "gzp"], True, "outputs[0].gzp: unknown key (did you mean 'gzip'?)"),
    ("output enum", ["outputs", 0, "precision"], "sec",
     "outputs[0].precision: must be one of ns, us, ms, s; got 'sec' (did you mean 's'?)"),
    ("http out of range", ["http", "max_connections"], 1, "http.max_connections: must be 2..1024, got 1"),
    ("empty secret", ["http", "token"], "", "http.token: must not be empty; leave the key out for none"),
    ("normalise enum", ["normalise", "schema_policy"], "closed",
     "normalise.schema_policy: must be one of open, strict; got 'closed'"),
    ("normalise map value range", ["normalise", "max_tag_values_by_measurement"], {"traffic": 0},
     "normalise.max_tag_values_by_measurement.traffic: must be 1..1000000, got 0"),
    ("normalise nested object enum", ["normalise", "quantities"], {"air_quality.pm2_5": {"out_of_range": "maybe"}},
     "normalise.quantities.air_quality.pm2_5.out_of_range: must be one of inherit, mark, drop; got 'maybe'"),
    ("tag value not a string", ["tags", "city"], 5, "tags.city: must be a string"),
    ("sources not an array", ["sources"], {}, "sources: must be an array"),
    ("source without type", ["sources", 0, "type"], DELETE, "sources[0].type: missing (required)"),
    ("unknown source type", ["sources", 0, "type"], "zigbee",
     "sources[0].type: unknown source type 'zigbee' (this build has: exec, modbus, mqtt)"),
    ("source name empty", ["sources", 0, "name"], "", "sources[0].name: must be a non-empty string"),
    ("source normalise map value", ["sources", 0, "normalise", "rename"], {"PM25": 25},
     "sources[0].normalise.rename.PM25: must be a string"),
    ("source normalise unknown key", ["sources", 0, "normalise", "renmae"], {},
     "sources[0].normalise.renmae: unknown key (did you mean 'rename'?)"),
    ("source normalise array enum", ["sources", 0, "normalise", "aggregates"], ["median"],
     "sources[0].normalise.aggregates[0]: must be one of mean, min, max, count (did you mean 'mean'?)"),
    ("source normalise map number", ["sources", 0, "normalise", "deadband"], {"pm2_5": -1},
     "sources[0].normalise.deadband.pm2_5: must be at least 0, got -1"),
]

rc, err = check_config(BASE, "base")
base_errs = list(validator.iter_errors(BASE))
if rc != 0 or base_errs:
    fail("the base config must pass both: --check-config exit %d %s; schema: %s" %
         (rc, err.strip(), [e.message for e in base_errs]))
else:
    print("ok: base config accepted by --check-config and the schema")
for i, (what, path, value, want) in enumerate(BAD):
    conf = copy.deepcopy(BASE)
    setp(conf, path, value)
    rc, err = check_config(conf, "bad%02d" % i)
    lines = [ln.strip() for ln in err.splitlines()]
    said = any(ln == want or ln.startswith(want + " (line ") or ln.startswith(want + " (in the object") for ln in lines)
    schema_errs = list(validator.iter_errors(conf))
    if rc != 1 or not said:
        fail("%s: --check-config exit %d, want 1 with '%s'; said:\n%s" % (what, rc, want, err.rstrip()))
    if not schema_errs:
        fail("%s: the schema accepts it, --check-config says '%s'" % (what, want))
    if rc == 1 and said and schema_errs:
        print("ok: both reject: %s (%s; schema: %s)" % (what, want, schema_errs[0].message[:80]))
print("%d bad configs, %d failures" % (len(BAD), len(failures)))
sys.exit(1 if failures else 0)
