/*
 * cpu_matmul.h: fp32 matrix multiplies for the CPU trainer, OpenMP inside.
 *
 * Layout follows nn.Linear: weight is (OC, C) row-major and the forward is out = inp @ weight^T.
 * All three products of a linear layer are one routine, cpumm_gemm, a general
 *     Cm (M, N) = init + A (M, K) @ B (K, N)
 * where A and B are read through (row stride, column stride) pairs, so a transposed operand is
 * just a different pair of strides:
 *     forward  out   = inp  @ weight^T   M=BT N=OC K=C   B[k][n] = weight[n*C + k]
 *     backward dinp += dout @ weight     M=BT N=C  K=OC  plain row-major
 *     backward dW   += dout^T @ inp      M=OC N=C  K=BT  A[m][k] = dout[k*OC + m]
 * dweight is a reduction over BT, but as a GEMM it is split over its *output* (OC, C) between
 * threads, so there are no races, no per-thread partial sums, and results are deterministic
 * (the summation order of every output element is fixed by the blocking, not the thread count).
 *
 * Tiling (the usual Goto/BLIS scheme, sized for a 48 KiB L1 and a >= 1 MiB L2 per core):
 *  - threads: the output is cut into a tm x tn grid of tiles, one per thread (cpumm_split);
 *  - each thread packs a kc x nc block of B into its stack buffer (CPUMM_WORK, in L2), as
 *    NR-wide column panels stored k-major, so the micro-kernel reads B sequentially; a
 *    transposed B (the forward's weight^T) is packed with 16 x 16 in-register transposes;
 *  - the micro-kernel computes an MR x NR tile of Cm in registers: for each k, NR/16 vector
 *    loads of B, MR broadcasts of A, MR*NR/16 fused multiply-adds; MR rows of A (kc long, a few
 *    KiB) stay in L1 while it sweeps the nc columns of the packed block;
 *  - A is read in place when its rows are contiguous (forward, dinp); for dweight (A = dout^T)
 *    MC rows at a time are packed into MR-row strips, with software prefetch, as dout's rows are
 *    too far apart for the hardware prefetcher;
 *  - edges (M or N not a multiple of MR / NR) go through a padded MR x NR tile on the stack, so
 *    any size works, down to 1.
 * Micro-kernels: one SIMD kernel written once over a vector type, for AVX-512 (6 x 64, 24 zmm
 * accumulators) and AVX2+FMA (6 x 16, 12 ymm accumulators), and a portable C one (4 x 16) that
 * is correct on any machine; the blocking around them is shared. Arithmetic is fp32 throughout;
 * only the summation order differs from a naive loop (K blocks in order, each summed in k
 * order). Speed on Zen 5 (2 cores): ~93% of the FMA peak in the kernel, 80-93% per product on
 * the GPT-2 shapes at 2 threads (dev/bench/matmul_bench.sh).
 * No allocation: the buffers are fixed-size arrays on the calling thread's stack (~530 KiB;
 * OpenMP worker threads get 2-8 MiB stacks by default).
 * Header-only, static functions, compiles as C11 and as C++.
 */
#ifndef LLMC_CPU_MATMUL_H
#define LLMC_CPU_MATMUL_H

