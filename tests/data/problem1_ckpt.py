#!/usr/bin/env python3
"""Writes tests/data/problem1.ckpt: a checkpoint of models/problem1.g laid out
byte by byte as src/checkpoint.c documents it (little-endian, with a training
state), independently of graphrun, so that test_train.c can check that
graphrun reads it and writes the same bytes on any machine."""
import struct, sys

def fnv(data):
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h

params = [("w1", 0.5), ("b1", -0.25), ("w2", 2.0), ("b2", 0.125)]
out = bytearray(b"GRCKPT\0" + bytes([1]))
out += struct.pack("<I", len(params))
for name, v in params:
    out += struct.pack("<I", len(name)) + name.encode() + struct.pack("<I", 0) + struct.pack("<f", v)
out += struct.pack("<I", 1)                                   # a training state follows
out += struct.pack("<iidd", 3, 1, 5.0, 4.5)                   # epoch, since_best, lr, best
out += struct.pack("<QQ", 0x0123456789ABCDEF, 0xFEDCBA9876543210)
out += struct.pack("<Q", fnv(out))
with open(sys.argv[1] if len(sys.argv) > 1 else "tests/data/problem1.ckpt", "wb") as f:
    f.write(out)
