#!/usr/bin/env bash
# The CPU trainer's bf16 mixed precision (--precision bf16, llmc/cpu_matmul_bf16.h):
#  1. every bf16 kernel this CPU runs against an exact reference (dev/test/cpu_bf16_test.c);
#     kernels it lacks (AVX512_BF16, AMX) print SKIP: they run only on a CPU that has them
#  2. logits, loss, all 16 gradients and 10 AdamW steps against PyTorch fp32, with bounds derived
#     in dev/test/gpt2_bf16_test.c, at two shapes
#  3. 20 training steps on real text: every loss and the val losses within 1e-2 relative of the
#     fp32 run (the GPU bf16 build's step tolerance; measured ~5e-3 at worst: AdamW's sign-like
#     updates of nearly-zero gradients let the two runs drift apart a little each step)
#  4. checkpoints of a bf16 run are ordinary fp32 (version 3) files holding the master weights;
#     resume continues a bf16 run identically; bad --precision values get a one-line error
source "$(dirname "$0")/lib.sh"
tmpdir cpu_bf16
make -s train_gpt2 build/test/cpu_bf16_test build/test/gpt2_bf16_test ||
    { notok build "make train_gpt2 cpu_bf16_test gpt2_bf16_test failed"; finish; }

# 1. kernels; on x86-64 also from a baseline (-march=x86-64) build, which must dispatch the same
build/test/cpu_bf16_test || fails=$((fails + 1))
if [ "$(uname -m)" = x86_64 ]; then
  if make -s build/test/cpu_bf16_test_portable > "$TMP/portable_build.log" 2>&1; then
    build/test/cpu_bf16_test_portable | sed "s/^\(not \)\{0,1\}ok /&[baseline x86-64 build] /"
    [ "${PIPESTATUS[0]}" -eq 0 ] || fails=$((fails + 1))
  else
    notok cpu_bf16_test_portable_build "$(grep -m 3 -E 'error|warning' "$TMP/portable_build.log" | tr '\n' ' ')"
  fi
fi

