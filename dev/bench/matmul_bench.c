/*
 * matmul_bench.c: times llmc/cpu_matmul.h on the GPT-2 shapes at 1 and 2 threads.
 *
 * For each (BT, C, OC) and thread count: forward (2*BT*C*OC FLOPs) and backward (4*BT*C*OC,
 * dbias included), best and median of several runs, GFLOP/s of the best run and its fraction of
 * the FMA peak for that many threads (from dev/bench/fma_peak, passed with --peak1/--peak2).
 * --bf16 also times llmc/cpu_matmul_bf16.h (--precision bf16's matmuls, the kernel this CPU picks)
 * on the same problems, as passes fwd16 / bwd16, right after the fp32 ones.
 * Usage: matmul_bench [--peak1 GFLOPS] [--peak2 GFLOPS] [--bt N]... [--quick] [--bf16]
 * dev/bench/matmul_bench.sh builds it, measures the peak and runs torch at the same shapes.
 */
#include "llmc/utils.h" // first: it sets the POSIX feature macros

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmc/cpu_matmul.h"
#include "llmc/cpu_matmul_bf16.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Runs fn several times (at least 3, at most 25, about `budget` seconds); best and median.
typedef struct {
    float *out, *inp, *weight, *bias, *dout, *dinp, *dweight, *dbias;
    uint16_t *weight16; // bf16 copy of weight (--bf16)
    size_t BT, C, OC;
} Problem;
static void run_forward(Problem *p) {
    matmul_forward_cpu(p->out, p->inp, p->weight, p->bias, p->BT, p->C, p->OC);
}
static void run_backward(Problem *p) {
    matmul_backward_cpu(p->dinp, p->dweight, p->dbias, p->dout, p->inp, p->weight, p->BT, p->C,
                        p->OC);
}
static void run_forward_bf16(Problem *p) {
    matmul_forward_bf16(p->out, p->inp, p->weight16, p->bias, p->BT, p->C, p->OC);
}
static void run_backward_bf16(Problem *p) {
    matmul_backward_bf16(p->dinp, p->dweight, p->dbias, p->dout, p->inp, p->weight16, p->BT, p->C, p->OC);
}
static void time_it(void (*fn)(Problem *), Problem *p, double budget, double *best,
                    double *median) {
    double t[25];
    int n = 0;
    fn(p); // warm-up: page faults, caches
    double start = omp_get_wtime();
    while (n < 25 && (n < 3 || omp_get_wtime() - start < budget)) {
        double t0 = omp_get_wtime();
        fn(p);
        t[n++] = omp_get_wtime() - t0;
    }
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    *best = t[0];
    *median = t[n / 2];
}

static float *rand_array(size_t n) {
    float *x = (float *)malloc_check(n * sizeof(float));
    unsigned s = 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((s >> 9) * (1.0 / 8388608.0)) - 0.5f;
    }
    return x;
}

int main(int argc, char **argv) {
    double peak[3] = {0.0, 0.0, 0.0};
    size_t bts[4];
    int nbt = 0, quick = 0, bf16 = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--peak1") == 0 && i + 1 < argc) {
            peak[1] = parse_float_or_die(argv[++i], 0.0, 1e6, "--peak1");
        } else if (strcmp(argv[i], "--peak2") == 0 && i + 1 < argc) {
            peak[2] = parse_float_or_die(argv[++i], 0.0, 1e6, "--peak2");
        } else if (strcmp(argv[i], "--bt") == 0 && i + 1 < argc && nbt < 4) {
            bts[nbt++] = (size_t)parse_int_or_die(argv[++i], 1, 1 << 20, "--bt");
        } else if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--bf16") == 0) {
            bf16 = 1;
        } else {
            die("matmul_bench: unknown argument '%s' (expected --peak1 X --peak2 Y --bt N "
                "--quick --bf16)", argv[i]);
        }
    }
    if (nbt == 0) {
        bts[nbt++] = 256;
        bts[nbt++] = 1024;
    }
    static const size_t shapes[][2] = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768},
                                       {768, 50304}};
    size_t nshapes = quick ? 4 : sizeof shapes / sizeof shapes[0];
    printf("# cpu_matmul micro-kernel %s MR=%d NR=%d NC=%d work=%d floats\n", CPUMM_ISA, CPUMM_MR,
           CPUMM_NR, CPUMM_NC, CPUMM_WORK);
    if (bf16) printf("# cpu_matmul_bf16 kernel %s\n", bf16mm_best()->name);
    printf("%-3s %-5s %-5s %-6s %-5s %9s %9s %8s %6s\n", "thr", "BT", "C", "OC", "pass",
           "best_ms", "median_ms", "GFLOP/s", "%peak");
    for (int nt = 1; nt <= 2; nt++) {
        omp_set_num_threads(nt);
        for (int b = 0; b < nbt; b++) {
            for (size_t s = 0; s < nshapes; s++) {
                Problem p;
                p.BT = bts[b];
                p.C = shapes[s][0];
                p.OC = shapes[s][1];
                p.inp = rand_array(p.BT * p.C);
                p.weight = rand_array(p.OC * p.C);
                p.bias = rand_array(p.OC);
                p.dout = rand_array(p.BT * p.OC);
                p.out = rand_array(p.BT * p.OC);
                p.dinp = rand_array(p.BT * p.C);
                p.dweight = rand_array(p.OC * p.C);
                p.dbias = rand_array(p.OC);
                p.weight16 = (uint16_t *)malloc_check(p.OC * p.C * sizeof(uint16_t));
                for (size_t i = 0; i < p.OC * p.C; i++) p.weight16[i] = float_to_bf16(p.weight[i]);
                double flops = 2.0 * (double)p.BT * (double)p.C * (double)p.OC;
                static void (*const fns[4])(Problem *) = {run_forward, run_backward, run_forward_bf16,
                                                          run_backward_bf16};
                static const char *const names[4] = {"fwd", "bwd", "fwd16", "bwd16"};
                for (int pass = 0; pass < (bf16 ? 4 : 2); pass++) {
                    double best, median;
                    time_it(fns[pass], &p, 0.5, &best, &median);
                    double gf = (pass % 2 == 0 ? 1.0 : 2.0) * flops / best * 1e-9;
                    printf("%-3d %-5zu %-5zu %-6zu %-5s %9.2f %9.2f %8.1f %5.0f%%\n", nt, p.BT,
                           p.C, p.OC, names[pass], best * 1e3, median * 1e3, gf,
                           peak[nt] > 0.0 ? 100.0 * gf / peak[nt] : 0.0);
                    fflush(stdout);
                }
                free(p.inp); free(p.weight); free(p.bias); free(p.dout); free(p.out);
                free(p.dinp); free(p.dweight); free(p.dbias); free(p.weight16);
            }
        }
    }
    return 0;
}