#include <stddef.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif
// GCC 12's avx512fintrin.h trips its own -Wmaybe-uninitialized in C++ (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// ----------------------------------------------------------------------------
// micro-kernels: Cm[0:MR, 0:NR] = (init ? init[0:NR] in every row : Cm) + a[0:MR, 0:kc] @ bp
//   a[r][k] = a[r*ars + k*acs]   (a strip of MR rows of A, in place or packed)
//   bp[k*NR + j]                 (one packed NR-wide panel of B, kc rows)
//   Cm row stride ldc; init (NR) is the bias (or zeros) on the first K block of a forward.

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
// One SIMD micro-kernel for both instruction sets: MR = 6 rows of NV vectors each. Only the
// vector type and its four operations differ (AVX-512: NV = 4 zmm, a 6 x 64 tile in 24
// accumulators; AVX2: NV = 2 ymm, 6 x 16 in 12). The loops have constant trip counts and are
// unrolled completely, so the accumulator array lives in registers, as with hand-named ones.
#if defined(__AVX512F__)
typedef __m512 cpumm_vec;
#define CPUMM_VLEN 16
#define CPUMM_NV 4
#define CPUMM_ISA "avx512"
#define CPUMM_LANES 32.0 // FMA lanes per cycle: 2 pipes x 16
#define cpumm_loadu _mm512_loadu_ps
#define cpumm_storeu _mm512_storeu_ps
#define cpumm_set1 _mm512_set1_ps
#define cpumm_fmadd _mm512_fmadd_ps
#else
typedef __m256 cpumm_vec;
#define CPUMM_VLEN 8
#define CPUMM_NV 2
#define CPUMM_ISA "avx2"
#define CPUMM_LANES 16.0
#define cpumm_loadu _mm256_loadu_ps
#define cpumm_storeu _mm256_storeu_ps
#define cpumm_set1 _mm256_set1_ps
#define cpumm_fmadd _mm256_fmadd_ps
#endif
#define CPUMM_MR 6
#define CPUMM_NR (CPUMM_NV * CPUMM_VLEN)
#if defined(__GNUC__) || defined(__clang__)
#define CPUMM_UNROLL _Pragma("GCC unroll 16")
#else
#define CPUMM_UNROLL
#endif
static inline void cpumm_kernel(size_t kc, const float *a, size_t ars, size_t acs,
                                const float *bp, float *Cm, size_t ldc, const float *init) {
    cpumm_vec c[CPUMM_MR][CPUMM_NV]; // c[r][v]: row r, columns v*VLEN .. v*VLEN + VLEN-1
    CPUMM_UNROLL
    for (int r = 0; r < CPUMM_MR; r++) {
        const float *src = init != NULL ? init : Cm + r * ldc;
        CPUMM_UNROLL
        for (int v = 0; v < CPUMM_NV; v++) {
            c[r][v] = cpumm_loadu(src + v * CPUMM_VLEN);
        }
    }
    for (size_t k = 0, ak = 0; k < kc; k++, ak += acs, bp += CPUMM_NR) {
        cpumm_vec b[CPUMM_NV];
        CPUMM_UNROLL
        for (int v = 0; v < CPUMM_NV; v++) {
            b[v] = cpumm_loadu(bp + v * CPUMM_VLEN);
        }
        CPUMM_UNROLL
        for (int r = 0; r < CPUMM_MR; r++) {
            cpumm_vec x = cpumm_set1(a[r * ars + ak]);
            CPUMM_UNROLL
            for (int v = 0; v < CPUMM_NV; v++) {
                c[r][v] = cpumm_fmadd(x, b[v], c[r][v]);
            }
        }
    }
    CPUMM_UNROLL
    for (int r = 0; r < CPUMM_MR; r++) {
        CPUMM_UNROLL
        for (int v = 0; v < CPUMM_NV; v++) {
            cpumm_storeu(Cm + r * ldc + v * CPUMM_VLEN, c[r][v]);
        }
    }
}

#else
// Portable: plain C on a small register-sized tile; compilers vectorize the j loops.
#define CPUMM_MR 4
#define CPUMM_NR 16
#define CPUMM_ISA "portable"
#define CPUMM_LANES 8.0
static inline void cpumm_kernel(size_t kc, const float *a, size_t ars, size_t acs,
                                const float *bp, float *Cm, size_t ldc, const float *init) {
    float acc[CPUMM_MR][CPUMM_NR];
    for (int r = 0; r < CPUMM_MR; r++) {
        for (int j = 0; j < CPUMM_NR; j++) {
            acc[r][j] = init != NULL ? init[j] : Cm[r * ldc + j];
        }
    }
    for (size_t k = 0; k < kc; k++, bp += CPUMM_NR) {
        for (int r = 0; r < CPUMM_MR; r++) {
            float x = a[r * ars + k * acs];
            for (int j = 0; j < CPUMM_NR; j++) {
                acc[r][j] += x * bp[j];
            }
        }
    }
    for (int r = 0; r < CPUMM_MR; r++) {
        for (int j = 0; j < CPUMM_NR; j++) {
            Cm[r * ldc + j] = acc[r][j];
        }
    }
}
#endif

