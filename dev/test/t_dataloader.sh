#!/usr/bin/env bash
# Test group for llmc/dataloader.h: builds dev/test/dataloader_test.c and runs its checks on
# synthetic token shards and multiple-choice files (dev/test/dataloader_make_files.py), and
# checks that broken files and states are refused with one clear line and exit status 1.
set -u
cd "$(dirname "$0")/../.."
PY="${PY:-/usr/bin/python3}"
TEST_TMP="${TEST_TMP:-$PWD/build/test}"
D="$TEST_TMP/dataloader"
rm -rf "$D"
mkdir -p "$D"
BIN="$D/dataloader_test"
fail=0
ok() { echo "ok $1"; }
notok() { echo "not ok $1: $2"; fail=1; }

# ---- build: C11 (the test), C++ (as nvcc sees the header)
if gcc -O2 -std=c11 -Wall -Wextra -pthread -o "$BIN" dev/test/dataloader_test.c 2> "$D/cc.log"; then
    if grep -q 'dataloader[_a-z]*\.[ch]:[0-9]*:[0-9]*: warning' "$D/cc.log"; then
        notok build_c11 "$(grep -m1 'dataloader[_a-z]*\.[ch]:[0-9]*:[0-9]*: warning' "$D/cc.log")"
    else
        ok build_c11
    fi
else
    notok build_c11 "$(grep -m1 error "$D/cc.log")"
    exit 1
fi
cat > "$D/cxx_check.cpp" <<'EOF'
#include "llmc/dataloader.h"
void use_all(const char *pattern, const char *eval_path, float *losses) {
    DataLoader l;
    dataloader_init(&l, pattern, 4, 64, 0, 1, 1, 42);
    dataloader_set_vocab_size(&l, 50257);
    dataloader_next_batch(&l);
    DataLoaderState s;
    dataloader_get_state(&l, &s);
    unsigned char buf[DATALOADER_STATE_BYTES];
    dataloader_state_serialize(&s, buf);
    dataloader_state_deserialize(&s, buf, "x");
    dataloader_set_state(&l, &s);
    dataloader_reset(&l);
    (void)dataloader_num_batches(&l);
    (void)dataloader_num_tokens(&l);
    dataloader_set_prefetch(&l, 0);
    dataloader_free(&l);
    EvalLoader e;
    evalloader_init(&e, eval_path, 8, 64, 0, 1);
    (void)evalloader_num_batches(&e);
    evalloader_reset(&e);
    evalloader_next_batch(&e);
    (void)evalloader_stat_losses(&e, losses);
    evalloader_free(&e);
}
EOF
if g++ -std=c++17 -Wall -Wextra -I. -fsyntax-only "$D/cxx_check.cpp" 2> "$D/cxx.log"; then
    if grep -q 'warning' "$D/cxx.log"; then
        notok build_cxx "$(grep -m1 'warning' "$D/cxx.log")"
    else
        ok build_cxx
    fi
else
    notok build_cxx "$(grep -m1 error "$D/cxx.log")"
fi

if command -v nvcc > /dev/null; then # compile only: no GPU needed
    if nvcc -x cu -std=c++17 -I. -c "$D/cxx_check.cpp" -o "$D/cxx_check.o" -Xcompiler -Wall,-Wextra > "$D/nvcc.log" 2>&1 \
        && ! grep -q 'warning' "$D/nvcc.log"; then
        ok build_nvcc
    else
        notok build_nvcc "$(grep -m1 -E 'warning|error' "$D/nvcc.log")"
    fi
fi

# ---- train loader: order, shuffle, ranks, state, read-ahead
"$BIN" run "$D" || fail=1

# ---- inputs that must be refused: exit 1, one line on stderr, naming the problem
# expect_die NAME SUBSTRING COMMAND...
expect_die() {
    local name=$1 want=$2
    shift 2
    "$@" > "$D/out.txt" 2> "$D/err.txt"
    local rc=$? lines
    lines=$(wc -l < "$D/err.txt")
    if [ $rc -ne 1 ]; then
        notok "$name" "exit status $rc, expected 1 ($(head -c 200 "$D/err.txt"))"
    elif [ "$lines" -ne 1 ]; then
        notok "$name" "$lines lines on stderr, expected 1"
    elif ! grep -q -- "$want" "$D/err.txt"; then
        notok "$name" "message '$(cat "$D/err.txt")' lacks '$want'"
    else
        ok "$name"
    fi
}

if "$PY" dev/test/dataloader_make_files.py "$D" > "$D/py.log" 2>&1; then
    ok make_files
else
    notok make_files "$(tail -n 1 "$D/py.log")"
    exit 1
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
"$BIN" eval "$D/eval_good.bin" "$D/eval_expect.bin" || fail=1
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

exit $fail
