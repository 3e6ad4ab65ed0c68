#!/usr/bin/env bash
# The host-side parts of train_gpt2.cu, on a machine without a GPU: random init against
# PyTorch's, bf16 conversion, activation sizing (dev/test/gpu_host_test.cu). t_cuda_build builds
# every CUDA target warning-free; the GPU checks themselves are dev/test/gpu_check.sh (doc/gpu.md).
# Skipped (one "skip" line, not a failure) where there is no nvcc.
source "$(dirname "$0")/lib.sh"
tmpdir gpu
export PATH="/usr/local/cuda/bin:$PATH"
if ! command -v nvcc > /dev/null; then
    skip gpu_host "no nvcc in PATH or /usr/local/cuda/bin"
    finish
fi

# host-side checks against a fresh PyTorch init (L2 C32 V300 -> Vp 384, so wte has padding)
if ! "$PY" train_gpt2.py --n_layer 2 --n_head 2 --n_embd 32 --vocab_size 300 --block_size 64 --batch_size 2 \
    --seq_len 16 --steps 0 --seed 1234 --output_dir "$TMP/ref" > "$TMP/ref.log" 2>&1; then
    notok gpu_host_reference "$(tail -n 2 "$TMP/ref.log" | tr '\n' ' ')"
elif ! make -s build/test/gpu_host_test > "$TMP/host_build.log" 2>&1; then
    notok gpu_host_test_build "$(grep -m3 -i error "$TMP/host_build.log" | tr '\n' ' ')"
else
    build/test/gpu_host_test "$TMP/ref/model.bin" 1234 || fails=$((fails + 1))
fi
finish
