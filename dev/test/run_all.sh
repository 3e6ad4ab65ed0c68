#!/usr/bin/env bash
# Runs every test group dev/test/t_*.sh from the repository root and totals their checks.
#
# A group prints one line per check: "ok <name>" or "not ok <name>: <why>", and exits non-zero
# if any check failed. A group that exits non-zero without printing "not ok" counts as one
# failed check, so a crash is never silent. "ok <name> # skip: <why>" (lib.sh's skip) is a check
# that cannot run on this machine: counted apart, neither passed nor failed. Usage: dev/test/run_all.sh [GROUP_SUBSTRING...]
set -u
cd "$(dirname "$0")/../.."
# the Python with torch and numpy, for every group (dev/find_python.sh)
source dev/find_python.sh numpy torch || echo "warning: ${PY_ERROR#error: }" >&2
export PY
export DATA_DIR="${DATA_DIR:-$(cd .. && pwd)/shared/data}"
export TEST_TMP="${TEST_TMP:-$PWD/build/test}"
mkdir -p "$TEST_TMP"

passed=0
failed=0
skipped=0
failed_names=()
for group in dev/test/t_*.sh; do
    name=$(basename "$group" .sh)
    if [ $# -gt 0 ]; then
        keep=0
        for want in "$@"; do case "$name" in *"$want"*) keep=1 ;; esac; done
        [ $keep = 1 ] || continue
    fi
    echo "=== $name"
    log="$TEST_TMP/$name.log"
    start=$(date +%s)
    bash "$group" > "$log" 2>&1
    rc=$?
    skip=$(grep -c '^ok .* # skip' "$log")
    ok=$(($(grep -c '^ok ' "$log") - skip))
    bad=$(grep -c '^not ok ' "$log")
    grep -E '^(ok|not ok) ' "$log" | sed 's/^/    /'
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
        bad=1
        echo "    not ok $name exited with status $rc; last lines of $log:"
        tail -n 15 "$log" | sed 's/^/      | /'
    elif [ "$bad" -gt 0 ]; then
        echo "    (log: $log)"
        grep -B2 -A8 '^not ok ' "$log" | head -n 40 | sed 's/^/      | /'
    fi
    [ "$bad" -gt 0 ] && failed_names+=("$name")
    passed=$((passed + ok))
    skipped=$((skipped + skip))
    failed=$((failed + bad))
    echo "    ($(( $(date +%s) - start ))s)"
done
[ ${#failed_names[@]} -gt 0 ] && echo "failed groups: ${failed_names[*]}"
[ "$skipped" -gt 0 ] && echo "$skipped skipped (cannot run on this machine)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
