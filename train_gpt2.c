/*
 * train_gpt2.c: GPT-2 training on the CPU in fp32, the reference that everything else mirrors.
 *
 * Read top to bottom: the layers (each a forward/backward pair with the same signature as its
 * GPU kernel, see doc/cpu_layers.md), the model (parameters from the table in llmc/gpt2.h,
 * activations, forward, backward, AdamW), then the training loop. Backward functions accumulate
 * (+=) into every gradient they write. OpenMP splits the work when compiled with -fopenmp.
 * --precision bf16 runs the matmuls on bf16 weights and activations with fp32 master weights
 * (the "bf16 mixed precision" block below, llmc/cpu_matmul_bf16.h, doc/cpu_bf16.md).
 *
 * This file also compiles as C++ (test_gpt2.c and dev/cuda include it with TESTING defined to get
 * the layers without main), hence the explicit casts of allocations.
 */
#include "llmc/utils.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#include "llmc/adamw_settings.h"
#include "llmc/cpu_matmul.h"
#include "llmc/cpu_matmul_bf16.h"
#include "llmc/gpt2.h"
#include "llmc/rand.h"
#include "llmc/timer.h"

// ----------------------------------------------------------------------------
// Layers. N = B*T rows; C channels; shapes are row-major.
//
// Speed notes. libm's expf/tanhf are scalar calls, so loops that use them do not vectorize;
// exp_vec below is branch-free arithmetic the compiler turns into AVX-512/AVX2 code (on AVX2,
// GCC needs -fno-trapping-math for that, which the Makefile passes). Float sums over a row are
// kept in LANES interleaved partial sums: a plain `s += x[i]` loop cannot be vectorized without
// reordering the additions (which -O3 alone does not allow), this fixes one reordering, so
// results stay deterministic.

#define LANES 16

// exp(x) within 1.2 ulp over [-87, 88]: 2^n * p(r), n = round(x / ln2), r = x - n ln2, p the
// degree-7 Taylor polynomial (|r| <= ln2 / 2). Returns 0 below -87 (far tails of a softmax) and
// exp(88) above 88 (never reached: arguments here are <= 0 or gelu's -2u).
static inline float exp_vec(float x) {
    float x0 = x;
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    float t = x * 1.44269504088896341f + shifter;
    float n = t - shifter;
    int32_t n_int;
    memcpy(&n_int, &t, sizeof(n_int));
    n_int -= 0x4B400000;  // the bits of `shifter`: leaves n as an integer
    float r = x - n * 0.693145751953125f;  // ln2 split in two so that n * hi is exact
    r = r - n * 1.428606765330187e-06f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = (n_int + 127) << 23;  // 2^n
    float scale;
    memcpy(&scale, &bits, sizeof(scale));
    return x0 < -87.0f ? 0.0f : p * scale;
}

// sum of x[0..n) in LANES partial sums
static inline float sum_lanes(const float *x, int n) {
    float s[LANES] = {0};
    int i = 0;
    for (; i + LANES <= n; i += LANES) {
        for (int j = 0; j < LANES; j++) s[j] += x[i + j];
    }
    float r = 0.0f;
    for (int j = 0; j < LANES; j++) r += s[j];
    for (; i < n; i++) r += x[i];
    return r;
}

// out (B,T,C) = wte[inp] + wpe[t]
void encoder_forward(float *out, const int *inp, const float *wte, const float *wpe, int B, int T, int C) {
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)b * T + t) * C;
            const float *tok = wte + (size_t)inp[b * T + t] * C;
            const float *pos = wpe + (size_t)t * C;
            for (int c = 0; c < C; c++) o[c] = tok[c] + pos[c];
        }
    }
}

// dwte (Vp,C) += dout at each token's row; dwpe (maxT,C) += dout summed over the batch.
// Serial over positions: two positions may share a token, and the order stays fixed.
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp, int B, int T, int C) {
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            const float *d = dout + ((size_t)b * T + t) * C;
            float *dtok = dwte + (size_t)inp[b * T + t] * C;
            float *dpos = dwpe + (size_t)t * C;
            for (int c = 0; c < C; c++) {
                dtok[c] += d[c];
                dpos[c] += d[c];
            }
        }
    }
}

// out (N,C) = (inp - mean) * rstd * weight + bias, per row; saves mean (N) and rstd (N).
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int N, int C) {
    const float eps = 1e-5f;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *x = inp + (size_t)i * C;
        float m = sum_lanes(x, C) / C;
        float vl[LANES] = {0};
        int c = 0;
        for (; c + LANES <= C; c += LANES) {
            for (int j = 0; j < LANES; j++) vl[j] += (x[c + j] - m) * (x[c + j] - m);
        }
        float var = 0.0f;
        for (int j = 0; j < LANES; j++) var += vl[j];
        for (; c < C; c++) var += (x[c] - m) * (x[c] - m);
        var /= C;
        float s = 1.0f / sqrtf(var + eps);
        float *o = out + (size_t)i * C;
        for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * weight[c] + bias[c];
        mean[i] = m;
        rstd[i] = s;
    }
}

// With xhat = (x - mean) * rstd and g = dout * weight:
//   dinp = rstd * (g - mean(g) - xhat * mean(g * xhat)),  dweight += dout * xhat,  dbias += dout.
// Rows are split between threads; each thread sums dweight/dbias into its own slice of
// `scratch` (nthreads x 2C), reduced in a fixed order afterwards, so results are deterministic.
void layernorm_backward(float *dinp, float *dweight, float *dbias, float *scratch, const float *dout,
                        const float *inp, const float *weight, const float *mean, const float *rstd,
                        int N, int C) {
    int nthreads = 1;
#ifdef _OPENMP
    nthreads = omp_get_max_threads();
#endif
    memset(scratch, 0, (size_t)nthreads * 2 * C * sizeof(float));
#pragma omp parallel
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *dw = scratch + (size_t)tid * 2 * C;
        float *db = dw + C;
#pragma omp for schedule(static)
        for (int i = 0; i < N; i++) {
            const float *x = inp + (size_t)i * C;
            const float *d = dout + (size_t)i * C;
            float m = mean[i], s = rstd[i];
            float gl[LANES] = {0}, gxl[LANES] = {0};
            int c = 0;
            for (; c + LANES <= C; c += LANES) {
                for (int j = 0; j < LANES; j++) {
                    float xhat = (x[c + j] - m) * s;
                    float g = weight[c + j] * d[c + j];
                    gl[j] += g;
                    gxl[j] += g * xhat;
                }
            }
            float gmean = 0.0f, gxmean = 0.0f;
            for (int j = 0; j < LANES; j++) {
                gmean += gl[j];
                gxmean += gxl[j];
            }
            for (; c < C; c++) {
                float xhat = (x[c] - m) * s;
                float g = weight[c] * d[c];
                gmean += g;
                gxmean += g * xhat;
            }
            gmean /= C;
            gxmean /= C;
            float *dx = dinp + (size_t)i * C;
            for (c = 0; c < C; c++) {
                float xhat = (x[c] - m) * s;
                float g = weight[c] * d[c];
                db[c] += d[c];
                dw[c] += xhat * d[c];
                dx[c] += s * (g - gmean - xhat * gxmean);
            }
        }
    }
    for (int t = 0; t < nthreads; t++) {
        const float *dw = scratch + (size_t)t * 2 * C;
        for (int c = 0; c < C; c++) {
            dweight[c] += dw[c];
            dbias[c] += dw[C + c];
        }
    }
}

// The matmul layer as plain loops: what the layer computes, to read, and the reference the fast
// kernels below are tested against (dev/test/cpu_matmul_test.c). Far too slow to train with.
// out (N,OC) = inp (N,C) @ weight (OC,C)^T + bias (OC)
void matmul_forward_naive(float *out, const float *inp, const float *weight, const float *bias,
                          int N, int C, int OC) {
    for (size_t i = 0; i < (size_t)N; i++) {
        for (size_t o = 0; o < (size_t)OC; o++) {
            float sum = bias != NULL ? bias[o] : 0.0f;
            for (size_t c = 0; c < (size_t)C; c++) {
                sum += inp[i * C + c] * weight[o * C + c];
            }
            out[i * OC + o] = sum;
        }
    }
}

// dinp (N,C) += dout (N,OC) @ weight (OC,C); dweight (OC,C) += dout^T @ inp (N,C);
// dbias (OC) += column sums of dout (dbias may be NULL)
void matmul_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, int N, int C, int OC) {
    for (size_t i = 0; i < (size_t)N; i++) {
        for (size_t c = 0; c < (size_t)C; c++) {
            float sum = dinp[i * C + c];
            for (size_t o = 0; o < (size_t)OC; o++) {
                sum += dout[i * OC + o] * weight[o * C + c];
            }
            dinp[i * C + c] = sum;
        }
    }
    for (size_t o = 0; o < (size_t)OC; o++) {
        for (size_t c = 0; c < (size_t)C; c++) {
            float sum = dweight[o * C + c];
            for (size_t i = 0; i < (size_t)N; i++) {
                sum += dout[i * OC + o] * inp[i * C + c];
            }
            dweight[o * C + c] = sum;
        }
        if (dbias != NULL) {
            float sum = dbias[o];
            for (size_t i = 0; i < (size_t)N; i++) {
                sum += dout[i * OC + o];
            }
            dbias[o] = sum;
        }
    }
}

