#!/usr/bin/env bash
# Data parallelism under OpenMPI.
# llmc/dist.h: all-reduce, reduce-scatter (uneven shards), all-gather, double sums against locally
# computed sums at 1, 2 and 3 ranks; ranks that disagree refuse together; a rank that hangs makes
# every rank exit non-zero within the collective timeout.
# The CPU trainer (make ... USE_MPI=1): same seed and total batch at N = 1, 2, 3 give the same
# per-step losses and final weights within 1e-6 relative (the gradient sum over ranks adds in
# another order than one process accumulating its micro-steps: fp32 rounding, ~1e-7; AdamW turns
# the rounding noise of zero gradients into lr-sized steps, see compare_runs), -z 1 equals
# -z 0 (bitwise: AdamW is elementwise, and at N = 2 a sum of two is order-free), a run killed and
# resumed at N = 2 equals an uninterrupted one byte for byte, a killed rank ends the job, and bad
# launches give one error line.
source "$(dirname "$0")/lib.sh"
tmpdir dist
if ! command -v mpirun > /dev/null || ! command -v mpicc > /dev/null; then
    skip mpi_present "no OpenMPI (apt-get install openmpi-bin libopenmpi-dev)"; finish
fi
if ! make -s build/test/dist_test > "$TMP/build.log" 2>&1; then notok build_dist_test "$(tail -n 3 "$TMP/build.log" | tr '\n' ' ')"; finish; fi
MPIRUN=(mpirun --allow-run-as-root --oversubscribe)
for np in 1 2 3; do
    for n in 1 7 100003; do
        if "${MPIRUN[@]}" -np $np build/test/dist_test check $n > "$TMP/c.log" 2>&1; then
            ok "collectives_np${np}_n${n}"
        else
            notok "collectives_np${np}_n${n}" "$(tail -n 3 "$TMP/c.log" | tr '\n' ' ')"
        fi
    done
done
"${MPIRUN[@]}" -np 3 build/test/dist_test mismatch > "$TMP/mismatch.log" 2>&1
rc=$?
if [ $rc -ne 0 ] && [ "$(grep -c '^error: ' "$TMP/mismatch.log")" -eq 1 ] && grep -q 'rank 2 of 3 runs with other options' "$TMP/mismatch.log"; then
    ok mismatch_refused_with_one_error_line
else
    notok mismatch_refused_with_one_error_line "rc=$rc: $(head -c 300 "$TMP/mismatch.log" | tr '\n' '|')"
fi
start=$(date +%s)
timeout 60 "${MPIRUN[@]}" -np 3 build/test/dist_test hang 30 > "$TMP/hang.log" 2>&1
rc=$?
took=$(( $(date +%s) - start ))
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $took -lt 20 ] && grep -q 'no answer from the other ranks within 2 s' "$TMP/hang.log"; then
    ok hung_rank_ends_the_job_in_${took}s
else
    notok hung_rank_ends_the_job "rc=$rc after ${took}s: $(head -c 300 "$TMP/hang.log" | tr '\n' '|')"
fi

# ---- the CPU trainer over several processes ----------------------------------------------------
if ! make -s build/test/train_gpt2_mpi > "$TMP/build_trainer.log" 2>&1; then
    notok build_train_gpt2_mpi "$(tail -n 3 "$TMP/build_trainer.log" | tr '\n' ' ')"; finish
fi
$PY dev/test/driver_files.py "$TMP/data" > /dev/null || { notok dist_data "driver_files.py failed"; finish; }
# total batch 2*16*6 = 192 tokens: 6 micro-batches of B*T, split over 1, 2 or 3 ranks
args=(-e L2:C48:H2:V97:T64 -b 2 -t 16 -d 192 -x 6 -l 3e-3 -c 0.1 -v 3 -m 2 -s 0 --seed 5
      -i "$TMP/data/train.bin" -j "$TMP/data/val.bin" --tokenizer none)
