/*
 * fma_peak.c: measures this machine's fp32 FMA throughput (GFLOP/s) with 1 and 2 threads.
 *
 * Each thread runs NACC independent vector accumulators through acc = acc * m + a, enough
 * independent chains to cover the FMA latency times the number of FMA pipes, so the loop is
 * throughput bound. Uses the widest vectors the compiler was told about (-march=native):
 * GCC vector extensions, so no intrinsics are needed. One FMA = 2 FLOPs per lane.
 * Usage: fma_peak [seconds_per_run]   (prints "threads=N gflops=X" lines)
 * Build: make build/bench/fma_peak
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__AVX512F__)
#define VLEN 16
#elif defined(__AVX__)
#define VLEN 8
#else
#define VLEN 4
#endif
typedef float vf __attribute__((vector_size(VLEN * 4)));
#define NACC 12

// Runs `iters` rounds of NACC independent FMAs; returns a value that depends on all of them so
// the compiler cannot drop the loop. Twelve named accumulators (not an array) so they live in
// registers; the empty asm keeps the compiler from merging or reassociating the chains.
static float fma_loop(long iters, float seed) {
    vf m, a, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
    for (int l = 0; l < VLEN; l++) {
        m[l] = 0.999999f;
        a[l] = 1e-7f * seed;
    }
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = a10 = a11 = m * seed;
    for (long it = 0; it < iters; it++) {
        a0 = a0 * m + a;
        a1 = a1 * m + a;
        a2 = a2 * m + a;
        a3 = a3 * m + a;
        a4 = a4 * m + a;
        a5 = a5 * m + a;
        a6 = a6 * m + a;
        a7 = a7 * m + a;
        a8 = a8 * m + a;
        a9 = a9 * m + a;
        a10 = a10 * m + a;
        a11 = a11 * m + a;
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5),
                         "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
    }
    vf t = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
    float s = 0.0f;
    for (int l = 0; l < VLEN; l++) {
        s += t[l];
    }
    return s;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 0.5;
    if (!(seconds > 0.0)) {
        fprintf(stderr, "error: usage: fma_peak [seconds_per_run > 0]\n");
        return 1;
    }
    int maxt = omp_get_num_procs();
    printf("vector width: %d floats (%s)\n", VLEN,
           VLEN == 16 ? "AVX-512" : VLEN == 8 ? "AVX/AVX2" : "128-bit");
    for (int nt = 1; nt <= (maxt < 2 ? maxt : 2); nt++) {
        // Calibrate the iteration count on one thread, then take the best of 5 timed runs.
        long iters = 1 << 20;
        double t0 = omp_get_wtime();
        volatile float sink = fma_loop(iters, 1.0f);
        double dt = omp_get_wtime() - t0;
        iters = (long)(iters * (seconds / (dt > 1e-6 ? dt : 1e-6)));
        double best = 0.0;
        for (int rep = 0; rep < 5; rep++) {
            t0 = omp_get_wtime();
#pragma omp parallel num_threads(nt)
            {
                float r = fma_loop(iters, 1.0f + (float)omp_get_thread_num());
                if (r == 12345.0f) {
                    sink = r;
                }
            }
            dt = omp_get_wtime() - t0;
            double gflops = 2.0 * VLEN * NACC * (double)iters * nt / dt * 1e-9;
            if (gflops > best) {
                best = gflops;
            }
        }
        (void)sink;
        printf("threads=%d gflops=%.1f\n", nt, best);
    }
    return 0;
}
