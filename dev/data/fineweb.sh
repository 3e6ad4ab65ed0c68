#!/usr/bin/env bash
# FineWeb / FineWeb-Edu (sample-10BT, about 10B tokens) as llm.c token shards: documents in
# stream order, each preceded by end-of-text (50256); shard 0 is PREFIX_val_000000.bin, the rest
# PREFIX_train_000001.bin, ... with 100M tokens per shard (documents continue across shards).
# Usage: dev/data/fineweb.sh [--edu] [--from FILE...] [--out DIR] [--shard-tokens N]
#                            [--tokenizer PATH] [--threads N]
#   --edu              FineWeb-Edu (prefix edufineweb, default dir data/edu_fineweb10B)
#                      instead of FineWeb (prefix fineweb, default dir data/fineweb10B)
#   --from FILE...     local input instead of the download: .jsonl / .jsonl.gz with a "text" field,
#                      or .parquet (needs pyarrow); all following arguments are input files
#   --shard-tokens N   tokens per shard (default 100000000; the val shard has as many)
# The download streams with the Hugging Face `datasets` package (pip install datasets).
# Needs ./tokenize and gpt2_tokenizer.bin (make tokenize gpt2_tokenizer.bin).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PY:-python3}"
edu=0
out=""
shard=100000000
tok=gpt2_tokenizer.bin
threads=""
from=()
while [ $# -gt 0 ]; do
    case "$1" in
        --edu) edu=1; shift ;;
        --out) out="${2:?--out needs a directory}"; shift 2 ;;
        --shard-tokens) shard="${2:?--shard-tokens needs a number}"; shift 2 ;;
        --tokenizer) tok="${2:?--tokenizer needs a path}"; shift 2 ;;
        --threads) threads="--threads=${2:?--threads needs a number}"; shift 2 ;;
        --from) shift; from=("$@"); [ ${#from[@]} -gt 0 ] || { echo "error: --from needs files" >&2; exit 1; }; break ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument '$1' (see --help)" >&2; exit 1 ;;
    esac
done
if [ $edu = 1 ]; then prefix=edufineweb; out="${out:-data/edu_fineweb10B}"; remote=--edu
else prefix=fineweb; out="${out:-data/fineweb10B}"; remote=; fi
[ -x ./tokenize ] || { echo "error: ./tokenize not built (make tokenize)" >&2; exit 1; }
mkdir -p "$out"
shards=(./tokenize shards --tokenizer "$tok" --format jsonl --field text $threads
        --shard-tokens "$shard" --val-tokens "$shard" --out "$out/$prefix")

if [ ${#from[@]} -eq 0 ]; then
    "$PY" dev/data/fineweb_stream.py --remote $remote | "${shards[@]}" -
    exit 0
fi
kind=""
for f in "${from[@]}"; do
    [ -f "$f" ] || { echo "error: $f: no such file" >&2; exit 1; }
    case "$f" in
        *.parquet) k=parquet ;;
        *.gz) k=gz ;;
        *) k=jsonl ;;
    esac
    [ -z "$kind" ] || [ "$kind" = "$k" ] || { echo "error: --from files must all be of one kind (jsonl, gz or parquet)" >&2; exit 1; }
    kind=$k
done
case "$kind" in
    jsonl) "${shards[@]}" "${from[@]}" ;;
    gz) zcat -- "${from[@]}" | "${shards[@]}" - ;;
    parquet) "$PY" dev/data/fineweb_stream.py --parquet "${from[@]}" | "${shards[@]}" - ;;
esac
