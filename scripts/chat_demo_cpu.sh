#!/usr/bin/env bash
# From base model to assistant on the CPU, in minutes (doc/chat.md):
#   1. pretrain a small GPT-2 on TinyShakespeare (or reuse --base MODEL.bin)
#   2. write synthetic conversations with checkable answers (dev/data/chat_synth.py) and render
#      them to masked shards (tokenize chat)
#   3. fine-tune on them (train_gpt2 --chat_vocab: rows for the chat markers, loss on the
#      assistant's replies only), evaluating held-out questions before and after
#   4. ask a few questions with ./chat
# Prints "accuracy before X after Y" (exact match on held-out questions, all tasks).
#   scripts/chat_demo_cpu.sh [--base MODEL.bin] [--from tinyshakespeare.txt] [--out DIR]
#                            [--pretrain-steps N] [--sft-steps N]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/usr/bin/python3}
base="" from="" out=out/chat_demo pre_steps=60 sft_steps=300
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base="${2:?--base needs a checkpoint}"; shift 2 ;;
    --from) from="${2:?--from needs a text file}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --pretrain-steps) pre_steps="${2:?}"; shift 2 ;;
    --sft-steps) sft_steps="${2:?}"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 1 ;;
  esac
done
[ -z "$from" ] && [ -f ../shared/data/tinyshakespeare.txt ] && from=../shared/data/tinyshakespeare.txt
make -s train_gpt2 chat tokenize gpt2_tokenizer.bin
mkdir -p "$out"
V=50267 # GPT-2's 50257 tokens + the 10 chat markers (tokenize info gpt2_tokenizer.bin)
T=64    # context of the demo model; conversations are cut to T+1 tokens

# 1. base model
if [ -z "$base" ]; then
  base="$out/base/model_$(printf %08d "$pre_steps").bin"
  if [ ! -f "$base" ]; then
    [ -f data/tinyshakespeare/tiny_shakespeare_train.bin ] || bash dev/data/tinyshakespeare.sh ${from:+--from "$from"}
    echo "== pretraining L2:C64:H2 on TinyShakespeare, $pre_steps steps"
    ./train_gpt2 -e L2:C64:H2:T$T -b 8 -t $T -x "$pre_steps" -l 2e-3 -u 10 -q 0.1 -c 0.1 -v "$pre_steps" -m 8 -s 0 \
      -i data/tinyshakespeare/tiny_shakespeare_train.bin -j data/tinyshakespeare/tiny_shakespeare_val.bin \
      -o "$out/base" | grep --line-buffered -E "^(step +[0-9]*0/|val loss)"
  fi
fi
[ -f "$base" ] || { echo "error: $base: no such checkpoint" >&2; exit 1; }

# 2. data
$PY dev/data/chat_synth.py --out "$out/data" --train 10000 --heldout 40
./tokenize chat "$out/data/train.jsonl" --out "$out/data/chat" --val-docs 500 --max-tokens $((T + 1))

# 3. before (the base model with the new rows, no update: one step at learning rate 0), fine-tune, after
./train_gpt2 -e "$base" --chat_vocab $V -i "$out/data/chat_train.bin" -j "" -b 8 -t $T -x 1 -l 0 -s 0 \
  -o "$out/before" > "$out/before.log"
before=$($PY dev/eval_chat.py -e "$out/before/model_00000001.bin" --heldout "$out/data/heldout.jsonl" | tail -n 1)
echo "== fine-tuning on the conversations, $sft_steps steps (loss on the assistant's replies only)"
./train_gpt2 -e "$base" --chat_vocab $V -i "$out/data/chat_train.bin" -j "$out/data/chat_val.bin" -b 8 -t $T \
  -x "$sft_steps" -l 3e-3 -u 20 -q 0.1 -c 0.0 -v 100 -m 8 -s 0 --shuffle 1 -o "$out/sft" |
  grep --line-buffered -E "^(step +[0-9]*0/|val loss)"
model="$out/sft/model_$(printf %08d "$sft_steps").bin"
$PY dev/eval_chat.py -e "$model" --heldout "$out/data/heldout.jsonl" --json "$out/replies.jsonl" | tee "$out/after.txt"
after=$(tail -n 1 "$out/after.txt")
echo "accuracy before ${before#accuracy } after ${after#accuracy }"

# 4. a few questions
for q in "What is your name?" "Who made you?" "What is 12 + 7?" "Spell garden backwards."; do
  printf '> %s\n' "$q"
  ./chat -e "$model" -p "$q" --temperature 0 -n 24 2> /dev/null
done
