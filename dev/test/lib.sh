# Shared helpers for the test groups dev/test/t_*.sh. Source it first:
#     source "$(dirname "$0")/lib.sh"          # cds to the repo root, sets PY, DATA_DIR, TMP
#     tmpdir mygroup                           # TMP=build/test/mygroup, created
#     ok NAME | notok NAME WHY | skip NAME WHY | expect_error NAME SUBSTRING CMD... | finish
# A group prints one line per check, "ok NAME" or "not ok NAME: WHY", and exits non-zero when
# any check failed (finish does that); dev/test/run_all.sh counts the lines.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# PY: the Python with torch and numpy (dev/find_python.sh; a PY that has them is kept)
source dev/find_python.sh numpy torch || echo "warning: ${PY_ERROR#error: }" >&2
DATA_DIR=${DATA_DIR:-$(cd .. && pwd)/shared/data}
fails=0

ok() { echo "ok $1"; }
notok() { echo "not ok $1: $2"; fails=$((fails + 1)); }
# skip NAME WHY: a check that cannot run here (no nvcc, no clang): run_all.sh counts it apart,
# neither passed nor failed
skip() { echo "ok $1 # skip: $2"; }

# tmpdir NAME: the group's scratch directory under $TEST_TMP (default build/test)
tmpdir() { TMP=${TEST_TMP:-build/test}/$1; mkdir -p "$TMP"; }

# check NAME WHY CMD...: ok when CMD exits 0, else "not ok NAME: WHY"
check() {
    local name=$1 why=$2
    shift 2
    if "$@"; then ok "$name"; else notok "$name" "$why"; fi
}

# expect_error NAME SUBSTRING CMD...: CMD must exit non-zero (not by a signal) and print exactly
# one line (stdout and stderr together) that starts with "error" and contains SUBSTRING.
expect_error() {
    local name=$1 want=$2 out rc lines
    shift 2
    out=$("$@" 2>&1 < /dev/null)
    rc=$?
    lines=$(printf '%s\n' "$out" | grep -c .)
    if [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$lines" -eq 1 ] && printf '%s' "$out" | grep -q '^error' &&
       printf '%s' "$out" | grep -qF -- "$want"; then
        ok "$name"
    else
        notok "$name" "rc=$rc lines=$lines output: $(printf '%s' "$out" | head -c 300 | tr '\n' '|')"
    fi
}

# expect_die NAME REGEX CMD...: the stricter form for tools: CMD must exit with status 1 and
# print exactly one line on stderr, "error: ..." matching the grep regular expression REGEX
# (stdout is not looked at: a tool may have printed results before it hit the bad input).
expect_die() {
    local name=$1 want=$2 err rc lines
    shift 2
    err=$("$@" 2>&1 > /dev/null < /dev/null)
    rc=$?
    lines=$(printf '%s\n' "$err" | grep -c .)
    if [ $rc -ne 1 ]; then
        notok "$name" "exit status $rc, expected 1: $(printf '%s' "$err" | head -c 200 | tr '\n' '|')"
    elif [ "$lines" -ne 1 ]; then
        notok "$name" "$lines lines on stderr, expected 1: $(printf '%s' "$err" | head -c 300 | tr '\n' '|')"
    elif ! printf '%s' "$err" | grep -q '^error: ' || ! printf '%s' "$err" | grep -q -- "$want"; then
        notok "$name" "message '$err' lacks '$want'"
    else
        ok "$name"
    fi
}

# finish: the group's exit status (call last)
finish() { [ "$fails" -eq 0 ]; exit $?; }
