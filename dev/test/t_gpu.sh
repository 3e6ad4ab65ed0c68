#!/usr/bin/env bash
# The host-side parts of train_gpt2.cu, on a machine without a GPU: random init against
# PyTorch's, bf16 conversion, activation sizing (dev/test/gpu_host_test.cu). t_cuda_build builds
# every CUDA target warning-free; the GPU checks themselves are scripts/gpu_check.sh (doc/gpu.md).
# Skipped, with an ok line saying so, where there is no nvcc.
set -u
cd "$(dirname "$0")/../.." || exit 1
PY=${PY:-/usr/bin/python3}
TMP=${TEST_TMP:-build/test}/gpu
rm -rf "$TMP"; mkdir -p "$TMP"
fails=0
ok() { echo "ok $1"; }
bad() { echo "not ok $1: $2"; fails=$((fails + 1)); }

NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
if [ ! -x "$NVCC" ]; then
  ok "gpu_host (skipped: no nvcc)"
  exit 0
fi

# host-side checks against a fresh PyTorch init (L2 C32 V300 -> Vp 384, so wte has padding)
if ! "$PY" train_gpt2.py --n_layer 2 --n_head 2 --n_embd 32 --vocab_size 300 --block_size 64 --batch_size 2 \
    --seq_len 16 --steps 0 --seed 1234 --output_dir "$TMP/ref" > "$TMP/ref.log" 2>&1; then
  bad gpu_host_reference "$(tail -n 2 "$TMP/ref.log" | tr '\n' ' ')"
elif ! "$NVCC" -O2 -std=c++17 -gencode arch=compute_80,code=sm_80 -o "$TMP/gpu_host_test" dev/test/gpu_host_test.cu \
    -lcublasLt -lpthread > "$TMP/host_build.log" 2>&1; then
  bad gpu_host_test_build "$(grep -m3 -i error "$TMP/host_build.log" | tr '\n' ' ')"
else
  "$TMP/gpu_host_test" "$TMP/ref/model.bin" 1234 || fails=$((fails + 1))
fi
[ "$fails" -eq 0 ]
