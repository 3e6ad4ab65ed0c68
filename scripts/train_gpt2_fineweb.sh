#!/usr/bin/env bash
# GPT-2 from scratch on FineWeb with the GPU trainer: 124M, 350M, 774M or 1558M parameters.
# Hyperparameters follow the GPT-3 paper (Brown et al. 2020, Table 2.1: learning rate and batch
# per model size; warmup, cosine decay to 10%, weight decay 0.1, clip 1.0, AdamW betas 0.9/0.95)
# with GPT-2's context of 1024 and vocabulary. It restarts itself with -y 1 after a crash until
# the last step's checkpoint is complete, so it can be re-run (or re-queued) at any time.
#
#   scripts/train_gpt2_fineweb.sh 124M                       # one GPU
#   LAUNCH="mpirun -np 8" scripts/train_gpt2_fineweb.sh 350M # eight GPUs on this node
#   LAUNCH="mpirun -np 16 --hostfile scripts/cluster/hostfile.example" scripts/train_gpt2_fineweb.sh 1558M
#   sbatch scripts/cluster/gpt2.sbatch 774M                  # Slurm (see that file)
# Environment: LAUNCH (the launcher prefix; empty: one process), DATA (shard directory, default
# data/fineweb10B; make it with dev/data/fineweb.sh), OUT (default out/gpt2_SIZE), B (micro-batch
# per GPU: lower it if a GPU runs out of memory; the total batch stays the same through gradient
# accumulation), EXTRA (more trainer flags).
# What each size needs (H100/H200-class GPUs, bf16): doc/distributed.md.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:?usage: scripts/train_gpt2_fineweb.sh 124M|350M|774M|1558M}
# model, learning rate, tokens per step, steps, micro-batch per GPU at T=1024 on an 80 GB GPU
case "$size" in
    124M)  model=d12; lr=6e-4;   batch=524288;  steps=19073; b=64 ;;  # 10B tokens
    350M)  model=d24; lr=3e-4;   batch=524288;  steps=57220; b=32 ;;  # 30B tokens
    774M)  model=d36; lr=2.5e-4; batch=524288;  steps=76294; b=16 ;;  # 40B tokens
    1558M) model=d48; lr=2e-4;   batch=1048576; steps=32000; b=16 ;;  # 33.5B tokens
    *) echo "error: size '$size': want 124M, 350M, 774M or 1558M" >&2; exit 1 ;;
esac
# FineWeb's 10B sample (dev/data/fineweb.sh) serves 124M for one epoch; the larger runs read it
# several times over unless DATA points at more tokens (the loader starts a new epoch by itself).
data=${DATA:-data/fineweb10B}
out=${OUT:-out/gpt2_$size}
b=${B:-$b}
launch=${LAUNCH:-}
zero=0
case "$launch" in *mpirun*|*srun*|*mpiexec*) zero=1 ;; esac  # shard the optimizer state when several ranks
compgen -G "$data/*_train_*.bin" > /dev/null || {
    echo "error: no training shards in $data (dev/data/fineweb.sh makes them; or set DATA)" >&2; exit 1; }
make -s train_gpt2cu ${USE_MPI:+USE_MPI=1}
hellaswag=()  # HellaSwag accuracy at every evaluation when its file is there (make hellaswag)
[ -f data/hellaswag/hellaswag_val.bin ] && hellaswag=(-h 1 --hellaswag data/hellaswag/hellaswag_val.bin)
done_marker=$(printf '%s/DONE_%08d' "$out" "$steps")
tries=0
while [ ! -f "$done_marker" ]; do
    # shellcheck disable=SC2086  # LAUNCH and EXTRA are word lists on purpose
    $launch ./train_gpt2cu -e "$model" -i "$data/*_train_*.bin" -j "$data/*_val_*.bin" -o "$out" -y 1 \
        -b "$b" -t 1024 -d "$batch" -x "$steps" -l "$lr" -u 700 -k cosine -q 0.1 -c 0.1 --grad_clip 1.0 \
        -v 250 -m 20 "${hellaswag[@]}" -s 1000 -n 2000 -z "$zero" ${EXTRA:-} && continue
    tries=$((tries + 1))
    [ "$tries" -lt 20 ] || { echo "error: the trainer failed $tries times; see $out/main.log" >&2; exit 1; }
    echo "trainer exited with an error; resuming from the newest checkpoint in 10 s ($tries)" >&2
    sleep 10
done
echo "done: $out (plot: dev/plot_loss.py $out/main.log $out/loss.png)"
