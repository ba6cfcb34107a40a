#!/usr/bin/python3
"""An independent Modbus TCP server (Debian's python3-pymodbus) for citygate's
tests: registers encoded with Python's struct module, not with our code.

  modbus_pyserver.py PORT EXPECTED.jsonl REGISTERS.json

Writes the values citygate must report (same format as citygate-sim
--print-values) and the "registers" list for the citygate config, then serves
units 1 and 7 on 127.0.0.1:PORT until killed.
"""
import json
import struct
import sys

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext)
from pymodbus.server import StartTcpServer

port, expected_file, regs_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def words(b, order):
    w = [b[i:i + 2] for i in range(0, len(b), 2)]
    if order in ("BADC", "DCBA"):
        w = [x[::-1] for x in w]
    if order in ("CDAB", "DCBA"):
        w = w[::-1]
    return [int.from_bytes(x, "big") for x in w]


FMT = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "int64": ">q", "uint64": ">Q",
       "float32": ">f", "float64": ">d"}

# (name, type, order, value, scale); addresses assigned in sequence with holes
SPEC = [
    ("v_abcd", "float32", "ABCD", 230.125, 1),
    ("v_cdab", "float32", "CDAB", 229.5, 1),
    ("v_badc", "float32", "BADC", -1.25, 1),
    ("v_dcba", "float32", "DCBA", 1e-3, 1),
    ("e_total", "float64", "CDAB", 123456.789, 1),
    ("count_u32", "uint32", "CDAB", 4000000000, 1),
    ("delta_i32", "int32", "DCBA", -123456, 1),
    ("big_i64", "int64", "ABCD", -9000000000000, 1),
    ("big_u64", "uint64", "BADC", 9000000000000, 1),
    ("temp", "int16", "ABCD", -123, 0.1),
    ("hum", "uint16", "BADC", 555, 0.1),
]
hr = [0] * 200
regs, expected = [], []
addr = 0
for name, typ, order, val, scale in SPEC:
    b = struct.pack(FMT[typ], val)
    w = words(b, order)
    hr[addr:addr + len(w)] = w
    regs.append({"name": name, "table": "holding", "address": addr, "type": typ, "byte_order": order,
                 **({"scale": scale} if scale != 1 else {})})
    if typ.startswith("float"):
        v = struct.unpack(FMT[typ], b)[0]
    elif scale != 1:
        v = val * scale
    else:
        v = val
    expected.append((name, v))
    addr += len(w) + 1  # a one-register hole after each value
# a status word with bit fields, a byte pair and a string
hr[60] = 0b1010_0110_0000_0101
regs += [{"name": "alarm", "table": "holding", "address": 60, "type": "bool", "bit": 0},
         {"name": "door", "table": "holding", "address": 60, "type": "bool", "bit": 1},
         {"name": "mode", "table": "holding", "address": 60, "type": "bits", "bit": 9, "bits": 3},
         {"name": "hi", "table": "holding", "address": 61, "type": "uint8", "byte": "high"},
         {"name": "lo", "table": "holding", "address": 61, "type": "int8", "byte": "low"},
         {"name": "model", "table": "holding", "address": 62, "type": "string", "registers": 4}]
expected += [("alarm", True), ("door", False), ("mode", 0b011), ("hi", 0x12), ("lo", -2), ("model", "PY-SRV7")]
hr[61] = 0x12FE
for i, pair in enumerate([b"PY", b"-S", b"RV", b"7\0"]):
    hr[62 + i] = int.from_bytes(pair, "big")
co = [False] * 16
co[3] = True
regs += [{"name": "relay3", "table": "coil", "address": 3}, {"name": "relay4", "table": "coil", "address": 4}]
expected += [("relay3", True), ("relay4", False)]
ir = list(range(100, 120))
regs += [{"name": "ir5", "table": "input", "address": 5, "type": "uint16"}]
expected += [("ir5", 105)]

with open(expected_file, "w") as f:
    for unit in (1, 7):
        for name, v in expected:
            if isinstance(v, float) and name in ("temp", "hum"):
                # citygate computes raw * scale in double: do the same
                raw = {"temp": -123, "hum": 555}[name]
                v = raw * 0.1
            f.write(json.dumps({"port": port, "unit": unit, "field": name, "measurement": "", "tags": {},
                                "value": v}) + "\n")
with open(regs_file, "w") as f:
    json.dump(regs, f)


def ctx():
    return ModbusSlaveContext(hr=ModbusSequentialDataBlock(0, hr), ir=ModbusSequentialDataBlock(0, ir),
                              co=ModbusSequentialDataBlock(0, co), di=ModbusSequentialDataBlock(0, [False] * 16),
                              zero_mode=True)


context = ModbusServerContext(slaves={1: ctx(), 7: ctx()}, single=False)
print("serving", flush=True)
StartTcpServer(context=context, address=("127.0.0.1", port))
