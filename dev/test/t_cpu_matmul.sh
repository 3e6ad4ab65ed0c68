#!/usr/bin/env bash
# llmc/cpu_matmul.h against a naive double-precision loop (dev/test/cpu_matmul_test.c), for
# every micro-kernel this machine can run: the native one (AVX-512 here), AVX2+FMA, and the
# portable C one; plus a compile check as C++. One "ok"/"not ok" line per check.
source "$(dirname "$0")/lib.sh"
tmpdir cpu_matmul

run_variant() { # name [build-only reason]
    local name=$1 exe=build/test/cpu_matmul_test_$1
    if ! make -s "$exe" > "$TMP/build_$name.log" 2>&1; then
        notok "cpu_matmul build $name" "$(grep -m 3 -E 'error|warning' "$TMP/build_$name.log" | tr '\n' ' ')"
        return
    fi
    ok "cpu_matmul build $name"
    if [ $# -gt 1 ]; then
        skip "cpu_matmul run $name" "$2"
        return
    fi
    "$exe" | sed "s/^\(not \)\{0,1\}ok /&[$name] /"
    [ "${PIPESTATUS[0]}" -eq 0 ] || fails=$((fails + 1))
}

run_variant native
# x86-64: every kernel compiles (the AVX-512 one even where the CPU cannot run it)
if [ "$(uname -m)" = x86_64 ]; then
    if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
        run_variant avx512
    else
        run_variant avx512 "this CPU has no AVX-512"
    fi
    if grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo; then
        run_variant avx2
    fi
    run_variant portable
fi

# Shared headers must also compile as C++ (the trainer's headers are included by .cu files).
if make -s build/test/cxx_cpu_matmul > "$TMP/cxx.log" 2>&1 && build/test/cxx_cpu_matmul; then
    ok "cpu_matmul compiles as C++"
else
    notok "cpu_matmul compiles as C++" "$(head -n 3 "$TMP/cxx.log" | tr '\n' ' ')"
fi
finish
