"""Writes the files t_dataloader.sh feeds to dataloader_test.

  python dataloader_make_files.py OUTDIR

OUTDIR/bad/*.bin      token shards that are broken in one way each (the loader must refuse them)
OUTDIR/vocab/*.bin    a valid shard holding one token id 60000 (for the vocab_size check)
OUTDIR/mix/*.bin      a valid shard followed (in sorted order) by a broken one
OUTDIR/eval_good.bin  a small multiple-choice file in the HellaSwag layout (doc/formats.md)
OUTDIR/eval_expect.bin the batches the eval loader must build from it, computed here naively,
                      with random per-position losses and the number of examples they get right
OUTDIR/eval_bad_*.bin  broken multiple-choice files
"""
import os
import struct
import sys

import numpy as np

out = sys.argv[1]
rng = np.random.default_rng(20240611)


def shard_bytes(tokens, magic=20240520, version=1, n=None):
    header = np.zeros(256, dtype="<i4")
    header[0] = magic
    header[1] = version
    header[2] = len(tokens) if n is None else n
    return header.tobytes() + np.asarray(tokens, dtype="<u2").tobytes()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# ---- token shards (B=2, T=8 in the shell checks: one batch needs 17 tokens)
good = np.arange(100) % 97
write(f"{out}/bad/magic.bin", shard_bytes(good, magic=20240326))
write(f"{out}/bad/version.bin", shard_bytes(good, version=3))
write(f"{out}/bad/truncated.bin", shard_bytes(good)[:-10])
write(f"{out}/bad/extra.bin", shard_bytes(good) + b"\0\0\0\0")
write(f"{out}/bad/header.bin", shard_bytes(good)[:600])
write(f"{out}/bad/small.bin", shard_bytes(good[:16]))
vocab = good.copy()
vocab[50] = 60000
write(f"{out}/vocab/v.bin", shard_bytes(vocab))
write(f"{out}/mix/a_good.bin", shard_bytes(good))
write(f"{out}/mix/b_bad.bin", shard_bytes(good, version=7))

# ---- multiple-choice examples: (context, [4 completions], label)
examples = []
# example 0: the hand-made scoring case in dataloader_test.c relies on these lengths and labels
examples.append((list(rng.integers(0, 50257, 3)), [list(rng.integers(0, 50257, m)) for m in (1, 4, 2, 3)], 1))
examples.append((list(rng.integers(0, 50257, 2)), [list(rng.integers(0, 50257, 2)) for _ in range(4)], 2))
for i in range(9):
    ctx = list(rng.integers(0, 50257, int(rng.integers(1, 21))))
    comps = [list(rng.integers(0, 50257, int(rng.integers(1, 13)))) for _ in range(4)]
    examples.append((ctx, comps, int(rng.integers(0, 4))))
# a completion of 20 tokens: skipped at T=16, fits at T=32
examples.append((list(rng.integers(0, 50257, 5)), [list(rng.integers(0, 50257, m)) for m in (3, 20, 2, 6)], 1))
# 30 context + 4 completion tokens: longer than T+1 even at T=32, so truncated there
examples.append((list(rng.integers(0, 50257, 30)), [list(rng.integers(0, 50257, m)) for m in (4, 1, 2, 3)], 3))


def example_words(i, ex):
    ctx, comps, label = ex
    w = [65535, 0, i, label, 4, len(ctx)] + [int(t) for t in ctx]
    for c in comps:
        w += [len(c)] + [int(t) for t in c]
    w[1] = 2 * len(w)
    return w


def eval_bytes(exs, magic=20240522, version=1, count=None, longest=None, mutate=None):
    streams = [example_words(i, ex) for i, ex in enumerate(exs)]
    if mutate is not None:
        mutate(streams)
    header = np.zeros(256, dtype="<i4")
    header[0] = magic
    header[1] = version
    header[2] = len(exs) if count is None else count
    header[3] = max(2 * len(s) for s in streams) if longest is None else longest
    flat = [w for s in streams for w in s]
    return header.tobytes() + np.asarray(flat, dtype="<u2").tobytes()


write(f"{out}/eval_good.bin", eval_bytes(examples))


def set_field(k, j, v):
    def f(streams):
        streams[k][j] = v
    return f


