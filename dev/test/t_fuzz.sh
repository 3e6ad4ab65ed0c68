#!/usr/bin/env bash
# The file loaders under their libFuzzer harnesses (dev/fuzz/), without fuzzing: builds each
# harness (clang, ASan + UBSan), checks that the seeds (dev/fuzz/make_seeds.py writes each format
# from doc/formats.md, independently of the C writers) load without being refused, and replays
# every regression input (dev/fuzz/regress/NAME/: inputs that once crashed, leaked or
# over-allocated) under the sanitizers. Fuzzing itself: make fuzz. Skipped without clang.
source "$(dirname "$0")/lib.sh"
tmpdir fuzz
FUZZERS=$(make -s -f Makefile print-fuzzers 2>/dev/null)
if ! command -v "${FUZZ_CC:-clang}" > /dev/null; then
    skip fuzz "no clang (libFuzzer) on this machine"
    finish
fi
if ! make -s fuzzers > "$TMP/build.log" 2>&1; then
    notok fuzz_build "$(grep -m 3 -E 'error|warning' "$TMP/build.log" | tr '\n' ' ')"
    finish
fi
ok fuzz_build
check fuzz_seeds_written "make_seeds.py failed" "$PY" dev/fuzz/make_seeds.py "$TMP/seeds"
for name in $FUZZERS; do
    # seeds: valid files, so none may be refused
    FUZZ_VERBOSE=1 "build/fuzz/fuzz_$name" "$TMP/seeds/$name"/* > "$TMP/seeds_$name.log" 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then
        notok "fuzz_${name}_seeds" "exit $rc: $(grep -m 1 -E 'ERROR|SUMMARY|fuzz.h' "$TMP/seeds_$name.log")"
    elif grep -q '^rejected' "$TMP/seeds_$name.log"; then
        notok "fuzz_${name}_seeds" "a valid seed was refused: $(grep -m 1 '^rejected' "$TMP/seeds_$name.log")"
    else
        ok "fuzz_${name}_seeds"
    fi
    # regression inputs: each runs to the end (refused or not) with no sanitizer report
    for input in dev/fuzz/regress/"$name"/*; do
        [ -f "$input" ] || continue
        "build/fuzz/fuzz_$name" -rss_limit_mb=2048 "$input" > "$TMP/regress.log" 2>&1
        rc=$?
        check "fuzz_${name}_regress_$(basename "$input")" \
            "exit $rc: $(grep -m 1 -E 'ERROR|SUMMARY|fuzz.h' "$TMP/regress.log")" test $rc -eq 0
    done
done
finish
