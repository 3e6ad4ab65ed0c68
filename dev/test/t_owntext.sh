#!/usr/bin/env bash
# Test group for training on your own text and for TinyStories' shards:
#   scripts/train_text_cpu.sh FILE: FILE's own data folder, whose shards decode back to exactly
#   FILE; a second file gets its own folder and leaves the first alone; the trainer runs on
#   those shards (its config table names them) and its loss falls; the TinyShakespeare script's
#   --from FILE does the same.
#   dev/data/tinystories.sh: V2 .txt and V1 .json/.tar.gz give the stories, one end-of-text
#   before each, val stories first; bad inputs are refused with an error.
source "$(dirname "$0")/lib.sh"
tmpdir owntext
rm -rf "${TMP:?}"/*
if ! make -s train_gpt2 tokenize gpt2_tokenizer.bin > "$TMP/build.log" 2>&1; then
    notok build "$(tail -n 3 "$TMP/build.log" | tr '\n' ' ')"
    finish
fi
export TEXT_DATA_ROOT=$TMP/data TEXT_OUT_ROOT=$TMP/out
# a tiny model so that a run takes seconds; the recipe's other flags stay
tiny=(-e L1:C32:H2:T64 -b 4 -t 32 -x 16 -v 8 -m 2 -s 16 -g 8 -l 1e-2 -u 2)

# a.txt: the first 40 KB of TinyShakespeare; b.txt: made-up lines with other words and digits
head -c 40000 "$DATA_DIR/tinyshakespeare.txt" > "$TMP/a.txt"
awk 'BEGIN { for (i = 0; i < 1500; i++) printf "Robot %d counts %d green cubes on shelf %d.\n", i, (i * 7) % 13, i % 5 }' > "$TMP/b.txt"

# decoded NAME: the text of a data folder's shards, val then train, as one string
decoded() {
    { ./tokenize decode --shard "$1/text_val.bin"; ./tokenize decode --shard "$1/text_train.bin"; } 2> /dev/null
}
# check_folder NAME FILE: FILE's folder exists, records FILE and holds FILE's text exactly
check_folder() {
    local dirs=("$TMP"/data/"$(basename "$2" .txt)"-*)
    if [ ${#dirs[@]} -ne 1 ] || [ ! -f "${dirs[0]}/DONE" ]; then
        notok "$1" "expected one data folder for $2, found: ${dirs[*]}"; return
    fi
    if [ "$(decoded "${dirs[0]}")" = "<|endoftext|>$(cat "$2")" ]; then
        ok "$1"
    else
        notok "$1" "the shards in ${dirs[0]} do not decode to $2"
    fi
    folder=${dirs[0]}
}

scripts/train_text_cpu.sh "$TMP/a.txt" "${tiny[@]}" > "$TMP/a.log" 2>&1
check own_text_a_runs "exit status $?: $(tail -n 2 "$TMP/a.log" | tr '\n' '|')" [ $? -eq 0 ]
check_folder own_text_a_folder "$TMP/a.txt"
a_folder=$folder
a_sum=$(cat "$a_folder"/*.bin | sha256sum)
check own_text_a_trained_on_it "the trainer did not read $a_folder's shards" grep -q "$a_folder/text_train.bin" "$TMP/a.log"
first=$(grep -m1 '^step ' "$TMP/a.log" | sed -E 's/.*loss ([0-9.]+).*/\1/')
last=$(grep '^step ' "$TMP/a.log" | tail -n 1 | sed -E 's/.*loss ([0-9.]+).*/\1/')
check own_text_loss_falls "train loss $first -> $last" awk -v a="$first" -v b="$last" 'BEGIN {exit !(b < a - 1)}'

# the TinyShakespeare script's --from: FILE, in its own folder (it once trained on Shakespeare
# whenever Shakespeare's shards existed)
scripts/train_tinyshakespeare_cpu.sh --from "$TMP/b.txt" "${tiny[@]}" -x 4 > "$TMP/b.log" 2>&1
check from_file_runs "exit status $?: $(tail -n 2 "$TMP/b.log" | tr '\n' '|')" [ $? -eq 0 ]
check_folder from_file_own_folder "$TMP/b.txt"
check from_file_trains_on_file "the trainer did not read $folder's shards" grep -q "$folder/text_train.bin" "$TMP/b.log"
check from_file_leaves_others "a.txt's shards changed" [ "$(cat "$a_folder"/*.bin | sha256sum)" = "$a_sum" ]
# relative paths are the caller's
(cd "$TMP" && "$OLDPWD/scripts/train_text_cpu.sh" b.txt "${tiny[@]}" -x 1 > rel.log 2>&1)
check relative_path "a relative FILE failed: $(tail -n 1 "$TMP/rel.log")" [ $? -eq 0 ]

