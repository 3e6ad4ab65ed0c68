#!/usr/bin/env bash
# Encode throughput of llmc/tokenizer.h against js-tiktoken (GPT-2 encoding), one core each.
# Usage: dev/bench/tokenizer_bench.sh [--seconds S] [FILE...]   (make bench-tokenizer)
# Default files: TinyShakespeare and TinyShakespeare repeated 5 times (5.6 MB). Each side encodes
# the whole file repeatedly for at least S seconds (default 3) under `taskset -c 0`; the numbers
# are wall-clock MB/s of encoding only (file already in memory, tokenizer already loaded).
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA_DIR="${DATA_DIR:-$(cd .. && pwd)/shared/data}"
seconds=3
files=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
        -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) files+=("$1"); shift ;;
    esac
done
make -s build/bench/tokenizer_bench gpt2_tokenizer.bin
if [ ! -f dev/vendor/node/node_modules/js-tiktoken/package.json ]; then
    mkdir -p dev/vendor/node
    npm install --prefix dev/vendor/node --no-audit --no-fund js-tiktoken@1.0.21 > /dev/null 2>&1 ||
        { echo "error: cannot install js-tiktoken with npm" >&2; exit 1; }
fi
if [ ${#files[@]} -eq 0 ]; then
    ts="$DATA_DIR/tinyshakespeare.txt"
    [ -f "$ts" ] || ts=data/tinyshakespeare/input.txt
    [ -f "$ts" ] || { echo "error: no TinyShakespeare at $DATA_DIR or data/tinyshakespeare; pass FILE" >&2; exit 1; }
    mkdir -p build/bench
    for _ in 1 2 3 4 5; do cat "$ts"; done > build/bench/tinyshakespeare_x5.txt
    files=("$ts" build/bench/tinyshakespeare_x5.txt)
fi
pin=()
command -v taskset > /dev/null && pin=(taskset -c 0)
printf '%-28s %10s %12s %12s %8s\n' file MB "ours MB/s" "js MB/s" ratio
for f in "${files[@]}"; do
    ours=$("${pin[@]}" build/bench/tokenizer_bench --seconds "$seconds" "$f")
    js=$("${pin[@]}" node dev/test/tiktoken_ref.cjs bench "$f" --seconds "$seconds")
    o=${ours%% MB/s*}
    j=${js%% MB/s*}
    ot=$(echo "$ours" | awk '{print $3}')
    jt=$(echo "$js" | awk '{print $3}')
    [ "$ot" = "$jt" ] || echo "warning: token counts differ on $f: ours $ot, js-tiktoken $jt" >&2
    awk -v f="$(basename "$f")" -v b="$(stat -c %s "$f")" -v o="$o" -v j="$j" \
        'BEGIN { printf "%-28s %10.2f %12.2f %12.2f %7.1fx\n", f, b / 1e6, o, j, o / j }'
done