train() { # NAME NP ARGS...: runs the trainer on NP ranks into $TMP/NAME; stdout in $TMP/NAME.out
    local name=$1 np=$2
    shift 2
    rm -rf "$TMP/$name"
    OMP_NUM_THREADS=1 timeout 300 "${MPIRUN[@]}" -np "$np" build/test/train_gpt2_mpi "${args[@]}" -o "$TMP/$name" "$@" \
        > "$TMP/$name.out" 2>&1
}
compare_runs() { # NAME_A NAME_B: per-step losses and final weights within 1e-6 relative
    $PY - "$TMP/$1" "$TMP/$2" <<'PYEOF'
import re, sys
import numpy as np
a, b = sys.argv[1], sys.argv[2]
def losses(d):
    return [float(x) for x in re.findall(r"^step +\d+/\d+ \| loss ([0-9.]+)", open(d + ".out").read(), re.M)]
la, lb = losses(a), losses(b)
if len(la) != 6 or len(lb) != 6:
    sys.exit(f"step lines: {len(la)} and {len(lb)}")
worst = max(abs(x - y) / abs(y) for x, y in zip(la, lb))
def weights(d):
    raw = open(d + "/model_00000006.bin", "rb").read()
    h = np.frombuffer(raw[:1024], dtype=np.int32)
    return np.frombuffer(raw[1024:], dtype=np.float32), h
(wa, h), (wb, _) = weights(a), weights(b)
# The key bias is left out: its gradient is zero in exact arithmetic (a constant added to every
# key adds the same q.b to a row's scores, which softmax ignores), so what both runs compute is
# rounding noise, and AdamW scales noise up to steps of size lr, different for any two summation
# orders. Every other weight must agree: the distance of the weight vectors, relative to its norm.
maxT, V, L, NH, C, Vp = (int(x) for x in h[2:8])
keep = np.ones(wa.size, bool)
qkvb = Vp * C + maxT * C + 2 * L * C + L * 3 * C * C
for l in range(L):
    keep[qkvb + l * 3 * C + C: qkvb + l * 3 * C + 2 * C] = False
d = (wa - wb)[keep]
werr = float(np.linalg.norm(d) / np.linalg.norm(wb[keep]))
emax = float(np.max(np.abs(d)) / np.max(np.abs(wb)))
print(f"losses {worst:.2e}, weights {werr:.2e} relative (largest element {emax:.1e} of the largest weight)")
if worst > 1e-6 or werr > 1e-6:
    sys.exit(f"losses differ by {worst:.2e}, weights by {werr:.2e} (limit 1e-6)")
PYEOF
}
for run in "np1 1" "np2 2" "np3 3" "np2_z1 2 -z 1" "np3_z1 3 -z 1"; do
    # shellcheck disable=SC2086
    train $run || notok "train_${run%% *}" "$(grep -m 2 -E 'error' "$TMP/${run%% *}.out" | tr '\n' ' ')"
done
for pair in "np2 np1" "np3 np1" "np2_z1 np1" "np3_z1 np1" "np3_z1 np3"; do
    set -- $pair
    if why=$(compare_runs "$1" "$2" 2>&1); then ok "same_as_${2}_${1}: $why"; else notok "same_as_${2}_${1}" "$why"; fi
done
if cmp -s "$TMP/np2/model_00000006.bin" "$TMP/np2_z1/model_00000006.bin"; then ok zero1_bitwise_equal_zero0_np2
else notok zero1_bitwise_equal_zero0_np2 "model files differ"; fi
if grep -q 'data parallel.*3 ranks, ZeRO-1' "$TMP/np3_z1.out" && [ "$(grep -c '^step ' "$TMP/np3_z1.out")" -eq 6 ]; then
    ok rank0_alone_prints_and_reports_the_plan
else
    notok rank0_alone_prints_and_reports_the_plan "$(grep -c '^step ' "$TMP/np3_z1.out") step lines"
fi

# killed (a rank gets SIGKILL after the checkpoint of step 2) and resumed at N = 2: byte-equal.
# 30 steps, so the run is still going when the kill lands however fast the machine is
train straight 2 -z 1 -n 2 -x 30
rm -rf "$TMP/killed"
OMP_NUM_THREADS=1 "${MPIRUN[@]}" -np 2 build/test/train_gpt2_mpi "${args[@]}" -o "$TMP/killed" -z 1 -n 2 -x 30 \
    > "$TMP/killed1.out" 2>&1 &