// out (N,OC) = inp (N,C) @ weight (OC,C)^T + bias (OC): the blocked, vectorized, multithreaded
// kernel of llmc/cpu_matmul.h (same result as matmul_forward_naive up to summation order).
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int N, int C, int OC) {
    matmul_forward_cpu(out, inp, weight, bias, (size_t)N, (size_t)C, (size_t)OC);
}

// dinp (N,C) += dout @ weight; dweight (OC,C) += dout^T @ inp; dbias (OC) += column sums of dout.
void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int N, int C, int OC) {
    matmul_backward_cpu(dinp, dweight, dbias, dout, inp, weight, (size_t)N, (size_t)C, (size_t)OC);
}

// Causal self-attention, one (batch, head) pair per task. qkv (B,T,3C) holds [Q|K|V] per row,
// heads contiguous; out (B,T,C); lse (B,NH,T) is each scaled score row's log-sum-exp, which is
// all backward needs to rebuild the probabilities: no T x T matrix is ever stored.
// Queries go in blocks of ATT_Q: the block's scores against the keys it can see are a small
// matrix product, computed in ATT_Q x 16 tiles of vector FMAs from K transposed into scratch
// (HS, Tp), Tp = T rounded up to 16. Per thread, scratch holds Kt and Vt (HS, Tp), two score
// blocks (ATT_Q, Tp) and one (ATT_Q, HS): attention_scratch_floats(T, C, NH) floats, O(T) memory.
#define ATT_Q 8
#define ATT_TP(T) (((size_t)(T) + 15) / 16 * 16)

size_t attention_scratch_floats(int T, int C, int NH) {
    size_t HS = (size_t)(C / NH);
    return (2 * HS + 2 * ATT_Q) * ATT_TP(T) + ATT_Q * HS;
}

// dst (HS, Tp) = the T rows of src (HS wide, row stride `stride`) transposed; columns >= T are 0.
static void attention_transpose(float *dst, const float *src, int T, int HS, size_t stride) {
    size_t Tp = ATT_TP(T);
    for (int i = 0; i < HS; i++) {
        for (size_t t = 0; t < Tp; t++) dst[i * Tp + t] = t < (size_t)T ? src[t * stride + i] : 0.0f;
    }
}

// S (qb, n rounded up to 16; rows Tp apart) = scale * X (qb rows, HS wide, `xs` apart) @ Yt[:, :n]
static void attention_block_scores(float *S, const float *X, size_t xs, const float *Yt, int qb, int n, int T,
                                   int HS, float scale) {
    size_t Tp = ATT_TP(T);
    for (int k0 = 0; k0 < n; k0 += 16) {
        float acc[ATT_Q][16];  // ATT_Q vector registers
        for (int r = 0; r < ATT_Q; r++) {
            for (int j = 0; j < 16; j++) acc[r][j] = 0.0f;
        }
        for (int i = 0; i < HS; i++) {
            const float *y = Yt + (size_t)i * Tp + k0;
            for (int r = 0; r < ATT_Q; r++) {
                float x = r < qb ? X[(size_t)r * xs + i] * scale : 0.0f;
                for (int j = 0; j < 16; j++) acc[r][j] += x * y[j];
            }
        }
        for (int r = 0; r < qb; r++) {
            for (int j = 0; j < 16; j++) S[(size_t)r * Tp + k0 + j] = acc[r][j];
        }
    }
}

void attention_forward(float *out, float *lse, float *scratch, const float *qkv, int B, int T, int C, int NH) {
    int HS = C / NH;
    size_t C3 = (size_t)C * 3, Tp = ATT_TP(T);
    float scale = 1.0f / sqrtf((float)HS);
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            int tid = 0;
#ifdef _OPENMP
            tid = omp_get_thread_num();
#endif
            float *Kt = scratch + (size_t)tid * attention_scratch_floats(T, C, NH);
            float *S = Kt + 2 * (size_t)HS * Tp;  // (ATT_Q, Tp) scores, then probabilities
            const float *base = qkv + (size_t)b * T * C3 + (size_t)h * HS;
            attention_transpose(Kt, base + C, T, HS, C3);
            for (int t0 = 0; t0 < T; t0 += ATT_Q) {
                int qb = T - t0 < ATT_Q ? T - t0 : ATT_Q;
                attention_block_scores(S, base + (size_t)t0 * C3, C3, Kt, qb, t0 + qb, T, HS, scale);
                for (int r = 0; r < qb; r++) {
                    int t = t0 + r, n = t + 1;  // query t sees keys 0..t
                    float *s = S + (size_t)r * Tp;
                    float maxv = -INFINITY;
                    for (int t2 = 0; t2 < n; t2++) maxv = s[t2] > maxv ? s[t2] : maxv;
                    for (int t2 = 0; t2 < n; t2++) s[t2] = exp_vec(s[t2] - maxv);
                    float sum = sum_lanes(s, n), inv = 1.0f / sum;
                    float *o = out + ((size_t)b * T + t) * C + (size_t)h * HS;
                    for (int i = 0; i < HS; i++) o[i] = 0.0f;
                    for (int t2 = 0; t2 < n; t2++) {
                        const float *v = base + (size_t)t2 * C3 + 2 * (size_t)C;
                        float p = s[t2] * inv;
                        for (int i = 0; i < HS; i++) o[i] += p * v[i];
                    }
                    lse[((size_t)b * NH + h) * T + t] = maxv + logf(sum);
                }
            }
        }
    }
}

// Per block of queries, with P = exp(S - lse) rebuilt, dP = dout V^T, D = rowsum(dout * out):
//   dS = P * (dP - D) * scale;  dq = dS K;  dk += dS^T q;  dv += P^T dout.
// Each (batch, head) task writes only its own columns of dqkv (B,T,3C), so tasks never race.
void attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv, const float *out,
                        const float *lse, int B, int T, int C, int NH) {
    int HS = C / NH;
    size_t C3 = (size_t)C * 3, Tp = ATT_TP(T);
    float scale = 1.0f / sqrtf((float)HS);
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            int tid = 0;
#ifdef _OPENMP
            tid = omp_get_thread_num();
#endif
            float *Kt = scratch + (size_t)tid * attention_scratch_floats(T, C, NH);
            float *Vt = Kt + (size_t)HS * Tp;
            float *P = Vt + (size_t)HS * Tp, *dS = P + ATT_Q * Tp;  // (ATT_Q, Tp) each
            float *dq = dS + ATT_Q * Tp;                             // (ATT_Q, HS)
            const float *base = qkv + (size_t)b * T * C3 + (size_t)h * HS;
            const float *dout_b = dout + (size_t)b * T * C + (size_t)h * HS;
            const float *out_b = out + (size_t)b * T * C + (size_t)h * HS;
            float *dbase = dqkv + (size_t)b * T * C3 + (size_t)h * HS;
            attention_transpose(Kt, base + C, T, HS, C3);
            attention_transpose(Vt, base + 2 * (size_t)C, T, HS, C3);
            for (int t0 = 0; t0 < T; t0 += ATT_Q) {
                int qb = T - t0 < ATT_Q ? T - t0 : ATT_Q, n = t0 + qb;  // the block sees keys 0..n-1
                attention_block_scores(P, base + (size_t)t0 * C3, C3, Kt, qb, n, T, HS, scale);
                attention_block_scores(dS, dout_b + (size_t)t0 * C, (size_t)C, Vt, qb, n, T, HS, 1.0f);
                for (int r = 0; r < qb; r++) {
                    int t = t0 + r;
                    const float *dout_t = dout_b + (size_t)t * C, *out_t = out_b + (size_t)t * C;
                    float D = 0.0f;
                    for (int i = 0; i < HS; i++) D += dout_t[i] * out_t[i];
                    float row_lse = lse[((size_t)b * NH + h) * T + t];
                    float *p = P + (size_t)r * Tp, *ds = dS + (size_t)r * Tp;
                    for (int t2 = 0; t2 < n; t2++) {  // keys after t are masked: p = ds = 0
                        p[t2] = t2 <= t ? exp_vec(p[t2] - row_lse) : 0.0f;
                        ds[t2] = p[t2] * (ds[t2] - D) * scale;
                    }
                }
                for (int x = 0; x < ATT_Q * HS; x++) dq[x] = 0.0f;
                for (int t2 = 0; t2 < n; t2++) {
                    const float *k = base + (size_t)t2 * C3 + C;
                    for (int r = 0; r < qb; r++) {
                        float g = dS[(size_t)r * Tp + t2];
                        for (int i = 0; i < HS; i++) dq[r * HS + i] += g * k[i];
                    }
                }
                for (int r = 0; r < qb; r++) {
                    float *dq_t = dbase + (size_t)(t0 + r) * C3;
                    for (int i = 0; i < HS; i++) dq_t[i] += dq[r * HS + i];
                }
                for (int t2 = 0; t2 < n; t2++) {
                    float *dk = dbase + (size_t)t2 * C3 + C, *dv = dbase + (size_t)t2 * C3 + 2 * (size_t)C;
                    for (int r = 0; r < qb; r++) {
                        const float *q = base + (size_t)(t0 + r) * C3, *dout_t = dout_b + (size_t)(t0 + r) * C;
                        float g = dS[(size_t)r * Tp + t2], pt = P[(size_t)r * Tp + t2];
                        for (int i = 0; i < HS; i++) {
                            dk[i] += g * q[i];
                            dv[i] += pt * dout_t[i];
                        }
                    }
                }
            }
        }
    }
}