# 2. against PyTorch (train_gpt2.py writes the model and its fp32 debug state)
shapes=(
  "gpt2_vocab_L4_C128|--n_layer 4 --n_head 4 --n_embd 128 --batch_size 4 --seq_len 64 --seed 3"
  "odd_L3_H3_C48_V97_T37|--n_layer 3 --n_head 3 --n_embd 48 --vocab_size 97 --block_size 64 --batch_size 3 --seq_len 37 --seed 7"
)
for entry in "${shapes[@]}"; do
  name=${entry%%|*}
  dir=$TMP/$name
  mkdir -p "$dir"
  # shellcheck disable=SC2086
  if ! $PY train_gpt2.py ${entry#*|} --steps 10 --output_dir "$dir" > "$dir/ref.log" 2>&1; then
    notok "bf16_vs_pytorch_$name" "train_gpt2.py failed: $(tail -n 1 "$dir/ref.log")"
    continue
  fi
  if build/test/gpt2_bf16_test -e "$dir/model.bin" -s "$dir/debug_state.bin" > "$dir/test.log" 2>&1; then
    ok "bf16_vs_pytorch_$name"
  else
    notok "bf16_vs_pytorch_$name" "$(grep -E 'FAIL|error' "$dir/test.log" | head -n 3 | tr '\n' ' ')"
  fi
  cat "$dir/test.log"
done

# 3. 20 steps on tinyshakespeare, one token per byte (V=128), fp32 and bf16 from the same seed
if [ ! -f "$DATA_DIR/tinyshakespeare.txt" ]; then
  skip bf16_20_steps "no $DATA_DIR/tinyshakespeare.txt"
else
  $PY - "$DATA_DIR/tinyshakespeare.txt" "$TMP" << 'EOF'
import sys, numpy as np
text = np.frombuffer(open(sys.argv[1], "rb").read(), dtype=np.uint8).astype(np.uint16)
def shard(path, tokens):
    header = np.zeros(256, dtype=np.int32)
    header[0], header[1], header[2] = 20240520, 1, len(tokens)
    open(path, "wb").write(header.tobytes() + tokens.tobytes())
shard(sys.argv[2] + "/chars_train.bin", text[:200000])
shard(sys.argv[2] + "/chars_val.bin", text[200000:240000])
EOF
  args=(-e L4:C128:H4:V128:T64 -b 4 -t 64 -x 20 -l 1e-3 -i "$TMP/chars_train.bin" -j "$TMP/chars_val.bin" -v 10 -m 4 -s 0 --seed 3)
  ./train_gpt2 "${args[@]}" > "$TMP/fp32.log" 2>&1
  ./train_gpt2 "${args[@]}" --precision bf16 > "$TMP/bf16.log" 2>&1
  grep -q "precision .*bf16 matmuls" "$TMP/bf16.log" && ok bf16_run_says_so || notok bf16_run_says_so "no precision line in $TMP/bf16.log"
  losses() { grep -E '^step +[0-9]+/|^val loss' "$1" | sed -E 's/.*loss ([0-9.]+).*/\1/'; }
  verdict=$(paste <(losses "$TMP/fp32.log") <(losses "$TMP/bf16.log") | awk '
    NF == 2 { n++; r = ($2 - $1) / $1; if (r < 0) r = -r; if (r > worst) worst = r }
    END { printf "%d %.3e %s", n, worst, (n == 23 && worst <= 1e-2) ? "ok" : "bad" }')
  read -r count worst word <<< "$verdict"
  if [ "$word" = ok ]; then
    ok "bf16_20_steps_within_1e-2 (20 steps + 3 val losses, worst rel diff $worst)"
  else
    notok bf16_20_steps_within_1e-2 "$count losses compared (want 23), worst rel diff $worst"
  fi

  # 4. checkpoints and resume
  ckargs=(-e L2:C64:H2:V128:T64 -b 4 -t 32 -x 8 -l 1e-3 -i "$TMP/chars_train.bin" -j "" -s 0 --seed 5 --precision bf16)
  rm -rf "$TMP/run" "$TMP/run2"
  ./train_gpt2 "${ckargs[@]}" > "$TMP/straight.log" 2>&1
  ./train_gpt2 "${ckargs[@]}" -o "$TMP/run" -n 4 > "$TMP/first.log" 2>&1
  if $PY - "$TMP/run/model_00000004.bin" << 'EOF'
import sys, numpy as np
raw = open(sys.argv[1], "rb").read()
header = np.frombuffer(raw[:1024], dtype=np.int32)
params = np.frombuffer(raw[1024:], dtype=np.uint32)
# version 3 = fp32; master weights, not their bf16 copy: most low halves are non-zero
low = np.mean((params & 0xFFFF) != 0)
print("version", header[1], "fraction with non-zero low 16 bits", low)
sys.exit(0 if header[1] == 3 and len(params) > 0 and low > 0.9 else 1)
EOF
  then ok bf16_checkpoint_is_fp32_master_weights; else notok bf16_checkpoint_is_fp32_master_weights "$TMP/run/model_00000004.bin"; fi
  rm -f "$TMP/run/DONE_00000008"
  ./train_gpt2 "${ckargs[@]}" -o "$TMP/run" -y 1 > "$TMP/resumed.log" 2>&1
  tail_losses() { grep -E '^step +[5-8]/' "$1" | sed -E 's/.*\| loss ([0-9.]+) \| norm ([0-9.]+).*/\1 \2/'; }
  if [ -n "$(tail_losses "$TMP/straight.log")" ] && [ "$(tail_losses "$TMP/straight.log")" = "$(tail_losses "$TMP/resumed.log")" ]; then
    ok bf16_resume_continues_identically
  else
    notok bf16_resume_continues_identically "straight: $(tail_losses "$TMP/straight.log" | tr '\n' ' ') resumed: $(tail_losses "$TMP/resumed.log" | tr '\n' ' ')"
  fi
  # the fp32 trainer evaluates the bf16 run's checkpoint like any other
  check bf16_checkpoint_loads_in_fp32 "-x 0 on model_00000008.bin failed" \
    sh -c "./train_gpt2 -e $TMP/run/model_00000008.bin -x 0 -j $TMP/chars_val.bin -b 4 -t 32 -m 2 | grep -q 'val loss'"
fi

# bad values: one line, naming the flag
expect_error precision_bad_value "--precision" ./train_gpt2 --precision fp16
expect_error precision_case "--precision" ./train_gpt2 --precision BF16
expect_error precision_no_value "--precision needs a value" ./train_gpt2 --precision
finish
