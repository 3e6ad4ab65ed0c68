#!/usr/bin/env bash
# From a web crawl to a trained model, on the CPU: the Debian documentation (debian-reference in
# seven languages and the Python 3.11 docs, as installed by apt) packed into a WARC.gz the way a
# crawler writes it, cleaned by webclean (English pages), tokenized into llm.c shards, and a small
# GPT-2 trained on them from scratch.
#
#   scripts/webclean_debian_cpu.sh [--warc FILE.warc.gz] [--lang LIST] [extra train_gpt2 flags...]
#
# --warc takes any WARC / WARC.gz (a Common Crawl file, for instance) instead of the Debian one.
# Everything lands under data/webclean/ and out/webclean_cpu/; a rerun reuses what exists.
set -euo pipefail
cd "$(dirname "$0")/.."
warc="" lang=en
while [ $# -gt 0 ]; do
  case "$1" in
    --warc) warc="$2"; shift 2 ;;
    --lang) lang="$2"; shift 2 ;;
    *) break ;;
  esac
done
D=data/webclean
mkdir -p "$D"
make -s webclean train_gpt2 tokenize gpt2_tokenizer.bin

# 1. the crawl: Debian's HTML docs as WARC.gz records, written by npm's warcio
if [ -z "$warc" ]; then
  warc=$D/main.warc.gz
  if [ ! -f "$warc" ]; then
    for d in /usr/share/debian-reference /usr/share/doc/python3.11/html; do
      [ -d "$d" ] || { echo "error: $d missing: apt-get install debian-reference-en debian-reference-de" \
        "debian-reference-fr debian-reference-ja debian-reference-zh-cn debian-reference-es" \
        "debian-reference-it python3.11-doc" >&2; exit 1; }
    done
    [ -f dev/vendor/webclean/node_modules/warcio/package.json ] ||
      npm install --prefix dev/vendor/webclean --no-audit --no-fund warcio@2.4.11 > /dev/null
    node dev/data/web_corpus.mjs "$D" --full
  fi
fi

# 2. clean: URL filter, extraction, language, Gopher / C4 / FineWeb filters, dedup, PII
# (Debian's docs are technical: C4's curly-bracket rule would drop every page with shell code,
# so it is relaxed here; every other threshold is the published one)
./webclean --force --lang "$lang" --c4-allow-curly "$warc" -o "$D/clean.jsonl" --stats "$D/stats.json" \
  --rejects "$D/rejects.jsonl"
echo "kept $(wc -l < "$D/clean.jsonl") documents; counts per stage in $D/stats.json, dropped pages in $D/rejects.jsonl"

# 3. shards: GPT-2 tokens, 10 documents held out for validation
./tokenize shards --format jsonl --val-docs 10 "$D/clean.jsonl" --out "$D/debian"

# 4. train: 4 layers, 128 channels, context 256 (~7M parameters, most in the token table),
#    the settings of scripts/train_tinyshakespeare_cpu.sh
exec ./train_gpt2 -e L4:C128:H4:T256 -i "$D/debian_train_*.bin" -j "$D/debian_val_*.bin" \
  -b 16 -t 64 -x 300 -l 1e-3 -u 20 -q 0.1 -c 0.1 -v 50 -m 16 -s 100 -g 64 --top_k 40 \
  -o out/webclean_cpu "$@"