// Block sizes. Each thread packs into one stack buffer of CPUMM_WORK floats (512 KiB, half a
// Zen 4/5 L2): a kc x nc block of B and an MC x kc block of A. nc is up to NC columns, large so
// that A, read again for every nc columns, is read few times (it matters for dweight, whose A
// is dout^T); kc takes the rest of the buffer, so narrow products get long K blocks and Cm is
// swept fewer times. The blocking depends only on (M, N, K), never on the thread count, so every
// output is summed in the same order however many threads run.
#define CPUMM_WORK (128 * 1024)
#define CPUMM_NC (6 * CPUMM_NR)
#define CPUMM_MC (16 * CPUMM_MR)

// ----------------------------------------------------------------------------
// packing

#if defined(__AVX512F__)
// The transpose's loops must be unrolled completely so r[] and t[] stay in registers.
// Transposes a 16 x 16 block: src row i (16 floats at src + i*ld, only rows i < rows and
// columns < cols are read; the rest count as 0) becomes column i of dst, whose rows are NR
// apart; only the first `cols` rows of dst are written. 64 shuffles for 256 floats.
static inline void cpumm_transpose16(float *dst, const float *src, size_t ld, size_t rows,
                                     size_t cols) {
    __mmask16 m = (__mmask16)((1u << cols) - 1u);
    __m512 r[16], t[16];
    CPUMM_UNROLL
    for (size_t i = 0; i < 16; i++) {
        r[i] = i < rows ? _mm512_maskz_loadu_ps(m, src + i * ld) : _mm512_setzero_ps();
    }
    // interleave pairs of rows, then pairs of pairs, then 128-bit lanes twice
    CPUMM_UNROLL
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    CPUMM_UNROLL
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    CPUMM_UNROLL
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    CPUMM_UNROLL
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xDD);
    }
    CPUMM_UNROLL
    for (size_t i = 0; i < cols; i++) {
        _mm512_storeu_ps(dst + i * CPUMM_NR, r[i]);
    }
}
#endif

// Packs B[pc:pc+kc, jc:jc+nc] (B[k][n] = B[k*brs + n*bcs]) into NR-wide panels:
// bp[(j/NR)*kc*NR + k*NR + j%NR], zero-padding the last panel to NR columns.
static void cpumm_pack_b(float *bp, const float *B, size_t brs, size_t bcs, size_t pc,
                         size_t kc, size_t jc, size_t nc) {
    for (size_t j0 = 0; j0 < nc; j0 += CPUMM_NR) {
        size_t nr = nc - j0 < CPUMM_NR ? nc - j0 : CPUMM_NR;
        float *dst = bp + j0 * kc;
        const float *src = B + pc * brs + (jc + j0) * bcs;
        if (bcs == 1) {
            // rows of B are contiguous (dinp, dweight): one short copy per k (a fixed-length
            // loop the compiler turns into a few vector moves, cheaper than calling memcpy)
            for (size_t k = 0; k < kc; k++) {
                float *d = dst + k * CPUMM_NR;
                const float *r = src + k * brs;
                if (nr == CPUMM_NR) {
                    for (size_t j = 0; j < CPUMM_NR; j++) {
                        d[j] = r[j];
                    }
                } else {
                    for (size_t j = 0; j < CPUMM_NR; j++) {
                        d[j] = j < nr ? r[j] : 0.0f;
                    }
                }
            }
            continue;
        }
        // columns of B are contiguous (forward: B = weight^T, brs == 1): a transpose
#if defined(__AVX512F__)
        if (brs == 1) {
            for (size_t j = 0; j < CPUMM_NR; j += 16) {
                size_t rows = j < nr ? (nr - j < 16 ? nr - j : 16) : 0;
                for (size_t k = 0; k < kc; k += 16) {
                    cpumm_transpose16(dst + k * CPUMM_NR + j, src + j * bcs + k, bcs, rows,
                                      kc - k < 16 ? kc - k : 16);
                }
            }
            continue;
        }
#endif
        for (size_t k = 0; k < kc; k++) {
            for (size_t j = 0; j < CPUMM_NR; j++) {
                dst[k * CPUMM_NR + j] = j < nr ? src[k * brs + j * bcs] : 0.0f;
            }
        }
    }
}

