/*
 * cpu_bf16_test.c: checks llmc/cpu_matmul_bf16.h, every kernel variant this CPU can run, against
 * an exact reference; variants the CPU lacks are reported as SKIP, never as passed.
 *
 * Reference: the bf16 GEMM's contract is "round both operands to bf16, sum the products in fp32".
 * A product of two bf16 values is exact in fp32 and in double, so the exact value of the rounded
 * problem is computed in double (init + sum of K products, error ~1e-16 relative). The kernel's
 * result is an fp32 sum of n = K + 1 terms in some order, so, as for the fp32 kernels
 * (dev/test/cpu_matmul_test.c), |got - exact| <= gamma_(n+1) * sum |terms|, gamma_n = n u /
 * (1 - n u), u = 2^-24, element by element. A wrong index, a missing k pair, a mis-packed panel
 * or a byte-swapped pair gives errors of the size of a term, thousands of times the bound.
 * Inputs are uniform in [-1, 1) (no subnormals, so the AMX / AVX512_BF16 flush-to-zero does not
 * matter). Shapes cover the edges: 1 x 1 x 1, sizes that are no multiple of any block, K past one
 * K block (256), N past one N block (512), K = 0; operands fp32 (rounded while packed) or bf16,
 * row-major or transposed, as the three products of a linear layer use them.
 * Plain C emulations of the AVX512_BF16 and AMX kernels (Intel's pseudo-code per instruction, the
 * kernels' own addressing) run everywhere, so their packed layouts are checked here too.
 * Also: float_to_bf16 rounding cases (ties to even, NaN, overflow, subnormals), 1 vs 2 threads
 * bitwise equal, and the layer entry points (matmul_forward_bf16 / matmul_backward_bf16, with
 * dbias) against the same reference.
 * Prints one "ok NAME" / "not ok NAME: why" / "ok NAME # skip: why" line per check; exit status
 * 1 if any failed.
 */
#include "llmc/utils.h" // first: it sets the POSIX feature macros

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmc/cpu_matmul_bf16.h"

static int failures = 0;
static unsigned long long rng_state = 0x9E3779B97F4A7C15ULL;
static float frand(void) { // uniform in [-1, 1), xorshift64
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / 8388608.0) - 1.0);
}
static float rounded(float x) { return bf16_to_float(float_to_bf16(x)); }

// ---- rounding ----
static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static void check_rounding(void) {
    struct { uint32_t in; uint16_t want; const char *what; } cases[] = {
        {0x3f800000u, 0x3f80, "1.0 exact"},
        {0x3f808000u, 0x3f80, "tie rounds to even (down)"},
        {0x3f818000u, 0x3f82, "tie rounds to even (up)"},
        {0x3f808001u, 0x3f81, "just above a tie rounds up"},
        {0x3f807fffu, 0x3f80, "just below a tie rounds down"},
        {0xbf808001u, 0xbf81, "negative: by magnitude"},
        {0x7f7fffffu, 0x7f80, "FLT_MAX rounds to +inf"},
        {0x7f800000u, 0x7f80, "+inf stays"},
        {0x80000000u, 0x8000, "-0 stays"},
        {0x00008000u, 0x0000, "subnormal tie to even"},
        {0x00018000u, 0x0002, "subnormal tie to even (up)"},
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint16_t got = float_to_bf16(float_of(cases[i].in));
        if (got != cases[i].want) {
            printf("not ok bf16_rounding: %s: 0x%08x -> 0x%04x, want 0x%04x\n", cases[i].what, cases[i].in, got,
                   cases[i].want);
            ok = 0;
        }
    }
    // NaNs stay NaN, sign kept, even those whose payload sits only in the low 16 bits
    uint32_t nans[] = {0x7fc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu};
    for (size_t i = 0; i < 4; i++) {
        float back = bf16_to_float(float_to_bf16(float_of(nans[i])));
        if (!isnan(back) || (bits_of(back) >> 31) != (nans[i] >> 31)) {
            printf("not ok bf16_rounding: NaN 0x%08x became 0x%08x\n", nans[i], bits_of(back));
            ok = 0;
        }
    }
    if (ok) printf("ok bf16_rounding (round to nearest even, NaN, inf, subnormals)\n");
    else failures++;
}

