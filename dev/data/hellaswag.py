#!/usr/bin/env python3
"""HellaSwag validation set as an llm.c eval file (hellaswag_val.bin).

Sources, first that works wins:
  --from FILE       the official hellaswag_val.jsonl (fields ctx, endings, label), or the 6-line
                    text form (activity_label + ": " + ctx, gold label, 4 endings per example)
  download          the official jsonl from the HellaSwag repository
  --fallback FILE   used when the download fails (the Makefile passes the shared 6-line file)
Context = ctx (jsonl) or line 1 (text form); each completion is " " + ending (llm.c's rendering).
Tokens come from `./tokenize encode --jsonl` (this repo's tokenizer file).

File layout (little-endian; doc/formats.md): header 256 x int32: [0] 20240522 [1] 1
[2] examples [3] longest example in bytes; then per example, uint16: 65535, example bytes
(these fields included), example index, label, completions (4), context length, context tokens,
then per completion its length and tokens.

Usage: dev/data/hellaswag.py [--from FILE] [--fallback FILE] [--out DIR] [--tokenizer PATH]
                             [--tokenize BIN] [--limit N]
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import urllib.request
from array import array

URL = "https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl"
MAGIC, VERSION = 20240522, 1


def fail(msg):
    sys.exit("error: " + msg)


def parse_jsonl(text, name):
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            ex = json.loads(line)
            ctx, endings, label = ex["ctx"], ex["endings"], int(ex["label"])
        except (ValueError, KeyError, TypeError) as e:
            fail("%s:%d: not a HellaSwag record (%s)" % (name, lineno, e))
        if len(endings) != 4 or not 0 <= label < 4:
            fail("%s:%d: expected 4 endings and a label 0..3" % (name, lineno))
        out.append((ctx, [" " + e for e in endings], label))
    return out


def parse_six_lines(text, name):
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) % 6 != 0:
        fail("%s: %d lines is not a multiple of 6 (context, label, 4 endings)" % (name, len(lines)))
    out = []
    for i in range(0, len(lines), 6):
        ctx, label_s, endings = lines[i], lines[i + 1].strip(), lines[i + 2:i + 6]
        if label_s not in ("0", "1", "2", "3"):
            fail("%s:%d: label must be 0..3, got %r" % (name, i + 2, label_s))
        out.append((ctx, [" " + e for e in endings], int(label_s)))
    return out


def load(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("{"):
        return parse_jsonl(text, path)
    return parse_six_lines(text, path)


def download():
    try:
        with urllib.request.urlopen(URL, timeout=30) as r:
            return parse_jsonl(r.read().decode("utf-8"), URL)
    except OSError as e:
        print("note: cannot download %s (%s)" % (URL, e), file=sys.stderr)
        return None


def encode_all(strings, tokenize, tokenizer):
    payload = "".join(json.dumps(s) + "\n" for s in strings).encode("utf-8")
    r = subprocess.run([tokenize, "encode", "--jsonl", "--tokenizer", tokenizer], input=payload,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        fail("tokenize failed: " + r.stderr.decode("utf-8", "replace").strip())
    lines = r.stdout.decode("ascii").split("\n")[:-1]
    if len(lines) != len(strings):
        fail("tokenize returned %d lines for %d strings" % (len(lines), len(strings)))
    return [[int(x) for x in line.split()] for line in lines]


def main():
    ap = argparse.ArgumentParser(description="HellaSwag val -> hellaswag_val.bin")
    ap.add_argument("--from", dest="src")
    ap.add_argument("--fallback")
    ap.add_argument("--out", default="data/hellaswag")
    ap.add_argument("--tokenizer", default="gpt2_tokenizer.bin")
    ap.add_argument("--tokenize", default="./tokenize")
    ap.add_argument("--limit", type=int, default=0, help="only the first N examples")
    args = ap.parse_args()

    if args.src:
        examples, source = load(args.src), args.src
    else:
        examples, source = download(), URL
        if examples is None:
            if not args.fallback:
                fail("no HellaSwag source: the download failed; pass --from FILE")
            examples, source = load(args.fallback), args.fallback
    if args.limit:
        examples = examples[:args.limit]
    if not examples:
        fail("%s: no examples" % source)
    if len(examples) > 65535:
        fail("%d examples do not fit the uint16 index field" % len(examples))

    strings = []
    for ctx, endings, _ in examples:
        strings.append(ctx)
        strings.extend(endings)
    toks = encode_all(strings, args.tokenize, args.tokenizer)

    body = array("H")
    longest = 0
    for i, (_, _, label) in enumerate(examples):
        parts = toks[5 * i:5 * i + 5]
        n_values = 6 + sum(1 + len(p) for p in parts[1:]) + len(parts[0])
        size = 2 * n_values
        if size > 65535 or any(len(p) == 0 for p in parts):
            fail("example %d: %d bytes or an empty part cannot be stored" % (i, size))
        body.extend([65535, size, i, label, 4, len(parts[0])])
        body.extend(parts[0])
        for p in parts[1:]:
            body.append(len(p))
            body.extend(p)
        longest = max(longest, size)
    if sys.byteorder != "little":
        body.byteswap()
    header = [0] * 256
    header[0], header[1], header[2], header[3] = MAGIC, VERSION, len(examples), longest

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "hellaswag_val.bin")
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<256i", *header))
        f.write(body.tobytes())
    os.replace(path + ".tmp", path)
    print("wrote %s: %d examples from %s, longest %d bytes" % (path, len(examples), source, longest))


if __name__ == "__main__":
    try:
        main()
    except OSError as e:  # a missing or unreadable file: one line, not a traceback
        sys.exit(f"error: {e.filename}: {e.strerror}" if e.filename else f"error: {e}")
