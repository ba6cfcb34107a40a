"""A hostile MQTT 3.1.1 broker for one client: accepts the connection and every
subscription, then publishes (QoS 0) each topic/payload pair given, with bytes a
real broker like mosquitto refuses to route (control characters in topics).
Stands in for a compromised or careless broker; keeps answering PINGREQ.

    hostile_broker.py PORT_FILE TOPIC PAYLOAD [TOPIC PAYLOAD ...]
(topics and payloads use Python escapes: '\\n', '\\x01')"""
import socket, struct, sys

def rl(n):
    out = b""
    while True:
        d, n = n % 128, n // 128
        out += bytes([d | (0x80 if n else 0)])
        if not n:
            return out

def read_packet(c):
    h = c.recv(1)
    if not h:
        raise EOFError
    mult, length = 1, 0
    while True:
        b = c.recv(1)[0]
        length += (b & 127) * mult
        mult *= 128
        if not b & 128:
            break
    body = b""
    while len(body) < length:
        chunk = c.recv(length - len(body))
        if not chunk:
            raise EOFError
        body += chunk
    return h[0], body

def esc(s):
    return s.encode().decode("unicode_escape").encode("latin-1")

port_file, pairs = sys.argv[1], sys.argv[2:]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(1)
with open(port_file + ".tmp", "w") as f:
    f.write(str(ls.getsockname()[1]))
import os
os.rename(port_file + ".tmp", port_file)
while True:
    c, _ = ls.accept()
    try:
        while True:
            t, body = read_packet(c)
            kind = t >> 4
            if kind == 1:  # CONNECT -> CONNACK, session not present, accepted
                c.sendall(bytes([0x20, 2, 0, 0]))
            elif kind == 8:  # SUBSCRIBE -> SUBACK granting QoS 0, then the publishes
                pid = body[:2]
                nsubs = 0
                i = 2
                while i < len(body):
                    n = struct.unpack(">H", body[i:i + 2])[0]
                    i += 2 + n + 1
                    nsubs += 1
                c.sendall(bytes([0x90]) + rl(2 + nsubs) + pid + bytes([0] * nsubs))
                for k in range(0, len(pairs), 2):
                    topic, payload = esc(pairs[k]), esc(pairs[k + 1])
                    pb = struct.pack(">H", len(topic)) + topic + payload
                    c.sendall(bytes([0x30]) + rl(len(pb)) + pb)
            elif kind == 12:  # PINGREQ
                c.sendall(bytes([0xD0, 0]))
            elif kind == 14:  # DISCONNECT
                break
    except (EOFError, OSError):
        pass
    c.close()
