#!/usr/bin/env bash
# Generation tokens/s: chat's KV-cache path (llmc/generate.h, dev/bench/chat_bench.c) against
# PyTorch with a KV cache (dev/bench/chat_bench.py) on the same weights, same machine, same run.
# Models: d12 (124M) and a small one (L4 C256 H4), random init; batch 1 and 8; a 256-token prompt
# plus 256 new tokens, greedy; 2 threads each. The two programs alternate, REPEATS times each, and
# the medians are reported with the ratio, the prompt's time to first token and the KV cache size.
#   dev/bench/chat_bench.sh [REPEATS (default 3)] [--quick: 64 + 64 tokens]
# Environment: MODELS="small d12", BATCHES="1 8", THREADS=2 (threads per program).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-/usr/bin/python3}
REPEATS=${1:-3}
P=256 N=256
[ "${2:-}" = "--quick" ] && P=64 N=64
THREADS=${THREADS:-2}
export OMP_NUM_THREADS=$THREADS
# the 2 cores are shared: spinning OpenMP barriers (libgomp's default) then lose whole time slices
# between the many small parallel regions of a decode step; both programs sleep at barriers
export OMP_WAIT_POLICY=passive
W=build/bench/chat
mkdir -p "$W"
make -s build/bench/chat_bench
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores visible; $THREADS threads per program; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for model in ${MODELS:-small d12}; do
  case $model in
    small) flags=(--n_layer 4 --n_head 4 --n_embd 256) ;;
    d12) flags=(--n_layer 12 --n_head 12 --n_embd 768) ;;
  esac
  if [ ! -f "$W/$model/model.bin" ]; then
    "$PY" train_gpt2.py "${flags[@]}" --vocab_size 50257 --block_size 1024 --batch_size 1 --seq_len 8 --steps 0 \
      --output_dir "$W/$model" > /dev/null
  fi
  for B in ${BATCHES:-1 8}; do
    : > "$W/res_${model}_$B.txt"
    for r in $(seq "$REPEATS"); do
      ./build/bench/chat_bench "$W/$model/model.bin" $B $P $N $r >> "$W/res_${model}_$B.txt"
      "$PY" dev/bench/chat_bench.py "$W/$model/model.bin" $B $P $N $r "$THREADS" >> "$W/res_${model}_$B.txt"
    done
    "$PY" - "$W/res_${model}_$B.txt" "$model" "$B" "$P" "$N" <<'EOF'
import re, statistics, sys
rows = [dict(re.findall(r"(\w+)=([\d.]+)", l), who=l.split()[0]) for l in open(sys.argv[1])]
med = lambda who, k: statistics.median(float(r[k]) for r in rows if r["who"] == who)
c, t = med("c", "decode_tok_s"), med("torch", "decode_tok_s")
print(f"{sys.argv[2]:>5} B={sys.argv[3]} prompt {sys.argv[4]} + {sys.argv[5]} new: C {c:8.1f} tok/s, "
      f"PyTorch {t:8.1f} tok/s, ratio {c / t:5.2f}x | time to first token C {med('c', 'prompt_ms'):7.0f} ms, "
      f"PyTorch {med('torch', 'prompt_ms'):7.0f} ms | KV cache {med('c', 'kv_mib'):.0f} MiB "
      f"({len(rows) // 2} runs each, medians)")
EOF
  done
done
