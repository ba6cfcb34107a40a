#!/usr/bin/python3
"""Reference words for tests/unit/test_modbus_decode.c, computed independently
of our C code with Python's struct module.

Bytes of the big-endian encoding are A B C D ...; a byte order names the wire
order of the bytes. 'CDAB' = words reversed, 'BADC' = bytes swapped in each
word, 'DCBA' = both (= little endian). Run it to regenerate the table:
    /usr/bin/python3 tests/integration/modbus_decode_vectors.py
"""
import struct

FMT = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "int64": ">q",
       "uint64": ">Q", "float32": ">f", "float64": ">d"}
VALUES = {
    "int16": [0, 1, -1, 12345, -32768, 32767],
    "uint16": [0, 1, 65535, 0x1234],
    "int32": [0, -1, 123456789, -2147483648, 2147483647, -100000],
    "uint32": [0, 4294967295, 0x12345678, 230],
    "int64": [0, -1, 1234567890123456789, -9223372036854775808, 9223372036854775807],
    "uint64": [0, 18446744073709551615, 0x0102030405060708],
    "float32": [0.0, 1.0, -2.5, 230.10000610351562, 3.4028234663852886e38, 1.401298464324817e-45],
    "float64": [0.0, -1.5, 3.141592653589793, 1e300, 123456.789],
}


def words(b, order):
    w = [b[i:i + 2] for i in range(0, len(b), 2)]
    if order in ("BADC", "DCBA"):
        w = [x[::-1] for x in w]
    if order in ("CDAB", "DCBA"):
        w = w[::-1]
    return [int.from_bytes(x, "big") for x in w]


for t, vals in VALUES.items():
    for v in vals:
        b = struct.pack(FMT[t], v)
        for order in ("ABCD", "CDAB", "BADC", "DCBA"):
            ws = ", ".join("0x%04x" % x for x in words(b, order))
            if t.startswith("float"):
                lit = repr(float(v))
                val = ".f = %s" % lit
            elif t.startswith("u"):
                val = ".u = %dull" % v
            else:
                val = ".i = %s" % ("INT64_MIN" if v == -9223372036854775808 else "%dll" % v)
            print('    {"%s", "%s", {%s}, {%s}},' % (t, order, ws, val))
