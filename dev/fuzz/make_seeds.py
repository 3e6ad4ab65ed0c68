#!/usr/bin/env python3
"""Writes the seed corpus of every fuzzer in dev/fuzz/: small valid files of each format.

    python3 dev/fuzz/make_seeds.py OUTDIR      # OUTDIR/<fuzzer>/<seed files>

Each format is written here from its description in doc/formats.md (not by the C writers), for
the model the harnesses assume: L1 C8 H1 V5 Vp8 maxT4. Deterministic (fixed seeds), no torch.
"""
import gzip
import os
import random
import struct
import sys

L, C, NH, V, VP, MAXT = 1, 8, 1, 5, 8, 4


def num_params():
    per_layer = C + C + 3 * C * C + 3 * C + C * C + C + C + C + 4 * C * C + 4 * C + 4 * C * C + C
    return VP * C + MAXT * C + L * per_layer + C + C


def header(*ints):
    h = list(ints) + [0] * (256 - len(ints))
    return struct.pack("<256i", *h)


def fnv1a32(data):
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def write(outdir, fuzzer, name, data):
    d = os.path.join(outdir, fuzzer)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def checkpoints(out, rng):
    n = num_params()
    floats = [rng.uniform(-0.1, 0.1) for _ in range(n)]
    write(out, "checkpoint", "v3.bin", header(20240326, 3, MAXT, V, L, NH, C, VP) + struct.pack("<%df" % n, *floats))
    bf16 = [struct.unpack("<I", struct.pack("<f", x))[0] >> 16 for x in floats]
    write(out, "checkpoint", "v5.bin", header(20240326, 5, MAXT, V, L, NH, C, VP) + struct.pack("<%dH" % n, *bf16))


def debug_states(out, rng):
    n, B, T, S = num_params(), 2, 3, 2
    toks = [rng.randrange(V) for _ in range(2 * B * T)]
    body = struct.pack("<%di" % (2 * B * T), *toks)
    body += struct.pack("<%df" % (B * T * V + 1 + n), *[rng.uniform(-1, 1) for _ in range(B * T * V + 1 + n)])
    write(out, "debug_state", "v2.bin", header(20240327, 2, B, T) + body)
    bits = [struct.unpack("<i", struct.pack("<f", x))[0] for x in (1e-3, 0.9, 0.95, 1e-8, 0.1, 1.0)]
    losses = struct.pack("<%df" % S, 1.6, 1.5)
    write(out, "debug_state", "v3.bin", header(20240327, 3, B, T, V, VP, S, *bits) + body + losses)


def tokenizers(out):
    tokens = [bytes([b]) for b in range(256)]
    merges = []
    for left, right in [(b"t", b"h"), (b"th", b"e"), (b" ", b"the"), (b"i", b"n"), (b"in", b"g")]:
        merges.append((tokens.index(left), tokens.index(right)))
        tokens.append(left + right)
    tokens.append(b"<|endoftext|>")
    table = b"".join(bytes([len(t)]) + t for t in tokens)
    vocab, eot = len(tokens), len(tokens) - 1
    payload = table + b"".join(struct.pack("<II", a, b) for a, b in merges)
    h3 = struct.pack("<256I", *([20240328, 3, vocab, eot, len(merges), len(payload), fnv1a32(payload)] + [0] * 249))
    write(out, "tokenizer", "v3.bin", h3 + payload)
    write(out, "tokenizer", "v2.bin", struct.pack("<256I", *([20240328, 2, vocab, eot] + [0] * 252)) + table)


def shards(out, rng):
    for name, n, vocab in (("small.bin", 40, 50257), ("vocab5.bin", 33, 5)):
        toks = [rng.randrange(vocab) for _ in range(n)]
        write(out, "shard", name, header(20240520, 1, n) + struct.pack("<%dH" % n, *toks))


def eval_file(out, rng):
    examples, longest = [], 0
    for idx in range(3):
        ctx = [rng.randrange(50257) for _ in range(rng.randrange(1, 12))]
        comps = [[rng.randrange(50257) for _ in range(rng.randrange(1, 6))] for _ in range(4)]
        fields = [len(ctx)] + ctx
        for c in comps:
            fields += [len(c)] + c
        size = 2 * (5 + len(fields))
        longest = max(longest, size)
        examples.append([65535, size, idx, rng.randrange(4), 4] + fields)
    data = b"".join(struct.pack("<%dH" % len(e), *e) for e in examples)
    write(out, "eval", "three.bin", header(20240522, 1, len(examples), longest) + data)


def jsonl(out):
    write(out, "jsonl", "docs.jsonl", (
        '{"text": "Hello world", "id": 1}\n'
        '{"id": [1, 2.5e3, null, true, {"a": "}"}], "text": "caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\n"}\n'
        '"a bare string"\n'
        '{"text": ""}\n').encode())


def train_state(out):
    n = num_params()
    # the harness's data loader: B=2 T=8, 1 process, shuffle 1, seed 42, one shard of 200 tokens
    v = [20240611, 1, 42, 0, 3, 2, 8, 1, 0, 1, 1, 12, 200, 0, 0]
    ds = b"".join(struct.pack("<Q", x) for x in v)
    ds += struct.pack("<Q", fnv1a64(ds))
    payload = ds + struct.pack("<%df" % (2 * n), *([0.0] * (2 * n)))
    h = [20240527, 2, 1, 0, 0, 1, n, 0, 12345, 0, 1, 128] + [0] * 244
    head = struct.pack("<256i", *h)
    h[255] = struct.unpack("<i", struct.pack("<I", fnv1a32(head + payload)))[0]
    write(out, "train_state", "step1.bin", struct.pack("<256i", *h) + payload)


def warc(out):
    """A WARC response record (HTTP headers, a Latin-1 HTML page), plain and as a gzip member
    per record, plus a request record the reader must skip: what webclean reads."""
    html = ("<html><head><meta charset=iso-8859-1><title>t</title></head><body><nav>menu</nav>"
            "<p>Caf\xe9 au lait, a short paragraph with enough words to look like text.</p>"
            "<ul><li>one</li><li>two</li></ul><script>x()</script></body></html>").encode("latin-1")
    http = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=iso-8859-1\r\n"
            b"Content-Length: " + str(len(html)).encode() + b"\r\n\r\n" + html)
    def record(kind, body, uri):
        head = ("WARC/1.0\r\nWARC-Type: %s\r\nWARC-Target-URI: %s\r\n"
                "WARC-Date: 2024-05-20T00:00:00Z\r\nWARC-Record-ID: <urn:uuid:1>\r\n"
                "Content-Type: application/http; msgtype=%s\r\nContent-Length: %d\r\n\r\n"
                % (kind, uri, kind, len(body))).encode()
        return head + body + b"\r\n\r\n"
    req = record("request", b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n", "http://example.org/")
    resp = record("response", http, "http://example.org/page")
    write(out, "warc", "plain.warc", req + resp)
    write(out, "warc", "members.warc.gz", gzip.compress(req, mtime=0) + gzip.compress(resp, mtime=0))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_seeds.py OUTDIR")
    out = sys.argv[1]
    rng = random.Random(20240520)
    checkpoints(out, rng)
    debug_states(out, rng)
    tokenizers(out)
    shards(out, rng)
    eval_file(out, rng)
    jsonl(out)
    train_state(out)
    warc(out)


if __name__ == "__main__":
    main()
