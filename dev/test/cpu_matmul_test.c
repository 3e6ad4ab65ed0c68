/*
 * cpu_matmul_test.c: checks llmc/cpu_matmul.h against a naive double-precision loop.
 *
 * For each shape (BT, C, OC), with random inputs in [-1, 1]:
 *   forward:  out is pre-filled with NaN (it must be overwritten, never read), with and without
 *             bias;
 *   backward: dinp, dweight, dbias start from random values (the results must be added to
 *             them), with and without dbias.
 * Error bound. Each output is an fp32 sum of n = K + 1 terms (K products plus the bias or the
 * initial value) in some order; with fused or unfused multiply-adds, any order, the standard
 * bound is |got - exact| <= gamma_(n+1) * sum_i |term_i|, gamma_n = n*u / (1 - n*u), u = 2^-24.
 * We check exactly that, element by element, against the exact value computed in double, and
 * print the worst ratio error/bound. An indexing mistake (a missing or wrong term) gives errors
 * of the size of a term, far above the bound for these K.
 * Also checks that 1 and 2 threads give bit-identical results (the split is deterministic), and
 * that the plain reference loops of train_gpt2.c (matmul_forward_naive, matmul_backward_naive)
 * meet the same bound and agree with the fast kernels within twice it, element by element.
 * Prints one "ok NAME" / "not ok NAME: why" line per check; exit status 1 if any failed.
 */
#include "llmc/utils.h" // first: it sets the POSIX feature macros

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmc/cpu_matmul.h"
#define TESTING // the layers of train_gpt2.c without its main
#include "train_gpt2.c"

static unsigned long long rng_state = 88172645463325252ULL;
static float frand(void) { // uniform in [-1, 1), xorshift64
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / 8388608.0) - 1.0);
}
static float *rand_array(size_t n) {
    float *p = (float *)malloc_check(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        p[i] = frand();
    }
    return p;
}
static float *copy_array(const float *src, size_t n) {
    float *p = (float *)malloc_check(n * sizeof(float));
    memcpy(p, src, n * sizeof(float));
    return p;
}

// Compares got[i] with exact[i] under the bound gamma_(n+1) * absum[i]; returns worst ratio
// (error / bound), or a negative number naming the first failing index via *bad.
static int check(const char *name, const float *got, const double *exact, const double *absum,
                 size_t count, size_t nterms, double *worst_out) {
    const double u = ldexp(1.0, -24);
    double n1 = (double)(nterms + 1);
    double gamma = n1 * u / (1.0 - n1 * u);
    double worst = 0.0;
    for (size_t i = 0; i < count; i++) {
        double err = fabs((double)got[i] - exact[i]);
        double bound = gamma * absum[i];
        if (!(err <= bound)) { // also catches NaN
            printf("not ok %s: element %zu got %.9g expected %.9g (error %.3g > bound %.3g)\n",
                   name, i, got[i], exact[i], err, bound);
            return 0;
        }
        if (bound > 0.0 && err / bound > worst) {
            worst = err / bound;
        }
    }
    *worst_out = worst;
    return 1;
}

static int failures = 0;

// The naive reference (naive) against the exact values and the fast kernel (got) against the
// naive one, within twice the bound (each is within the bound of the exact value).
static int check_naive(const char *name, const float *got, const float *naive, const double *exact,
                       const double *absum, size_t count, size_t nterms) {
    double worst;
    if (!check(name, naive, exact, absum, count, nterms, &worst)) {
        return 0;
    }
    const double u = ldexp(1.0, -24), n1 = (double)(nterms + 1);
    double gamma = n1 * u / (1.0 - n1 * u);
    for (size_t i = 0; i < count; i++) {
        double diff = fabs((double)got[i] - (double)naive[i]);
        if (!(diff <= 2.0 * gamma * absum[i])) {
            printf("not ok %s: element %zu fast %.9g naive %.9g differ by %.3g > %.3g\n", name, i,
                   got[i], naive[i], diff, 2.0 * gamma * absum[i]);
            return 0;
        }
    }
    return 1;
}