#define GELU_SCALE 0.7978845608028654f  // sqrt(2 / pi)

// out = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), GPT-2's tanh approximation,
// computed as x * sigmoid(2u): the same function (0.5 (1 + tanh u) = 1 / (1 + e^-2u)), one exp,
// and no cancellation in 1 + tanh(u) for negative x.
void gelu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (long long i = 0; i < (long long)n; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        out[i] = x / (1.0f + exp_vec(-2.0f * u));
    }
}

// dinp += dout * gelu'(inp); with s = sigmoid(2u), gelu' = s + 2 x s (1 - s) du/dx.
void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (long long i = 0; i < (long long)n; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        float s = 1.0f / (1.0f + exp_vec(-2.0f * u));
        float du = GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] += dout[i] * (s + 2.0f * x * s * (1.0f - s) * du);
    }
}

void residual_forward(float *out, const float *inp1, const float *inp2, size_t n) {
#pragma omp parallel for
    for (long long i = 0; i < (long long)n; i++) out[i] = inp1[i] + inp2[i];
}

void residual_backward(float *dinp1, float *dinp2, const float *dout, size_t n) {
#pragma omp parallel for
    for (long long i = 0; i < (long long)n; i++) {
        dinp1[i] += dout[i];
        dinp2[i] += dout[i];
    }
}

// Cross-entropy of each row of logits (N,Vp) against its target, over the first V columns
// (the padding columns are not part of the vocabulary): losses[i] = lse[i] - logits[i,target].
// A target of -1 is ignored (a masked position, as PyTorch's ignore_index): loss and lse 0.
// The max and the sum of exps run in LANES partial results (vectorized).
void classifier_forward(float *losses, float *lse, const float *logits, const int *targets, int N, int V, int Vp) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *row = logits + (size_t)i * Vp;
        if (targets[i] < 0) {
            losses[i] = 0.0f;
            lse[i] = 0.0f;
            continue;
        }
        float m[LANES], s[LANES];
        for (int j = 0; j < LANES; j++) {
            m[j] = -INFINITY;
            s[j] = 0.0f;
        }
        int v = 0;
        for (; v + LANES <= V; v += LANES) {
            for (int j = 0; j < LANES; j++) m[j] = row[v + j] > m[j] ? row[v + j] : m[j];
        }
        float maxv = -INFINITY;
        for (int j = 0; j < LANES; j++) maxv = m[j] > maxv ? m[j] : maxv;
        for (int w = v; w < V; w++) maxv = row[w] > maxv ? row[w] : maxv;
        for (v = 0; v + LANES <= V; v += LANES) {
            for (int j = 0; j < LANES; j++) s[j] += exp_vec(row[v + j] - maxv);
        }
        float sum = 0.0f;
        for (int j = 0; j < LANES; j++) sum += s[j];
        for (int w = v; w < V; w++) sum += exp_vec(row[w] - maxv);
        lse[i] = maxv + logf(sum);
        losses[i] = lse[i] - row[targets[i]];
    }
}

// Overwrites logits (N,Vp) with dloss * w[i] * (softmax - onehot(target)); padding columns get
// 0, and so does every column of an ignored row (target -1).
// dloss is d(mean loss)/d(loss of one row): 1 / (counted targets * grad_accum_steps).
// weights (N), or NULL for all 1: the loss is sum_i w[i] * loss[i] * dloss (RL's advantages).
void classifier_backward(float *logits, const float *lse, const int *targets, const float *weights, float dloss,
                         int N, int V, int Vp) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        float *row = logits + (size_t)i * Vp;
        if (targets[i] < 0) {
            for (int v = 0; v < Vp; v++) row[v] = 0.0f;
            continue;
        }
        float row_lse = lse[i], d = weights ? dloss * weights[i] : dloss;
        for (int v = 0; v < V; v++) row[v] = exp_vec(row[v] - row_lse) * d;
        row[targets[i]] -= d;
        for (int v = V; v < Vp; v++) row[v] = 0.0f;
    }
}

// torch.optim.AdamW on one parameter: decoupled weight decay first, then the Adam step on the
// gradient g (already scaled by clipping). m, v updated in place; returns the new parameter.
static inline float adamw_step(float p, float g, float *m, float *v, float beta1, float beta2, float eps,
                               float decay, float step_size, float bc2_sqrt) {
    float mi = beta1 * *m + (1.0f - beta1) * g;
    float vi = beta2 * *v + (1.0f - beta2) * g * g;
    *m = mi;
    *v = vi;
    return p * decay - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
}

// The step's scalars for adamw_step at 1-based step t: bias corrections in double, as torch
// computes them on the host.
typedef struct {
    float step_size, bc2_sqrt, decay;
} AdamWStep;

static inline AdamWStep adamw_step_scalars(float lr, float beta1, float beta2, float weight_decay, int t) {
    AdamWStep s = {(float)(lr / (1.0 - pow(beta1, t))), (float)sqrt(1.0 - pow(beta2, t)), 1.0f - lr * weight_decay};
    return s;
}

// One sweep of adamw_step over n parameters; with zero_grads set it also zeroes the gradients it
// read (both callers pass a constant, so each gets its own loop).
static inline void adamw_sweep_(float *params, float *grads, float *m, float *v, size_t n, float beta1, float beta2,
                                float eps, float grad_scale, AdamWStep a, int zero_grads) {
    // vectorizes (sqrtf needs -fno-math-errno, see the Makefile); memory-bound beyond that
#pragma omp parallel for simd schedule(static)
    for (long long i = 0; i < (long long)n; i++) {
        params[i] = adamw_step(params[i], grads[i] * grad_scale, &m[i], &v[i], beta1, beta2, eps, a.decay, a.step_size,
                               a.bc2_sqrt);
        if (zero_grads) {
            grads[i] = 0.0f;
        }
    }
}

// torch.optim.AdamW on n parameters (decoupled weight decay first, then the Adam step).
// grad_scale applies gradient clipping; t is the 1-based step count.
void adamw_update(float *params, const float *grads, float *m, float *v, size_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, float grad_scale, int t) {
    adamw_sweep_(params, (float *)grads, m, v, n, beta1, beta2, eps, grad_scale,
                 adamw_step_scalars(lr, beta1, beta2, weight_decay, t), 0); // grads only read
}

// adamw_update fused with the zeroing of the gradients it reads, for the next step to accumulate
// into: one sweep over params, grads, m and v instead of adamw_update's plus a memset's, with
// the same arithmetic (the same results). The gradient norm cannot join this sweep: clipping
// needs this step's norm before the first parameter moves (see gpt2_update).
void adamw_update_zero_grads(float *params, float *grads, float *m, float *v, size_t n, float lr, float beta1,
                             float beta2, float eps, float weight_decay, float grad_scale, int t) {
    adamw_sweep_(params, grads, m, v, n, beta1, beta2, eps, grad_scale,
                 adamw_step_scalars(lr, beta1, beta2, weight_decay, t), 1);
}

// ----------------------------------------------------------------------------
// Step profile: wall time per layer kind, forward and backward apart, summed over the calls made
// while step_profile.on is set (dev/bench/cpu_profile prints it). Off, each layer call costs one
// test of a flag. Matmuls are told apart by their role, the classifier's softmax and
// cross-entropy from its matmul; act_zero is the zeroing of activation-gradient buffers.
typedef enum {
    PROF_ENCODER, PROF_LAYERNORM, PROF_MM_QKV, PROF_ATTENTION, PROF_MM_ATTPROJ, PROF_RESIDUAL, PROF_MM_FC,
    PROF_GELU, PROF_MM_FCPROJ, PROF_MM_LOGITS, PROF_XENT, PROF_ACT_ZERO, PROF_LAYER_KINDS
} ProfKind;
static inline const char *prof_name(int kind) {
    static const char *const names[PROF_LAYER_KINDS] = {
        "encoder", "layernorm", "matmul qkv", "attention", "matmul attproj", "residual", "matmul fc",
        "gelu", "matmul fcproj", "matmul logits", "softmax+xent", "zero act grads",
    };
    return names[kind];
}
typedef struct {
    int on;
    double seconds[PROF_LAYER_KINDS][2]; // [kind][0 forward, 1 backward]
} StepProfile;
static StepProfile step_profile;
#define PROFILED(kind, dir, call)                                          \
    do {                                                                   \
        if (!step_profile.on) {                                            \
            call;                                                          \
        } else {                                                           \
            double t0_ = now_seconds();                                    \
            call;                                                          \
            step_profile.seconds[kind][dir] += now_seconds() - t0_;        \
        }                                                                  \
    } while (0)

