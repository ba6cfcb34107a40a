#!/usr/bin/python3
"""A write endpoint that misbehaves on demand, for what real servers will not do
when asked: 429 with Retry-After, 5xx then success, slow or hanging answers,
rejecting lines that contain a marker.

  fault_http.py --port P --log FILE [--script A,B,...] [--default 204] [--reject SUBSTR]
                [--tls CERT KEY]

Each POST takes the next action of --script (then --default):
  204 | 500 | 503 | 401 | 413   answer with that status
  429:ra=N                      429 with "Retry-After: N" (seconds)
  429:date=N                    429 with Retry-After as an HTTP-date N s ahead
  slow:S                        sleep S seconds, then 204
  hang                          never answer
--reject SUBSTR: a body containing SUBSTR gets 400 (InfluxDB 2 style: the whole
request is refused, X-Influx-Error names the line), whatever the script says.

FILE gets one JSON object per request (time, client port, lines, status) and
FILE.accepted the bodies of 2xx answers (gunzipped), so tests count exactly.
"""
import argparse
import email.utils
import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--script", default="")
ap.add_argument("--default", default="204")
ap.add_argument("--reject", default=None)
ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve https with this certificate")
args = ap.parse_args()

script = [s for s in args.script.split(",") if s]
lock = threading.Lock()
log = open(args.log, "a", buffering=1)
accepted = open(args.log + ".accepted", "a", buffering=1)


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like influxd

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.reply(204 if self.path.startswith("/ping") else 404)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if self.headers.get("Content-Encoding", "") == "gzip":
            body = gzip.decompress(body)
        text = body.decode("utf-8", "replace")
        lines = [l for l in text.split("\n") if l]
        with lock:
            action = script.pop(0) if script else args.default
        if args.reject and args.reject in text:
            action = "reject"
        entry = {"t": time.time(), "port": self.client_address[1], "path": self.path,
                 "lines": len(lines), "bytes": len(body), "action": action,
                 "auth": self.headers.get("Authorization", ""),
                 "encoding": self.headers.get("Content-Encoding", "")}
        status, headers, out = 204, {}, b""
        if action == "hang":
            entry["status"] = 0
            self.record(entry)
            time.sleep(3600)
            return
        if action.startswith("slow:"):
            time.sleep(float(action[5:]))
            status = 204
        elif action.startswith("429:ra="):
            status, headers["Retry-After"] = 429, action[7:]
        elif action.startswith("429:date="):
            status = 429
            headers["Retry-After"] = email.utils.formatdate(time.time() + float(action[9:]), usegmt=True)
        elif action == "reject":
            bad = next(l for l in lines if args.reject in l)
            msg = "unable to parse '%s': invalid field format" % bad[:80]
            status, headers["X-Influx-Error"] = 400, msg
            out = json.dumps({"code": "invalid", "message": msg}).encode()
            headers["Content-Type"] = "application/json"
        else:
            status = int(action)
        entry["status"] = status
        self.record(entry)
        if 200 <= status < 300:
            with lock:
                accepted.write(text if text.endswith("\n") or not text else text + "\n")
        self.reply(status, headers, out)

    def record(self, entry):
        with lock:
            log.write(json.dumps(entry) + "\n")

    def reply(self, status, headers=None, out=b""):
        try:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        except (BrokenPipeError, ConnectionResetError):
            pass


ThreadingHTTPServer.daemon_threads = True
srv = ThreadingHTTPServer(("127.0.0.1", args.port), H)
if args.tls:
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls[0], args.tls[1])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