// Packs A[ic:ic+mc, pc:pc+kc] (A[m][k] = A[m*ars + k*acs]) as MR-row strips, strip s at
// ap + s*MR*kc holding ap[k*MR + r] = A[ic + s*MR + r][pc + k]; rows past mc are zero.
// k runs outermost so that, for dweight (ars == 1), each row of dout is read once, in order.
static void cpumm_pack_a(float *ap, const float *A, size_t ars, size_t acs, size_t ic,
                         size_t mc, size_t pc, size_t kc) {
    size_t nstrips = (mc + CPUMM_MR - 1) / CPUMM_MR;
    for (size_t k = 0; k < kc; k++) {
        const float *src = A + ic * ars + (pc + k) * acs;
#if defined(__AVX512F__)
        if (ars == 1) {
            // dweight walks down kc rows of dout that are far apart, too many streams for the
            // hardware prefetcher: fetch 32 rows ahead, and this row's part for the next block
            for (size_t m = 0; m < mc; m += 16) {
                if (k + 32 < kc) {
                    _mm_prefetch((const char *)(src + 32 * acs + m), _MM_HINT_T0);
                }
                _mm_prefetch((const char *)(src + mc + m), _MM_HINT_T1);
            }
        }
#endif
        for (size_t s = 0; s < nstrips; s++) {
            size_t mr = mc - s * CPUMM_MR < CPUMM_MR ? mc - s * CPUMM_MR : CPUMM_MR;
            float *dst = ap + s * CPUMM_MR * kc + k * CPUMM_MR;
            const float *row = src + s * CPUMM_MR * ars;
#if defined(__AVX512F__)
            if (ars == 1) { // the MR values are adjacent: one masked copy
                __m512 v = _mm512_maskz_loadu_ps((__mmask16)((1u << mr) - 1u), row);
                _mm512_mask_storeu_ps(dst, (__mmask16)((1u << CPUMM_MR) - 1u), v);
                continue;
            }
#endif
            for (size_t r = 0; r < CPUMM_MR; r++) {
                dst[r] = r < mr ? row[r * ars] : 0.0f;
            }
        }
    }
}

// ----------------------------------------------------------------------------
// the blocked GEMM on one thread's tile: rows [m0, m1), columns [n0, n1) of Cm

static void cpumm_gemm_tile(float *Cm, size_t ldc, const float *A, size_t ars, size_t acs,
                            const float *B, size_t brs, size_t bcs, size_t K, const float *bias,
                            int accumulate, size_t m0, size_t m1, size_t n0, size_t n1,
                            size_t nc_max, size_t kc_max) {
#if defined(__GNUC__)
    float work[CPUMM_WORK] __attribute__((aligned(64)));
    float edge[CPUMM_MR * CPUMM_NR] __attribute__((aligned(64)));
#else
    float work[CPUMM_WORK];
    float edge[CPUMM_MR * CPUMM_NR];
#endif
    float *bp = work;                   // (kc_max, nc_max) as NR-wide panels
    float *ap = work + kc_max * nc_max; // (MC, kc_max) as MR-row strips
    float binit[CPUMM_NC];              // bias (or zeros) for this column block, padded
    for (size_t jc = n0; jc < n1; jc += nc_max) {
        size_t nc = n1 - jc < nc_max ? n1 - jc : nc_max;
        if (!accumulate) {
            for (size_t j = 0; j < nc_max; j++) {
                binit[j] = (bias != NULL && j < nc) ? bias[jc + j] : 0.0f;
            }
        }
        for (size_t pc = 0; pc < K || pc == 0; pc += kc_max) {
            size_t kc = K - pc < kc_max ? K - pc : kc_max;
            cpumm_pack_b(bp, B, brs, bcs, pc, kc, jc, nc);
            int first = !accumulate && pc == 0; // Cm is written, not read, on this block
            for (size_t ic0 = m0; ic0 < m1; ic0 += CPUMM_MC) {
                size_t mc = m1 - ic0 < CPUMM_MC ? m1 - ic0 : CPUMM_MC;
                // A is read in place when its rows are contiguous, else packed (dweight)
                int packed = acs != 1;
                if (packed) {
                    cpumm_pack_a(ap, A, ars, acs, ic0, mc, pc, kc);
                }
                for (size_t ic = ic0; ic < ic0 + mc; ic += CPUMM_MR) {
                    size_t mr = ic0 + mc - ic < CPUMM_MR ? ic0 + mc - ic : CPUMM_MR;
                    const float *a = A + ic * ars + pc * acs;
                    size_t sr = ars, sc = acs;
                    if (packed) {
                        a = ap + (ic - ic0) * kc;
                        sr = 1;
                        sc = CPUMM_MR;
                    } else if (mr < CPUMM_MR) { // last strip: pad it so no row past M is read
                        cpumm_pack_a(ap, A, ars, acs, ic, mr, pc, kc);
                        a = ap;
                        sr = 1;
                        sc = CPUMM_MR;
                    }
                    for (size_t jr = 0; jr < nc; jr += CPUMM_NR) {
                        size_t nr = nc - jr < CPUMM_NR ? nc - jr : CPUMM_NR;
                        float *c = Cm + ic * ldc + jc + jr;
                        const float *init = first ? binit + jr : NULL;
                        if (mr == CPUMM_MR && nr == CPUMM_NR) {
                            cpumm_kernel(kc, a, sr, sc, bp + jr * kc, c, ldc, init);
                            continue;
                        }
                        // partial tile: compute a padded MR x NR tile, copy back the valid part
                        for (size_t r = 0; r < CPUMM_MR; r++) {
                            for (size_t j = 0; j < CPUMM_NR; j++) {
                                int valid = !first && r < mr && j < nr;
                                edge[r * CPUMM_NR + j] = valid ? c[r * ldc + j] : 0.0f;
                            }
                        }
                        cpumm_kernel(kc, a, sr, sc, bp + jr * kc, edge, CPUMM_NR, init);
                        for (size_t r = 0; r < mr; r++) {
                            memcpy(c + r * ldc, edge + r * CPUMM_NR, nr * sizeof(float));
                        }
                    }
                }
            }
            if (K == 0) {
                break;
            }
        }
    }
}