// ----------------------------------------------------------------------------
// The model

// Activations of one forward pass, sized for the largest (B, T) at allocation. A forward with
// a smaller batch or sequence (sampling, HellaSwag rows) packs its tensors densely with its own
// B and T, which always fits.
typedef struct {
    float *encoded;   // (B,T,C)
    float *ln1;       // (L,B,T,C)
    float *ln1_mean;  // (L,B,T)
    float *ln1_rstd;  // (L,B,T)
    float *qkv;       // (L,B,T,3C)
    float *atty;      // (L,B,T,C)
    float *att_lse;   // (L,B,NH,T)
    float *residual2; // (L,B,T,C)
    float *ln2;       // (L,B,T,C)
    float *ln2_mean;  // (L,B,T)
    float *ln2_rstd;  // (L,B,T)
    float *fch;       // (L,B,T,4C)
    float *fch_gelu;  // (L,B,T,4C)
    float *residual3; // (L,B,T,C)
    float *lnf;       // (B,T,C)
    float *lnf_mean;  // (B,T)
    float *lnf_rstd;  // (B,T)
    float *logits;    // (B,T,Vp); backward overwrites it with dlogits
    float *lse;       // (B,T) log-sum-exp of each logits row
    float *losses;    // (B,T)
} Activations;

// Gradient buffers for activations. The residual stream's gradient accumulates in one (B,T,C)
// buffer through the layers in reverse; the rest are one layer's scratch, reused by every layer.
typedef struct {
    float *dresidual; // (B,T,C)
    float *dln;       // (B,T,C) gradient of a LayerNorm output (ln1, ln2 or lnf)
    float *datty;     // (B,T,C)
    float *dqkv;      // (B,T,3C)
    float *dfch;      // (B,T,4C) gradient of fch_gelu, then of fch (in place)
    float *dfch_pre;  // (B,T,4C)
} ActivationGrads;

typedef struct {
    GPT2Config config;
    size_t param_offsets[NUM_PARAMETER_TENSORS];
    size_t num_parameters;
    float *params;     // (num_parameters) in checkpoint layout
    float *grads;      // (num_parameters)
    float *m, *v;      // AdamW moments of the parameters [opt_offset, opt_offset + opt_count)
    size_t opt_offset, opt_count; // what this process's optimizer updates: all, or a ZeRO-1 shard
    int max_B, max_T;  // activation capacity
    Activations acts;
    ActivationGrads dacts;
    float *proj_out;   // (B,T,C) output of a residual projection before it is added
    float *scratch;    // per thread: attention blocks (attention_scratch_floats) or LayerNorm partials
    float mean_loss;   // of the last forward with targets: mean over the counted (>= 0) targets
    int num_counted;   // targets of the last forward that were not -1 (ignored)
    int bf16;          // --precision bf16: the matmuls use bf16 weights and activations
    uint16_t *params_bf16; // (num_parameters) bf16 copy of params for the matmuls (bf16 only)
    int grads_zero;    // grads are known to be all zero (gpt2_update left them so): no memset needed
} GPT2;

// Pointer to layer l's slice of parameter tensor i (in params or grads).
static float *param_slice(const GPT2 *model, float *base, int i, int l) {
    size_t per_layer = gpt2_param_rows(&model->config, i) * gpt2_param_cols(&model->config, i);
    return base + model->param_offsets[i] + (size_t)l * per_layer;
}

// n zeroed floats for a big buffer (weights, optimizer state, activations). On Linux, aligned to
// 2 MiB and marked for transparent huge pages: every step streams through gigabytes of these,
// and 4 KiB pages cost TLB misses (and, in a VM, slow page faults) all along. Zeroing touches
// every page now rather than in the first step. Freed with free().
static float *alloc_floats_huge(size_t n) {
    size_t bytes = (n ? n : 1) * sizeof(float);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const size_t huge = (size_t)2 << 20;
    if (bytes >= huge) {
        bytes = (bytes + huge - 1) / huge * huge;
        void *p = aligned_alloc(huge, bytes);
        if (p == NULL) die("out of memory allocating %zu bytes", bytes);
        madvise(p, bytes, MADV_HUGEPAGE);  // advice only: without THP it is plain memory
        memset(p, 0, bytes);
        return (float *)p;
    }
#endif
    return (float *)calloc_check(bytes / sizeof(float), sizeof(float));
}

static void gpt2_alloc_params(GPT2 *model) {
    model->num_parameters = gpt2_param_offsets(&model->config, model->param_offsets);
    model->params = alloc_floats_huge(model->num_parameters);
    model->grads = alloc_floats_huge(model->num_parameters);
    model->m = alloc_floats_huge(model->num_parameters);
    model->v = alloc_floats_huge(model->num_parameters);
    model->opt_offset = 0;
    model->opt_count = model->num_parameters;
}

// ZeRO-1 (llmc/dist.h): this process's optimizer keeps AdamW m and v for, and updates, only the
// parameters [offset, offset + count); the others' updates arrive by all-gather.
void gpt2_shard_optimizer(GPT2 *model, size_t offset, size_t count) {
    free(model->m);
    free(model->v);
    model->m = alloc_floats_huge(count);
    model->v = alloc_floats_huge(count);
    model->opt_offset = offset;
    model->opt_count = count;
}

// Loads a version 3 or 5 checkpoint (bf16 is converted to fp32).
void gpt2_build_from_checkpoint(GPT2 *model, const char *path) {
    memset(model, 0, sizeof(*model));
    FILE *fp = fopen_check(path, "rb");
    int version = gpt2_read_checkpoint_header(fp, path, &model->config);
    gpt2_alloc_params(model);
    gpt2_read_checkpoint_params(fp, path, version, model->params, model->num_parameters);
    fclose_check(fp, path);
}

// GPT-2 init from a seed, as train_gpt2.py draws it (llmc/gpt2.h).
void gpt2_build_from_random(GPT2 *model, const GPT2Config *config, uint64_t seed) {
    memset(model, 0, sizeof(*model));
    model->config = *config;
    gpt2_alloc_params(model);
    gpt2_init_random(&model->config, model->params, seed);
}

// Grows the vocabulary to new_V for the chat special tokens (llmc/gpt2.h: gpt2_grow_vocab).
void gpt2_extend_vocab(GPT2 *model, int new_V) {
    gpt2_grow_vocab(&model->config, model->params + model->param_offsets[PARAM_WTE], new_V);
}

// Allocates activations for batches up to B x T (once; the training step never allocates).
void gpt2_alloc_activations(GPT2 *model, int B, int T) {
    const GPT2Config *c = &model->config;
    if (T > c->max_seq_len) die("sequence length %d exceeds the model's max_seq_len %d", T, c->max_seq_len);
    size_t L = (size_t)c->num_layers, C = (size_t)c->channels, NH = (size_t)c->num_heads;
    size_t BT = (size_t)B * T, Vp = (size_t)c->padded_vocab_size;
    // one block, carved in the order of the struct
    size_t sizes[] = {
        BT * C, L * BT * C, L * BT, L * BT, L * BT * 3 * C, L * BT * C, L * NH * BT, L * BT * C,
        L * BT * C, L * BT, L * BT, L * BT * 4 * C, L * BT * 4 * C, L * BT * C, BT * C, BT, BT,
        BT * Vp, BT, BT,
    };
    float **ptrs[] = {
        &model->acts.encoded, &model->acts.ln1, &model->acts.ln1_mean, &model->acts.ln1_rstd,
        &model->acts.qkv, &model->acts.atty, &model->acts.att_lse, &model->acts.residual2,
        &model->acts.ln2, &model->acts.ln2_mean, &model->acts.ln2_rstd, &model->acts.fch,
        &model->acts.fch_gelu, &model->acts.residual3, &model->acts.lnf, &model->acts.lnf_mean,
        &model->acts.lnf_rstd, &model->acts.logits, &model->acts.lse, &model->acts.losses,
    };
    size_t count = sizeof(sizes) / sizeof(sizes[0]), total = 0;
    for (size_t i = 0; i < count; i++) total += sizes[i];
    float *block = alloc_floats_huge(total);
    for (size_t i = 0; i < count; i++) {
        *ptrs[i] = block;
        block += sizes[i];
    }
    size_t gsizes[] = {BT * C, BT * C, BT * C, BT * 3 * C, BT * 4 * C, BT * 4 * C};
    float **gptrs[] = {&model->dacts.dresidual, &model->dacts.dln, &model->dacts.datty,
                       &model->dacts.dqkv, &model->dacts.dfch, &model->dacts.dfch_pre};
    size_t gtotal = 0;
    for (size_t i = 0; i < 6; i++) gtotal += gsizes[i];
    float *gblock = alloc_floats_huge(gtotal);
    for (size_t i = 0; i < 6; i++) {
        *gptrs[i] = gblock;
        gblock += gsizes[i];
    }
    model->proj_out = (float *)calloc_check(BT * C, sizeof(float));
    int nthreads = 1;
#ifdef _OPENMP
    nthreads = omp_get_max_threads();
#endif
    size_t per_thread = attention_scratch_floats(T, (int)C, (int)NH);  // or LayerNorm's 2C partials
    if (per_thread < 2 * C) per_thread = 2 * C;
    model->scratch = (float *)calloc_check((size_t)nthreads * per_thread, sizeof(float));
    model->max_B = B;
    model->max_T = T;
}

