#!/usr/bin/env bash
# The host-side parts of train_gpt2.cu, on a machine without a GPU: random init against
# PyTorch's, bf16 conversion, activation sizing (dev/test/gpu_host_test.cu). t_cuda_build builds
# every CUDA target warning-free; the GPU checks themselves are dev/test/gpu_check.sh (doc/gpu.md).
# Where cuDNN is installed, its attention graphs are validated by cuDNN, and its heuristics must
# offer deterministic engines for them on an H200 and an A100 (dev/test/cudnn_graph_test.cu).
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

# the cuDNN attention graphs (llmc/cudnn_att.cuh) pass cuDNN's validation without a GPU, and a
# broken graph does not; where cuDNN is installed
cudnn_home=${CUDA_HOME:-/usr/local/cuda}
if [ -f "$cudnn_home/include/cudnn.h" ] || [ -f /usr/include/cudnn.h ] || [ -f /usr/include/x86_64-linux-gnu/cudnn.h ]; then
    if ! make -s build/test/cudnn_graph_test > "$TMP/cudnn_build.log" 2>&1; then
        notok cudnn_graph_test_build "$(grep -m3 -i error "$TMP/cudnn_build.log" | tr '\n' ' ')"
    else
        build/test/cudnn_graph_test || fails=$((fails + 1))
        build/test/cudnn_graph_test broken > "$TMP/cudnn_broken.log" 2>&1
        rc=$?
        if [ "$rc" -eq 1 ] && grep -q '^error: cuDNN' "$TMP/cudnn_broken.log"; then
            ok cudnn_graph_broken_refused
        else
            notok cudnn_graph_broken_refused "exit $rc: $(tail -n 1 "$TMP/cudnn_broken.log")"
        fi
        # engines for H200 / A100 descriptions: cuDNN's support checks load libcuda, so without a
        # driver the CUDA toolkit's stub stands in (its calls fail; only the checks run)
        libdir=""
        if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then
            for d in "$cudnn_home/lib64/stubs" "$cudnn_home/lib/stubs" "$cudnn_home/targets/x86_64-linux/lib/stubs"; do
                if [ -f "$d/libcuda.so" ]; then
                    mkdir -p "$TMP/stub" && ln -sf "$d/libcuda.so" "$TMP/stub/libcuda.so.1" && libdir="$TMP/stub"
                    break
                fi
            done
        fi
        LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" build/test/cudnn_graph_test engines \
            2> "$TMP/cudnn_engines.log" || fails=$((fails + 1))
    fi
else
    skip cudnn_graph "no cudnn.h in $cudnn_home/include or /usr/include"
fi
finish
