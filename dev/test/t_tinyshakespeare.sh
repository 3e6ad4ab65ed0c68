#!/usr/bin/env bash
# From raw text to a model that writes: tokenize TinyShakespeare (../shared/data), train a small
# GPT-2 from scratch on the CPU, and check that train and val loss fall and samples are printed.
source "$(dirname "$0")/lib.sh"
tmpdir tinyshakespeare
rm -rf "$TMP"; mkdir -p "$TMP"
if ! make -s train_gpt2 tokenize gpt2_tokenizer.bin > "$TMP/build.log" 2>&1; then
  notok build_tokenizer "$(tail -n 3 "$TMP/build.log" | tr '\n' ' ')"; exit 1
fi
if ! bash dev/data/tinyshakespeare.sh --from "$DATA_DIR/tinyshakespeare.txt" --out "$TMP/data" > "$TMP/data.log" 2>&1; then
  notok make_shards "$(tail -n 3 "$TMP/data.log" | tr '\n' ' ')"; exit 1
fi
./train_gpt2 -e L2:C64:H4:T128 -b 8 -t 64 -x 60 -l 3e-3 -u 5 -q 0.1 -c 0.1 --seed 3 \
  -i "$TMP/data/tiny_shakespeare_train.bin" -j "$TMP/data/tiny_shakespeare_val.bin" \
  -v 30 -m 8 -s 60 -g 24 --top_k 40 -o "$TMP/run" > "$TMP/train.log" 2>&1
rc=$?
cat "$TMP/train.log"
[ $rc -eq 0 ] && ok train_runs || notok train_runs "exit $rc"
val=($(grep '^val loss' "$TMP/train.log" | awk '{print $3}'))
train_first=$(grep -m1 '^step ' "$TMP/train.log" | sed -E 's/.*loss ([0-9.]+).*/\1/')
train_last=$(grep '^step ' "$TMP/train.log" | tail -n 5 | sed -E 's/.*loss ([0-9.]+).*/\1/' | awk '{s+=$1} END {print s/NR}')
if [ ${#val[@]} -ge 3 ] && awk -v a="${val[0]}" -v b="${val[1]}" -v c="${val[2]}" 'BEGIN {exit !(b < a - 2 && c < b)}'; then
  ok val_loss_falls "${val[*]}"
else
  notok val_loss_falls "val losses: ${val[*]}"
fi
if awk -v a="$train_first" -v b="$train_last" 'BEGIN {exit !(b < a - 2)}'; then
  ok train_loss_falls "$train_first -> $train_last (mean of last 5)"
else
  notok train_loss_falls "$train_first -> $train_last"
fi
# the text between the "---" lines that follow "generating:"
sample=$(awk '/^generating:/ {g=1; next} g && /^---$/ {n++; if (n == 2) exit; next} g && n == 1' "$TMP/train.log")
if [ -n "$(printf '%s' "$sample" | tr -d '[:space:]-')" ] && ! printf '%s' "$sample" | grep -qE '^([0-9]+ )+$'; then
  ok sample_printed_as_text
else
  notok sample_printed_as_text "no decoded sample in the log"
fi
[ -f "$TMP/run/DONE_00000060" ] && ok final_checkpoint || notok final_checkpoint "$(ls "$TMP/run")"
if "${PY:-/usr/bin/python3}" -c "import matplotlib" 2> /dev/null; then
  "${PY:-/usr/bin/python3}" dev/plot_loss.py "$TMP/run/main.log" "$TMP/loss.png" > /dev/null 2>&1 && [ -s "$TMP/loss.png" ] &&
    ok loss_plot_png || notok loss_plot_png "dev/plot_loss.py failed"
fi
finish
