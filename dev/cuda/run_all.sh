#!/usr/bin/env bash
# dev/cuda/run_all.sh: builds and runs every kernel benchmark (validation against the CPU layers,
# then timing) and prints a summary table. Needs a GPU; called by dev/test/gpu_check.sh.
#
#   bash dev/cuda/run_all.sh                       # both precisions, logs in ./gpu_out/cuda
#   PRECISIONS=BF16 GPU_ARCHS=90 OUT=/tmp/x bash dev/cuda/run_all.sh
#
# Environment: PRECISIONS (default "BF16 FP32"), GPU_ARCHS (default 90), OUT (default ./gpu_out),
# TIMEOUT per program in seconds (default 90), BUDGET for the whole script in seconds (default 135:
# programs that would start later are skipped, each one's timeout is cut to what is left, so a
# caller's outer timeout never hits), JOBS for the parallel build (default: CPU count), SKIP_BUILD=1
# to run binaries built beforehand (build/cuda/<precision>/, `make cuda-bench PRECISION=...`),
# CUDNN=0 to leave out attention's cuDNN variant (built into the BF16 programs with USE_CUDNN=1
# when cudnn.h is installed).
# Each program prints "ok NAME: ..." / "not ok NAME: ..." per check and "perf NAME: ..." lines;
# the table counts them. The last line is a one-line summary. Exit status 0 iff every program that
# ran passed (programs skipped for time are listed, not failed).
set -u -o pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-./gpu_out}
mkdir -p "$OUT/cuda"
LOGDIR=$(cd "$OUT/cuda" && pwd)
PRECISIONS=${PRECISIONS:-BF16 FP32}
GPU_ARCHS=${GPU_ARCHS:-90}
TIMEOUT=${TIMEOUT:-90}
BUDGET=${BUDGET:-135}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 4)}
PROGRAMS="encoder layernorm matmul attention gelu classifier global_norm adamw kv_attention"
export PATH="${CUDA_HOME:-/usr/local/cuda}/bin:$PATH"

CUDNN_MAKE=""
if [[ ${CUDNN:-1} != 0 ]] && [[ -f ${CUDA_HOME:-/usr/local/cuda}/include/cudnn.h || -f /usr/include/cudnn.h ||
    -f /usr/include/x86_64-linux-gnu/cudnn.h ]]; then
    CUDNN_MAKE="USE_CUDNN=1"
fi
cd "$HERE/../.." || exit 1
BIN=build/cuda
rows=()
programs_ok=0
programs_all=0
programs_skipped=0
checks_ok=0
checks_bad=0
for prec in $PRECISIONS; do
    if ((BUDGET - SECONDS < 60)); then
        echo "== $prec: skipped, less than 60s of the ${BUDGET}s budget left"
        for p in $PROGRAMS; do
            rows+=("$(printf '%-12s %-5s %5s %6s %7s  %s' "$p" "$prec" 0 0 "-" "SKIPPED (budget)")")
            programs_skipped=$((programs_skipped + 1))
        done
        continue
    fi
    cudnn_args=()
    [[ $prec == BF16 && -n $CUDNN_MAKE ]] && cudnn_args=("$CUDNN_MAKE")
    echo "== build $prec (GPU_ARCHS=$GPU_ARCHS${cudnn_args[*]:+, ${cudnn_args[*]}})"
    if [[ ${SKIP_BUILD:-0} == 1 && -d $BIN/$prec ]]; then
        echo "   SKIP_BUILD=1: using the binaries in $BIN/$prec"
    elif ! make -j"$JOBS" cuda-bench PRECISION="$prec" GPU_ARCHS="$GPU_ARCHS" "${cudnn_args[@]}" >"$LOGDIR/build_$prec.log" 2>&1; then
        echo "build $prec failed:"
        grep -m 5 -E 'error|warning' "$LOGDIR/build_$prec.log"
    fi
    for p in $PROGRAMS; do
        log="$LOGDIR/${prec}_$p.log"
        if [[ ! -x "$BIN/$prec/$p" ]]; then
            programs_all=$((programs_all + 1))
            echo "not built" >"$log"
            rows+=("$(printf '%-12s %-5s %5s %6s %7s  %s' "$p" "$prec" 0 0 "-" "NOT BUILT (see build_$prec.log)")")
            checks_bad=$((checks_bad + 1))
            continue
        fi
        left=$((BUDGET - SECONDS))
        if ((left < 10)); then
            echo "skipped: ${BUDGET}s budget spent" >"$log"
            rows+=("$(printf '%-12s %-5s %5s %6s %7s  %s' "$p" "$prec" 0 0 "-" "SKIPPED (budget)")")
            programs_skipped=$((programs_skipped + 1))
            echo "-- $prec $p: skipped (budget spent)"
            continue
        fi
        programs_all=$((programs_all + 1))
        limit=$TIMEOUT
        ((limit > left)) && limit=$left
        t0=$SECONDS
        timeout -k 5 "$limit" "./$BIN/$prec/$p" >"$log" 2>&1
        rc=$?
        dt=$((SECONDS - t0))
        ok=$(grep -c '^ok ' "$log")
        bad=$(grep -c '^not ok ' "$log")
        checks_ok=$((checks_ok + ok))
        checks_bad=$((checks_bad + bad))
        if ((rc == 0 && bad == 0)); then
            status=PASS
            programs_ok=$((programs_ok + 1))
        elif ((rc == 124 || rc == 137)); then
            status="TIMEOUT after ${limit}s"
            ((bad == 0)) && checks_bad=$((checks_bad + 1))
        elif ((bad > 0)); then
            status="FAIL: $(grep -m 1 '^not ok ' "$log" | cut -c1-100)"
        else
            status="FAIL: exit $rc: $(grep -v '^\s*$' "$log" | tail -1 | cut -c1-100)"
            checks_bad=$((checks_bad + 1))
        fi
        grep '^perf ' "$log" | sed 's/^/   /'
        echo "-- $prec $p: $status ($ok ok, $bad failed, ${dt}s); so far $programs_ok/$programs_all programs passed"
        rows+=("$(printf '%-12s %-5s %5d %6d %6ss  %s' "$p" "$prec" "$ok" "$bad" "$dt" "$status")")
    done
done

echo
printf '%-12s %-5s %5s %6s %7s  %s\n' program prec ok failed time status
for r in "${rows[@]}"; do echo "$r"; done
echo
skipped=""
((programs_skipped > 0)) && skipped=", $programs_skipped skipped for time"
echo "kernel benchmarks: $programs_ok/$programs_all programs passed$skipped, $checks_ok checks ok, $checks_bad failed (logs in $LOGDIR)"
((programs_ok == programs_all))
