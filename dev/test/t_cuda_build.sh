#!/usr/bin/env bash
# Every CUDA program compiles and links for sm_80 and sm_90, BF16 and FP32, with every warning
# an error; the USE_CUDNN=1 trainer and test too when cuDNN is installed. Nothing runs (no GPU
# here): scripts/gpu_check.sh runs them on a GPU machine.
set -u
cd "$(dirname "$0")/../.."
export PATH="/usr/local/cuda/bin:$PATH"
TMP=${TEST_TMP:-build/test}/cuda_build
mkdir -p "$TMP"
fails=0
if ! command -v nvcc > /dev/null; then
  echo "not ok nvcc_present: no nvcc in PATH or /usr/local/cuda/bin"
  exit 1
fi
# into a scratch directory, so binaries built for one GPU (GPU_ARCHS=90) are left alone
targets=(train_gpt2cu test_gpt2cu train_gpt2fp32cu test_gpt2fp32cu)
make -k -B -j2 -f dev/gpu.mk "${targets[@]/#/$TMP/}" GPU_OUT="$TMP/" GPU_WERROR=1 GPU_ARCHS="80 90" > "$TMP/trainers.log" 2>&1
for target in "${targets[@]}"; do
  if [ -x "$TMP/$target" ]; then
    echo "ok build_${target}_sm80_sm90_no_warnings"
  else
    echo "not ok build_${target}_sm80_sm90_no_warnings: $(grep -m 3 -E 'error|warning' "$TMP/trainers.log" | tr '\n' ' ')"
    fails=$((fails + 1))
  fi
done
# the cuDNN attention path (USE_CUDNN=1, llmc/cudnn_att.cuh) where cuDNN's headers and library
# are installed; without them it is skipped (an informational line, no check)
cudnn_flag=""
cudnn_home=${CUDA_HOME:-/usr/local/cuda}
if [ -f "$cudnn_home/include/cudnn.h" ] || [ -f /usr/include/cudnn.h ] || [ -f /usr/include/x86_64-linux-gnu/cudnn.h ]; then
  cudnn_flag="USE_CUDNN=1"
  mkdir -p "$TMP/cudnn"
  cudnn_targets=(train_gpt2cu test_gpt2cu)
  make -k -B -j2 -f dev/gpu.mk "${cudnn_targets[@]/#/$TMP/cudnn/}" GPU_OUT="$TMP/cudnn/" GPU_WERROR=1 GPU_ARCHS="80 90" USE_CUDNN=1 > "$TMP/cudnn.log" 2>&1
  for target in "${cudnn_targets[@]}"; do
    if [ -x "$TMP/cudnn/$target" ]; then
      echo "ok build_${target}_cudnn_sm80_sm90_no_warnings"
    else
      echo "not ok build_${target}_cudnn_sm80_sm90_no_warnings: $(grep -m 3 -E 'error|warning' "$TMP/cudnn.log" | tr '\n' ' ')"
      fails=$((fails + 1))
    fi
  done
else
  echo "skip build_cudnn: no cudnn.h in $cudnn_home/include or /usr/include (USE_CUDNN=1 not built)"
fi
if [ -f dev/cuda/Makefile ]; then
  for precision in BF16 FP32; do
    extra=()
    [ "$precision" = BF16 ] && [ -n "$cudnn_flag" ] && extra=("$cudnn_flag") # attention's cuDNN variant (bf16 only)
    if make -B -j2 -C dev/cuda all PRECISION=$precision WERROR=1 "${extra[@]}" BIN="$(cd "$TMP" && pwd)/dev_cuda_$precision" > "$TMP/dev_cuda_$precision.log" 2>&1; then
      echo "ok build_dev_cuda_benchmarks_$precision"
    else
      echo "not ok build_dev_cuda_benchmarks_$precision: $(grep -m 3 -E 'error|warning' "$TMP/dev_cuda_$precision.log" | tr '\n' ' ')"
      fails=$((fails + 1))
    fi
  done
fi
[ $fails -eq 0 ]
