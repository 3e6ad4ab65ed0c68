#!/usr/bin/env bash
# From raw text to a model that writes, on the CPU: builds the trainer and the tokenizer,
# tokenizes TinyShakespeare (a local copy from ../shared/data, else downloaded) as llm.c does,
# then trains a small GPT-2 from scratch, printing val loss and samples as it goes.
#   scripts/train_tinyshakespeare_cpu.sh [extra train_gpt2 flags...]
#   scripts/train_tinyshakespeare_cpu.sh --from FILE [flags...]
# --from FILE trains on FILE, whatever it holds, in its own data and output folders: it is
# scripts/train_text_cpu.sh FILE (see there).
set -euo pipefail
if [ "${1:-}" = "--from" ]; then
    [ $# -ge 2 ] || { echo "error: --from needs a file" >&2; exit 1; }
    from=$2
    shift 2
    exec "$(dirname "$0")/train_text_cpu.sh" "$from" "$@"
fi
cd "$(dirname "$0")/.."
make -s train_gpt2 tokenize gpt2_tokenizer.bin
if [ ! -f data/tinyshakespeare/tiny_shakespeare_train.bin ]; then
    local_copy=""
    [ -f ../shared/data/tinyshakespeare.txt ] && local_copy=../shared/data/tinyshakespeare.txt
    bash dev/data/tinyshakespeare.sh ${local_copy:+--from "$local_copy"}
fi
# 4 layers, 4 heads, 128 channels, context 256: ~7M parameters (most in the 50257-token table)
# -y 1: running this again resumes the run (or, when it is done, just ends it)
./train_gpt2 -e L4:C128:H4:T256 -b 16 -t 64 -x 300 -l 1e-3 -u 20 -q 0.1 -c 0.1 \
  -v 50 -m 16 -s 100 -g 64 --top_k 40 -o out/tinyshakespeare_cpu -y 1 "$@" || exit $?
out=out/tinyshakespeare_cpu
args=("$@")  # a later -o wins
for ((i = 0; i + 1 < ${#args[@]}; i++)); do [ "${args[i]}" = -o ] && out=${args[i + 1]}; done
dev/plot_run.sh "$out"
