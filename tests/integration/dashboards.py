"""Run Grafana dashboards' InfluxQL the way Grafana does (tests only).

Grafana's InfluxDB data source replaces, before it sends a query:
  $timeFilter          time >= <from>ms and time <= <to>ms
  $__interval          the auto interval (here: given by the test)
  $__range_s           the dashboard range in seconds (a global variable)
  $name                a template variable; inside a regex, a multi-value
                       selection becomes (a|b), "All" the variable's allValue,
                       values regex-escaped
"""
import json
import re
import urllib.error
import urllib.parse
import urllib.request


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def panel(dash, title):
    for p in dash["panels"]:
        if p["title"] == title:
            return p
    raise KeyError("no panel %r in %s" % (title, dash["title"]))


def render(q, dash, frm_ms, to_ms, interval="1m", values=None):
    """values: {variable: "All" | [value, ...] | "text"}; missing query variables are All."""
    values = values or {}
    q = q.replace("$timeFilter", "time >= %dms and time <= %dms" % (frm_ms, to_ms))
    q = q.replace("$__interval", interval)
    q = q.replace("$__range_s", str((to_ms - frm_ms) // 1000))
    for v in sorted(dash["templating"]["list"], key=lambda v: -len(v["name"])):
        name, got = v["name"], values.get(v["name"], "All")
        if v["type"] == "textbox":
            text = got if got != "All" else v["query"]
        elif got == "All":
            text = v.get("allValue") or ".*"
        else:
            esc = [re.sub(r"([\\/.*+?|()\[\]{}^$])", r"\\\1", x) for x in got]
            text = esc[0] if len(esc) == 1 else "(" + "|".join(esc) + ")"
        q = q.replace("$" + name, text)
    if re.search(r"\$(?!tag_)[A-Za-z_]", q):
        raise ValueError("unsubstituted macro in: " + q)
    return q


def query(url, db, q):
    u = url + "/query?" + urllib.parse.urlencode({"db": db, "q": q, "epoch": "ms"})
    try:
        with urllib.request.urlopen(u, timeout=20) as r:
            res = json.load(r)["results"][0]
    except urllib.error.HTTPError as e:
        raise RuntimeError("HTTP %d %s\n  %s" % (e.code, e.read().decode(errors="replace"), q)) from None
    if "error" in res:
        raise RuntimeError("%s\n  %s" % (res["error"], q))
    return res.get("series", [])


def variable_values(url, db, dash, name, values=None):
    """What Grafana offers for a query variable (its query run with the others substituted)."""
    v = [x for x in dash["templating"]["list"] if x["name"] == name][0]
    q = render(v["query"], dash, 0, 0, values=values)
    return sorted({row[1] for s in query(url, db, q) for row in s["values"]})  # Grafana shows each once


def run_panel(url, db, dash, title, frm_ms, to_ms, interval="1m", values=None):
    """Every target of the panel: a list of {"tags", "columns", "values"} over all targets."""
    out = []
    for t in panel(dash, title)["targets"]:
        for s in query(url, db, render(t["query"], dash, frm_ms, to_ms, interval, values)):
            out.append({"tags": s.get("tags", {}), "columns": s["columns"], "values": s["values"]})
    return out
