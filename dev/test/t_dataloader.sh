#!/usr/bin/env bash
# Test group for llmc/dataloader.h: builds dev/test/dataloader_test.c and runs its checks on
# synthetic token shards and multiple-choice files (dev/test/dataloader_make_files.py), and
# checks that broken files and states are refused with one clear line and exit status 1.
source "$(dirname "$0")/lib.sh"
tmpdir dataloader
D=$TMP
rm -rf "$D"; mkdir -p "$D"
BIN=build/test/dataloader_test

# ---- build: C11 (the test, warnings are errors), C++ and nvcc (as .cu files see the header)
if make -s "$BIN" > "$D/cc.log" 2>&1; then
    ok build_c11
else
    notok build_c11 "$(grep -m1 -E 'error|warning' "$D/cc.log")"
    finish
fi
if make -s build/test/cxx_dataloader > "$D/cxx.log" 2>&1; then
    ok build_cxx
else
    notok build_cxx "$(grep -m1 -E 'error|warning' "$D/cxx.log")"
fi
if command -v nvcc > /dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then # compile only: no GPU needed
    if make -s build/test/dataloader_nvcc.o > "$D/nvcc.log" 2>&1; then
        ok build_nvcc
    else
        notok build_nvcc "$(grep -m1 -E 'warning|error' "$D/nvcc.log")"
    fi
else
    skip build_nvcc "no nvcc"
fi

# ---- train loader: order, shuffle, ranks, state, read-ahead
"$BIN" run "$D" || fails=$((fails + 1))

# ---- inputs that must be refused: exit 1, one line on stderr, naming the problem

if "$PY" dev/test/dataloader_make_files.py "$D" > "$D/py.log" 2>&1; then
    ok make_files
else
    notok make_files "$(tail -n 1 "$D/py.log")"
    finish
fi
B="$D/bad"
expect_die shard_wrong_magic "magic.bin: wrong magic 20240326" "$BIN" init "$B/magic.bin" 2 8
expect_die shard_wrong_version "version.bin: unsupported token shard version 3" "$BIN" init "$B/version.bin" 2 8
expect_die shard_truncated "truncated.bin: truncated" "$BIN" init "$B/truncated.bin" 2 8
expect_die shard_size_mismatch "extra.bin: size mismatch" "$BIN" init "$B/extra.bin" 2 8
expect_die shard_short_header "header.bin: truncated.*header" "$BIN" init "$B/header.bin" 2 8
expect_die shard_too_small "small.bin: too small: 16 tokens" "$BIN" init "$B/small.bin" 2 8
expect_die shard_bad_in_glob "b_bad.bin: unsupported token shard version 7" "$BIN" init "$D/mix/*.bin" 2 8
expect_die shard_no_match "no files match" "$BIN" init "$D/nothing_*.bin" 2 8
expect_die shard_too_few_for_ranks "fewer than the 8 processes" "$BIN" init "$D/mix/a_good.bin" 2 8 8 0
expect_die shard_token_over_vocab "v.bin: token id 60000 at token 50 is >= vocab_size 50257" "$BIN" init "$D/vocab/v.bin" 2 8 1 0 50257
if "$BIN" init "$D/vocab/v.bin" 2 8 1 0 65536 > /dev/null 2> "$D/err.txt"; then
    ok shard_vocab_ok_when_large
else
    notok shard_vocab_ok_when_large "$(cat "$D/err.txt")"
fi
expect_die state_checksum "corrupt.bin: data-loader state checksum mismatch" "$BIN" state_corrupt "$D"
expect_die state_magic "magic.bin: data-loader state has magic" "$BIN" state_magic "$D"
expect_die state_mismatch "saved with B=2 T=8, this run has B=3 T=5" "$BIN" state_mismatch "$D"

# ---- eval loader
"$BIN" eval "$D/eval_good.bin" "$D/eval_expect.bin" || fails=$((fails + 1))
E="$D"
expect_die eval_wrong_magic "eval_bad_magic.bin: wrong magic 20240520" "$BIN" evalinit "$E/eval_bad_magic.bin" 8 32
expect_die eval_wrong_version "eval_bad_version.bin: unsupported eval file version 2" "$BIN" evalinit "$E/eval_bad_version.bin" 8 32
expect_die eval_short_header "eval_bad_header.bin: truncated" "$BIN" evalinit "$E/eval_bad_header.bin" 8 32
expect_die eval_bad_marker "example 1 at byte .*: start marker 65534" "$BIN" evalinit "$E/eval_bad_marker.bin" 8 32
expect_die eval_truncated "eval_bad_truncated.bin: truncated: example 2" "$BIN" evalinit "$E/eval_bad_truncated.bin" 8 32
expect_die eval_odd_size "eval_bad_odd.bin: size mismatch" "$BIN" evalinit "$E/eval_bad_odd.bin" 8 32
expect_die eval_size_field "example 0 at byte 1024: size field says" "$BIN" evalinit "$E/eval_bad_sizefield.bin" 8 32
expect_die eval_bad_label "example 2 at byte .* has label 4" "$BIN" evalinit "$E/eval_bad_label.bin" 8 32
expect_die eval_bad_completions "example 1 at byte .* has 3 completions" "$BIN" evalinit "$E/eval_bad_ncomp.bin" 8 32
expect_die eval_trailing_bytes "eval_bad_trailing.bin: size mismatch: 4 bytes after" "$BIN" evalinit "$E/eval_bad_trailing.bin" 8 32
expect_die eval_count_mismatch "eval_bad_count.bin: truncated: example 3 of 4" "$BIN" evalinit "$E/eval_bad_count.bin" 8 32
expect_die eval_longest_field "longest example 20" "$BIN" evalinit "$E/eval_bad_longest.bin" 8 32
expect_die eval_b_not_multiple_of_4 "multiple of 4" "$BIN" evalinit "$E/eval_good.bin" 6 32
if "$BIN" evalinit "$E/eval_good.bin" 12 16 > /dev/null 2> "$D/err.txt" \
    && grep -q "1 of 13 examples skipped" "$D/err.txt"; then
    ok eval_skip_warning
else
    notok eval_skip_warning "expected a warning naming 1 skipped example, got '$(cat "$D/err.txt")'"
fi

finish