static void test_shape(size_t BT, size_t C, size_t OC, int with_bias) {
    char name[128];
    snprintf(name, sizeof name, "BT=%zu C=%zu OC=%zu %s", BT, C, OC,
             with_bias ? "bias" : "bias=NULL");
    float *inp = rand_array(BT * C), *weight = rand_array(OC * C), *bias = rand_array(OC);
    float *dout = rand_array(BT * OC);
    float *dinp0 = rand_array(BT * C), *dweight0 = rand_array(OC * C), *dbias0 = rand_array(OC);
    size_t nmax = BT * OC > OC * C ? BT * OC : OC * C;
    nmax = nmax > BT * C ? nmax : BT * C;
    double *exact = (double *)malloc_check(nmax * sizeof(double));
    double *absum = (double *)malloc_check(nmax * sizeof(double));
    double worst;

    // forward: out = inp @ weight^T + bias
    float *out = (float *)malloc_check(BT * OC * sizeof(float));
    float *out1 = (float *)malloc_check(BT * OC * sizeof(float));
    for (size_t i = 0; i < BT * OC; i++) {
        out[i] = out1[i] = NAN;
    }
    omp_set_num_threads(2);
    matmul_forward_cpu(out, inp, weight, with_bias ? bias : NULL, BT, C, OC);
    omp_set_num_threads(1);
    matmul_forward_cpu(out1, inp, weight, with_bias ? bias : NULL, BT, C, OC);
    for (size_t i = 0; i < BT; i++) {
        for (size_t o = 0; o < OC; o++) {
            double s = with_bias ? bias[o] : 0.0, a = fabs(s);
            for (size_t c = 0; c < C; c++) {
                double p = (double)inp[i * C + c] * weight[o * C + c];
                s += p;
                a += fabs(p);
            }
            exact[i * OC + o] = s;
            absum[i * OC + o] = a;
        }
    }
    char sub[192];
    snprintf(sub, sizeof sub, "naive forward %s", name);
    float *out_naive = (float *)malloc_check(BT * OC * sizeof(float));
    matmul_forward_naive(out_naive, inp, weight, with_bias ? bias : NULL, (int)BT, (int)C, (int)OC);
    if (check_naive(sub, out, out_naive, exact, absum, BT * OC, C + 1)) {
        printf("ok %s\n", sub);
    } else {
        failures++;
    }
    snprintf(sub, sizeof sub, "forward %s", name);
    if (check(sub, out, exact, absum, BT * OC, C + 1, &worst)) {
        if (memcmp(out, out1, BT * OC * sizeof(float)) != 0) {
            printf("not ok %s: 1 and 2 threads differ\n", sub);
            failures++;
        } else {
            printf("ok %s (worst error %.3f of bound)\n", sub, worst);
        }
    } else {
        failures++;
    }

    // backward: all three accumulate into their initial values
    float *dinp = copy_array(dinp0, BT * C), *dweight = copy_array(dweight0, OC * C);
    float *dbias = copy_array(dbias0, OC);
    float *dinp1 = copy_array(dinp0, BT * C), *dweight1 = copy_array(dweight0, OC * C);
    float *dbias1 = copy_array(dbias0, OC);
    omp_set_num_threads(2);
    matmul_backward_cpu(dinp, dweight, with_bias ? dbias : NULL, dout, inp, weight, BT, C, OC);
    omp_set_num_threads(1);
    matmul_backward_cpu(dinp1, dweight1, with_bias ? dbias1 : NULL, dout, inp, weight, BT, C,
                        OC);
    int same = memcmp(dinp, dinp1, BT * C * sizeof(float)) == 0 &&
               memcmp(dweight, dweight1, OC * C * sizeof(float)) == 0 &&
               memcmp(dbias, dbias1, OC * sizeof(float)) == 0;

    for (size_t i = 0; i < BT; i++) { // dinp = dinp0 + dout @ weight
        for (size_t c = 0; c < C; c++) {
            double s = dinp0[i * C + c], a = fabs(s);
            for (size_t o = 0; o < OC; o++) {
                double p = (double)dout[i * OC + o] * weight[o * C + c];
                s += p;
                a += fabs(p);
            }
            exact[i * C + c] = s;
            absum[i * C + c] = a;
        }
    }
    float *dinp_n = copy_array(dinp0, BT * C), *dweight_n = copy_array(dweight0, OC * C);
    float *dbias_n = copy_array(dbias0, OC);
    matmul_backward_naive(dinp_n, dweight_n, with_bias ? dbias_n : NULL, dout, inp, weight, (int)BT,
                          (int)C, (int)OC);
    snprintf(sub, sizeof sub, "naive backward dinp %s", name);
    int naive_ok = check_naive(sub, dinp, dinp_n, exact, absum, BT * C, OC + 1);
    snprintf(sub, sizeof sub, "backward dinp %s", name);
    int ok = check(sub, dinp, exact, absum, BT * C, OC + 1, &worst);
    double worst_all = worst;
    for (size_t o = 0; ok && o < OC; o++) { // dweight = dweight0 + dout^T @ inp
        for (size_t c = 0; c < C; c++) {
            double s = dweight0[o * C + c], a = fabs(s);
            for (size_t i = 0; i < BT; i++) {
                double p = (double)dout[i * OC + o] * inp[i * C + c];
                s += p;
                a += fabs(p);
            }
            exact[o * C + c] = s;
            absum[o * C + c] = a;
        }
    }
    snprintf(sub, sizeof sub, "naive backward dweight %s", name);
    naive_ok = naive_ok && ok && check_naive(sub, dweight, dweight_n, exact, absum, OC * C, BT + 1);
    snprintf(sub, sizeof sub, "backward dweight %s", name);
    ok = ok && check(sub, dweight, exact, absum, OC * C, BT + 1, &worst);
    worst_all = worst > worst_all ? worst : worst_all;
    for (size_t o = 0; ok && o < OC; o++) { // dbias = dbias0 + column sums (or untouched)
        double s = dbias0[o], a = fabs(s);
        for (size_t i = 0; with_bias && i < BT; i++) {
            s += dout[i * OC + o];
            a += fabs((double)dout[i * OC + o]);
        }
        exact[o] = s;
        absum[o] = a;
    }
    snprintf(sub, sizeof sub, "naive backward dbias %s", name);
    naive_ok = naive_ok && ok && check_naive(sub, dbias, dbias_n, exact, absum, OC, BT + 1);
    snprintf(sub, sizeof sub, "backward dbias %s", name);
    ok = ok && check(sub, dbias, exact, absum, OC, BT + 1, &worst);
    worst_all = worst > worst_all ? worst : worst_all;
    if (naive_ok) {
        printf("ok naive backward %s\n", name);
    } else {
        failures++;
    }
    snprintf(sub, sizeof sub, "backward %s", name);
    if (!ok) {
        failures++;
    } else if (!same) {
        printf("not ok %s: 1 and 2 threads differ\n", sub);
        failures++;
    } else {
        printf("ok %s (worst error %.3f of bound)\n", sub, worst_all);
    }
    free(inp); free(weight); free(bias); free(dout); free(dinp0); free(dweight0); free(dbias0);
    free(exact); free(absum); free(out); free(out1); free(dinp); free(dweight); free(dbias);
    free(dinp1); free(dweight1); free(dbias1); free(out_naive); free(dinp_n); free(dweight_n);
    free(dbias_n);
}