// ---- the GEMM against the exact reference ----
typedef struct {
    size_t rows, cols; // logical shape
    int transposed;    // stored as (cols, rows) row-major
    int bf16;
    float *f;          // fp32 storage (when !bf16)
    uint16_t *h;       // bf16 storage (when bf16)
} Mat;

static Mat mat_make(size_t rows, size_t cols, int transposed, int bf16) {
    Mat m = {rows, cols, transposed, bf16, NULL, NULL};
    size_t n = rows * cols > 0 ? rows * cols : 1;
    if (bf16) m.h = (uint16_t *)malloc_check(n * sizeof(uint16_t));
    else m.f = (float *)malloc_check(n * sizeof(float));
    for (size_t i = 0; i < rows * cols; i++) {
        float x = frand();
        if (bf16) m.h[i] = float_to_bf16(x);
        else m.f[i] = x;
    }
    return m;
}
static Bf16mmOperand mat_operand(const Mat *m) {
    Bf16mmOperand o = {m->bf16 ? (const void *)m->h : (const void *)m->f, m->transposed ? 1 : m->cols,
                       m->transposed ? m->rows : 1, m->bf16};
    return o;
}
static double mat_at(const Mat *m, size_t i, size_t j) { // the rounded value, as the kernel sees it
    size_t o = m->transposed ? j * m->rows + i : i * m->cols + j;
    return m->bf16 ? bf16_to_float(m->h[o]) : rounded(m->f[o]);
}
static void mat_free(Mat *m) {
    free(m->f);
    free(m->h);
}

// Worst |got - exact| / bound over Cm; > 1 fails. init0: Cm before (accumulate) or NULL; bias or NULL.
static double gemm_error(const float *got, const float *init0, const float *bias, const Mat *A, const Mat *B, size_t M,
                         size_t N, size_t K, size_t *wi, size_t *wj) {
    const double u = ldexp(1.0, -24);
    double n = (double)K + 2.0, gamma = n * u / (1.0 - n * u), worst = 0.0;
    double *a = (double *)malloc_check((M * K + 1) * sizeof(double)), *b = (double *)malloc_check((K * N + 1) * sizeof(double));
    for (size_t i = 0; i < M; i++) {
        for (size_t k = 0; k < K; k++) a[i * K + k] = mat_at(A, i, k);
    }
    for (size_t k = 0; k < K; k++) {
        for (size_t j = 0; j < N; j++) b[k * N + j] = mat_at(B, k, j);
    }
    for (size_t i = 0; i < M; i++) {
        for (size_t j = 0; j < N; j++) {
            double start = init0 ? init0[i * N + j] : bias ? bias[j] : 0.0;
            double exact = start, mag = fabs(start);
            for (size_t k = 0; k < K; k++) {
                double t = a[i * K + k] * b[k * N + j];
                exact += t;
                mag += fabs(t);
            }
            double err = fabs((double)got[i * N + j] - exact);
            double ratio = err == 0.0 ? 0.0 : err / (gamma * mag + 1e-300);
            if (!(ratio <= worst)) { // NaN lands here too
                worst = isnan(ratio) ? INFINITY : ratio;
                *wi = i;
                *wj = j;
            }
        }
    }
    free(a);
    free(b);
    return worst;
}

