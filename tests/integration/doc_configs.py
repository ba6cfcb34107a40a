#!/usr/bin/python3
"""Every ```json block in README.md and docs/*.md is checked with
`citygate --check-config` (issue 11: every config in the docs is a test).

An unmarked block must be a whole config. A block that is not is marked by an
HTML comment on the line before its fence (invisible when rendered):

  <!-- fragment: output -->   one element of "outputs"
  <!-- fragment: source -->   one element of "sources"
  <!-- fragment: keys -->     top-level keys (an object, or `"k": v` members),
                              merged into a minimal whole config
  <!-- fragment: source-keys TYPE --> members of a source object of TYPE
  <!-- fragment: profile -->  a Modbus device profile file
  <!-- fragment: payload -->  not a config (a message): must only be JSON

Fragments are completed into a minimal whole config: a source lacking keys a
source of its type needs (url, rules, host, devices) gets them from a
template, never replacing what the block says. Files the block names are
provided: paths under /etc/citygate and /var/lib/citygate are moved into a
temp dir, every `*_file` gets a secret file, every profile_dirs entry the
repository's profiles, and every ${VAR} a value.

usage: doc_configs.py CITYGATE SRC_DIR TMPDIR
Exit 1 naming file:line of every block that fails, with citygate's errors."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys

CITYGATE, SRC, TMP = sys.argv[1:4]
PROFILES = os.path.join(SRC, "config", "profiles")
MOVED = ("/etc/citygate", "/var/lib/citygate")

SOURCE_TEMPLATES = {
    "mqtt": {"url": "tcp://127.0.0.1:1883",
             "rules": [{"topic": "doc/{district}/value", "format": "value", "measurement": "air_quality",
                        "value": {"field": "pm2_5"}}]},
    "modbus": {"transport": "tcp", "host": "127.0.0.1",
               "devices": [{"name": "m1", "unit_id": 1, "profile": "eastron_sdm630"}]},
}
OUTPUT = {"type": "influxdb_v1", "url": "http://127.0.0.1:8086", "database": "city"}


def minimal(workdir):
    return {"gateway": {"id": "doc", "state_dir": os.path.join(workdir, "state")}, "outputs": [dict(OUTPUT)]}


def complete_source(src):
    t = SOURCE_TEMPLATES.get(src.get("type"), {})
    for k, v in t.items():
        src.setdefault(k, json.loads(json.dumps(v)))
    return src


def blocks():
    for f in ["README.md"] + sorted(glob.glob(os.path.join("docs", "*.md"))):
        lines = open(os.path.join(SRC, f), encoding="utf-8").read().split("\n")
        i = 0
        while i < len(lines):
            if lines[i].strip() == "```json":
                j = i + 1
                while j < len(lines) and lines[j].strip() != "```":
                    j += 1
                mark = None
                k = i - 1
                while k >= 0 and lines[k].strip() == "":
                    k -= 1
                m = re.match(r"\s*<!--\s*fragment:\s*([a-z-]+)(?:\s+(\S+))?\s*-->", lines[k]) if k >= 0 else None
                if m:
                    mark = (m.group(1), m.group(2))
                yield f, i + 1, "\n".join(lines[i + 1:j]), mark
                i = j
            i += 1


def provide(node, workdir, key=None):
    """Moves system paths into workdir and creates the files a config names."""
    if isinstance(node, dict):
        return {k: provide(v, workdir, k) for k, v in node.items()}
    if isinstance(node, list):
        return [provide(v, workdir, key) for v in node]
    if isinstance(node, str):
        s = node
        for p in MOVED:
            if s == p or s.startswith(p + "/"):
                s = workdir + s
        if key and key.endswith("_file"):
            os.makedirs(os.path.dirname(s) or ".", exist_ok=True)
            with open(s, "w") as fh:
                fh.write("doc-secret-0123456789abcdef\n")
            os.chmod(s, 0o600)
        if key == "profile_dirs" and not os.path.isdir(s):
            shutil.copytree(PROFILES, s)
        return s
    return node


def build(text, mark, workdir):
    """The whole config (dict) a block stands for, or None for a payload."""
    kind, arg = mark if mark else ("whole", None)
    if kind == "payload":
        json.loads(text if text.lstrip()[:1] in "[{" else "{" + text + "}")
        return None
    if kind in ("keys", "source-keys") and text.lstrip()[:1] != "{":
        text = "{" + text + "}"
    block = json.loads(text)
    if kind == "whole":
        return block
    conf = minimal(workdir)
    if kind == "output":
        conf["outputs"] = [block]
    elif kind == "source":
        conf["sources"] = [complete_source(block)]
    elif kind == "source-keys":
        conf["sources"] = [complete_source(dict({"type": arg, "name": "doc"}, **block))]
    elif kind == "keys":
        conf.update(block)
        conf["sources"] = [complete_source(s) if isinstance(s, dict) else s for s in conf.get("sources", [])]
    elif kind == "profile":
        name = block.get("profile", "doc_profile")
        os.makedirs(os.path.join(workdir, "profiles"), exist_ok=True)
        with open(os.path.join(workdir, "profiles", name + ".json"), "w") as fh:
            fh.write(text)
        conf["sources"] = [complete_source({"type": "modbus", "name": "doc",
                                            "devices": [{"name": "d1", "unit_id": 1, "profile": name}]})]
    else:
        raise ValueError("unknown fragment kind '%s'" % kind)
    return conf


def main():
    failures, n = [], 0
    for f, line, text, mark in blocks():
        n += 1
        workdir = os.path.join(TMP, "%s-%d" % (f.replace("/", "_"), line))
        os.makedirs(workdir)
        # a site's own profiles are looked up in <config dir>/profiles first
        shutil.copytree(PROFILES, os.path.join(workdir, "profiles"))
        where = "%s:%d (```json block%s)" % (f, line, ", fragment: %s" % " ".join(x for x in mark if x) if mark else "")
        try:
            conf = build(text, mark, workdir)
        except ValueError as e:  # json.JSONDecodeError is a ValueError
            failures.append("%s: not valid JSON for its kind: %s" % (where, e))
            continue
        if conf is None:
            print("ok: %s: payload, valid JSON" % where)
            continue
        conf = provide(conf, workdir)
        path = os.path.join(workdir, "citygate.json")
        with open(path, "w") as fh:
            json.dump(conf, fh, indent=1)
        env = dict(os.environ)
        for var in set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text)):
            env.setdefault(var, "doc-value")
        r = subprocess.run([CITYGATE, "--check-config", path], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            failures.append("%s: citygate --check-config exit %d:\n%s" % (where, r.returncode, r.stderr.rstrip()))
        else:
            print("ok: %s" % where)
    for msg in failures:
        print("FAIL: " + msg, file=sys.stderr)
    print("%d blocks, %d failing" % (n, len(failures)))
    if n == 0:
        print("FAIL: no ```json block found", file=sys.stderr)
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
