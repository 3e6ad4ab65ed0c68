#!/usr/bin/env bash
# The training driver shared by both trainers (llmc/train_plan.h, step_guard.h, train_state.h,
# logger.h, evaluate.h), run through the CPU trainer: flags checked together, numerical faults
# (non-finite loads refused naming the tensor, non-finite steps skipped and the run stopped),
# checkpoint integrity and ownership, resume and log cut-back, evaluation-only mode.
source "$(dirname "$0")/lib.sh"
tmpdir driver
rm -rf "$TMP"; mkdir -p "$TMP"
$PY dev/test/driver_files.py "$TMP/data" || { notok driver_test_data "driver_files.py failed"; finish; }
D=$TMP/data
M=L2:C48:H2:V97:T64
base=(-b 4 -t 32 -i "$D/train.bin" -j "$D/val.bin" -s 0 --tokenizer none)
run() { ./train_gpt2 "${base[@]}" "$@"; }

# ---- flags checked together (one line, exit 1, naming the flag)
expect_error flag_d_zero "flag -d" run -e $M -d 0
expect_error flag_d_huge_micro_steps "micro-steps" run -e $M -d 999999999872
expect_error flag_d_not_multiple "not a multiple of B*T" run -e $M -d 100
expect_error flag_m_zero "flag -m" run -e $M -m 0
expect_error flag_hellaswag_needs_evaluations "-v 0" run -e $M -h 1 -v 0 --hellaswag "$D/eval.bin"
expect_error flag_hellaswag_B_multiple_of_4 "multiple of 4" run -e $M -b 3 -h 1 --hellaswag "$D/eval.bin"
expect_error flag_hellaswag_missing_file "nothere.bin" run -e $M -h 1 --hellaswag "$TMP/nothere.bin"
expect_error flag_hellaswag_limit_needs_h "--hellaswag_limit" run -e $M --hellaswag_limit 5
expect_error flag_eps_zero "--eps" run -e $M --eps 0
expect_error flag_lr_times_decay "weight decay" run -e $M -l 2 -c 0.5
expect_error flag_n_needs_o "flag -n" run -e $M -n 5
expect_error flag_resume_needs_o "flag -y" run -e $M -y 1
expect_error flag_eval_only_needs_checkpoint "-x 0" run -e $M -x 0
expect_error flag_T_beyond_model "max_seq_len" run -e $M -t 65
expect_error memory_estimate_names_largest_B "largest B that fits" ./train_gpt2 -e d48 -b 100000 -t 1024 -i "$D/train.bin" -j ""
out=$(./train_gpt2 --help 2>&1); rc=$?
[ $rc = 0 ] && printf '%s' "$out" | grep -q -- "--hellaswag_limit" && ok help_long || notok help_long "rc=$rc"
out=$(./train_gpt2 -h 2>&1); rc=$?
[ $rc = 0 ] && printf '%s' "$out" | grep -q "usage" && ok help_bare_h || notok help_bare_h "rc=$rc $out"

# ---- a short run with checkpoints, samples and evaluations
args=(-e $M -x 8 -n 2 -nk 0 -v 4 -m 2 -s 4 -g 6 --shuffle 1 --seed 3 -h 1 --hellaswag "$D/eval.bin")
run "${args[@]}" -o "$TMP/run" > "$TMP/run.out" 2>&1 || notok run_trains "$(tail -n 2 "$TMP/run.out")"
check run_writes_checkpoints "no DONE_00000008" test -f "$TMP/run/DONE_00000008"
check run_writes_samples_file "no sample in samples.txt" grep -q "^s:8 sample" "$TMP/run/samples.txt"
check run_prints_next_commands "no next: section" grep -q "evaluate: .* -x 0" "$TMP/run.out"
n=$(sed -nE 's/^\| parameters +\| ([0-9]+).*/\1/p' "$TMP/run.out")
# the files carry our checksum tag in the header slot llm.c leaves unused, and train_gpt2.py
# (which reads like llm.c: magic, version, shape) still loads them
$PY -c "
import numpy as np, sys
h = np.fromfile('$TMP/run/model_00000008.bin', dtype='<i4', count=256)
sys.exit(0 if h[254] == 0x46534B43 and h[0] == 20240326 and h[1] == 3 else 1)" && ok checkpoint_has_checksum_slot || notok checkpoint_has_checksum_slot "header slot 254"
$PY -c "
import sys; sys.argv = ['x']; sys.path.insert(0, '.')
import train_gpt2 as t
cfg, ts = t.read_checkpoint('$TMP/run/model_00000008.bin')
sys.exit(0 if cfg.n_layer == 2 else 1)" > /dev/null 2>&1 && ok checkpoint_readable_by_reference_reader || notok checkpoint_readable_by_reference_reader "train_gpt2.py read_checkpoint failed"

