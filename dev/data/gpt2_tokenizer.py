#!/usr/bin/env python3
"""Writes gpt2_tokenizer.bin from GPT-2's encoder.json and vocab.bpe.
Formats (doc/formats.md "Tokenizer"):
  llmc (default): llm.c's version 2 file (llm.c reads it) followed by what encoding needs beyond
                  it: the merges and the chat special tokens, announced in header slots llm.c
                  ignores. One file encodes, decodes, and is llm.c's gpt2_tokenizer.bin.
  v3:             our earlier version 3 (decode table + merges, header [1] = 3; llm.c refuses it)
  v2:             llm.c's decode-only file, byte for byte
Usage: dev/data/gpt2_tokenizer.py [--vocab-dir DIR] [--format llmc|v3|v2] [-o OUT]
       (defaults: dev/vendor/gpt2, llmc, gpt2_tokenizer.bin); --version 2|3 = --format v2|v3
"""
import argparse
import json
import os
import struct
import sys

MAGIC = 20240328
EXT_MAGIC = 20251203  # header[8] of a version 2 file that carries merges and special tokens
HEADER_INTS = 256
# Chat special tokens, ids V, V+1, ... in this order (they live in GPT-2's padded vocabulary rows,
# 50257..50303). llmc/chat.h looks them up by these names.
SPECIAL_TOKENS = [
    "<|system_start|>", "<|system_end|>",
    "<|user_start|>", "<|user_end|>",
    "<|assistant_start|>", "<|assistant_end|>",
    "<|tool_call_start|>", "<|tool_call_end|>",      # reserved for tool use
    "<|tool_output_start|>", "<|tool_output_end|>",  # reserved for tool use
]


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
    ap.add_argument("--format", choices=("llmc", "v3", "v2"), default="llmc")
    ap.add_argument("--version", type=int, choices=(2, 3), help="same as --format v2 / v3")
    ap.add_argument("-o", "--out", default="gpt2_tokenizer.bin")
    args = ap.parse_args()
    if args.version is not None:
        args.format = "v%d" % args.version

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
    version = 3 if args.format == "v3" else 2
    header[0], header[1], header[2], header[3] = MAGIC, version, vocab_size, eot
    payload = bytes(table)
    merge_bytes = b"".join(struct.pack("<II", a, b) for a, b in merges)
    if args.format == "v3":
        payload += merge_bytes
        header[4] = len(merges)
        header[5] = len(payload)
        header[6] = fnv1a32(payload)
    elif args.format == "llmc":
        payload += merge_bytes
        for name in SPECIAL_TOKENS:
            b = name.encode("ascii")
            payload += bytes([len(b)]) + b
        header[8] = EXT_MAGIC
        header[9] = len(merges)
        header[10] = len(SPECIAL_TOKENS)
        header[11] = len(payload)
        header[12] = fnv1a32(payload)
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<%dI" % HEADER_INTS, *header))
        f.write(payload)
    os.replace(tmp, args.out)
    print("wrote %s: format %s (header version %d), %d tokens, %d merges, %d special, %d bytes"
          % (args.out, args.format, version, vocab_size, len(merges) if args.format != "v2" else 0,
             len(SPECIAL_TOKENS) if args.format == "llmc" else 0, 1024 + len(payload)))


if __name__ == "__main__":
    try:
        main()
    except OSError as e:  # a missing or unreadable file: one line, not a traceback
        sys.exit(f"error: {e.filename}: {e.strerror}" if e.filename else f"error: {e}")
