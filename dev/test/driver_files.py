"""Writes the small inputs dev/test/t_driver.sh and t_kill.sh train on (numpy only), and
edits checkpoint and state files for the fault tests.

  python driver_files.py OUTDIR
  python driver_files.py --set FILE FLOAT_INDEX VALUE [--keep-checksum]
      sets float number FLOAT_INDEX of the payload of a model or state file (counted from the
      first float: after the 1024-byte header, and for a state file after the data-loader state)
      and rewrites the file's checksum so only the value is wrong (--keep-checksum: leaves the
      old checksum, so the file is merely damaged)

OUTDIR/train.bin, val.bin   token shards over a 97-token vocabulary (a repeating pattern plus
                            noise, so a tiny model's loss falls)
OUTDIR/eval.bin             a multiple-choice file in the HellaSwag layout (doc/formats.md), 40
                            examples over the same vocabulary
"""
import os
import struct
import sys

import numpy as np



def fnv1a32(data, h=2166136261):
    # vectorising FNV is not possible; the files here are small
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def set_value(path, index, value, keep_checksum):
    raw = bytearray(open(path, "rb").read())
    h = np.frombuffer(bytes(raw[:1024]), dtype="<i4").copy()
    if h[0] == 20240326:  # model: checksum of the payload in [255] when [254] holds the tag
        start = 1024
        struct.pack_into("<f", raw, start + 4 * index, value)
        if h[254] == 0x46534B43 and not keep_checksum:
            h[255] = np.int32(np.uint32(fnv1a32(bytes(raw[1024:]))).view(np.int32))
    elif h[0] == 20240527:  # state: checksum of header ([255] = 0) and payload
        start = 1024 + int(h[11])
        struct.pack_into("<f", raw, start + 4 * index, value)
        if not keep_checksum:
            h[255] = 0
            h[255] = np.int32(np.uint32(fnv1a32(h.tobytes() + bytes(raw[1024:]))).view(np.int32))
    else:
        sys.exit(f"{path}: not a model or state file")
    raw[:1024] = h.tobytes()
    open(path, "wb").write(bytes(raw))


if sys.argv[1] == "--set":
    set_value(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), "--keep-checksum" in sys.argv)
    sys.exit(0)

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(1234)
V = 97


def shard(path, tokens):
    header = np.zeros(256, dtype="<i4")
    header[0], header[1], header[2] = 20240520, 1, len(tokens)
    with open(path, "wb") as f:
        f.write(header.tobytes() + np.asarray(tokens, dtype="<u2").tobytes())


def text(n):
    base = np.arange(n) * 7 % V
    noise = rng.integers(0, V, n)
    return np.where(rng.random(n) < 0.2, noise, base)


shard(f"{out}/train.bin", text(20000))
shard(f"{out}/val.bin", text(3000))

words = []
for i in range(40):
    ctx = [int(t) for t in rng.integers(0, V, int(rng.integers(3, 9)))]
    comps = [[int(t) for t in rng.integers(0, V, int(rng.integers(1, 5)))] for _ in range(4)]
    label = int(rng.integers(0, 4))
    w = [65535, 0, i, label, 4, len(ctx)] + ctx
    for c in comps:
        w += [len(c)] + c
    w[1] = 2 * len(w)
    words.append(w)
header = np.zeros(256, dtype="<i4")
header[0], header[1], header[2], header[3] = 20240522, 1, len(words), max(2 * len(w) for w in words)
with open(f"{out}/eval.bin", "wb") as f:
    f.write(header.tobytes() + np.asarray([x for w in words for x in w], dtype="<u2").tobytes())
