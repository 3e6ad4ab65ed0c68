#!/usr/bin/env bash
# Whole training runs of the C trainer: step-by-step agreement with train_gpt2.py from the same
# seed and data, exact resume from a checkpoint, and atomic checkpoint files.
source "$(dirname "$0")/lib.sh"
tmpdir train
rm -rf "$TMP"; mkdir -p "$TMP"
make -s train_gpt2 || { notok build "make train_gpt2 failed"; finish; }

# 1. C vs PyTorch, 20 steps, same seed and data, losses equal to 1e-4 relative
if $PY dev/compare_train.py --workdir "$TMP/parity_small" > "$TMP/parity_small.log" 2>&1; then
  ok parity_20_steps_L2_C64_V97
else
  notok parity_20_steps_L2_C64_V97 "$(tail -n 2 "$TMP/parity_small.log" | tr '\n' ' ')"
fi
cat "$TMP/parity_small.log"
if $PY dev/compare_train.py --model L2:C48:H3:V50257:T128 --batch 2 --seq 48 --accum 3 --lr 6e-4 --seed 5 \
    --workdir "$TMP/parity_gpt2vocab" > "$TMP/parity_gpt2vocab.log" 2>&1; then
  ok parity_20_steps_gpt2_vocab_accum3
else
  notok parity_20_steps_gpt2_vocab_accum3 "$(tail -n 2 "$TMP/parity_gpt2vocab.log" | tr '\n' ' ')"
fi
cat "$TMP/parity_gpt2vocab.log"

# 2. resume: 12 steps straight vs 6 steps + checkpoint, then resume to 12 -> identical losses
data="$TMP/parity_small"
args=(-e L2:C32:H2:V97:T64 -b 4 -t 16 -d 128 -x 12 -l 1e-3 -u 2 -i "$data/train.bin" -j "" -s 0 --shuffle 1 --seed 9)
./train_gpt2 "${args[@]}" > "$TMP/straight.log" 2>&1
./train_gpt2 "${args[@]}" -o "$TMP/run" -n 6 > "$TMP/first.log" 2>&1
if [ -f "$TMP/run/DONE_00000006" ] && [ -f "$TMP/run/model_00000006.bin" ] && [ -f "$TMP/run/state_00000006_00000.bin" ]; then
  ok checkpoint_files_written
else
  notok checkpoint_files_written "$(ls "$TMP/run" 2>&1 | tr '\n' ' ')"
fi
if ls "$TMP/run"/*.tmp > /dev/null 2>&1; then notok no_temporary_files_left "$(ls "$TMP/run")"; else ok no_temporary_files_left; fi
# drop the final checkpoint so resume starts from step 6
rm -f "$TMP/run/DONE_00000012"
./train_gpt2 "${args[@]}" -o "$TMP/run" -y 1 > "$TMP/resumed.log" 2>&1
grep -q "resumed from step 6" "$TMP/resumed.log" && ok resume_finds_step_6 || notok resume_finds_step_6 "$(head -c 300 "$TMP/resumed.log")"
tail_losses() { grep -E '^step +([7-9]|1[0-2])/' "$1" | sed -E 's/.*\| loss ([0-9.]+) \| norm ([0-9.]+).*/\1 \2/'; }
if [ -n "$(tail_losses "$TMP/straight.log")" ] && [ "$(tail_losses "$TMP/straight.log")" = "$(tail_losses "$TMP/resumed.log")" ]; then
  ok resume_continues_identically
else
  notok resume_continues_identically "straight: $(tail_losses "$TMP/straight.log" | tr '\n' ' ') resumed: $(tail_losses "$TMP/resumed.log" | tr '\n' ' ')"
fi
# a corrupt state file is refused with a one-line error
cp "$TMP/run/state_00000006_00000.bin" "$TMP/state.bak"
printf 'XXXX' | dd of="$TMP/run/state_00000006_00000.bin" bs=1 seek=5000 conv=notrunc 2> /dev/null
rm -f "$TMP/run/DONE_00000012"
out=$(./train_gpt2 "${args[@]}" -o "$TMP/run" -y 1 2>&1 > /dev/null); rc=$?
if [ $rc -ne 0 ] && printf '%s' "$out" | grep -q "checksum"; then ok corrupt_state_refused; else notok corrupt_state_refused "rc=$rc $out"; fi
# main.log has train and val lines in the documented format
grep -q '^s:[0-9]* trl:' "$TMP/run/main.log" && ok main_log_format || notok main_log_format "$(head -n 3 "$TMP/run/main.log")"
finish
