#!/usr/bin/env bash
# Every CUDA program compiles and links for sm_80 and sm_90, BF16 and FP32, with every warning
# an error; the USE_CUDNN=1 trainer and test too when cuDNN is installed, and the USE_MPI=1
# trainer (NCCL + OpenMPI) when MPI is. Nothing runs (no GPU
# here): dev/test/gpu_check.sh runs them on a GPU machine.
# Skipped (one "skip" line, not a failure) where there is no nvcc, or for cuDNN no cudnn.h.
source "$(dirname "$0")/lib.sh"
tmpdir cuda_build
export PATH="/usr/local/cuda/bin:$PATH"
if ! command -v nvcc > /dev/null; then
    skip cuda_build "no nvcc in PATH or /usr/local/cuda/bin"
    finish
fi
# into a scratch directory, so binaries built for one GPU (GPU_ARCHS=90) are left alone
# rlcu: RL on the GPU (rl.cu); kv_gpu_test: the GPU KV cache's check, run by gpu_check.sh (its fp32
# twin, kv_gpu_testfp32, is the same source: the fp32 paths compile with train_gpt2fp32cu)
targets=(train_gpt2cu test_gpt2cu train_gpt2fp32cu test_gpt2fp32cu rlcu kv_gpu_test)
make -k -B -j2 "${targets[@]/#/$TMP/}" GPU_OUT="$TMP/" GPU_WERROR=1 GPU_ARCHS="80 90" > "$TMP/trainers.log" 2>&1
for target in "${targets[@]}"; do
    check "build_${target}_sm80_sm90_no_warnings" "$(grep -m 3 -E 'error|warning' "$TMP/trainers.log" | tr '\n' ' ')" \
        test -x "$TMP/$target"
done
# the trainer for several GPUs (USE_MPI=1: OpenMPI + NCCL, llmc/dist_gpu.cuh) where MPI is installed
if command -v mpicxx > /dev/null; then
    mkdir -p "$TMP/mpi"
    make -k -B "$TMP/mpi/train_gpt2cu" GPU_OUT="$TMP/mpi/" GPU_WERROR=1 GPU_ARCHS="80 90" USE_MPI=1 > "$TMP/mpi.log" 2>&1
    check "build_train_gpt2cu_mpi_nccl_sm80_sm90_no_warnings" "$(grep -m 3 -E 'error|warning' "$TMP/mpi.log" | tr '\n' ' ')" \
        test -x "$TMP/mpi/train_gpt2cu"
else
    skip build_train_gpt2cu_mpi "no mpicxx (apt-get install libopenmpi-dev)"
fi
# the cuDNN attention path (USE_CUDNN=1, llmc/cudnn_att.cuh) where cuDNN's headers are installed
cudnn_flag=()
cudnn_home=${CUDA_HOME:-/usr/local/cuda}
if [ -f "$cudnn_home/include/cudnn.h" ] || [ -f /usr/include/cudnn.h ] || [ -f /usr/include/x86_64-linux-gnu/cudnn.h ]; then
    cudnn_flag=(USE_CUDNN=1)
    mkdir -p "$TMP/cudnn"
    cudnn_targets=(train_gpt2cu) # test_gpt2cu compiles the same code again: gpu_check builds it where it runs
    make -k -B -j2 "${cudnn_targets[@]/#/$TMP/cudnn/}" GPU_OUT="$TMP/cudnn/" GPU_WERROR=1 GPU_ARCHS="80 90" USE_CUDNN=1 \
        > "$TMP/cudnn.log" 2>&1
    for target in "${cudnn_targets[@]}"; do
        check "build_${target}_cudnn_sm80_sm90_no_warnings" "$(grep -m 3 -E 'error|warning' "$TMP/cudnn.log" | tr '\n' ' ')" \
            test -x "$TMP/cudnn/$target"
    done
else
    skip build_cudnn "no cudnn.h in $cudnn_home/include or /usr/include"
fi
for precision in BF16 FP32; do
    log="$TMP/dev_cuda_$precision.log"
    extra=()
    [ "$precision" = BF16 ] && extra=("${cudnn_flag[@]}") # attention's cuDNN variant (bf16 only)
    if make -B -j2 cuda-bench PRECISION=$precision GPU_WERROR=1 CUDA_BENCH_DIR="$TMP/dev_cuda_$precision" "${extra[@]}" \
        > "$log" 2>&1; then
        ok "build_dev_cuda_benchmarks_$precision"
    else
        notok "build_dev_cuda_benchmarks_$precision" "$(grep -m 3 -E 'error|warning' "$log" | tr '\n' ' ')"
    fi
done
finish