// ---- bf16 mixed precision (--precision bf16; llmc/cpu_matmul_bf16.h) ----
// params stay the fp32 master weights (AdamW, gradients, norms and checkpoints are fp32 as
// ever); the matmuls read a bf16 copy of them, refreshed by gpt2_sync_bf16 after every change.
// Activations and activation gradients stay stored in fp32 and are rounded to bf16 as a matmul
// packs them, so every matmul input is bf16 (as in the GPU trainer's bf16 build) while
// LayerNorm, attention, GELU, softmax and the residual stream keep computing in fp32 (as
// PyTorch's CPU autocast does). Products are summed in fp32.

// Rounds the parameters into the bf16 copy (after init, load, an update or an all-gather).
void gpt2_sync_bf16(GPT2 *model) {
    if (!model->bf16) return;
    const float *p = model->params;
    uint16_t *h = model->params_bf16;
    long long n = (long long)model->num_parameters;
#pragma omp parallel for schedule(static)
    for (long long i = 0; i < n; i++) h[i] = float_to_bf16(p[i]);
}

// Switches the model's matmuls to bf16 (1) or back to fp32 (0).
void gpt2_set_bf16(GPT2 *model, int bf16) {
    free(model->params_bf16);
    model->params_bf16 = bf16 ? (uint16_t *)malloc_check(model->num_parameters * sizeof(uint16_t)) : NULL;
    model->bf16 = bf16;
    gpt2_sync_bf16(model);
}

// The model's linear layers: matmul_forward / matmul_backward, or with bf16 their bf16 twins on
// the bf16 copy of the same weight (weight points into model->params).
static void gpt2_matmul_forward(const GPT2 *model, float *out, const float *inp, const float *weight, const float *bias,
                                int N, int C, int OC) {
    if (!model->bf16) {
        matmul_forward(out, inp, weight, bias, N, C, OC);
        return;
    }
    const uint16_t *w = model->params_bf16 + (weight - model->params);
    matmul_forward_bf16(out, inp, w, bias, (size_t)N, (size_t)C, (size_t)OC);
}
static void gpt2_matmul_backward(const GPT2 *model, float *dinp, float *dweight, float *dbias, const float *dout,
                                 const float *inp, const float *weight, int N, int C, int OC) {
    if (!model->bf16) {
        matmul_backward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
        return;
    }
    const uint16_t *w = model->params_bf16 + (weight - model->params);
    matmul_backward_bf16(dinp, dweight, dbias, dout, inp, w, (size_t)N, (size_t)C, (size_t)OC);
}
// ---- end of bf16 mixed precision ----

// Forward pass on inputs (B,T). With targets (B,T), also the per-token losses and their mean
// over the targets that count (model->mean_loss; a target of -1 is ignored, and a batch with
// none counted has mean loss 0); without, only the logits (mean_loss = -1).
void gpt2_forward(GPT2 *model, const int *inputs, const int *targets, int B, int T) {
    const GPT2Config *c = &model->config;
    if (B * T > model->max_B * model->max_T || T > model->max_T) {
        die("forward with B=%d T=%d exceeds the allocated B=%d T=%d", B, T, model->max_B, model->max_T);
    }
    int L = c->num_layers, C = c->channels, NH = c->num_heads, V = c->vocab_size, Vp = c->padded_vocab_size;
    int N = B * T;
    size_t NC = (size_t)N * C;
    for (int i = 0; i < N; i++) {
        if (inputs[i] < 0 || inputs[i] >= V) die("input token %d at position %d is outside the vocabulary [0, %d)", inputs[i], i, V);
        if (targets && (targets[i] < -1 || targets[i] >= V)) die("target token %d at position %d is outside the vocabulary [0, %d) (or -1: ignored)", targets[i], i, V);
    }
    Activations *a = &model->acts;
    float *P = model->params;
    PROFILED(PROF_ENCODER, 0, encoder_forward(a->encoded, inputs, P + model->param_offsets[PARAM_WTE], P + model->param_offsets[PARAM_WPE], B, T, C));
    for (int l = 0; l < L; l++) {
        const float *residual = l == 0 ? a->encoded : a->residual3 + (size_t)(l - 1) * NC;
        float *ln1 = a->ln1 + l * NC, *ln1_mean = a->ln1_mean + (size_t)l * N, *ln1_rstd = a->ln1_rstd + (size_t)l * N;
        float *qkv = a->qkv + l * NC * 3, *atty = a->atty + l * NC, *att_lse = a->att_lse + (size_t)l * NH * N;
        float *residual2 = a->residual2 + l * NC, *ln2 = a->ln2 + l * NC;
        float *ln2_mean = a->ln2_mean + (size_t)l * N, *ln2_rstd = a->ln2_rstd + (size_t)l * N;
        float *fch = a->fch + l * NC * 4, *fch_gelu = a->fch_gelu + l * NC * 4, *residual3 = a->residual3 + l * NC;

        PROFILED(PROF_LAYERNORM, 0, layernorm_forward(ln1, ln1_mean, ln1_rstd, residual, param_slice(model, P, PARAM_LN1W, l), param_slice(model, P, PARAM_LN1B, l), N, C));
        PROFILED(PROF_MM_QKV, 0, gpt2_matmul_forward(model, qkv, ln1, param_slice(model, P, PARAM_QKVW, l), param_slice(model, P, PARAM_QKVB, l), N, C, 3 * C));
        PROFILED(PROF_ATTENTION, 0, attention_forward(atty, att_lse, model->scratch, qkv, B, T, C, NH));
        PROFILED(PROF_MM_ATTPROJ, 0, gpt2_matmul_forward(model, model->proj_out, atty, param_slice(model, P, PARAM_ATTPROJW, l), param_slice(model, P, PARAM_ATTPROJB, l), N, C, C));
        PROFILED(PROF_RESIDUAL, 0, residual_forward(residual2, residual, model->proj_out, NC));
        PROFILED(PROF_LAYERNORM, 0, layernorm_forward(ln2, ln2_mean, ln2_rstd, residual2, param_slice(model, P, PARAM_LN2W, l), param_slice(model, P, PARAM_LN2B, l), N, C));
        PROFILED(PROF_MM_FC, 0, gpt2_matmul_forward(model, fch, ln2, param_slice(model, P, PARAM_FCW, l), param_slice(model, P, PARAM_FCB, l), N, C, 4 * C));
        PROFILED(PROF_GELU, 0, gelu_forward(fch_gelu, fch, NC * 4));
        PROFILED(PROF_MM_FCPROJ, 0, gpt2_matmul_forward(model, model->proj_out, fch_gelu, param_slice(model, P, PARAM_FCPROJW, l), param_slice(model, P, PARAM_FCPROJB, l), N, 4 * C, C));
        PROFILED(PROF_RESIDUAL, 0, residual_forward(residual3, residual2, model->proj_out, NC));
    }
    const float *last = a->residual3 + (size_t)(L - 1) * NC;
    PROFILED(PROF_LAYERNORM, 0, layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, last, P + model->param_offsets[PARAM_LNFW], P + model->param_offsets[PARAM_LNFB], N, C));
    PROFILED(PROF_MM_LOGITS, 0, gpt2_matmul_forward(model, a->logits, a->lnf, P + model->param_offsets[PARAM_WTE], NULL, N, C, Vp));  // tied head
    model->mean_loss = -1.0f;
    if (targets != NULL) {
        PROFILED(PROF_XENT, 0, classifier_forward(a->losses, a->lse, a->logits, targets, N, V, Vp));
        double sum = 0.0;
        int counted = 0;
        for (int i = 0; i < N; i++) {
            sum += a->losses[i];
            counted += targets[i] >= 0;
        }
        model->num_counted = counted;
        model->mean_loss = counted > 0 ? (float)(sum / counted) : 0.0f;
    }
}

// Zeroes the gradients before a step's first backward; free after gpt2_update, which leaves
// them zeroed.
void gpt2_zero_grad(GPT2 *model) {
    if (!model->grads_zero) memset(model->grads, 0, model->num_parameters * sizeof(float));
    model->grads_zero = 1;
}