// Chooses a tm x tn grid of thread tiles (tm * tn = nthreads) with the least estimated time on
// the busiest thread: its FMAs (rows * cols * K at CPUMM_LANES per cycle, rows and cols padded
// to whole MR / NR blocks) plus K * (4 rows + cols) for moving its operands (its rows of A are
// read once per nc columns, its columns of B packed once). The 4 : 1 weight is measured, not
// derived: on the GPT-2 shapes at 2 threads (dev/bench/matmul_bench.c) it picks the faster split
// in every case that differs by more than the noise; in words, split M unless N > 4 M.
// Thread t's tile (t / tn, t % tn) of a tm x tn grid over the M x N output, boundaries in whole
// MR x NR blocks: rows [m0, m1), columns [n0, n1) (empty when the grid is finer than the blocks).
static void cpumm_thread_tile(int t, int tm, int tn, size_t M, size_t N, size_t MR, size_t NR, size_t *m0,
                              size_t *m1, size_t *n0, size_t *n1) {
    size_t mb = (M + MR - 1) / MR, nb = (N + NR - 1) / NR;
    size_t ti = (size_t)(t / tn), tj = (size_t)(t % tn);
    size_t r1 = mb * (ti + 1) / (size_t)tm * MR, c1 = nb * (tj + 1) / (size_t)tn * NR;
    *m0 = mb * ti / (size_t)tm * MR;
    *n0 = nb * tj / (size_t)tn * NR;
    *m1 = r1 < M ? r1 : M;
    *n1 = c1 < N ? c1 : N;
}

static void cpumm_split(size_t M, size_t N, size_t K, int nthreads, int *tm_out, int *tn_out) {
    size_t mb = (M + CPUMM_MR - 1) / CPUMM_MR, nb = (N + CPUMM_NR - 1) / CPUMM_NR;
    double best = -1.0;
    *tm_out = 1;
    *tn_out = 1;
    for (int tm = 1; tm <= nthreads; tm++) {
        int tn = nthreads / tm;
        if (nthreads % tm != 0 || (size_t)tm > mb || (size_t)tn > nb) {
            continue;
        }
        double rows = (double)((mb + tm - 1) / tm * CPUMM_MR);
        double cols = (double)((nb + tn - 1) / tn * CPUMM_NR);
        double cost = rows * cols * (double)K / CPUMM_LANES + (double)K * (4.0 * rows + cols);
        if (best < 0.0 || cost < best) {
            best = cost;
            *tm_out = tm;
            *tn_out = tn;
        }
    }
}

