#!/usr/bin/env bash
# Runs each libFuzzer harness for a bounded time: bash dev/fuzz/run.sh SECONDS NAME...
# (make fuzz FUZZ_SECONDS=N does this for all of them). Each starts from its seeds
# (dev/fuzz/make_seeds.py), its regression inputs (dev/fuzz/regress/NAME/) and what earlier runs
# kept (build/fuzz/corpus/NAME/, grown in place). A crash, leak, timeout or oversized allocation
# leaves its input in build/fuzz/crashes/NAME/: reproduce with build/fuzz/fuzz_NAME FILE, fix,
# then copy the file into dev/fuzz/regress/NAME/ so that `make test` (t_fuzz) replays it.
# One line per fuzzer: "ok fuzz_NAME: ..." or "not ok fuzz_NAME: ..."; exit 1 if any failed.
set -u
cd "$(dirname "$0")/../.."
seconds=${1:?usage: run.sh SECONDS NAME...}
shift
PY=${PY:-python3}
"$PY" dev/fuzz/make_seeds.py build/fuzz/seeds || exit 1
failed=0
for name in "$@"; do
    corpus=build/fuzz/corpus/$name crashes=build/fuzz/crashes/$name log=build/fuzz/$name.log
    mkdir -p "$corpus" "$crashes"
    dirs=("$corpus" "build/fuzz/seeds/$name")
    [ -d "dev/fuzz/regress/$name" ] && dirs+=("dev/fuzz/regress/$name")
    # -rss_limit_mb also caps a single allocation: a loader that trusts a size field before
    # checking the file's size shows up as "malloc(...) exceeds limit"
    "build/fuzz/fuzz_$name" "${dirs[@]}" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$crashes/" -print_final_stats=1 > "$log" 2>&1
    rc=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    if [ $rc -eq 0 ]; then
        echo "ok fuzz_$name: ${runs:-?} runs in ${seconds}s, ${cov:-cov ?}, corpus $(ls "$corpus" | wc -l) files"
    else
        failed=1
        echo "not ok fuzz_$name: exit $rc: $(grep -m 1 -E 'ERROR|SUMMARY|fuzz.h' "$log") (log $log, input in $crashes/)"
    fi
done
exit $failed