// Backward pass of the last gpt2_forward (which must have had targets), accumulating into
// model->grads. dloss = 1 / (B*T*grad_accum_steps) makes the grads those of the step's mean loss;
// with ignored targets (-1) each row's share is rescaled by B*T / counted, so the grads are those
// of the mean over counted targets (each micro-batch's mean weighs 1/grad_accum_steps, as
// train_gpt2.py's loss / grad_accum does).
// gpt2_backward_weighted: the loss is sum_i weights[i] * loss[i] * dloss over the counted rows
// (weights (B,T), any sign; no rescaling by the counted targets: the weights carry the
// normalization). weights NULL is gpt2_backward.
void gpt2_backward_weighted(GPT2 *model, const int *inputs, const int *targets, const float *weights, int B, int T,
                            float dloss) {
    const GPT2Config *c = &model->config;
    int L = c->num_layers, C = c->channels, NH = c->num_heads, V = c->vocab_size, Vp = c->padded_vocab_size;
    int N = B * T;
    size_t NC = (size_t)N * C;
    Activations *a = &model->acts;
    ActivationGrads *d = &model->dacts;
    float *P = model->params, *G = model->grads;
    model->grads_zero = 0;

    if (weights == NULL && model->num_counted < N) {
        dloss = model->num_counted > 0 ? (float)((double)dloss * N / model->num_counted) : 0.0f;
    }
    PROFILED(PROF_XENT, 1, classifier_backward(a->logits, a->lse, targets, weights, dloss, N, V, Vp));  // logits now hold dlogits
    PROFILED(PROF_ACT_ZERO, 1, memset(d->dln, 0, NC * sizeof(float)));
    PROFILED(PROF_MM_LOGITS, 1, gpt2_matmul_backward(model, d->dln, G + model->param_offsets[PARAM_WTE], NULL, a->logits, a->lnf, P + model->param_offsets[PARAM_WTE], N, C, Vp));
    PROFILED(PROF_ACT_ZERO, 1, memset(d->dresidual, 0, NC * sizeof(float)));
    const float *last = a->residual3 + (size_t)(L - 1) * NC;
    PROFILED(PROF_LAYERNORM, 1, layernorm_backward(d->dresidual, G + model->param_offsets[PARAM_LNFW], G + model->param_offsets[PARAM_LNFB], model->scratch,
                       d->dln, last, P + model->param_offsets[PARAM_LNFW], a->lnf_mean, a->lnf_rstd, N, C));

    // d->dresidual holds the gradient of layer l's output; each layer adds its branches into it
    // in place, leaving the gradient of its input (residual stream: out = in + branches).
    for (int l = L - 1; l >= 0; l--) {
        const float *residual = l == 0 ? a->encoded : a->residual3 + (size_t)(l - 1) * NC;
        float *ln1 = a->ln1 + l * NC, *ln1_mean = a->ln1_mean + (size_t)l * N, *ln1_rstd = a->ln1_rstd + (size_t)l * N;
        float *qkv = a->qkv + l * NC * 3, *atty = a->atty + l * NC, *att_lse = a->att_lse + (size_t)l * NH * N;
        float *residual2 = a->residual2 + l * NC, *ln2 = a->ln2 + l * NC;
        float *ln2_mean = a->ln2_mean + (size_t)l * N, *ln2_rstd = a->ln2_rstd + (size_t)l * N;
        float *fch = a->fch + l * NC * 4, *fch_gelu = a->fch_gelu + l * NC * 4;

        // MLP branch: residual3 = residual2 + fcproj(gelu(fc(ln2(residual2))))
        PROFILED(PROF_ACT_ZERO, 1, memset(d->dfch, 0, NC * 4 * sizeof(float)));
        PROFILED(PROF_MM_FCPROJ, 1, gpt2_matmul_backward(model, d->dfch, param_slice(model, G, PARAM_FCPROJW, l), param_slice(model, G, PARAM_FCPROJB, l),
                        d->dresidual, fch_gelu, param_slice(model, P, PARAM_FCPROJW, l), N, 4 * C, C));
        PROFILED(PROF_ACT_ZERO, 1, memset(d->dfch_pre, 0, NC * 4 * sizeof(float)));
        PROFILED(PROF_GELU, 1, gelu_backward(d->dfch_pre, fch, d->dfch, NC * 4));
        PROFILED(PROF_ACT_ZERO, 1, memset(d->dln, 0, NC * sizeof(float)));
        PROFILED(PROF_MM_FC, 1, gpt2_matmul_backward(model, d->dln, param_slice(model, G, PARAM_FCW, l), param_slice(model, G, PARAM_FCB, l),
                        d->dfch_pre, ln2, param_slice(model, P, PARAM_FCW, l), N, C, 4 * C));
        PROFILED(PROF_LAYERNORM, 1, layernorm_backward(d->dresidual, param_slice(model, G, PARAM_LN2W, l), param_slice(model, G, PARAM_LN2B, l), model->scratch,
                           d->dln, residual2, param_slice(model, P, PARAM_LN2W, l), ln2_mean, ln2_rstd, N, C));
        // attention branch: residual2 = residual + attproj(attention(qkv(ln1(residual))))
        PROFILED(PROF_ACT_ZERO, 1, memset(d->datty, 0, NC * sizeof(float)));
        PROFILED(PROF_MM_ATTPROJ, 1, gpt2_matmul_backward(model, d->datty, param_slice(model, G, PARAM_ATTPROJW, l), param_slice(model, G, PARAM_ATTPROJB, l),
                        d->dresidual, atty, param_slice(model, P, PARAM_ATTPROJW, l), N, C, C));
        PROFILED(PROF_ACT_ZERO, 1, memset(d->dqkv, 0, NC * 3 * sizeof(float)));
        PROFILED(PROF_ATTENTION, 1, attention_backward(d->dqkv, model->scratch, d->datty, qkv, atty, att_lse, B, T, C, NH));
        PROFILED(PROF_ACT_ZERO, 1, memset(d->dln, 0, NC * sizeof(float)));
        PROFILED(PROF_MM_QKV, 1, gpt2_matmul_backward(model, d->dln, param_slice(model, G, PARAM_QKVW, l), param_slice(model, G, PARAM_QKVB, l),
                        d->dqkv, ln1, param_slice(model, P, PARAM_QKVW, l), N, C, 3 * C));
        PROFILED(PROF_LAYERNORM, 1, layernorm_backward(d->dresidual, param_slice(model, G, PARAM_LN1W, l), param_slice(model, G, PARAM_LN1B, l), model->scratch,
                           d->dln, residual, param_slice(model, P, PARAM_LN1W, l), ln1_mean, ln1_rstd, N, C));
    }
    PROFILED(PROF_ENCODER, 1, encoder_backward(G + model->param_offsets[PARAM_WTE], G + model->param_offsets[PARAM_WPE], d->dresidual, inputs, B, T, C));
}

void gpt2_backward(GPT2 *model, const int *inputs, const int *targets, int B, int T, float dloss) {
    gpt2_backward_weighted(model, inputs, targets, NULL, B, T, dloss);
}

// Sum of the squared gradients [lo, hi), accumulated in double (so the order of threads hardly
// matters), in LANES partial sums so the loop vectorizes. gpt2_grad_norm: all of them.
// A pure read of the gradients, bound by how many cache lines are in flight: each chunk is read
// as NORM_STREAMS sub-blocks side by side, which keeps more misses outstanding than one
// sequential stream (~25% faster on one Zen 3 core).
#define NORM_BLOCK 4096
#define NORM_STREAMS 4
double gpt2_grad_sumsq(const GPT2 *model, size_t lo, size_t hi) {
    const float *g = model->grads + lo;
    long long n = (long long)(hi - lo), chunk = NORM_STREAMS * NORM_BLOCK, nchunks = (n + chunk - 1) / chunk;
    double sum = 0.0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
    for (long long ch = 0; ch < nchunks; ch++) {
        long long base = ch * chunk, end = base + chunk < n ? base + chunk : n;
        double acc[NORM_STREAMS][LANES] = {{0}};
        if (end - base == chunk) {
            for (long long i = 0; i < NORM_BLOCK; i += LANES) {
                for (int s = 0; s < NORM_STREAMS; s++) {
                    const float *x = g + base + s * NORM_BLOCK + i;
                    for (int j = 0; j < LANES; j++) acc[s][j] += (double)x[j] * x[j];
                }
            }
        } else {
            for (long long i = base; i < end; i++) acc[0][0] += (double)g[i] * g[i];
        }
        for (int s = 0; s < NORM_STREAMS; s++) {
            for (int j = 0; j < LANES; j++) sum += acc[s][j];
        }
    }
    return sum;
}

float gpt2_grad_norm(const GPT2 *model) { return (float)sqrt(gpt2_grad_sumsq(model, 0, model->num_parameters)); }