job=$!
for _ in $(seq 600); do [ -f "$TMP/killed/DONE_00000002" ] && break; sleep 0.02; done
pkill -KILL -f "build/test/train_gpt2_mpi.*$TMP/killed" 2> /dev/null
wait $job 2> /dev/null
OMP_NUM_THREADS=1 timeout 300 "${MPIRUN[@]}" -np 2 build/test/train_gpt2_mpi "${args[@]}" -o "$TMP/killed" -z 1 -n 2 -x 30 -y 1 \
    > "$TMP/killed2.out" 2>&1 || notok resume_np2 "$(grep -m 2 error "$TMP/killed2.out")"
if grep -qE 'resumed from step ([2-9]|1[0-9]|2[0-8]) ' "$TMP/killed2.out"; then ok killed_run_resumed_np2
else notok killed_run_resumed_np2 "$(head -c 300 "$TMP/killed2.out")"; fi
for f in model_00000030.bin state_00000030_00000.bin state_00000030_00001.bin main.log; do
    if cmp -s "$TMP/straight/$f" "$TMP/killed/$f"; then ok "resumed_np2_equal_$f"; else notok "resumed_np2_equal_$f" "differs"; fi
done

# a rank killed mid-run: every rank exits non-zero, within 60 s
rm -rf "$TMP/victim"
start=$(date +%s)
OMP_NUM_THREADS=1 timeout 120 "${MPIRUN[@]}" -np 3 build/test/train_gpt2_mpi "${args[@]}" -x 100000 -v 0 -o "$TMP/victim" \
    --dist_timeout 20 > "$TMP/victim.out" 2>&1 &
job=$!
for _ in $(seq 600); do grep -q '^step ' "$TMP/victim.out" 2> /dev/null && break; sleep 0.05; done
victim=$(pgrep -f "build/test/train_gpt2_mpi.*$TMP/victim" | tail -n 1)
kill -KILL "$victim" 2> /dev/null
wait $job
rc=$?
took=$(( $(date +%s) - start ))
left=$(pgrep -f "build/test/train_gpt2_mpi.*$TMP/victim" | wc -l)
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$left" -eq 0 ] && [ $took -lt 60 ]; then ok killed_rank_ends_job_in_${took}s
else notok killed_rank_ends_job "rc=$rc after ${took}s, $left processes left"; fi

# bad launches: exactly one error line
one_error() { # NAME SUBSTRING: the last run's output has exactly one "error:" line, with SUBSTRING
    local out=$TMP/bad.out
    if [ "$rc" -ne 0 ] && [ "$(grep -c 'error:' "$out")" -eq 1 ] && grep -q -- "$2" "$out"; then ok "$1"
    else notok "$1" "rc=$rc: $(grep 'error' "$out" | head -n 3 | tr '\n' '|')"; fi
}
OMP_NUM_THREADS=1 timeout 120 "${MPIRUN[@]}" -np 1 build/test/train_gpt2_mpi "${args[@]}" -l 1e-3 : \
    -np 1 build/test/train_gpt2_mpi "${args[@]}" -l 2e-3 > "$TMP/bad.out" 2>&1; rc=$?
one_error mismatched_flags_refused "rank 1 of 2 runs with other flags"
train bad 3 -d 128; rc=$?
one_error batch_not_divisible_by_ranks "not a multiple of B\*T\*processes"
train_resume() { OMP_NUM_THREADS=1 timeout 120 "${MPIRUN[@]}" -np "$1" build/test/train_gpt2_mpi "${args[@]}" -o "$TMP/np2" -y 1 "${@:2}" > "$TMP/bad.out" 2>&1; }
train_resume 3 -d 192; rc=$?
one_error resume_with_other_n_refused "resume with 2 processes"
train_resume 2 -z 1; rc=$?
one_error resume_with_other_zero_refused "resume with -z 0"
finish
