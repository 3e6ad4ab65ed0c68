#!/usr/bin/env bash
# Test group for dev/hf_import.py and dev/hf_export.py (Hugging Face GPT-2 <-> our checkpoints).
# The reference side is dev/test/hf_reference.py: it makes HF folders in every layout
# (safetensors, torch.save zip and legacy pickles) with its own writers and torch, and computes
# the logits as transformers' GPT2LMHeadModel does, in numpy float64. The C side is the
# trainer's own forward pass (dev/test/gpt2_logits.c includes train_gpt2.c).
#   import: every layout gives the same checkpoint, and the C logits of it equal the reference's
#   export: names, shapes (Conv1D [in, out]), config.json, tensors equal the source's, logits
#   round trip: import(export(model.bin)) is model.bin byte for byte, fp32 and bf16
#   bad inputs: one-line errors, no output file left behind
source "$(dirname "$0")/lib.sh"
tmpdir hf
rm -rf "${TMP:?}"/*
REF=dev/test/hf_reference.py

# ---- build the C logits helper with the trainer's flags
CC=${CC:-gcc}
flags=(-O2 -std=c11 -D_DEFAULT_SOURCE -fno-math-errno -Wall -Wextra)
echo 'int main(void){return 0;}' | $CC -fopenmp -x c - -o /dev/null 2> /dev/null && flags+=(-fopenmp)
if $CC "${flags[@]}" -o "$TMP/gpt2_logits" dev/test/gpt2_logits.c -lm -pthread 2> "$TMP/cc.log"; then
    ok build_gpt2_logits
else
    notok build_gpt2_logits "$(grep -m1 error "$TMP/cc.log")"
    finish
fi

# run NAME CMD...: ok when CMD succeeds, else not ok with the last lines of its output
run() {
    local name=$1
    shift
    if "$@" > "$TMP/$name.log" 2>&1; then
        ok "$name"
    else
        notok "$name" "$(tail -n 3 "$TMP/$name.log" | tr '\n' '|')"
    fi
}
same_file() { cmp -s "$1" "$2"; }

# ---- import: three layouts of one random GPT-2 (fp32), then bf16; V=300 pads to 384
shape=(--L 2 --NH 3 --C 48 --V 300 --T 16)
"$PY" $REF tokens "$TMP/tok.bin" --B 2 --T 16 --V 300 --seed 7
for layout in safetensors zip legacy; do
    "$PY" $REF make "$TMP/hf_$layout" --layout $layout "${shape[@]}" --seed 1
    run "import_$layout" "$PY" dev/hf_import.py "$TMP/hf_$layout" "$TMP/$layout.bin"
done
check import_layouts_agree "zip or legacy pickle imports differ from the safetensors import" \
    eval 'same_file "$TMP/safetensors.bin" "$TMP/zip.bin" && same_file "$TMP/safetensors.bin" "$TMP/legacy.bin"'
"$TMP/gpt2_logits" "$TMP/safetensors.bin" "$TMP/tok.bin" "$TMP/logits.bin"
run import_logits_fp32 "$PY" $REF check "$TMP/hf_safetensors" "$TMP/tok.bin" "$TMP/logits.bin"

for layout in safetensors zip; do
    "$PY" $REF make "$TMP/hfb_$layout" --layout $layout --dtype BF16 "${shape[@]}" --seed 1
    run "import_bf16_$layout" "$PY" dev/hf_import.py "$TMP/hfb_$layout" "$TMP/b_$layout.bin"
done
check import_bf16_is_version5 "bf16 weights did not give a version 5 checkpoint" \
    eval '[ "$(od -An -t d4 -j 4 -N 4 "$TMP/b_safetensors.bin" | tr -d " ")" = 5 ]'
check import_bf16_layouts_agree "bf16 zip import differs from the safetensors import" \
    same_file "$TMP/b_safetensors.bin" "$TMP/b_zip.bin"
"$TMP/gpt2_logits" "$TMP/b_safetensors.bin" "$TMP/tok.bin" "$TMP/logits_b.bin"
run import_logits_bf16 "$PY" $REF check "$TMP/hfb_safetensors" "$TMP/tok.bin" "$TMP/logits_b.bin"

# ---- export: what GPT2LMHeadModel loads, the same tensors, the same logits; round trips
run export_fp32 "$PY" dev/hf_export.py "$TMP/safetensors.bin" "$TMP/exp"
run export_fp32_is_hf_gpt2 "$PY" $REF check "$TMP/exp" "$TMP/tok.bin" "$TMP/logits.bin" --exported
run export_fp32_same_tensors "$PY" $REF same "$TMP/hf_safetensors" "$TMP/exp"
run export_bf16 "$PY" dev/hf_export.py "$TMP/b_safetensors.bin" "$TMP/expb"
run export_bf16_is_hf_gpt2 "$PY" $REF check "$TMP/expb" "$TMP/tok.bin" "$TMP/logits_b.bin" --exported
run export_bf16_same_tensors "$PY" $REF same "$TMP/hfb_safetensors" "$TMP/expb"

# checkpoints written by train_gpt2.py (GPT-2's 50257 vocabulary, padded to 50304)
if "$PY" train_gpt2.py --n_layer 2 --n_head 2 --n_embd 32 --block_size 24 --batch_size 1 --seq_len 8 \
        --steps 0 --seed 3 --output_dir "$TMP/pyref" > "$TMP/pyref.log" 2>&1; then
    "$PY" $REF tokens "$TMP/tok50k.bin" --B 2 --T 24 --V 50257 --seed 8
    for m in model model_bf16; do
        "$PY" dev/hf_export.py "$TMP/pyref/$m.bin" "$TMP/exp_$m" > /dev/null &&
            "$PY" dev/hf_import.py "$TMP/exp_$m" "$TMP/rt_$m.bin" > /dev/null
        check "round_trip_bitwise_$m" "import(export($m.bin)) differs from $m.bin" \
            same_file "$TMP/pyref/$m.bin" "$TMP/rt_$m.bin"
        "$TMP/gpt2_logits" "$TMP/pyref/$m.bin" "$TMP/tok50k.bin" "$TMP/logits_$m.bin"
        run "export_logits_$m" "$PY" $REF check "$TMP/exp_$m" "$TMP/tok50k.bin" "$TMP/logits_$m.bin" --exported
    done
else
    notok pyref_models "$(tail -n 2 "$TMP/pyref.log" | tr '\n' '|')"
fi
"$PY" dev/hf_import.py "$TMP/expb" "$TMP/rt_b.bin" > /dev/null
check round_trip_bitwise_hf_bf16 "import(export()) of the bf16 import differs" same_file "$TMP/b_safetensors.bin" "$TMP/rt_b.bin"
"$PY" dev/hf_import.py --dtype bf16 "$TMP/exp" "$TMP/to_bf16.bin" > /dev/null
"$PY" dev/hf_export.py --dtype bf16 "$TMP/safetensors.bin" "$TMP/exp_to_bf16" > /dev/null
"$PY" dev/hf_import.py "$TMP/exp_to_bf16" "$TMP/to_bf16_2.bin" > /dev/null
check dtype_bf16_both_ways "import --dtype bf16 and export --dtype bf16 round differently" \
    same_file "$TMP/to_bf16.bin" "$TMP/to_bf16_2.bin"

# ---- bad inputs: one line naming the file and what was expected; nothing written
bad() {  # bad NAME SUBSTRING DIR: import of DIR must fail so, leaving no output
    expect_error "$1" "$2" "$PY" dev/hf_import.py "$3" "$TMP/bad_out.bin"
    [ -e "$TMP/bad_out.bin" ] || [ -e "$TMP/bad_out.bin.tmp" ] && notok "$1_no_output" "output file left behind"
    rm -f "$TMP/bad_out.bin" "$TMP/bad_out.bin.tmp"
}
mkbad() {  # mkbad NAME: a copy of the fp32 safetensors folder to break
    rm -rf "$TMP/bad_$1"
    cp -r "$TMP/hf_safetensors" "$TMP/bad_$1"
    echo "$TMP/bad_$1"
}
bad import_missing_dir "not a directory" "$TMP/no_such_dir"
d=$(mkbad noweights); rm "$d/model.safetensors"
bad import_no_weights "no model.safetensors or pytorch_model.bin" "$d"
d=$(mkbad noconfig); rm "$d/config.json"
bad import_no_config "config.json: cannot open" "$d"
d=$(mkbad truncated); truncate -s -100 "$d/model.safetensors"
bad import_truncated_safetensors "truncated or corrupt" "$d"
d=$(mkbad foreign); rm "$d/model.safetensors"; cp "$TMP/safetensors.bin" "$d/pytorch_model.bin"
bad import_foreign_pickle "not a readable torch state dict" "$d"
d=$(mkbad code); rm "$d/model.safetensors"
"$PY" -c "import datetime, sys, torch; torch.save({'x': datetime.date(2020, 1, 1)}, sys.argv[1])" "$d/pytorch_model.bin"
bad import_pickle_refuses_classes "not part of a state dict" "$d"
d=$(mkbad evil); rm "$d/model.safetensors"  # a plain pickle whose loading would run a command
"$PY" -c "
import os, pickle, sys
class Evil:
    def __reduce__(self):
        return (os.system, ('touch ' + sys.argv[1] + '/pwned',))
open(sys.argv[1] + '/pytorch_model.bin', 'wb').write(pickle.dumps(Evil(), protocol=2))" "$d"
bad import_pickle_runs_no_code "not a readable torch state dict" "$d"
check import_pickle_ran_nothing "loading the pickle ran its command" [ ! -e "$d/pwned" ]
d=$(mkbad shape); sed -i 's/"n_embd": 48/"n_embd": 24/' "$d/config.json"
bad import_shape_mismatch "has shape" "$d"
d=$(mkbad layers); sed -i 's/"n_layer": 2/"n_layer": 3/' "$d/config.json"
bad import_missing_tensor "h.2.ln_1.weight is missing" "$d"
d=$(mkbad act); sed -i 's/"gelu_new"/"relu"/' "$d/config.json"
bad import_activation "activation_function 'relu'" "$d"
d=$(mkbad json); echo '{"n_layer": 2,' > "$d/config.json"
bad import_bad_json "not valid JSON" "$d"
for case in nan untied; do
    d=$(mkbad $case)
    "$PY" - "$d" $case <<'EOF'
import sys
sys.path.insert(0, "dev/test")
import hf_reference as r
path = sys.argv[1] + "/model.safetensors"
state, _ = r.st_read(path)
state = {k: (dt, v.copy()) for k, (dt, v) in state.items()}
if sys.argv[2] == "nan":
    state["h.1.mlp.c_fc.bias"][1][5] = float("nan")
else:
    state["lm_head.weight"][1][0, 0] += 1.0
r.st_write(path, state)
EOF
done
bad import_non_finite "non-finite" "$TMP/bad_nan"
bad import_untied_lm_head "lm_head.weight differs from wte.weight" "$TMP/bad_untied"

expect_error export_exists "exists (pass --force" "$PY" dev/hf_export.py "$TMP/safetensors.bin" "$TMP/exp"
check export_force "--force did not overwrite" "$PY" dev/hf_export.py --force "$TMP/safetensors.bin" "$TMP/exp"
head -c 5000 "$TMP/safetensors.bin" > "$TMP/trunc.bin"
expect_error export_truncated "truncated" "$PY" dev/hf_export.py "$TMP/trunc.bin" "$TMP/exp_trunc"
expect_error export_foreign "not a GPT-2 checkpoint" "$PY" dev/hf_export.py "$TMP/hf_safetensors/model.safetensors" "$TMP/exp_f"
expect_error export_missing "cannot open" "$PY" dev/hf_export.py "$TMP/nothing.bin" "$TMP/exp_m"
check export_error_writes_nothing "a failed export created its folder" eval '[ ! -e "$TMP/exp_trunc" ] && [ ! -e "$TMP/exp_f" ]'
finish
