#!/usr/bin/env bash
# Kill test: a run that is SIGKILLed at random moments and resumed (-y 1) each time ends with
# the same model, optimizer/data state, main.log and samples.txt, byte for byte, as a run that
# was never interrupted. 14 cycles: two of three kill at a random moment, every third the moment
# a checkpoint file is being written (its temporary file exists; the next start must remove it). Tiny model, checkpoint every step, shuffled
# data, val loss and samples every 5 steps, so every random stream and log line is exercised.
source "$(dirname "$0")/lib.sh"
tmpdir kill
rm -rf "$TMP"; mkdir -p "$TMP"
$PY dev/test/driver_files.py "$TMP/data" || { notok kill_test_data "driver_files.py failed"; finish; }
STEPS=40
args=(-e L2:C48:H2:V97:T64 -b 4 -t 32 -x $STEPS -n 1 -nk 2 -s 5 -g 8 -v 5 -m 2 --shuffle 1 --seed 7
      -i "$TMP/data/train.bin" -j "$TMP/data/val.bin" --tokenizer none)
./train_gpt2 "${args[@]}" -o "$TMP/straight" > "$TMP/straight.out" 2>&1 || { notok kill_reference_run "$(tail -n 3 "$TMP/straight.out")"; finish; }
start=$(date +%s%N)
./train_gpt2 "${args[@]}" -o "$TMP/timing" > /dev/null 2>&1
run_ms=$(( ($(date +%s%N) - start) / 1000000 ))

RANDOM=20240611
kills=0; during_write=0; cycles=0
while [ $cycles -lt 14 ]; do
    cycles=$((cycles + 1))
    ./train_gpt2 "${args[@]}" -o "$TMP/killed" -y 1 > "$TMP/cycle.out" 2>&1 &
    pid=$!
    if [ $((cycles % 3)) = 0 ]; then
        # every third cycle: the moment a checkpoint file is being written (its .tmp exists)
        for _ in $(seq 20000); do
            compgen -G "$TMP/killed/*.tmp" > /dev/null && break
            kill -0 $pid 2> /dev/null || break
        done
    else
        # a random moment within a twentieth of an uninterrupted run: on average a cycle then
        # gets through 1/40 of the run, so 14 cycles end well before the run does (the longer
        # sixth let the run finish after about 12 cycles, leaving too few kills on a fast machine)
        delay_ms=$(( RANDOM % (run_ms / 20 + 10) + 5 ))
        sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    fi
    if kill -KILL $pid 2> /dev/null; then
        wait $pid 2> /dev/null
        kills=$((kills + 1))
        compgen -G "$TMP/killed/*.tmp" > /dev/null && during_write=$((during_write + 1))
    else
        wait $pid || { notok kill_resume_run "cycle $cycles exited with an error: $(tail -n 2 "$TMP/cycle.out")"; finish; }
    fi
done
# a final resume finishes the run whatever state the last kill left
./train_gpt2 "${args[@]}" -o "$TMP/killed" -y 1 > "$TMP/final.out" 2>&1 || notok kill_final_resume "$(tail -n 2 "$TMP/final.out")"
echo "kill test: $cycles cycles, $kills kills, $during_write while a checkpoint was being written (a run takes ${run_ms} ms)"
if [ $kills -ge 10 ] && [ $during_write -ge 3 ]; then ok kill_cycles_enough; else notok kill_cycles_enough "$kills kills, $during_write during writes"; fi
step=$(printf '%08d' $STEPS)
for f in model_$step.bin state_${step}_00000.bin main.log samples.txt; do
    if cmp -s "$TMP/straight/$f" "$TMP/killed/$f"; then ok "kill_resume_equal_$f"; else notok "kill_resume_equal_$f" "$(cmp "$TMP/straight/$f" "$TMP/killed/$f" 2>&1 | head -n 1)"; fi
done
if ls "$TMP/killed"/*.tmp > /dev/null 2>&1; then notok kill_no_temporary_files "$(ls "$TMP/killed"/*.tmp)"; else ok kill_no_temporary_files; fi
finish