few = examples[:3]
write(f"{out}/eval_bad_magic.bin", eval_bytes(few, magic=20240520))
write(f"{out}/eval_bad_version.bin", eval_bytes(few, version=2))
write(f"{out}/eval_bad_header.bin", eval_bytes(few)[:700])
write(f"{out}/eval_bad_marker.bin", eval_bytes(few, mutate=set_field(1, 0, 65534)))
write(f"{out}/eval_bad_truncated.bin", eval_bytes(few)[:-6])
write(f"{out}/eval_bad_odd.bin", eval_bytes(few)[:-1])
write(f"{out}/eval_bad_sizefield.bin", eval_bytes(few, mutate=set_field(0, 1, 2 * len(example_words(0, few[0])) + 2)))
write(f"{out}/eval_bad_label.bin", eval_bytes(few, mutate=set_field(2, 3, 4)))
write(f"{out}/eval_bad_ncomp.bin", eval_bytes(few, mutate=set_field(1, 4, 3)))
write(f"{out}/eval_bad_trailing.bin", eval_bytes(few) + b"\1\0\2\0")
write(f"{out}/eval_bad_count.bin", eval_bytes(few, count=4))
write(f"{out}/eval_bad_longest.bin", eval_bytes(few, longest=20))


# ---- what the eval loader must produce, computed the plain way
def rows_of(ex, T):
    """The 4 rows (inputs, targets, mask) of one example, or None if it cannot be scored."""
    ctx, comps, _ = ex
    if max(len(c) for c in comps) > T:
        return None, False
    rows, truncated = [], False
    for c in comps:
        seq = [int(t) for t in ctx] + [int(t) for t in c]
        if len(seq) > T + 1:  # keep the last T+1 tokens: the completion and what context fits
            seq = seq[-(T + 1):]
            truncated = True
        n, m = len(seq), len(c)
        inp = np.zeros(T, dtype=np.int32)
        tgt = np.zeros(T, dtype=np.int32)
        msk = np.zeros(T, dtype=np.uint8)
        inp[: min(n, T)] = seq[:T]
        tgt[: n - 1] = seq[1:]
        # the completion is the last m tokens of seq; target index t+1 is one of them
        msk[n - m - 1 : n - 1] = 1
        rows.append((inp, tgt, msk))
    return rows, truncated


configs = [(8, 32, 1), (4, 32, 2), (12, 16, 3), (8, 40, 4)]
blob = [struct.pack("<i", len(configs))]
for B, T, P in configs:
    usable, ntrunc, nskip = [], 0, 0
    for ex in examples:
        rows, truncated = rows_of(ex, T)
        if rows is None:
            nskip += 1
            continue
        ntrunc += truncated
        usable.append((ex, rows))
    E = B // 4
    per_rank = [usable[r::P] for r in range(P)]
    nbatches = -(-max(len(x) for x in per_rank) // E)
    blob.append(struct.pack("<7i", B, T, P, len(usable), ntrunc, nskip, nbatches))
    for r in range(P):
        for b in range(nbatches):
            chunk = per_rank[r][b * E : (b + 1) * E]
            inputs = np.zeros((B, T), dtype=np.int32)
            targets = np.zeros((B, T), dtype=np.int32)
            mask = np.zeros((B, T), dtype=np.uint8)
            labels = np.full(E, -1, dtype=np.int32)
            losses = rng.uniform(0, 5, size=(B, T)).astype(np.float32)
            correct = 0
            for e, (ex, rows) in enumerate(chunk):
                labels[e] = ex[2]
                means = []
                for c, (inp, tgt, msk) in enumerate(rows):
                    inputs[4 * e + c] = inp
                    targets[4 * e + c] = tgt
                    mask[4 * e + c] = msk
                    means.append(losses[4 * e + c][msk == 1].astype(np.float64).mean())
                correct += int(int(np.argmin(means)) == ex[2])
            blob.append(struct.pack("<2i", len(chunk), correct))
            blob += [labels.tobytes(), inputs.tobytes(), targets.tobytes(), mask.tobytes(), losses.tobytes()]
write(f"{out}/eval_expect.bin", b"".join(blob))
print(f"wrote {len(examples)} eval examples, {len(configs)} configurations")