// Applies AdamW at learning rate lr to the parameters this process's optimizer covers (all, or
// its ZeRO-1 shard: a range that may start and end inside tensors), with weight decay only where
// the table says so, after clipping the global gradient norm `norm` (gpt2_grad_norm) like
// torch.nn.utils.clip_grad_norm_. t is the 1-based step. Leaves all gradients zeroed, ready for
// the next step (the covered ones in the same sweep as the update, any others by memset).
// The step's memory sweeps are thus two: the norm (reads the gradients) and this one. The norm
// stays a sweep of its own, as it must be exact and complete before any parameter moves: the
// gradients are final only after the last micro-batch's backward and the all-reduce, and
// summing them at the layers that write them would mean re-reading tensors that have left the
// cache by then (the 154 MB wte gradient at GPT-2 124M), or changing the matmul kernels.
void gpt2_update(GPT2 *model, const AdamWSettings *s, float lr, float norm, int t) {
    float scale = 1.0f;
    if (s->grad_clip > 0.0f) {
        float coef = s->grad_clip / (norm + 1e-6f);
        if (coef < 1.0f) scale = coef;
    }
    size_t lo = model->opt_offset, hi = lo + model->opt_count;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        size_t start = model->param_offsets[i], end = start + gpt2_param_numel(&model->config, i);
        size_t a = start > lo ? start : lo, b = end < hi ? end : hi; // this tensor's part of the range
        if (a >= b) continue;
        float wd = GPT2_PARAMS[i].weight_decay ? s->weight_decay : 0.0f;
        adamw_update_zero_grads(model->params + a, model->grads + a, model->m + (a - lo), model->v + (a - lo), b - a, lr,
                                s->beta1, s->beta2, s->eps, wd, scale, t);
    }
    memset(model->grads, 0, lo * sizeof(float));
    memset(model->grads + hi, 0, (model->num_parameters - hi) * sizeof(float));
    model->grads_zero = 1;
}

void gpt2_free(GPT2 *model) {
    free(model->params);
    free(model->grads);
    free(model->m);
    free(model->v);
    free(model->acts.encoded);   // the start of the activation block
    free(model->dacts.dresidual); // the start of the gradient block
    free(model->proj_out);
    free(model->scratch);
    free(model->params_bf16);
    memset(model, 0, sizeof(*model));
}

#ifndef TESTING
// ----------------------------------------------------------------------------
// Training driver
#include "llmc/dataloader.h"
#include "llmc/evaluate.h"
#include "llmc/logger.h"
#include "llmc/schedule.h"
#include "llmc/step_guard.h"
#include "llmc/timer.h"
#include "llmc/tokenizer.h"
#include "llmc/train_options.h"
#include "llmc/train_plan.h"
#include "llmc/train_state.h"
#include "llmc/generate.h"
#include "llmc/dist.h"

// The model as llmc/evaluate.h sees it. Samples decode through a KV cache (llmc/generate.h, the
// code chat uses): a call whose tokens extend what the cache holds by one feeds only that token,
// so a sample of g tokens costs g positions instead of g full forwards. Any other call (a new
// sample starts with one token; the window sliding past the context) starts the cache over, so
// keys computed with older weights are never reused.
typedef struct {
    GPT2 *model;
    KVCache kv;    // one slot, allocated at the first sample
    int *held;     // (max_seq_len) the tokens the cache holds
    int kv_ready;
} EvalCPU;

static float forward_loss(void *m, const int *inputs, const int *targets, int B, int T, const float **losses) {
    GPT2 *model = ((EvalCPU *)m)->model;
    gpt2_forward(model, inputs, targets, B, T);
    *losses = model->acts.losses;
    return model->mean_loss;
}

static const float *last_logits(void *m, const int *tokens, int n) {
    EvalCPU *e = (EvalCPU *)m;
    int slot = 0;
    if (!e->kv_ready) {
        kv_init(&e->kv, e->model, 1, e->model->config.max_seq_len);
        e->held = (int *)malloc_check((size_t)e->model->config.max_seq_len * sizeof(int));
        e->kv_ready = 1;
    }
    int have = e->kv.len[0], row = n - 1; // the call's last row holds the logits
    if (n == have + 1 && memcmp(tokens, e->held, (size_t)have * sizeof(int)) == 0) {
        kv_forward(e->model, &e->kv, tokens + have, &slot, 1, 0);
        row = 0;
    } else {
        kv_reset(&e->kv, 0);
        int *slots = (int *)calloc_check((size_t)n, sizeof(int));
        kv_forward(e->model, &e->kv, tokens, slots, n, 0);
        free(slots);
    }
    memcpy(e->held, tokens, (size_t)n * sizeof(int));
    return e->kv.logits + (size_t)row * e->model->config.padded_vocab_size;
}

// Sum of v over the processes, for the evaluations split across them.
static double dist_sum(const void *d, double v) {
    dist_allreduce_sum_double((const Dist *)d, &v, 1, "evaluation");
    return v;
}

static void eval_cpu_free(EvalCPU *e) {
    if (!e->kv_ready) return;
    kv_free(&e->kv);
    free(e->held);
}

// Bytes a model of this shape needs for training at B x T: parameters, gradients, AdamW m and v,
// and the activations gpt2_alloc_activations allocates (counted by the same formula).
static size_t training_bytes(const GPT2Config *c, int B, int T, int nthreads, int bf16) {
    size_t sizes[NUM_PARAMETER_TENSORS];
    size_t n = gpt2_param_sizes(c, sizes);
    size_t L = (size_t)c->num_layers, C = (size_t)c->channels, NH = (size_t)c->num_heads;
    size_t BT = (size_t)B * T, Vp = (size_t)c->padded_vocab_size;
    size_t acts = BT * C * 2 + L * BT * (4 + NH + 3 * C + 5 * C + 8 * C) + BT * (Vp + 4);
    size_t grads = BT * C * 4 + BT * 3 * C + BT * 8 * C;
    size_t per_thread = attention_scratch_floats(T, (int)C, (int)NH);
    if (per_thread < 2 * C) per_thread = 2 * C;
    size_t bf16_copy = bf16 ? n * sizeof(uint16_t) : 0; // --precision bf16: the weights' bf16 copy
    return (4 * n + acts + grads + (size_t)nthreads * per_thread) * sizeof(float) + bf16_copy;
}

// Memory the kernel can give without swapping (MemAvailable), or 0 if unknown.
static size_t available_ram_bytes(void) {
    FILE *fp = fopen("/proc/meminfo", "r");
    if (fp == NULL) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof(line), fp)) {
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    }
    fclose(fp);
    return (size_t)kb * 1024;
}

// Refuses a run that would not fit in RAM, before allocating, naming the largest B that fits.
static void check_memory(const GPT2Config *c, int B, int T, int nthreads, int bf16) {
    size_t avail = available_ram_bytes(), need = training_bytes(c, B, T, nthreads, bf16);
    if (avail == 0 || need <= avail) return;
    int fit = 0;
    while (fit < B && training_bytes(c, fit + 1, T, nthreads, bf16) <= avail) fit++;
    die("flag -b: training needs %.1f GiB at B=%d T=%d but %.1f GiB are available; the largest B that fits is %d%s",
        need / 1073741824.0, B, T, avail / 1073741824.0, fit, fit == 0 ? " (none: try a smaller -t or model)" : "");
}