int main(void) {
    printf("# micro-kernel: %s, MR=%d NR=%d NC=%d work=%d floats\n", CPUMM_ISA, CPUMM_MR, CPUMM_NR,
           CPUMM_NC, CPUMM_WORK);
    // (BT, C, OC): ones, primes, non-multiples of every tile size, the test model's odd shapes,
    // more than one K block in all three products (dweight: BT=1300), and GPT-2-like shapes.
    static const size_t shapes[][3] = {
        {1, 1, 1},     {1, 1, 7},     {1, 7, 1},      {7, 1, 1},      {2, 3, 5},
        {5, 17, 13},   {74, 48, 97},  {74, 48, 144},  {74, 144, 48},  {74, 192, 48},
        {37, 48, 97},  {6, 64, 64},   {12, 128, 128}, {13, 65, 129},  {67, 300, 131},
        {31, 517, 70}, {300, 33, 260}, {128, 768, 96}, {64, 96, 1000}, {257, 260, 259},
        {1300, 40, 50}, {256, 768, 2304},
    };
    size_t nshapes = sizeof shapes / sizeof shapes[0];
    // CPU_MATMUL_QUICK=1 (the sanitizer suite, where every access is checked and ~10x slower):
    // the GPT-2-sized shape is left out; the small ones cover every edge and blocking case
    int quick = getenv("CPU_MATMUL_QUICK") != NULL;
    for (size_t s = 0; s < nshapes; s++) {
        if (quick && shapes[s][0] * shapes[s][1] * shapes[s][2] > 10000000) {
            printf("# CPU_MATMUL_QUICK: shape %zu x %zu x %zu left out\n", shapes[s][0], shapes[s][1],
                   shapes[s][2]);
            continue;
        }
        test_shape(shapes[s][0], shapes[s][1], shapes[s][2], 1);
        test_shape(shapes[s][0], shapes[s][1], shapes[s][2], 0);
    }
    return failures == 0 ? 0 : 1;
}