expect_error own_text_missing "no such file" scripts/train_text_cpu.sh "$TMP/nothing.txt"
: > "$TMP/empty.txt"
expect_error own_text_empty "empty file" scripts/train_text_cpu.sh "$TMP/empty.txt"
head -c 3000 "$TMP/a.txt" > "$TMP/small.txt"
expect_error own_text_too_small "too few tokens" scripts/train_text_cpu.sh "$TMP/small.txt"

# ---- TinyStories: the stories come back, each after one end-of-text, val first
"$PY" - "$TMP" <<'EOF'
import json, sys
d = sys.argv[1]
story = lambda i: f"Once upon a time, Mia found {i} shells.\n\nShe said, \u201cLook, Mom!\u201d and smiled. \U0001F600"
with open(d + "/ts_train.txt", "w") as f:  # the V2 layout: stories separated by <|endoftext|> lines
    f.write("\n<|endoftext|>\n".join(story(i) for i in range(30)) + "\n")
with open(d + "/ts_valid.txt", "w") as f:
    f.write("\n<|endoftext|>\n".join(story(100 + i) for i in range(4)) + "\n<|endoftext|>\n")
json.dump([{"story": story(i), "summary": "x"} for i in range(9)], open(d + "/data00.json", "w"))
with open(d + "/expect_txt.txt", "w") as f:
    f.write("".join("<|endoftext|>" + story(i) for i in list(range(100, 104)) + list(range(30))))
with open(d + "/expect_json.txt", "w") as f:
    f.write("".join("<|endoftext|>" + story(i) for i in range(9)))
EOF
tar -C "$TMP" -czf "$TMP/ts_all.tar.gz" data00.json
ts_text() { ./tokenize decode --shard "$1"/tinystories_val_000000.bin; ./tokenize decode --shard "$1"/tinystories_train_000001.bin; }
if bash dev/data/tinystories.sh --from "$TMP/ts_train.txt" --val-from "$TMP/ts_valid.txt" --out "$TMP/ts1" > "$TMP/ts1.log" 2>&1; then
    check tinystories_txt "the V2 .txt shards do not hold the stories" [ "$(ts_text "$TMP/ts1" 2> /dev/null)" = "$(cat "$TMP/expect_txt.txt")" ]
    n=$(./tokenize decode --shard "$TMP/ts1/tinystories_val_000000.bin" 2> /dev/null | grep -o '<|endoftext|>' | wc -l)
    check tinystories_val_split "val shard holds $n stories, expected 4" [ "$n" -eq 4 ]
else
    notok tinystories_txt "$(tail -n 2 "$TMP/ts1.log" | tr '\n' '|')"
fi
for src in ts_all.tar.gz data00.json; do
    name=tinystories_${src%%.*}
    if bash dev/data/tinystories.sh --from "$TMP/$src" --val-stories 2 --out "$TMP/$name" > "$TMP/$name.log" 2>&1; then
        check "$name" "the shards of $src do not hold its stories" [ "$(ts_text "$TMP/$name" 2> /dev/null)" = "$(cat "$TMP/expect_json.txt")" ]
    else
        notok "$name" "$(tail -n 2 "$TMP/$name.log" | tr '\n' '|')"
    fi
done
expect_error tinystories_no_overwrite "already holds" bash dev/data/tinystories.sh --from "$TMP/data00.json" --out "$TMP/ts1"
expect_error tinystories_missing "no such file" bash dev/data/tinystories.sh --from "$TMP/nothing.txt" --out "$TMP/ts_m"
bash dev/data/tinystories.sh --from "$TMP/data00.json" --val-stories 50 --out "$TMP/ts_all_val" > "$TMP/ts_v.log" 2>&1
check tinystories_all_val_refused "no train stories: exit 0" [ $? -ne 0 ]
finish