int main(int argc, char **argv) {
    // Processes (llmc/dist.h): one unless started by mpirun/srun (built with USE_MPI=1). Every rank
    // runs this same program on its part of each batch; rank 0 alone prints, logs and writes the
    // model. Errors that every rank meets alike (flags, shared files) are reported by rank 0 alone.
    Dist dist;
    dist_init(&dist, &argc, &argv, 600.0);
    llmc_die_rank = dist.rank;
    llmc_die_quiet = dist.rank > 0;
    uint64_t args_hash = DIST_HASH_INIT;
    for (int i = 1; i < argc; i++) args_hash = dist_hash(args_hash, argv[i], strlen(argv[i]) + 1);
    dist_check_same(&dist, args_hash, "flags");
    if (dist.rank > 0 && freopen("/dev/null", "w", stdout) == NULL) die("cannot silence stdout of rank %d", dist.rank);
    TrainOptions o;
    train_options_parse(&o, argc, argv, 0);
    dist.timeout_s = o.dist_timeout;
    TrainPlan plan;
    train_plan_init(&plan, &o, dist.world);
    AdamWSettings adamw = adamw_settings_from_options(&o);
    int B = o.B, T = o.T;
    const char *dir = o.output_log_dir;

    // a resumed run takes the model (shape included) from its newest checkpoint
    int resumed_at = -1;
    char resume_path[4200];
    const char *load = o.load_filename;
    if (dir[0] != '\0') {
        if (dist.rank == 0) train_state_prepare_dir(dir, o.resume);
        dist_barrier(&dist, "preparing the output directory");
        if (o.resume) resumed_at = train_state_latest(dir);
        if (resumed_at >= 0 && dist.rank == 0) train_state_check_layout(dir, resumed_at, dist.world, o.zero_stage);
        dist_barrier(&dist, "checking the checkpoint");
        if (resumed_at >= 0) {
            train_state_path(resume_path, sizeof(resume_path), dir, CKPT_MODEL, resumed_at, 0);
            load = resume_path;
        } else if (o.resume) {
            printf("-y 1: %s holds no checkpoint, starting fresh\n", dir);
        }
    }
    GPT2Config config;
    int is_random = gpt2_config_of(load, &config);
    train_plan_check_model(&plan, &config);
    int nthreads = 1;
#ifdef _OPENMP
    nthreads = omp_get_max_threads();
#endif
    check_memory(&config, B, T, nthreads, strcmp(o.precision, "bf16") == 0);
    GPT2 model;
    if (is_random) gpt2_build_from_random(&model, &config, (uint64_t)o.seed);
    else gpt2_build_from_checkpoint(&model, load);
    if (o.chat_vocab > 0) gpt2_extend_vocab(&model, o.chat_vocab); // chat fine-tuning: rows for the special tokens
    const GPT2Config *c = &model.config;
    size_t n_params = model.num_parameters;
    if (o.zero_stage == 1) { // ZeRO-1: this rank's optimizer keeps and updates one shard
        size_t offset, count;
        dist_shard(n_params, dist.world, dist.rank, &offset, &count);
        gpt2_shard_optimizer(&model, offset, count);
    }

    DataLoader train, val;
    if (!plan.eval_only) {
        dataloader_init(&train, o.train_data_pattern, (size_t)B, (size_t)T, dist.rank, dist.world, o.shuffle,
                        (uint64_t)o.seed);
        dataloader_set_vocab_size(&train, c->vocab_size); // a token >= V is an error naming its shard
        train_plan_set_steps(&plan, &o, dataloader_num_batches(&train));
        train_plan_check_resume(&plan, resumed_at);
    }
    if (plan.have_val) {
        dataloader_init(&val, o.val_data_pattern, (size_t)B, (size_t)T, dist.rank, dist.world, 0, (uint64_t)o.seed);
        dataloader_set_vocab_size(&val, c->vocab_size);
    }
    EvalLoader hellaswag;
    if (o.hellaswag_eval) evalloader_init(&hellaswag, o.hellaswag_path, (size_t)B, (size_t)T, dist.rank, dist.world);
    dist_check_same(&dist, train_plan_fingerprint(model.params, n_params * sizeof(float), plan.eval_only ? NULL : &train),
                    "model or data");
    llmc_die_quiet = 0; // from here on each rank reads its own files: every rank speaks for itself
    uint64_t sample_rng = train_plan_sample_seed(&o);
    if (resumed_at >= 0) {
        // params come from the model file; master weights of a GPU run, when present, replace them
        train_state_load(dir, resumed_at, c, model.m, model.v, model.params + model.opt_offset, n_params, model.opt_offset,
                         model.opt_count, o.zero_stage, &train, &sample_rng, dist.rank, dist.world);
        printf("resumed from step %d in %s (model and shape from %s)\n", resumed_at, dir, load);
    }
    gpt2_set_bf16(&model, strcmp(o.precision, "bf16") == 0); // after every load: the copy starts from the final params
    Tokenizer tokenizer;
    int have_tok = tokenizer_try_init(&tokenizer, o.tokenizer_path);

    gpt2_alloc_activations(&model, B, T);
    train_plan_print_head(&o, 0, c, model.num_parameters);
    printf("| %-21s | %d\n", "threads", nthreads);
    if (model.bf16) printf("| %-21s | bf16 matmuls (%s kernel), fp32 master weights\n", "precision", bf16mm_best()->name);
    dist_print_plan(&dist, n_params, o.zero_stage, 4, 4, 0);
    train_plan_print(&plan, plan.eval_only ? 0 : dataloader_num_batches(&train));
    printf(TABLE_RULE);

    EvalCPU eval_cpu = {&model, {0}, NULL, 0};
    EvalModel em = {&eval_cpu, forward_loss, last_logits, dist.world > 1 ? dist_sum : NULL, &dist, dist.world};
    Logger logger;
    if (plan.eval_only) {
        logger_init(&logger, "", -1);
        evaluate_and_log(&em, plan.have_val ? &val : NULL, o.val_max_steps, o.hellaswag_eval ? &hellaswag : NULL,
                         o.hellaswag_limit, B, T, 0, 1, 1, &logger);
    } else {
        LRSchedule schedule;
        lr_schedule_init(&schedule, o.lr_schedule, o.learning_rate, o.warmup_iterations, plan.max_steps,
                         o.final_learning_rate_frac);
        logger_init(&logger, dist.rank == 0 ? dir : "", resumed_at);
        StepGuard guard;
        step_guard_init(&guard, o.skip_loss_z, o.skip_norm_z, o.max_skips);
        StepTimer timer;
        step_timer_init(&timer);
        int *gen = (int *)malloc_check(((size_t)o.gen_T + 1) * sizeof(int));
        float *sample_scratch = (float *)malloc_check((size_t)c->vocab_size * sizeof(float));
        double flops_per_token = gpt2_flops_per_token(c, T);
        float *zero_scratch = o.zero_stage == 1 ? (float *)malloc_check(model.opt_count * sizeof(float)) : NULL;

        for (int step = resumed_at < 0 ? 0 : resumed_at; step <= plan.max_steps; step++) {
            if (train_plan_evaluates(&plan, &o, step, resumed_at)) {
                evaluate_and_log(&em, plan.have_val ? &val : NULL, o.val_max_steps, o.hellaswag_eval ? &hellaswag : NULL,
                                 o.hellaswag_limit, B, T, step, 1, 0, &logger);
            }
            if (train_plan_samples(&plan, &o, step, resumed_at) && dist.rank == 0) {
                print_sample(&em, &tokenizer, have_tok, c->vocab_size, model.max_T, o.gen_T, o.temperature, o.top_k, o.top_p,
                             &sample_rng, gen, sample_scratch, logger_sample_file(&logger, step));
            }
            if (train_plan_checkpoints(&plan, &o, step, resumed_at) && step_guard_clean(&guard)) {
                // every rank's state first, then rank 0's model, state and DONE marker
                for (int turn = dist.rank == 0; turn < 2; turn++) {
                    if (turn == 1) dist_barrier(&dist, "writing the checkpoint");
                    if ((turn == 0) == (dist.rank != 0)) {
                        train_state_save(dir, step, c, model.params, GPT2_CHECKPOINT_FP32, model.m, model.v, NULL, n_params,
                                         model.opt_offset, model.opt_count, o.zero_stage, &train, sample_rng, dist.rank,
                                         dist.world, o.checkpoints_keep);
                    }
                }
            }
            if (step == plan.max_steps) break;

            double t0 = now_seconds();
            gpt2_zero_grad(&model);
            double loss_sum = 0.0;
            for (int micro = 0; micro < plan.grad_accum; micro++) {
                if (!(o.overfit_single_batch && step > 0)) dataloader_next_batch(&train);
                gpt2_forward(&model, train.inputs, train.targets, B, T);
                gpt2_backward(&model, train.inputs, train.targets, B, T, 1.0f / (float)plan.total_batch);
                loss_sum += model.mean_loss;
            }
            // every rank's gradients were scaled by 1 / (tokens of the whole step): their sum is
            // the gradient of the global mean loss
            float norm;
            if (o.zero_stage == 1) {
                dist_reduce_scatter_sum(&dist, model.grads, n_params, zero_scratch, "gradient reduce-scatter");
                double sq = gpt2_grad_sumsq(&model, model.opt_offset, model.opt_offset + model.opt_count);
                dist_allreduce_sum_double(&dist, &sq, 1, "gradient norm");
                norm = (float)sqrt(sq);
            } else {
                dist_allreduce_sum(&dist, model.grads, n_params, "gradient all-reduce");
                norm = gpt2_grad_norm(&model);
            }
            dist_allreduce_sum_double(&dist, &loss_sum, 1, "loss");
            float loss = (float)(loss_sum / ((double)plan.grad_accum * dist.world));
            float lr = lr_schedule_get(&schedule, step);
            char skipped[128];
            if (step_guard_accept(&guard, loss, norm, skipped, sizeof(skipped))) { // the same verdict on every rank
                gpt2_update(&model, &adamw, lr, norm, step + 1);
                if (o.zero_stage == 1) dist_allgather(&dist, model.params, n_params, "parameter all-gather");
                gpt2_sync_bf16(&model); // bf16: the matmuls' copy of the new params
            }
            double dt = now_seconds() - t0;
            step_timer_add(&timer, dt);
            char eta[32];
            step_timer_eta(&timer, plan.max_steps - step - 1, eta, sizeof(eta));
            double tok_s = (double)plan.total_batch / dt;
            printf("step %5d/%d | loss %.6f | norm %.4f | lr %.2e | %.1f ms | %.0f tok/s | %.1f GFLOP/s | ETA %s\n",
                   step + 1, plan.max_steps, loss, norm, lr, dt * 1e3, tok_s, tok_s * flops_per_token * 1e-9, eta);
            step_guard_log(&guard, &logger, step + 1, skipped, loss, lr, norm, 1);
        }
        if (timer.count > 0) printf("average step time: %.1f ms\n", step_timer_mean(&timer) * 1e3);
        if (guard.total > 0) printf("%ld step(s) skipped (see main.log)\n", guard.total);
        train_plan_print_next(&o, argv[0], plan.max_steps);
        free(gen);
        free(sample_scratch);
        free(zero_scratch);
    }

    logger_free(&logger);
    eval_cpu_free(&eval_cpu);
    if (have_tok) tokenizer_free(&tokenizer);
    if (o.hellaswag_eval) evalloader_free(&hellaswag);
    if (plan.have_val) dataloader_free(&val);
    if (!plan.eval_only) dataloader_free(&train);
    gpt2_free(&model);
    dist_finalize(&dist);
    return 0;
}
#endif // TESTING
