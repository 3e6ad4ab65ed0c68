#!/usr/bin/env python3
"""Writes gpt2_tokenizer.bin from GPT-2's encoder.json and vocab.bpe.

Version 3 (default) holds the decode table and the merges, so one file both encodes and decodes;
version 2 is llm.c's decode-only layout. Both are described in doc/formats.md ("Tokenizer v3").

Usage: dev/data/gpt2_tokenizer.py [--vocab-dir DIR] [--version 2|3] [-o OUT]
       (defaults: dev/vendor/gpt2, 3, gpt2_tokenizer.bin)
"""
import argparse
import json
import os
import struct
import sys

MAGIC = 20240328
HEADER_INTS = 256


def byte_alphabet():
    """GPT-2 stores token bytes as text: printable Latin-1 bytes stand for themselves, and the
    other bytes, in increasing order, for the code points 256, 257, ... Returns char -> byte."""
    printable = set(range(0x21, 0x7F)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    out = {}
    extra = 0
    for b in range(256):
        if b in printable:
            out[chr(b)] = b
        else:
            out[chr(256 + extra)] = b
            extra += 1
    return out


def fnv1a32(data):
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def fail(msg):
    sys.exit("error: " + msg)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab-dir", default="dev/vendor/gpt2")
    ap.add_argument("--version", type=int, choices=(2, 3), default=3)
    ap.add_argument("-o", "--out", default="gpt2_tokenizer.bin")
    args = ap.parse_args()

    enc_path = os.path.join(args.vocab_dir, "encoder.json")
    bpe_path = os.path.join(args.vocab_dir, "vocab.bpe")
    alphabet = byte_alphabet()
    with open(enc_path, encoding="utf-8") as f:
        encoder = json.load(f)
    vocab_size = len(encoder)
    token_bytes = [None] * vocab_size
    for text, tid in encoder.items():
        if not (0 <= tid < vocab_size) or token_bytes[tid] is not None:
            fail("%s: ids are not a permutation of 0..%d" % (enc_path, vocab_size - 1))
        if text == "<|endoftext|>":
            token_bytes[tid] = text.encode("ascii")
            continue
        try:
            token_bytes[tid] = bytes(alphabet[c] for c in text)
        except KeyError:
            fail("%s: token %d uses a character outside GPT-2's byte alphabet" % (enc_path, tid))
    if "<|endoftext|>" not in encoder:
        fail("%s: no <|endoftext|> token" % enc_path)
    eot = encoder["<|endoftext|>"]
    for tid, b in enumerate(token_bytes):
        if not 1 <= len(b) <= 255:
            fail("%s: token %d has %d bytes (1..255 allowed)" % (enc_path, tid, len(b)))

    merges = []
    with open(bpe_path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if not lines or not lines[0].startswith("#version"):
        fail("%s: expected a '#version' first line" % bpe_path)
    for lineno, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        parts = line.split(" ")
        if len(parts) != 2 or parts[0] not in encoder or parts[1] not in encoder \
                or parts[0] + parts[1] not in encoder:
            fail("%s:%d: not a merge of two known tokens into a known token" % (bpe_path, lineno))
        merges.append((encoder[parts[0]], encoder[parts[1]]))

    table = bytearray()
    for b in token_bytes:
        table.append(len(b))
        table += b
    header = [0] * HEADER_INTS
    header[0], header[1], header[2], header[3] = MAGIC, args.version, vocab_size, eot
    payload = bytes(table)
    if args.version == 3:
        payload += b"".join(struct.pack("<II", a, b) for a, b in merges)
        header[4] = len(merges)
        header[5] = len(payload)
        header[6] = fnv1a32(payload)
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<%dI" % HEADER_INTS, *header))
        f.write(payload)
    os.replace(tmp, args.out)
    print("wrote %s: version %d, %d tokens, %d merges, %d bytes"
          % (args.out, args.version, vocab_size, len(merges) if args.version == 3 else 0,
             1024 + len(payload)))


if __name__ == "__main__":
    try:
        main()
    except OSError as e:  # a missing or unreadable file: one line, not a traceback
        sys.exit(f"error: {e.filename}: {e.strerror}" if e.filename else f"error: {e}")
