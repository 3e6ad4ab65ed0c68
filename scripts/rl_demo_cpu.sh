#!/usr/bin/env bash
# Reinforcement learning after fine-tuning, on the CPU (doc/rl.md):
#   1. the fine-tuning demo's model (scripts/chat_demo_cpu.sh, run here unless its output exists)
#   2. practice problems from the training split of its synthetic tasks (chat_synth.py --rl)
#   3. GRPO with rl: K samples per problem, rewarded by exact match, pushed up relative to their
#      group; held-out pass@1 (greedy) and pass@8 (sampled) measured before and after
#   4. a plot of the run (reward per step, held-out pass@1) to DIR/rl.png
# Prints "pass@1 before X after Y" on the held-out questions of the fine-tuning demo.
#   scripts/rl_demo_cpu.sh [--sft MODEL.bin] [--chat-demo DIR] [--out DIR] [--steps N] [--seed S]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/usr/bin/python3}
# libgomp spins at its barriers by default: on a busy machine the many small parallel regions of
# decoding then lose whole time slices (doc/chat.md); passive waiting costs nothing here
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
sft="" demo=out/chat_demo out=out/rl_demo steps=60 seed=1
while [ $# -gt 0 ]; do
  case "$1" in
    --sft) sft="${2:?--sft needs a checkpoint}"; shift 2 ;;
    --chat-demo) demo="${2:?--chat-demo needs a directory}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --steps) steps="${2:?}"; shift 2 ;;
    --seed) seed="${2:?}"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 1 ;;
  esac
done
make -s rl chat gpt2_tokenizer.bin
# 1. the fine-tuned model (the chat demo's defaults: 300 steps)
if [ -z "$sft" ]; then
  sft="$demo/sft/model_00000300.bin"
  if [ ! -f "$sft" ]; then
    echo "== no fine-tuned model at $sft: running scripts/chat_demo_cpu.sh --out $demo"
    bash scripts/chat_demo_cpu.sh --out "$demo" | grep --line-buffered -E "^(==|accuracy)"
  fi
fi
[ -f "$sft" ] || { echo "error: $sft: no such checkpoint" >&2; exit 1; }
# 2. problems: the same synthetic tasks and held-out split as the chat demo (its seed and sizes),
# plus 200 practice questions per task from the training split
mkdir -p "$out"
$PY dev/data/chat_synth.py --out "$out/data" --train 10000 --heldout 40 --rl 200 > /dev/null
if [ -f "$demo/data/heldout.jsonl" ] && ! cmp -s "$demo/data/heldout.jsonl" "$out/data/heldout.jsonl"; then
  echo "error: $out/data/heldout.jsonl differs from $demo/data/heldout.jsonl (chat demo made with other settings?)" >&2
  exit 1
fi
# 3. GRPO
echo "== GRPO from $sft: $steps steps of 8 problems x 8 samples"
# the run's directory is this demo's own: a rerun starts it over (rl refuses to start a fresh run
# over an earlier run's checkpoints, and -y 1 would only continue it)
rm -rf "$out/run"
./rl -e "$sft" -o "$out/run" --tasks "$out/data/rl.jsonl" --eval "$out/data/heldout.jsonl" -P 8 -K 8 -x "$steps" \
  -l 1e-3 -n 16 --seed "$seed" --eval_every 20 | tee "$out/rl.log" | grep --line-buffered -E "^(step +[0-9]*[05]/|held-out)"
$PY dev/plot_loss.py "$out/run/main.log" "$out/rl.png" || true
line=$(grep '^pass@1 before' "$out/rl.log")
echo "${line%% (*}"
echo "  in full: $line"
