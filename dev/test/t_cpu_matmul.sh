#!/usr/bin/env bash
# llmc/cpu_matmul.h against a naive double-precision loop (dev/test/cpu_matmul_test.c), for
# every micro-kernel this machine can run: the native one (AVX-512 here), AVX2+FMA, and the
# portable C one; plus a compile check as C++. One "ok"/"not ok" line per check.
set -u
cd "$(dirname "$0")/../.."
TMP="${TEST_TMP:-build/test}"
mkdir -p "$TMP"
CC="${CC:-gcc}"
status=0
flags="-O2 -std=c11 -Wall -Wextra -Werror -Wno-unused-function -fopenmp -I."

run_variant() { # name, extra flags
    local name=$1 extra=$2 exe="$TMP/cpu_matmul_test_$1"
    if ! $CC $flags $extra dev/test/cpu_matmul_test.c -lm -o "$exe" 2> "$exe.build.log"; then
        echo "not ok cpu_matmul build $name: $(head -n 3 "$exe.build.log" | tr '\n' ' ')"
        status=1
        return
    fi
    echo "ok cpu_matmul build $name"
    "$exe" | sed "s/^\(not \)\{0,1\}ok /&[$name] /"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
}

run_variant native "-march=native"
if grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo; then
    run_variant avx2 "-march=native -mno-avx512f"
fi
run_variant portable "-march=x86-64"

# Shared headers must also compile as C++ (the trainer's headers are included by .cu files).
printf '#include "llmc/cpu_matmul.h"\nint main() { float x[1] = {0}; matmul_forward_cpu(x, x, x, 0, 1, 1, 1); matmul_backward_cpu(x, x, x, x, x, x, 1, 1, 1); return x[0] != 0.0f; }\n' > "$TMP/cpu_matmul_cxx.cpp"
if g++ -O2 -Wall -Wextra -Werror -Wno-unused-function -fopenmp -march=native -I. "$TMP/cpu_matmul_cxx.cpp" -o "$TMP/cpu_matmul_cxx" 2> "$TMP/cpu_matmul_cxx.log" && "$TMP/cpu_matmul_cxx"; then
    echo "ok cpu_matmul compiles as C++"
else
    echo "not ok cpu_matmul compiles as C++: $(head -n 3 "$TMP/cpu_matmul_cxx.log" | tr '\n' ' ')"
    status=1
fi
exit $status