// one product with variant v; returns worst ratio to the bound
static double run_case(const Bf16mmVariant *v, size_t M, size_t N, size_t K, int a_t, int a_bf16, int b_t, int b_bf16,
                       int accumulate, int with_bias, char *where, size_t wlen) {
    Mat A = mat_make(M, K, a_t, a_bf16), B = mat_make(K, N, b_t, b_bf16);
    float *C = (float *)malloc_check((M * N + 1) * sizeof(float));
    float *C0 = (float *)malloc_check((M * N + 1) * sizeof(float));
    float *bias = (float *)malloc_check((N + 1) * sizeof(float));
    for (size_t i = 0; i < M * N; i++) C0[i] = accumulate ? frand() : NAN; // must be overwritten, never read
    for (size_t j = 0; j < N; j++) bias[j] = frand();
    memcpy(C, C0, M * N * sizeof(float));
    bf16mm_gemm(v, C, N, mat_operand(&A), mat_operand(&B), M, N, K, with_bias ? bias : NULL, accumulate);
    size_t wi = 0, wj = 0;
    double worst = gemm_error(C, accumulate ? C0 : NULL, with_bias ? bias : NULL, &A, &B, M, N, K, &wi, &wj);
    snprintf(where, wlen, "M=%zu N=%zu K=%zu A%s%s B%s%s %s%s: worst at (%zu, %zu) got %g", M, N, K,
             a_t ? "^T" : "", a_bf16 ? " bf16" : " fp32", b_t ? "^T" : "", b_bf16 ? " bf16" : " fp32",
             accumulate ? "accumulate" : "overwrite", with_bias ? "+bias" : "", wi, wj,
             M * N > 0 ? (double)C[wi * N + wj] : 0.0);
    mat_free(&A);
    mat_free(&B);
    free(C);
    free(C0);
    free(bias);
    return worst;
}


// ---- plain C emulations of the two kernels this CPU may lack ----
// Same packed layouts, same addresses and strides as bf16mm_kernel_avx512bf16 and
// bf16mm_kernel_amx, with each instruction replaced by Intel's pseudo-code for it. They run
// everywhere, so the packing for those kernels (A pairs, A rows, 4- and 2-panel B) is checked
// even where the real kernels are skipped; the instruction semantics themselves are not.
static float bf(uint16_t h) { return bf16_to_float(h); }

static void emu_avx512bf16(size_t kc, const void *ap, const uint16_t *bp, size_t pstride, float *Cm, size_t ldc) {
    const uint16_t *a = (const uint16_t *)ap;
    for (size_t p = 0; p < kc / 2; p++, a += 12) {
        for (int r = 0; r < 6; r++) {
            for (int v = 0; v < 4; v++) {
                const uint16_t *b = bp + v * pstride + p * 32; // one zmm: 16 lanes of bf16 pairs
                for (int i = 0; i < 16; i++) { // VDPBF16PS lane i: odd half, then even half
                    float *c = Cm + r * ldc + 16 * v + i;
                    *c += bf(a[2 * r + 1]) * bf(b[2 * i + 1]);
                    *c += bf(a[2 * r]) * bf(b[2 * i]);
                }
            }
        }
    }
}

typedef struct { unsigned char row[16][64]; } EmuTile; // 16 rows x 64 bytes, as configured
static void emu_tileloadd(EmuTile *t, const void *base, size_t stride) {
    for (int r = 0; r < 16; r++) memcpy(t->row[r], (const char *)base + r * stride, 64);
}
static void emu_tilestored(const EmuTile *t, void *base, size_t stride) {
    for (int r = 0; r < 16; r++) memcpy((char *)base + r * stride, t->row[r], 64);
}
static void emu_tdpbf16ps(EmuTile *c, const EmuTile *a, const EmuTile *b) {
    for (int m = 0; m < 16; m++) {
        float acc[16];
        memcpy(acc, c->row[m], 64);
        for (int k = 0; k < 16; k++) {
            uint16_t ah[2], bh[32];
            memcpy(ah, a->row[m] + 4 * k, 4);
            memcpy(bh, b->row[k], 64);
            for (int n = 0; n < 16; n++) {
                acc[n] += bf(ah[0]) * bf(bh[2 * n]);
                acc[n] += bf(ah[1]) * bf(bh[2 * n + 1]);
            }
        }
        memcpy(c->row[m], acc, 64);
    }
}
static void emu_amx(size_t kc, const void *ap, const uint16_t *bp, size_t pstride, float *Cm, size_t ldc) {
    const uint16_t *a = (const uint16_t *)ap;
    size_t cs = ldc * sizeof(float), as = kc * sizeof(uint16_t);
    EmuTile t[8];
    emu_tileloadd(&t[0], Cm, cs);
    emu_tileloadd(&t[1], Cm + 16, cs);
    emu_tileloadd(&t[2], Cm + 16 * ldc, cs);
    emu_tileloadd(&t[3], Cm + 16 * ldc + 16, cs);
    for (size_t k = 0; k < kc; k += 32) {
        emu_tileloadd(&t[4], a + k, as);
        emu_tileloadd(&t[5], a + 16 * kc + k, as);
        emu_tileloadd(&t[6], bp + k * 16, 64);
        emu_tileloadd(&t[7], bp + pstride + k * 16, 64);
        emu_tdpbf16ps(&t[0], &t[4], &t[6]);
        emu_tdpbf16ps(&t[1], &t[4], &t[7]);
        emu_tdpbf16ps(&t[2], &t[5], &t[6]);
        emu_tdpbf16ps(&t[3], &t[5], &t[7]);
    }
    emu_tilestored(&t[0], Cm, cs);
    emu_tilestored(&t[1], Cm + 16, cs);
    emu_tilestored(&t[2], Cm + 16 * ldc, cs);
    emu_tilestored(&t[3], Cm + 16 * ldc + 16, cs);
}
static const Bf16mmVariant EMULATED[2] = {
    {"avx512bf16_emulated", 6, 64, BF16MM_A_PAIRS, emu_avx512bf16, NULL, NULL},
    {"amx_emulated", 32, 32, BF16MM_A_ROWS, emu_amx, NULL, NULL},
};

