#!/usr/bin/env bash
# dev/test/gpu_prebuild.sh: builds on a CPU machine everything dev/test/gpu_check.sh runs, for one
# GPU architecture, so that the GPU machine's minutes go to running, not compiling:
#
#   GPU_ARCHS=90 bash dev/test/gpu_prebuild.sh          # then, on the GPU machine:
#   PREBUILT=1 bash dev/test/gpu_check.sh
#
# Builds, into this checkout (all git-ignored): the trainers/tests and rlcu (make gpu), the GPU
# KV cache's checks kv_gpu_test and kv_gpu_testfp32 (gpu_check's RL part), fastatt/
# (-DATT_FAST=1), cudnn/ (USE_CUDNN=1, when cudnn.h is installed; CUDNN=0 leaves it out), mpi/
# (USE_MPI=1, when mpicxx is installed) and the
# kernel checks build/cuda/BF16 (with attention's cuDNN variant) and build/cuda/FP32
# (DEV_CUDA="BF16" builds one precision, DEV_CUDA=0 none: run_all.sh builds what is missing on the
# GPU machine). The step fusions (gpu_check's FUSE part) are runtime flags of the default
# binaries: nothing extra to build. Packs all of it into prebuilt.tar.gz, the one path to carry to the GPU
# machine, and prints its size (the device tool carries at most 64 MiB in at most 8 paths: sm_90-only trainers are ~4 MB each, the kernel checks ~3 MB each).
# Exit status: 0 when every build succeeded.
set -u -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
export PATH="${CUDA_HOME:-/usr/local/cuda}/bin:$PATH"
GPU_ARCHS=${GPU_ARCHS:-90}
JOBS=${JOBS:-$(nproc)}
CUDNN=${CUDNN:-1}
DEV_CUDA=${DEV_CUDA:-BF16 FP32}
fails=0
carry=(train_gpt2cu test_gpt2cu train_gpt2fp32cu test_gpt2fp32cu rlcu kv_gpu_test kv_gpu_testfp32 fastatt)

step() { # step NAME CMD...: runs CMD, one line of result
    local name=$1 t0=$SECONDS
    shift
    if "$@" >"/tmp/gpu_prebuild_$name.log" 2>&1; then
        echo "ok   $name ($((SECONDS - t0))s)"
    else
        echo "FAIL $name: see /tmp/gpu_prebuild_$name.log"
        grep -m 3 -E 'error|warning' "/tmp/gpu_prebuild_$name.log"
        fails=$((fails + 1))
    fi
}

step trainers make -B -j"$JOBS" gpu kv_gpu_test kv_gpu_testfp32 GPU_ARCHS="$GPU_ARCHS"
# gpu_check's RL part needs the tokenizer file, which is built from downloaded vocabulary files
# (make gpt2_tokenizer.bin): carried, since the GPU machine may be offline
[[ -f gpt2_tokenizer.bin ]] && carry+=(gpt2_tokenizer.bin)
mkdir -p fastatt
step fastatt make -B -j"$JOBS" fastatt/train_gpt2cu fastatt/test_gpt2cu GPU_OUT=fastatt/ \
    GPU_ARCHS="$GPU_ARCHS" GPU_DEFINES=-DATT_FAST=1
cudnn_make=()
if [[ $CUDNN != 0 ]] && [[ -f ${CUDA_HOME:-/usr/local/cuda}/include/cudnn.h || -f /usr/include/cudnn.h ||
    -f /usr/include/x86_64-linux-gnu/cudnn.h ]]; then
    cudnn_make=(USE_CUDNN=1)
    mkdir -p cudnn
    step cudnn make -B -j"$JOBS" cudnn/train_gpt2cu cudnn/test_gpt2cu GPU_OUT=cudnn/ \
        GPU_ARCHS="$GPU_ARCHS" USE_CUDNN=1
    carry+=(cudnn)
fi
# the trainer for several ranks (USE_MPI=1, NCCL + OpenMPI): gpu_check's DIST part
if command -v mpicxx >/dev/null; then
    mkdir -p mpi
    step mpi make -B -j"$JOBS" mpi/train_gpt2cu GPU_OUT=mpi/ GPU_ARCHS="$GPU_ARCHS" USE_MPI=1
    carry+=(mpi)
fi
if [[ $DEV_CUDA != 0 ]]; then
    for prec in $DEV_CUDA; do
        extra=()
        [[ $prec == BF16 ]] && extra=("${cudnn_make[@]}")
        step "dev_cuda_$prec" make -B -j"$JOBS" cuda-bench PRECISION="$prec" GPU_ARCHS="$GPU_ARCHS" "${extra[@]}"
        carry+=("build/cuda/$prec")
    done
fi
# One file to carry: the device tool takes at most 8 carried paths, and this list is longer.
# gpu_check.sh (PREBUILT=1) unpacks prebuilt.tar.gz over the checkout before it looks for binaries.
existing=()
for p in "${carry[@]}"; do [[ -e $p ]] && existing+=("$p"); done
tar -czf prebuilt.tar.gz "${existing[@]}" || fails=$((fails + 1))
mib=$(du -m prebuilt.tar.gz | cut -f1)
echo "packed into prebuilt.tar.gz: ${existing[*]}"
echo "carry: prebuilt.tar.gz (${mib} MiB)"
((mib > 64)) && echo "note: over the device tool's 64 MiB; build fewer (DEV_CUDA=BF16 or 0) and let the GPU machine build the rest"
((fails == 0))
