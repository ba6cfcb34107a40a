#!/usr/bin/python3
"""A small, deliberately misbehaving Modbus slave for citygate's tests.

Independent of citygate-sim: raw sockets / a PTY, its own framing and CRC.
Every holding or input register at address A of unit U holds
    (U * 1000 + A) & 0xffff
so a value stored under the wrong register (or device) is always visible.

Faults, each per unit id:
  --late U:MIN:MAX       answer after a random delay in [MIN, MAX] ms
  --late-every U:N:MS    every Nth request of U is answered MS ms late
  --stray U:N            every Nth request of U: junk bytes, then a frame for
                         another slave id carrying 0xDEAD, then the answer (RTU)
  --wrong-unit U:N       every Nth: first a frame with the same transaction id
                         but unit U+1 carrying 0xDEAD, then the answer (TCP)
  --bad-proto U:N        same, with protocol id 1 (TCP)
  --stall U:N            every Nth: the first 5 bytes of the answer, never the
                         rest (a TCP-to-RTU gateway that lost its device)
  --stall-resume U:N:MS  every Nth: the first 5 bytes, the rest MS ms later
  --drop-at S --refuse S (TCP) at S seconds after start, close every
                         connection and the listener; listen again after
                         --refuse seconds
Every frame sent is logged as one JSON line to --log.
"""
import argparse
import heapq
import json
import os
import random
import select
import socket
import struct
import sys
import time
import tty


def crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return struct.pack("<H", crc)


def value(unit, addr):
    return (unit * 1000 + addr) & 0xFFFF