// Cm (M, N) = (accumulate ? Cm : bias row, or 0) + A (M, K) @ B (K, N), split over threads.
static void cpumm_gemm(float *Cm, size_t ldc, const float *A, size_t ars, size_t acs,
                       const float *B, size_t brs, size_t bcs, size_t M, size_t N, size_t K,
                       const float *bias, int accumulate) {
    if (M == 0 || N == 0) {
        return;
    }
    // blocking from the whole problem (see CPUMM_WORK): nc whole panels, then the longest kc
    // that fits, evened out over the K blocks
    size_t nc_max = (N + CPUMM_NR - 1) / CPUMM_NR * CPUMM_NR;
    nc_max = nc_max < CPUMM_NC ? nc_max : CPUMM_NC;
    size_t kc_max = CPUMM_WORK / (nc_max + CPUMM_MC);
    size_t nkb = K == 0 ? 1 : (K + kc_max - 1) / kc_max;
    kc_max = K == 0 ? 1 : (K + nkb - 1) / nkb;
#ifdef _OPENMP
    int nthreads = omp_in_parallel() ? 1 : omp_get_max_threads();
    // small products are not worth waking the other threads for
    if ((double)M * (double)N * (double)K < 1e5) {
        nthreads = 1;
    }
#else
    int nthreads = 1;
#endif
    int tm = 1, tn = 1;
    cpumm_split(M, N, K, nthreads, &tm, &tn);
#pragma omp parallel num_threads(tm * tn) if (tm * tn > 1)
    {
#ifdef _OPENMP
        int t = omp_get_thread_num();
#else
        int t = 0;
#endif
        size_t m0, m1, n0, n1;
        cpumm_thread_tile(t, tm, tn, M, N, CPUMM_MR, CPUMM_NR, &m0, &m1, &n0, &n1);
        if (m0 < m1 && n0 < n1) {
            cpumm_gemm_tile(Cm, ldc, A, ars, acs, B, brs, bcs, K, bias, accumulate, m0, m1, n0,
                            n1, nc_max, kc_max);
        }
    }
}

// ----------------------------------------------------------------------------
// the two entry points of a linear layer

// out (BT, OC) = inp (BT, C) @ weight (OC, C)^T + bias (OC); bias may be NULL. Overwrites out.
static void matmul_forward_cpu(float *out, const float *inp, const float *weight,
                               const float *bias, size_t BT, size_t C, size_t OC) {
    cpumm_gemm(out, OC, inp, C, 1, weight, 1, C, BT, OC, C, bias, 0);
}

// dbias (OC) += column sums of dout (BT, OC): columns split over threads in chunks of 64, rows
// summed in order (deterministic). Also the bf16 path's (llmc/cpu_matmul_bf16.h).
static void cpumm_dbias(float *dbias, const float *dout, size_t BT, size_t OC) {
    long long nchunks = (long long)((OC + 63) / 64);
#pragma omp parallel for if (BT * OC > 65536)
    for (long long ch = 0; ch < nchunks; ch++) {
        size_t o0 = (size_t)ch * 64, o1 = o0 + 64 < OC ? o0 + 64 : OC;
        float sum[64] = {0};
        for (size_t i = 0; i < BT; i++) {
            const float *g = dout + i * OC;
            for (size_t o = o0; o < o1; o++) {
                sum[o - o0] += g[o];
            }
        }
        for (size_t o = o0; o < o1; o++) {
            dbias[o] += sum[o - o0];
        }
    }
}

// Accumulates (+=) the three gradients of out = inp @ weight^T + bias, given dout (BT, OC):
//   dinp (BT, C)     += dout @ weight          (a plain GEMM, K = OC)
//   dweight (OC, C)  += dout^T @ inp           (K = BT, split over the output, deterministic)
//   dbias (OC)       += column sums of dout    (dbias may be NULL)
static void matmul_backward_cpu(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *inp, const float *weight, size_t BT, size_t C,
                                size_t OC) {
    cpumm_gemm(dinp, C, dout, OC, 1, weight, C, 1, BT, C, OC, NULL, 1);
    cpumm_gemm(dweight, C, dout, 1, OC, inp, C, 1, OC, C, BT, NULL, 1);
    if (dbias != NULL) {
        cpumm_dbias(dbias, dout, BT, OC);
    }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif // LLMC_CPU_MATMUL_H
