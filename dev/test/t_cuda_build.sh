#!/usr/bin/env bash
# Every CUDA program compiles and links for sm_80 and sm_90, BF16 and FP32, with every warning
# an error. Nothing runs (no GPU here): dev/test/gpu_check.sh runs them on a GPU machine.
# Skipped (one "skip" line, not a failure) where there is no nvcc.
source "$(dirname "$0")/lib.sh"
tmpdir cuda_build
export PATH="/usr/local/cuda/bin:$PATH"
if ! command -v nvcc > /dev/null; then
    skip cuda_build "no nvcc in PATH or /usr/local/cuda/bin"
    finish
fi
# into a scratch directory, so binaries built for one GPU (GPU_ARCHS=90) are left alone
targets=(train_gpt2cu test_gpt2cu train_gpt2fp32cu test_gpt2fp32cu)
make -k -B -j2 "${targets[@]/#/$TMP/}" GPU_OUT="$TMP/" GPU_WERROR=1 GPU_ARCHS="80 90" > "$TMP/trainers.log" 2>&1
for target in "${targets[@]}"; do
    check "build_${target}_sm80_sm90_no_warnings" "$(grep -m 3 -E 'error|warning' "$TMP/trainers.log" | tr '\n' ' ')" \
        test -x "$TMP/$target"
done
for precision in BF16 FP32; do
    log="$TMP/dev_cuda_$precision.log"
    if make -B -j2 cuda-bench PRECISION=$precision GPU_WERROR=1 CUDA_BENCH_DIR="$TMP/dev_cuda_$precision" > "$log" 2>&1; then
        ok "build_dev_cuda_benchmarks_$precision"
    else
        notok "build_dev_cuda_benchmarks_$precision" "$(grep -m 3 -E 'error|warning' "$log" | tr '\n' ' ')"
    fi
done
finish
