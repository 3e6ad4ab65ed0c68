/*
 * cpu_matmul.h: fp32 matrix multiplies for the CPU trainer (OpenMP inside).
 *
 * Layout follows nn.Linear: weight is (OC, C) row-major, so the forward is out = inp @ weight^T.
 * First version: plain loops (correct for any size); the fast tiled kernels replace these.
 * Header-only, static functions, compiles as C11 and C++.
 */
#ifndef LLMC_CPU_MATMUL_H
#define LLMC_CPU_MATMUL_H

#include <stddef.h>

// out (BT, OC) = inp (BT, C) @ weight (OC, C)^T + bias (OC); bias may be NULL. Overwrites out.
static void matmul_forward_cpu(float *out, const float *inp, const float *weight,
                               const float *bias, size_t BT, size_t C, size_t OC) {
    long long n = (long long)BT;
#pragma omp parallel for
    for (long long i = 0; i < n; i++) {
        const float *x = inp + (size_t)i * C;
        for (size_t o = 0; o < OC; o++) {
            const float *w = weight + o * C;
            float acc = bias != NULL ? bias[o] : 0.0f;
            for (size_t c = 0; c < C; c++) {
                acc += x[c] * w[c];
            }
            out[(size_t)i * OC + o] = acc;
        }
    }
}

// dinp (BT, C) += dout (BT, OC) @ weight (OC, C)
// dweight (OC, C) += dout^T @ inp (BT, C);  dbias (OC) += column sums of dout (may be NULL).
static void matmul_backward_cpu(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *inp, const float *weight, size_t BT, size_t C,
                                size_t OC) {
    long long n = (long long)BT;
#pragma omp parallel for
    for (long long i = 0; i < n; i++) {
        const float *g = dout + (size_t)i * OC;
        float *dx = dinp + (size_t)i * C;
        for (size_t o = 0; o < OC; o++) {
            const float *w = weight + o * C;
            float go = g[o];
            for (size_t c = 0; c < C; c++) {
                dx[c] += go * w[c];
            }
        }
    }
    long long m = (long long)OC;
#pragma omp parallel for
    for (long long o = 0; o < m; o++) {
        float *dw = dweight + (size_t)o * C;
        float db = 0.0f;
        for (size_t i = 0; i < BT; i++) {
            float go = dout[i * OC + (size_t)o];
            const float *x = inp + i * C;
            for (size_t c = 0; c < C; c++) {
                dw[c] += go * x[c];
            }
            db += go;
        }
        if (dbias != NULL) {
            dbias[o] += db;
        }
    }
}

#endif // LLMC_CPU_MATMUL_H
