#!/usr/bin/env bash
# Trains a small GPT-2 from scratch on your own text, on the CPU: builds the trainer and the
# tokenizer, tokenizes FILE into its own data folder, then trains, printing val loss and samples.
#   scripts/train_text_cpu.sh [--data-root DIR] [--out-root DIR] FILE [train_gpt2 flags...]
#   e.g.  scripts/train_text_cpu.sh mybook.txt -x 1000          (1000 steps instead of the default)
#
# FILE is UTF-8 text, one document (a book, a collection, code). Its data folder and output
# folder are named after it and its content, DATA_ROOT/NAME-HASH and OUT_ROOT/NAME-HASH (HASH:
# the first 8 hex digits of its sha256), so two files never share shards and an edited file is
# tokenized afresh; nothing there is ever deleted. The first 10% of the tokens (at least one
# val batch) are the val split, the rest train. Steps: by default about 3 passes over the train
# tokens, from 200 to 5000 steps (README "Train on your own text"); any flag given after FILE
# overrides the recipe's. --data-root (default data/text, or $TEXT_DATA_ROOT) and --out-root
# (default out/text, or $TEXT_OUT_ROOT) move the two folders.
# Paths (FILE, the roots, flags such as -o) are taken from where you run it; the programs and
# the tokenizer from the repository this script is in.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "error: $*" >&2; exit 1; }
data_root=${TEXT_DATA_ROOT:-$root/data/text}
out_root=${TEXT_OUT_ROOT:-$root/out/text}
while :; do
    case "${1:-}" in
        "") die "expected a text FILE to train on (see --help)" ;;
        -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
        --data-root) data_root=${2:?--data-root needs a directory}; shift 2 ;;
        --out-root) out_root=${2:?--out-root needs a directory}; shift 2 ;;
        -*) die "expected FILE before the train_gpt2 flags, got '$1' (see --help)" ;;
        *) break ;;
    esac
done
file=$1
shift
[ -f "$file" ] || die "$file: no such file (expected a text file to train on)"
[ -r "$file" ] || die "$file: cannot read it"
[ -s "$file" ] || die "$file: empty file (expected text to train on)"

# the recipe: 4 layers, 4 heads, 128 channels, context 256: ~7M parameters (most in the
# 50257-token table); a step is B*T = 1024 tokens
B=16
T=64
name=$(basename "$file")
name=${name%.*}
name=$(printf '%s' "$name" | tr -c 'A-Za-z0-9._-' '_' | cut -c1-60)
hash=$(sha256sum < "$file" | cut -c1-8)
data=$data_root/$name-$hash
out=$out_root/$name-$hash

make -s -C "$root" train_gpt2 tokenize gpt2_tokenizer.bin
# token counts from the shard headers: [2] = N tokens
count() { od -An -t d4 -j 8 -N 4 "$1" | tr -d ' '; }
if [ ! -f "$data/DONE" ]; then
    mkdir -p "$data"
    bytes=$(stat -c %s "$file")
    # GPT-2 tokens run about 4 bytes each in English: val gets ~10%, at least one batch
    val=$(( bytes / 40 ))
    [ "$val" -lt $((B * T + 1)) ] && val=$((B * T + 1))
    "$root/tokenize" shards --tokenizer "$root/gpt2_tokenizer.bin" --doc file --single \
        --val-tokens "$val" --out "$data/text" "$file" > "$data/tokenize.log" 2>&1 ||
        die "$file: tokenizing failed: $(grep -m1 . "$data/tokenize.log")"
    if [ ! -f "$data/text_train.bin" ] || [ "$(count "$data/text_train.bin")" -le $((B * T)) ]; then
        rm -rf "$data"  # this run's own, incomplete folder
        die "$file: too few tokens: after the $val val tokens, a model needs more than $((B * T)) train tokens (about 10 KB of text at least)"
    fi
    printf '%s\n' "$(cd "$(dirname "$file")" && pwd)/$(basename "$file")" > "$data/SOURCE"
    touch "$data/DONE"
    echo "tokenized $file ($bytes bytes) into $data: $(tail -n 1 "$data/tokenize.log")"
fi
ntrain=$(count "$data/text_train.bin")
nval=$(count "$data/text_val.bin")
steps=$(( 3 * ntrain / (B * T) ))
[ "$steps" -lt 200 ] && steps=200
[ "$steps" -gt 5000 ] && steps=5000
shown_out=$out shown_steps=$steps  # what the run will use: a later -o or -x wins
args=("$@")
for ((i = 0; i + 1 < ${#args[@]}; i++)); do
    case "${args[i]}" in -o) shown_out=${args[i + 1]} ;; -x) shown_steps=${args[i + 1]} ;; esac
done
echo "data: $ntrain train tokens, $nval val tokens; $shown_steps steps; output in $shown_out"
# -y 1: running this again resumes the run (or, when it is done, just ends it) instead of
# refusing the directory its earlier run left
"$root/train_gpt2" -e L4:C128:H4:T256 -b $B -t $T -x "$steps" -l 1e-3 -u 20 -q 0.1 -c 0.1 \
    -i "$data/text_train.bin" -j "$data/text_val.bin" \
    -v 50 -m 16 -s 100 -g 64 --top_k 40 --tokenizer "$root/gpt2_tokenizer.bin" -o "$out" -y 1 "$@" || exit $?
"$root/dev/plot_run.sh" "$shown_out"
