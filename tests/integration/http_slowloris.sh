#!/usr/bin/env bash
# Slowloris against the real binary: 24 connections from one client address
# (127.0.0.2) send their request headers one byte every 300 ms, for 6 s. A
# monitor on another address (127.0.0.1) asks /healthz every 250 ms meanwhile:
# every answer must come within 1 s. Then the attacker's share is checked: at
# most http.max_connections_per_client of its connections are held open.
. "$SRC_DIR/tests/integration/lib.sh"
PORT=$(free_port)
cat >"$T/gw.json" <<J
{"gateway":{"id":"gw1","state_dir":"$T/state","self_metrics_interval_s":0,"drain_timeout_ms":0},
 "normalise":{"enabled":false},
 "http":{"listen":"127.0.0.1:$PORT"},
 "outputs":[{"type":"influxdb_v1","url":"http://127.0.0.1:1","database":"city"}]}
J
bg gw "$CITYGATE" --config "$T/gw.json"
wait_port "$PORT" 20

cat >"$T/slowloris.py" <<'PY'
import socket, sys, threading, time
port, n_attack, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
req = b"GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\nX-Pad: " + b"a" * 200 + b"\r\n\r\n"
alive = []          # per attacker: still connected at the end
stop = time.monotonic() + secs
def attacker(i):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", port))
        for b in req[:-4]:           # never finish the headers
            if time.monotonic() > stop:
                break
            s.send(bytes([b]))
            time.sleep(0.3)
        # still open? a closed connection reads b"" (or errors)
        s.setblocking(False)
        try:
            alive.append(s.recv(1) != b"")
        except BlockingIOError:
            alive.append(True)
    except OSError:
        alive.append(False)
    finally:
        s.close()
ts = [threading.Thread(target=attacker, args=(i,)) for i in range(n_attack)]
for t in ts:
    t.start()
time.sleep(1.0)                      # the attack is in place
worst, answers, failures = 0.0, 0, []
while time.monotonic() < stop - 0.5:
    t0 = time.monotonic()
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=3)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            d = c.recv(4096)
            if not d:
                break
            data += d
        c.close()
        if not data.startswith(b"HTTP/1.1 "):
            failures.append("no HTTP answer: %r" % data[:60])
        answers += 1
    except OSError as e:
        failures.append(str(e))
    worst = max(worst, time.monotonic() - t0)
    time.sleep(0.25)
for t in ts:
    t.join()
print("answers=%d worst_ms=%d failures=%d held=%d" % (answers, worst * 1000, len(failures), sum(alive)))
for f in failures[:3]:
    print("failure:", f)
PY
$PY "$T/slowloris.py" "$PORT" 24 6 >"$T/attack.out" 2>&1 || fail "attack script: $(cat "$T/attack.out")"
cat "$T/attack.out"
read -r answers worst failures held < <(sed -n 's/^answers=\([0-9]*\) worst_ms=\([0-9]*\) failures=\([0-9]*\) held=\([0-9]*\)$/\1 \2 \3 \4/p' "$T/attack.out")
[ "${failures:-x}" = 0 ] || fail "/healthz failed under slowloris: $(cat "$T/attack.out")"
[ "${answers:-0}" -ge 8 ] || fail "too few /healthz answers: $(cat "$T/attack.out")"
[ "${worst:-99999}" -lt 1000 ] || fail "/healthz took ${worst} ms under slowloris (want < 1000)"
[ "${held:-99}" -le 8 ] || fail "the attacker held $held connections (want <= max_connections_per_client 8)"
pass "under a 24-connection slowloris /healthz answered $answers times, worst ${worst} ms; attacker held $held"
kill -0 "$LAST_PID" || fail "gateway died"