# ---- integrity: damaged files and non-finite values are refused, naming the file and tensor
cp -r "$TMP/run" "$TMP/bad"
qkvw=$((128 * 48 + 64 * 48 + 2 * 48 + 2 * 48 + 5))
$PY dev/test/driver_files.py --set "$TMP/bad/model_00000008.bin" $qkvw 0.5 --keep-checksum
expect_error model_checksum_mismatch "checksum mismatch" ./train_gpt2 -e "$TMP/bad/model_00000008.bin" -x 0 -b 4 -t 32 -j "$D/val.bin"
cp "$TMP/run/model_00000008.bin" "$TMP/bad/model_00000008.bin"
$PY dev/test/driver_files.py --set "$TMP/bad/model_00000008.bin" $qkvw nan
expect_error model_nan_refused_naming_tensor "tensor qkvw" ./train_gpt2 -e "$TMP/bad/model_00000008.bin" -x 0 -b 4 -t 32 -j "$D/val.bin"
cp "$TMP/run/model_00000008.bin" "$TMP/bad/model_00000008.bin"
$PY dev/test/driver_files.py --set "$TMP/bad/model_00000008.bin" $((n - 1)) inf
expect_error model_inf_refused_naming_tensor "tensor lnfb" ./train_gpt2 -e "$TMP/bad/model_00000008.bin" -x 0 -b 4 -t 32 -j "$D/val.bin"
cp "$TMP/run/model_00000008.bin" "$TMP/bad/model_00000008.bin"
$PY dev/test/driver_files.py --set "$TMP/bad/state_00000008_00000.bin" $((n + 7)) nan
expect_error state_nan_refused_naming_tensor "AdamW v of tensor wte" run "${args[@]}" -x 10 -o "$TMP/bad" -y 1
$PY dev/test/driver_files.py --set "$TMP/bad/state_00000008_00000.bin" 3 1.0 --keep-checksum
expect_error state_checksum_mismatch "checksum mismatch" run "${args[@]}" -x 10 -o "$TMP/bad" -y 1

# ---- non-finite steps: skipped, logged, and the run stops after --max_skips in a row, leaving
# the last good checkpoint the newest. lnfw = 3e38 is finite, so the file loads, but the logits
# overflow and every loss is NaN.
rm -rf "$TMP/nan"; cp -r "$TMP/run" "$TMP/nan"
$PY dev/test/driver_files.py --set "$TMP/nan/model_00000008.bin" $((n - 96)) 3e38
out=$(run "${args[@]}" -x 20 -o "$TMP/nan" -y 1 --max_skips 3 2>&1); rc=$?
last=$(printf '%s\n' "$out" | tail -n 1)
if [ $rc = 1 ] && printf '%s' "$last" | grep -q "^error: step 11: 3 consecutive steps skipped"; then ok nonfinite_steps_stop_run; else notok nonfinite_steps_stop_run "rc=$rc $last"; fi
check nonfinite_steps_logged "no skip lines" test "$(grep -c '^s:[0-9]* skip:"non-finite loss"' "$TMP/nan/main.log")" = 3
newest=$(ls "$TMP/nan" | sed -nE 's/^DONE_0*([0-9]+)$/\1/p' | sort -n | tail -n 1)
check nonfinite_last_good_checkpoint_newest "newest is $newest" test "$newest" = 8
# outlier guard: with -sl a tiny z every step after the window fills is an outlier unless the
# loss falls; a run with a rising loss must skip some steps and say so
out=$(run -e $M -x 40 -l 0.05 -sl 0.01 --max_skips 1000 -v 0 2>&1); rc=$?
skips=$(printf '%s\n' "$out" | grep -c "skipped, no update: loss outlier")
if [ $rc = 0 ] && [ "$skips" -gt 0 ]; then ok outlier_guard_skips; else notok outlier_guard_skips "rc=$rc skips=$skips"; fi

# ---- checkpoint ownership: a fresh run never writes into another run's directory
expect_error fresh_run_refuses_old_checkpoints "holds checkpoints of an earlier run" run "${args[@]}" -o "$TMP/run"
check fresh_run_refusal_kept_checkpoints "checkpoints gone" test -f "$TMP/run/model_00000002.bin"
# partial files of a killed run are removed at start; -y 1 on an empty directory says so
mkdir -p "$TMP/fresh"; : > "$TMP/fresh/model_00000004.bin.tmp"
run "${args[@]}" -x 4 -o "$TMP/fresh" -y 1 > "$TMP/fresh.out" 2>&1
check resume_empty_dir_says_fresh "no message" grep -q "holds no checkpoint, starting fresh" "$TMP/fresh.out"
check partial_files_removed "a .tmp survived" test ! -e "$TMP/fresh/model_00000004.bin.tmp"
# a resume drops the files of a checkpoint that never got its DONE marker (killed mid-write)
cp "$TMP/fresh/model_00000004.bin" "$TMP/fresh/model_00000003.bin"; cp "$TMP/fresh/state_00000004_00000.bin" "$TMP/fresh/state_00000003_00000.bin"
run "${args[@]}" -x 6 -o "$TMP/fresh" -y 1 > "$TMP/fresh2.out" 2>&1
check orphan_checkpoint_files_removed "$(ls "$TMP/fresh" | tr '\n' ' ')" test ! -e "$TMP/fresh/model_00000003.bin" -a ! -e "$TMP/fresh/state_00000003_00000.bin" -a -e "$TMP/fresh/DONE_00000006"
# -nk keeps the newest n of this run
run "${args[@]}" -nk 2 -o "$TMP/keep" > /dev/null 2>&1
check keep_newest_two "$(ls "$TMP/keep" | tr '\n' ' ')" test "$(ls "$TMP/keep" | grep -c '^DONE_')" = 2