static void check_variant(const Bf16mmVariant *v, int vi) {
    if (vi >= 0 && !bf16mm_supported(vi)) {
        printf("ok bf16mm_kernel_%s # skip: this CPU (or OS) lacks %s; compiled, not run\n", v->name,
               vi == BF16MM_AMX ? "AMX-BF16 tiles" : vi == BF16MM_AVX512BF16 ? "AVX512_BF16" : "AVX2+FMA");
        return;
    }
    static const size_t shapes[][3] = {{1, 1, 1},    {7, 5, 3},    {33, 17, 40}, {64, 96, 300},
                                       {45, 530, 70}, {100, 64, 33}, {13, 29, 0},  {70, 70, 513}};
    double worst = 0.0;
    char where[256] = "", w[256];
    int cases = 0;
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        for (int combo = 0; combo < 16; combo++) {
            int a_t = combo & 1, a_bf16 = (combo >> 1) & 1, b_t = (combo >> 2) & 1, b_bf16 = (combo >> 3) & 1;
            for (int mode = 0; mode < 3; mode++) { // overwrite, overwrite + bias, accumulate
                double r = run_case(v, shapes[s][0], shapes[s][1], shapes[s][2], a_t, a_bf16, b_t, b_bf16, mode == 2,
                                    mode == 1, w, sizeof(w));
                cases++;
                if (!(r <= worst)) {
                    worst = r;
                    memcpy(where, w, sizeof(where));
                }
            }
        }
    }
    if (worst <= 1.0) {
        printf("ok bf16mm_kernel_%s (%d products, worst error %.3f of the fp32 summation bound)\n", v->name, cases,
               worst);
    } else {
        printf("not ok bf16mm_kernel_%s: error %.3g x the bound, %s\n", v->name, worst, where);
        failures++;
    }
}

// 1 and 2 threads: bitwise the same (the blocking does not depend on the thread count)
static void check_threads(void) {
    const Bf16mmVariant *v = bf16mm_best();
    size_t M = 96, N = 200, K = 700;
    Mat A = mat_make(M, K, 0, 0), B = mat_make(K, N, 1, 1);
    float *c1 = (float *)malloc_check(M * N * sizeof(float)), *c2 = (float *)malloc_check(M * N * sizeof(float));
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    bf16mm_gemm(v, c1, N, mat_operand(&A), mat_operand(&B), M, N, K, NULL, 0);
    omp_set_num_threads(2);
    bf16mm_gemm(v, c2, N, mat_operand(&A), mat_operand(&B), M, N, K, NULL, 0);
    omp_set_num_threads(saved);
    if (memcmp(c1, c2, M * N * sizeof(float)) == 0) printf("ok bf16mm_threads_bitwise_equal (%s)\n", v->name);
    else {
        printf("not ok bf16mm_threads_bitwise_equal: 1 and 2 threads differ (%s)\n", v->name);
        failures++;
    }
    mat_free(&A);
    mat_free(&B);
    free(c1);
    free(c2);
}