def pdu_reply(unit, fc, addr, count, dead=False):
    if fc in (1, 2):
        nbytes = (count + 7) // 8
        bits = bytearray(nbytes)
        for i in range(count):
            if (addr + i) % 2:
                bits[i // 8] |= 1 << (i % 8)
        return bytes([fc, nbytes]) + bytes(bits)
    words = [0xDEAD if dead else value(unit, addr + i) for i in range(count)]
    return bytes([fc, 2 * count]) + b"".join(struct.pack(">H", w) for w in words)


def spec(s, n):
    parts = [int(x) for x in s.split(":")]
    if len(parts) != n:
        raise SystemExit("bad fault spec %r" % s)
    return parts


class Slave:
    def __init__(self, args):
        self.rng = random.Random(args.seed)
        self.late = {u: (a, b) for u, a, b in (spec(s, 3) for s in args.late)}
        self.late_every = {u: (n, ms) for u, n, ms in (spec(s, 3) for s in args.late_every)}
        self.stray = {u: n for u, n in (spec(s, 2) for s in args.stray)}
        self.wrong_unit = {u: n for u, n in (spec(s, 2) for s in args.wrong_unit)}
        self.bad_proto = {u: n for u, n in (spec(s, 2) for s in args.bad_proto)}
        self.stall = {u: n for u, n in (spec(s, 2) for s in args.stall)}
        self.stall_resume = {u: (n, ms) for u, n, ms in (spec(s, 3) for s in args.stall_resume)}
        self.units = set(args.unit)
        self.seen = {}
        self.queue = []  # (due, seq, fd, bytes, log record)
        self.seq = 0
        self.log = open(args.log, "a", buffering=1)
        self.t0 = time.monotonic()

    def nth(self, table, unit):
        n = table.get(unit)
        return n is not None and self.seen[unit] % n == 0

    def schedule(self, fd, delay_ms, data, rec):
        self.seq += 1
        rec["delay_ms"] = delay_ms
        heapq.heappush(self.queue, (time.monotonic() + delay_ms / 1000.0, self.seq, fd, data, rec))

    def request(self, fd, unit, fc, addr, count, frame):
        """frame(unit, pdu, proto=0) -> bytes on the wire for this transport."""
        if unit not in self.units or fc not in (1, 2, 3, 4):
            return
        self.seen[unit] = self.seen.get(unit, 0) + 1
        rec = {"unit": unit, "fc": fc, "addr": addr, "count": count, "n": self.seen[unit]}
        delay = 0
        if unit in self.late:
            lo, hi = self.late[unit]
            delay = self.rng.randint(lo, hi)
        if self.nth({u: n for u, (n, _) in self.late_every.items()}, unit):
            delay = self.late_every[unit][1]
        answer = frame(unit, pdu_reply(unit, fc, addr, count))
        if self.nth(self.stall, unit):
            self.schedule(fd, delay, answer[:5], dict(rec, kind="partial"))
            return
        if self.nth({u: n for u, (n, _) in self.stall_resume.items()}, unit):
            self.schedule(fd, delay, answer[:5], dict(rec, kind="partial"))
            self.schedule(fd, delay + self.stall_resume[unit][1], answer[5:], dict(rec, kind="rest"))
            return
        if self.nth(self.stray, unit):
            self.schedule(fd, delay, b"\x00\xff\x5a", dict(rec, kind="junk"))
            other = (unit ^ 0x40) or 1
            self.schedule(fd, delay, frame(other, pdu_reply(unit, fc, addr, count, dead=True)),
                          dict(rec, kind="other_unit", other=other))
        if self.nth(self.wrong_unit, unit):
            self.schedule(fd, delay, frame((unit + 1) & 0xFF, pdu_reply(unit, fc, addr, count, dead=True)),
                          dict(rec, kind="wrong_unit"))
        if self.nth(self.bad_proto, unit):
            self.schedule(fd, delay, frame(unit, pdu_reply(unit, fc, addr, count, dead=True), proto=1),
                          dict(rec, kind="bad_proto"))
        self.schedule(fd, delay, answer, dict(rec, kind="late" if delay else "ok"))

    def flush_due(self, write):
        now = time.monotonic()
        while self.queue and self.queue[0][0] <= now:
            _, _, fd, data, rec = heapq.heappop(self.queue)
            rec["t"] = round(time.monotonic() - self.t0, 3)
            if write(fd, data):
                self.log.write(json.dumps(rec) + "\n")

    def timeout(self):
        if not self.queue:
            return 0.05
        return max(0.0, min(0.05, self.queue[0][0] - time.monotonic()))


def run_rtu(args, s):
    fd = os.open(args.rtu, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    buf = bytearray()

    def frame(unit, pdu, proto=0):
        body = bytes([unit]) + pdu
        return body + crc16(body)

    def write(fd_, data):
        os.write(fd_, data)
        return True

    print("listening on %s" % args.rtu, flush=True)
    while True:
        r, _, _ = select.select([fd], [], [], s.timeout())
        if r:
            buf += os.read(fd, 512)
            while len(buf) >= 8:
                if crc16(buf[:6]) == bytes(buf[6:8]):
                    unit, fc, addr, count = struct.unpack(">BBHH", bytes(buf[:6]))
                    del buf[:8]
                    s.request(fd, unit, fc, addr, count, frame)
                else:
                    del buf[:1]
        s.flush_due(write)


def run_tcp(args, s):
    def listen():
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", args.tcp))
        ls.listen(8)
        return ls

    ls = listen()
    conns = {}  # socket -> bytearray

    def write(sock, data):
        if sock not in conns:
            return False
        try:
            sock.sendall(data)
            return True
        except OSError:
            return False

    print("listening on %d" % args.tcp, flush=True)
    dropped = False
    while True:
        now = time.monotonic() - s.t0
        if args.drop_at and not dropped and now >= args.drop_at:
            for c in list(conns):
                c.close()
            conns.clear()
            ls.close()
            ls = None
            dropped = True
            s.log.write(json.dumps({"t": round(now, 3), "wall": time.time(), "kind": "dropped"}) + "\n")
        if dropped and ls is None and now >= args.drop_at + args.refuse:
            ls = listen()
            s.log.write(json.dumps({"t": round(now, 3), "wall": time.time(), "kind": "listening"}) + "\n")
        socks = list(conns) + ([ls] if ls else [])
        r, _, _ = select.select(socks, [], [], s.timeout())
        for sock in r:
            if sock is ls:
                c, _ = ls.accept()
                conns[c] = bytearray()
                continue
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                sock.close()
                del conns[sock]
                continue
            buf = conns[sock]
            buf += data
            while len(buf) >= 12:
                tid, _, length, unit, fc, addr, count = struct.unpack(">HHHBBHH", bytes(buf[:12]))
                del buf[:6 + length]

                def frame(u, pdu, proto=0, tid=tid):
                    return struct.pack(">HHHB", tid, proto, len(pdu) + 1, u) + pdu

                s.request(sock, unit, fc, addr, count, frame)
        s.flush_due(write)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rtu")
    ap.add_argument("--tcp", type=int)
    ap.add_argument("--unit", type=int, action="append", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--seed", type=int, default=1)
    for k in ("late", "late-every", "stray", "wrong-unit", "bad-proto", "stall", "stall-resume"):
        ap.add_argument("--" + k, action="append", default=[])
    ap.add_argument("--drop-at", type=float, default=0)
    ap.add_argument("--refuse", type=float, default=0)
    args = ap.parse_args()
    s = Slave(args)
    if args.rtu:
        run_rtu(args, s)
    else:
        run_tcp(args, s)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
