#!/usr/bin/env bash
# llmc/dist.h under OpenMPI: all-reduce, reduce-scatter (uneven shards), all-gather, double sums
# against locally computed sums at 1, 2 and 3 ranks; ranks that disagree refuse together; a rank
# that hangs makes every rank exit non-zero within the collective timeout.
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
finish