// the layer entry points: out = inp @ W^T + b; dinp += dout @ W; dW += dout^T @ inp; db += sum dout
static void check_layer(void) {
    size_t BT = 37, C = 48, OC = 72;
    Mat inp = mat_make(BT, C, 0, 0), W = mat_make(OC, C, 0, 1), dout = mat_make(BT, OC, 0, 0);
    Mat Wt = W; // the forward's B is W^T: the same storage read transposed
    Wt.rows = C;
    Wt.cols = OC;
    Wt.transposed = 1;
    Mat doutT = dout;
    doutT.rows = OC;
    doutT.cols = BT;
    doutT.transposed = 1;
    float *bias = (float *)malloc_check(OC * sizeof(float)), *out = (float *)malloc_check(BT * OC * sizeof(float));
    float *dinp = (float *)malloc_check(BT * C * sizeof(float)), *dinp0 = (float *)malloc_check(BT * C * sizeof(float));
    float *dW = (float *)malloc_check(OC * C * sizeof(float)), *dW0 = (float *)malloc_check(OC * C * sizeof(float));
    float *db = (float *)malloc_check(OC * sizeof(float)), *db0 = (float *)malloc_check(OC * sizeof(float));
    for (size_t i = 0; i < OC; i++) bias[i] = frand(), db0[i] = db[i] = frand();
    for (size_t i = 0; i < BT * OC; i++) out[i] = NAN;
    for (size_t i = 0; i < BT * C; i++) dinp0[i] = dinp[i] = frand();
    for (size_t i = 0; i < OC * C; i++) dW0[i] = dW[i] = frand();
    matmul_forward_bf16(out, inp.f, W.h, bias, BT, C, OC);
    matmul_backward_bf16(dinp, dW, db, dout.f, inp.f, W.h, BT, C, OC);
    size_t wi, wj;
    double e_out = gemm_error(out, NULL, bias, &inp, &Wt, BT, OC, C, &wi, &wj);
    double e_dinp = gemm_error(dinp, dinp0, NULL, &dout, &W, BT, C, OC, &wi, &wj);
    double e_dW = gemm_error(dW, dW0, NULL, &doutT, &inp, OC, C, BT, &wi, &wj);
    // dbias: fp32 sums of the unrounded dout
    double e_db = 0.0, u = ldexp(1.0, -24), gamma = (BT + 2) * u / (1.0 - (BT + 2) * u);
    for (size_t o = 0; o < OC; o++) {
        double exact = db0[o], mag = fabs(db0[o]);
        for (size_t i = 0; i < BT; i++) exact += dout.f[i * OC + o], mag += fabs(dout.f[i * OC + o]);
        double r = fabs(db[o] - exact) / (gamma * mag);
        if (!(r <= e_db)) e_db = isnan(r) ? INFINITY : r;
    }
    int ok = e_out <= 1.0 && e_dinp <= 1.0 && e_dW <= 1.0 && e_db <= 1.0;
    printf("%s bf16_layer_forward_backward (%s): error / bound out %.3f dinp %.3f dweight %.3f dbias %.3f\n",
           ok ? "ok" : "not ok", bf16mm_best()->name, e_out, e_dinp, e_dW, e_db);
    failures += !ok;
    mat_free(&inp);
    mat_free(&W);
    mat_free(&dout);
    free(bias), free(out), free(dinp), free(dinp0), free(dW), free(dW0), free(db), free(db0);
}

int main(void) {
    check_rounding();
    for (int v = 0; v < BF16MM_NUM_VARIANTS; v++) check_variant(&BF16MM_VARIANTS[v], v);
    for (int e = 0; e < 2; e++) check_variant(&EMULATED[e], -1);
    printf("# the trainer uses: %s\n", bf16mm_best()->name);
    check_threads();
    check_layer();
    return failures ? 1 : 0;
}
