#!/usr/bin/env python3
"""Reads and damages citygate disk-buffer segments for the buffer tests.

Record layout (gateway/wal.h): 32-byte header = magic u32, payload length u32,
line count u32, crc32 u32, first line u64, append time i64; then the payload.

  wal_tool.py records DIR          one line per record: seg-file offset length values...
  wal_tool.py truncate FILE BYTES  cut FILE to BYTES
  wal_tool.py garbage FILE OFF N   overwrite N bytes at OFF with 0xAA
  wal_tool.py flip FILE TEXT NEW   replace the first TEXT in FILE by NEW (same length)
"""
import os, re, struct, sys

MAGIC = 0x314A4743


def records(path):
    data = open(path, "rb").read()
    off = 0
    while off + 32 <= len(data):
        magic, ln, n, _crc, _first, _ns = struct.unpack_from("<IIIIQq", data, off)
        if magic != MAGIC or off + 32 + ln > len(data):
            break
        vals = [int(v) for v in re.findall(rb" v=(\d+)i ", data[off + 32: off + 32 + ln])]
        yield off, 32 + ln, vals
        off += 32 + ln


cmd = sys.argv[1]
if cmd == "records":
    d = sys.argv[2]
    for f in sorted(x for x in os.listdir(d) if x.startswith("seg-")):
        for off, ln, vals in records(os.path.join(d, f)):
            print(f, off, ln, *vals)
elif cmd == "truncate":
    os.truncate(sys.argv[2], int(sys.argv[3]))
elif cmd == "garbage":
    with open(sys.argv[2], "r+b") as f:
        f.seek(int(sys.argv[3]))
        f.write(b"\xaa" * int(sys.argv[4]))
elif cmd == "flip":
    p, old, new = sys.argv[2], sys.argv[3].encode(), sys.argv[4].encode()
    assert len(old) == len(new)
    data = open(p, "rb").read()
    i = data.index(old)
    with open(p, "r+b") as f:
        f.seek(i)
        f.write(new)
    print(i)
