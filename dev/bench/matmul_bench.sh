#!/usr/bin/env bash
# Builds and runs the CPU matmul benchmark: the FMA peak (dev/bench/fma_peak.c), then
# llmc/cpu_matmul.h (dev/bench/matmul_bench.c) and torch's matmuls (matmul_bench_torch.py) at the
# GPT-2 shapes, 1 and 2 threads. Usage: dev/bench/matmul_bench.sh [--bt N]... [--quick]
# The machine should be otherwise idle: every number is a best-of-several wall time.
set -eu
cd "$(dirname "$0")/../.."
PY="${PY:-/usr/bin/python3}"
make -s build/bench/fma_peak build/bench/matmul_bench
build/bench/fma_peak | tee build/bench/fma_peak.txt
p1=$(awk -F= '/^threads=1/ {print $3}' build/bench/fma_peak.txt)
p2=$(awk -F= '/^threads=2/ {print $3}' build/bench/fma_peak.txt)
echo "== llmc/cpu_matmul.h"
OMP_WAIT_POLICY=PASSIVE build/bench/matmul_bench --peak1 "$p1" --peak2 "${p2:-$p1}" "$@"
echo "== torch (OMP_WAIT_POLICY=PASSIVE)"
OMP_WAIT_POLICY=PASSIVE "$PY" dev/bench/matmul_bench_torch.py --peak1 "$p1" --peak2 "${p2:-$p1}" "$@"
