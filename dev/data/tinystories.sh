#!/usr/bin/env bash
# TinyStories (Eldan & Li, 2023: short stories in simple English written by GPT-3.5/4) as llm.c
# token shards: each story preceded by end-of-text (50256), the val stories first.
# Usage: dev/data/tinystories.sh [--from FILE... [--val-from FILE...]] [--val-stories N]
#                                [--out DIR] [--tokenizer PATH]
#   (no --from)       download TinyStoriesV2-GPT4-valid.txt (21 MB, the val split) and
#                     TinyStoriesV2-GPT4-train.txt (2.2 GB) from Hugging Face into DIR
#   --from FILE...    local stories instead: .txt (stories separated by <|endoftext|> lines,
#                     as the V2 files), .json or TinyStories_all_data.tar.gz (V1, "story" fields)
#   --val-from FILE.. the val stories (e.g. TinyStoriesV2-GPT4-valid.txt); without it the
#                     first --val-stories N stories of --from (default 10000) are val
#   --out DIR         output directory (default data/tinystories)
# Writes DIR/tinystories_val_000000.bin and DIR/tinystories_train_000001.bin, ... (100M tokens
# per shard); train with -i "DIR/tinystories_train_*.bin" -j "DIR/tinystories_val_*.bin".
# Needs ./tokenize and gpt2_tokenizer.bin (make tokenize gpt2_tokenizer.bin) and python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
BASE=https://huggingface.co/datasets/roneneldan/TinyStories/resolve/main
out=data/tinystories
tok=gpt2_tokenizer.bin
val_stories=10000
from=()
val_from=()
list=""
while [ $# -gt 0 ]; do
    case "$1" in
        --from) list=from; shift ;;
        --val-from) list=val; shift ;;
        --val-stories) val_stories="${2:?--val-stories needs a number}"; list=""; shift 2 ;;
        --out) out="${2:?--out needs a directory}"; list=""; shift 2 ;;
        --tokenizer) tok="${2:?--tokenizer needs a path}"; list=""; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "error: unknown argument '$1' (see --help)" >&2; exit 1 ;;
        *)
            case "$list" in
                from) from+=("$1") ;;
                val) val_from+=("$1") ;;
                *) echo "error: unexpected argument '$1' (files follow --from or --val-from)" >&2; exit 1 ;;
            esac
            shift ;;
    esac
done
[[ "$val_stories" =~ ^[0-9]+$ ]] || { echo "error: --val-stories: expected a number of stories, got '$val_stories'" >&2; exit 1; }
[ ${#val_from[@]} -gt 0 ] && [ ${#from[@]} -eq 0 ] && { echo "error: --val-from needs --from (the train stories)" >&2; exit 1; }
[ -x ./tokenize ] || { echo "error: ./tokenize not built (make tokenize)" >&2; exit 1; }
# the splitter needs only Python's standard library: any python3 will do
PY=${PY:-python3}
mkdir -p "$out"
if [ ${#from[@]} -eq 0 ]; then
    for split in valid train; do
        f="$out/TinyStoriesV2-GPT4-$split.txt"
        if [ ! -f "$f" ]; then
            echo "downloading $BASE/TinyStoriesV2-GPT4-$split.txt"
            curl -fL --retry 3 -o "$f.tmp" "$BASE/TinyStoriesV2-GPT4-$split.txt" ||
                { rm -f "$f.tmp"; echo "error: cannot download $BASE/TinyStoriesV2-GPT4-$split.txt; pass --from FILE" >&2; exit 1; }
            mv "$f.tmp" "$f"
        fi
    done
    val_from=("$out/TinyStoriesV2-GPT4-valid.txt")
    from=("$out/TinyStoriesV2-GPT4-train.txt")
fi
for f in "${from[@]}" ${val_from[@]+"${val_from[@]}"}; do
    [ -f "$f" ] || { echo "error: $f: no such file" >&2; exit 1; }
done
if [ ${#val_from[@]} -gt 0 ]; then
    val_stories=$("$PY" dev/data/tinystories_stream.py --count "${val_from[@]}")
fi
[ "$val_stories" -gt 0 ] || { echo "error: no val stories (--val-stories 0 or an empty --val-from)" >&2; exit 1; }
# shards of an earlier run would mix with these (a glob reads them all): never overwrite them
if compgen -G "$out/tinystories_*.bin" > /dev/null; then
    echo "error: $out already holds tinystories_*.bin shards; move them away or pass another --out" >&2; exit 1
fi
echo "tokenizing TinyStories: $val_stories val stories, then the train stories, into $out"
if ! "$PY" dev/data/tinystories_stream.py ${val_from[@]+"${val_from[@]}"} "${from[@]}" |
        ./tokenize shards --tokenizer "$tok" --format jsonl --field text --val-docs "$val_stories" \
            --out "$out/tinystories" -; then
    rm -f "$out"/tinystories_*.bin  # this run's (the folder held none): no half a dataset
    echo "error: tokenizing TinyStories failed (see above); no shards written" >&2; exit 1
fi
compgen -G "$out/tinystories_train_*.bin" > /dev/null ||
    { echo "error: no train stories left after the $val_stories val stories (lower --val-stories)" >&2; exit 1; }