# ---- resume: model shape from the checkpoint; log cut back to the resumed step; identical end
cp -r "$TMP/run" "$TMP/res"
rm "$TMP/res/DONE_00000008" "$TMP/res/DONE_00000006"  # as if killed after step 7 was logged
run "${args[@]}" -e d12 -o "$TMP/res" -y 1 > "$TMP/res.out" 2>&1 || notok resume_runs "$(tail -n 2 "$TMP/res.out")"
check resume_takes_shape_from_checkpoint "did not resume at 4" grep -q "resumed from step 4" "$TMP/res.out"
expect_error resume_needs_steps_left "larger -x" run "${args[@]}" -x 5 -o "$TMP/res" -y 1
for f in main.log samples.txt model_00000008.bin state_00000008_00000.bin; do
    if cmp -s "$TMP/run/$f" "$TMP/res/$f"; then ok "resume_equal_$f"; else notok "resume_equal_$f" "$(cmp "$TMP/run/$f" "$TMP/res/$f" 2>&1)"; fi
done

# ---- evaluation only: the numbers the training run logged at step 8, nothing written
before=$(ls -la "$TMP/run" | md5sum)
out=$(./train_gpt2 -e "$TMP/run/model_00000008.bin" -x 0 -b 4 -t 32 -j "$D/val.bin" -m 2 -h 1 --hellaswag "$D/eval.bin" 2>&1); rc=$?
want_val=$(sed -nE 's/^s:8 tel:(.*)/\1/p' "$TMP/run/main.log"); got_val=$(printf '%s\n' "$out" | sed -nE 's/^val loss (.*)/\1/p')
want_acc=$(sed -nE 's/^s:8 eval:(.*)/\1/p' "$TMP/run/main.log"); got_acc=$(printf '%s\n' "$out" | sed -nE 's/^HellaSwag: ([0-9.]+) .*/\1/p')
if [ $rc = 0 ] && [ -n "$want_val" ] && [ "$want_val" = "$got_val" ]; then ok eval_only_val_loss; else notok eval_only_val_loss "rc=$rc want $want_val got $got_val"; fi
if [ -n "$want_acc" ] && awk -v a="$want_acc" -v b="$got_acc" 'BEGIN { exit !(a - b < 1e-4 && b - a < 1e-4) }'; then ok eval_only_hellaswag; else notok eval_only_hellaswag "want $want_acc got $got_acc"; fi
printf '%s' "$out" | grep -q "over 40 examples" && ok eval_only_all_examples || notok eval_only_all_examples "$(printf '%s' "$out" | grep HellaSwag)"
printf '%s' "$out" | grep -q "examples/s, ETA" && ok eval_only_progress || notok eval_only_progress "no progress line"
check eval_only_writes_nothing "directory changed" test "$before" = "$(ls -la "$TMP/run" | md5sum)"
out=$(./train_gpt2 -e "$TMP/run/model_00000008.bin" -x 0 -b 4 -t 32 -j "" -h 1 --hellaswag "$D/eval.bin" --hellaswag_limit 10 2>&1)
printf '%s' "$out" | grep -q "over 10 examples" && ok eval_only_hellaswag_limit || notok eval_only_hellaswag_limit "$(printf '%s' "$out" | tail -n 1)"
expect_error eval_only_refuses_output_dir "flag -o" ./train_gpt2 -e "$TMP/run/model_00000008.bin" -x 0 -j "$D/val.bin" -o "$TMP/x"
expect_error eval_only_needs_something "nothing to evaluate" ./train_gpt2 -e "$TMP/run/model_00000008.bin" -x 0 -j ""

# ---- step-0 checkpoint on request: the initial model, loadable
run -e $M -x 2 --checkpoint_initial 1 -o "$TMP/init" > /dev/null 2>&1
check checkpoint_initial_written "no DONE_00000000" test -f "$TMP/init/DONE_00000000"
finish
