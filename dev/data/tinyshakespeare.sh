#!/usr/bin/env bash
# TinyShakespeare token shards exactly as llm.c makes them: split the text on "\n\n"; each piece
# is preceded by end-of-text (50256) and encoded with its "\n\n" (the last piece without); the
# first 32,768 tokens are val, the rest (305,260) train.
# Usage: dev/data/tinyshakespeare.sh [--from FILE] [--out DIR] [--tokenizer PATH]
#   --from FILE       a local copy of input.txt (else it is downloaded)
#   --out DIR         output directory (default data/tinyshakespeare)
#   --tokenizer PATH  tokenizer file that encodes (default gpt2_tokenizer.bin)
# Writes DIR/tiny_shakespeare_val.bin and DIR/tiny_shakespeare_train.bin. Needs ./tokenize and
# the tokenizer (make tokenize gpt2_tokenizer.bin).
set -euo pipefail
cd "$(dirname "$0")/../.."
URL=https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt
SHA=86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed
from=""
out=data/tinyshakespeare
tok=gpt2_tokenizer.bin
while [ $# -gt 0 ]; do
    case "$1" in
        --from) from="${2:?--from needs a file}"; shift 2 ;;
        --out) out="${2:?--out needs a directory}"; shift 2 ;;
        --tokenizer) tok="${2:?--tokenizer needs a path}"; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument '$1' (see --help)" >&2; exit 1 ;;
    esac
done
[ -x ./tokenize ] || { echo "error: ./tokenize not built (make tokenize)" >&2; exit 1; }
mkdir -p "$out"
if [ -z "$from" ]; then
    from="$out/input.txt"
    if [ ! -f "$from" ]; then
        curl -fsSL --max-time 120 -o "$from.tmp" "$URL" ||
            { echo "error: cannot download $URL; pass --from FILE" >&2; rm -f "$from.tmp"; exit 1; }
        mv "$from.tmp" "$from"
    fi
fi
[ -f "$from" ] || { echo "error: $from: no such file" >&2; exit 1; }
if ! echo "$SHA  $from" | sha256sum --check --status; then
    echo "warning: $from is not the usual TinyShakespeare (sha256 differs); the split sizes will differ" >&2
fi
./tokenize shards --tokenizer "$tok" --doc para --single --val-tokens 32768 \
    --out "$out/tiny_shakespeare" "$from"
