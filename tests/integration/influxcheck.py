"""Helpers for the Python checks of the integration tests: query influxd
(InfluxQL over HTTP) and print each check as it goes, failing at the end."""
import json
import urllib.parse
import urllib.request


def query(url, q, db="city"):
    """The series of the first result of q; an InfluxQL error raises."""
    u = url + "/query?" + urllib.parse.urlencode({"db": db, "q": q})
    with urllib.request.urlopen(u, timeout=10) as r:
        res = json.load(r)["results"][0]
    if "error" in res:
        raise RuntimeError(res["error"])
    return res.get("series", [])


class Checks:
    """check(what, ok, detail) prints one line; failed() is true if any failed."""

    def __init__(self):
        self.bad = []

    def __call__(self, what, ok, detail=""):
        print("  %-4s %s %s" % ("ok" if ok else "FAIL", what, detail))
        if not ok:
            self.bad.append(what)

    def failed(self):
        return bool(self.bad)
