/*
 * cpu_matmul_bf16.h: the matmuls of the CPU trainer's bf16 mixed precision (--precision bf16).
 *
 * Contract: the same GEMM as llmc/cpu_matmul.h, Cm (M, N) = init + A (M, K) @ B (K, N), fp32
 * Cm, with both operands rounded to bf16 (round to nearest even, llmc/gpt2.h float_to_bf16) and
 * the products summed in fp32. An operand is fp32 (rounded as it is packed) or already bf16 (the
 * weights' bf16 copy). Since a bf16 x bf16 product is exact in fp32 (8 + 8 significand bits), the
 * only differences from an exact sum of the rounded products are fp32 summation errors: the same
 * bound as cpu_matmul.h, |got - exact| <= gamma_(K+1) * sum |terms| (dev/test/cpu_bf16_test.c).
 * The layer entry points (matmul_forward_bf16, matmul_backward_bf16) mirror matmul_forward_cpu
 * and matmul_backward_cpu with a bf16 weight; the bias and its gradient stay fp32.
 *
 * Kernels, chosen at run time from cpuid (bf16mm_best), each a small function with its own
 * __attribute__((target)), so one binary runs on any x86-64:
 *   amx         AMX-BF16 tiles (TDPBF16PS): a 32 x 32 block of Cm in four 16 x 16 fp32 tiles,
 *               A as two 16-row tiles of 32 k, B as two tiles of 16 k-pairs x 16 columns.
 *               Linux must grant the tile state first (arch_prctl ARCH_REQ_XCOMP_PERM).
 *   avx512bf16  AVX512_BF16 dot products (VDPBF16PS): 6 x 64 in 24 zmm, one k pair per FMA.
 *   avx2        AVX2+FMA, no bf16 instructions: bf16 -> fp32 in registers (a shift or a mask:
 *               bf16 is the top half of an fp32) and the fp32 FMA micro-kernel of
 *               cpu_matmul.h, 5 x 16 in 10 ymm.
 *   ref         plain C, 4 x 16: correct anywhere, the one nvcc sees.
 * amx and avx512bf16 flush subnormal inputs and outputs to zero (Intel: DAZ, FTZ); the others
 * keep them. Only ref and avx2 have run on the machine this was written on (AMD Zen 3): the
 * other two were written against Intel's instruction descriptions and are checked by
 * dev/test/cpu_bf16_test.c wherever the CPU has them (it reports SKIP elsewhere).
 *
 * Layout of the packed operands (one per thread, on its stack, as cpu_matmul.h):
 *   B: a kc x nc block in panels of 16 columns, k pairs interleaved ("VNNI" order, what both
 *      VDPBF16PS and TDPBF16PS read): panel q holds bp[q*kc*16 + (k/2)*32 + j*2 + k%2] =
 *      B[k][16q + j]. kc is padded to a multiple of 32 with zeros (one AMX tile depth).
 *   A: an MR-row strip, in the order its kernel reads it (enum Bf16mmALayout).
 * Threads split Cm as cpu_matmul.h does (cpumm_split); the blocking depends only on the shape,
 * so results do not depend on the thread count.
 * Header-only, static functions, compiles as C11 and as C++.
 */
#ifndef LLMC_CPU_MATMUL_BF16_H
#define LLMC_CPU_MATMUL_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu_matmul.h" // cpumm_split, cpumm_dbias
#include "gpt2.h"       // float_to_bf16, bf16_to_float: the one rounding

// the fast kernels need x86-64 and GCC/clang (target attributes, cpuid); nvcc gets ref only
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define BF16MM_X86 1
#include <cpuid.h>
#include <immintrin.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#else
#define BF16MM_X86 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define BF16MM_UNROLL _Pragma("GCC unroll 16")
#else
#define BF16MM_UNROLL
#endif

#define BF16MM_KB 32   // kc is padded to a multiple of this (one AMX tile: 32 bf16 of k)
#define BF16MM_PW 16   // width of a packed B panel
#define BF16MM_KC 256  // K block
#define BF16MM_NC 512  // N block: the packed B block is 256 x 512 bf16 = 256 KiB
#define BF16MM_MAXMR 32
#define BF16MM_MAXNR 64

// an operand: element (i, j) at p[i*rs + j*cs], fp32 or bf16 bits
typedef struct {
    const void *p;
    size_t rs, cs;
    int bf16;
} Bf16mmOperand;

typedef enum {
    BF16MM_A_F32,   // ap[k*MR + r] = fp32 value of the rounded A[r][k]
    BF16MM_A_PAIRS, // ap[(k/2)*MR*2 + r*2 + k%2] = bf16 A[r][k]: one 32-bit pair per row and k pair
    BF16MM_A_ROWS,  // ap[r*kc + k] = bf16 A[r][k]: rows of k (an AMX tile row is 32 of them)
} Bf16mmALayout;

// Cm[0:MR, 0:NR] += A strip (MR x kc, packed) @ B (kc x NR: NR/16 panels, pstride apart);
// kc a multiple of BF16MM_KB.
typedef void (*Bf16mmKernel)(size_t kc, const void *ap, const uint16_t *bp, size_t pstride, float *Cm,
                             size_t ldc);

typedef struct {
    const char *name;
    int mr, nr;
    Bf16mmALayout a_layout;
    Bf16mmKernel kernel;
    void (*thread_begin)(void); // per thread around its work (AMX: tile configuration), or NULL
    void (*thread_end)(void);
} Bf16mmVariant;

// ----------------------------------------------------------------------------
// kernels

// plain C: the arithmetic every other kernel does, in the plainest form
static void bf16mm_kernel_ref(size_t kc, const void *ap, const uint16_t *bp, size_t pstride, float *Cm,
                              size_t ldc) {
    (void)pstride;
    const float *a = (const float *)ap;
    float acc[4][16];
    for (int r = 0; r < 4; r++) {
        for (int j = 0; j < 16; j++) acc[r][j] = Cm[r * ldc + j];
    }
    for (size_t k = 0; k < kc; k++) {
        const uint16_t *b = bp + (k / 2) * 32 + k % 2;
        for (int r = 0; r < 4; r++) {
            float x = a[k * 4 + r];
            for (int j = 0; j < 16; j++) acc[r][j] += x * bf16_to_float(b[2 * j]);
        }
    }
    for (int r = 0; r < 4; r++) {
        for (int j = 0; j < 16; j++) Cm[r * ldc + j] = acc[r][j];
    }
}

#if BF16MM_X86
// AVX2+FMA: a 32-bit lane of a packed B row holds the pair (B[k][j], B[k+1][j]), low half
// first; as fp32, B[k][j] is the lane shifted left by 16, B[k+1][j] the lane with its low half
// cleared (two shifts: a mask would take a register). 5 x 16: 10 ymm accumulators, 4 for the
// two B rows in fp32 and one broadcast fit the 16 registers (6 rows, as cpu_matmul.h's fp32
// kernel has, spill here). k in order.
#define BF16MM_AVX2_MR 5
__attribute__((target("avx2,fma"))) static void bf16mm_kernel_avx2(size_t kc, const void *ap, const uint16_t *bp,
                                                                   size_t pstride, float *Cm, size_t ldc) {
    (void)pstride;
    const float *a = (const float *)ap;
    __m256 c[BF16MM_AVX2_MR][2];
    BF16MM_UNROLL
    for (int r = 0; r < BF16MM_AVX2_MR; r++) {
        c[r][0] = _mm256_loadu_ps(Cm + r * ldc);
        c[r][1] = _mm256_loadu_ps(Cm + r * ldc + 8);
    }
    for (size_t k = 0; k < kc; k += 2, a += 2 * BF16MM_AVX2_MR, bp += 32) {
        __m256 even[2], odd[2]; // B[k][0:16], B[k+1][0:16] as fp32
        BF16MM_UNROLL
        for (int v = 0; v < 2; v++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(bp + 16 * v));
            even[v] = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
            odd[v] = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_srli_epi32(w, 16), 16));
        }
        BF16MM_UNROLL
        for (int r = 0; r < BF16MM_AVX2_MR; r++) {
            __m256 x = _mm256_broadcast_ss(a + r);
            c[r][0] = _mm256_fmadd_ps(x, even[0], c[r][0]);
            c[r][1] = _mm256_fmadd_ps(x, even[1], c[r][1]);
            __m256 y = _mm256_broadcast_ss(a + BF16MM_AVX2_MR + r);
            c[r][0] = _mm256_fmadd_ps(y, odd[0], c[r][0]);
            c[r][1] = _mm256_fmadd_ps(y, odd[1], c[r][1]);
        }
    }
    BF16MM_UNROLL
    for (int r = 0; r < BF16MM_AVX2_MR; r++) {
        _mm256_storeu_ps(Cm + r * ldc, c[r][0]);
        _mm256_storeu_ps(Cm + r * ldc + 8, c[r][1]);
    }
}

// AVX512_BF16: VDPBF16PS c, a, b adds a.bf16[2i] * b.bf16[2i] + a.bf16[2i+1] * b.bf16[2i+1]
// to fp32 lane i. With a = A's pair (A[r][k], A[r][k+1]) in every lane and b = 16 columns of a
// packed B row, lane j gains A[r][k] B[k][j] + A[r][k+1] B[k+1][j]. 6 x 64: four panels,
// 24 zmm accumulators. NOT RUN on the machine it was written on (no AVX512_BF16 there).
__attribute__((target("avx512f,avx512bf16"))) static void bf16mm_kernel_avx512bf16(size_t kc, const void *ap,
                                                                                   const uint16_t *bp,
                                                                                   size_t pstride, float *Cm,
                                                                                   size_t ldc) {
    const uint16_t *a = (const uint16_t *)ap;
    __m512 c[6][4];
    BF16MM_UNROLL
    for (int r = 0; r < 6; r++) {
        BF16MM_UNROLL
        for (int v = 0; v < 4; v++) c[r][v] = _mm512_loadu_ps(Cm + r * ldc + 16 * v);
    }
    for (size_t p = 0; p < kc / 2; p++, a += 12) {
        __m512bh b[4];
        BF16MM_UNROLL
        for (int v = 0; v < 4; v++) b[v] = (__m512bh)_mm512_loadu_si512((const void *)(bp + v * pstride + p * 32));
        BF16MM_UNROLL
        for (int r = 0; r < 6; r++) {
            uint32_t pair;
            memcpy(&pair, a + 2 * r, sizeof(pair));
            __m512bh x = (__m512bh)_mm512_set1_epi32((int)pair);
            BF16MM_UNROLL
            for (int v = 0; v < 4; v++) c[r][v] = _mm512_dpbf16_ps(c[r][v], x, b[v]);
        }
    }
    BF16MM_UNROLL
    for (int r = 0; r < 6; r++) {
        BF16MM_UNROLL
        for (int v = 0; v < 4; v++) _mm512_storeu_ps(Cm + r * ldc + 16 * v, c[r][v]);
    }
}

// AMX: the tile configuration (palette 1): byte 0 palette, 16..47 bytes per row of tmm0..15
// (uint16), 48..63 rows of tmm0..15 (uint8). tmm0..3: the 2 x 2 fp32 tiles of Cm (16 x 16);
// tmm4, 5: rows 0-15 and 16-31 of A (16 x 32 bf16); tmm6, 7: panels 0 and 1 of B (16 k pairs x
// 16 columns). Every tile is 16 rows of 64 bytes. NOT RUN on the machine it was written on.
__attribute__((target("amx-tile"))) static void bf16mm_amx_begin(void) {
    unsigned char cfg[64] __attribute__((aligned(64)));
    memset(cfg, 0, sizeof(cfg));
    cfg[0] = 1;
    for (int t = 0; t < 8; t++) {
        uint16_t colsb = 64;
        memcpy(cfg + 16 + 2 * t, &colsb, sizeof(colsb));
        cfg[48 + t] = 16;
    }
    _tile_loadconfig(cfg);
}
__attribute__((target("amx-tile"))) static void bf16mm_amx_end(void) { _tile_release(); }

// TDPBF16PS C, A, B: C[m][n] += sum over k pairs of A[m].bf16[2k] B[k].bf16[2n] +
// A[m].bf16[2k+1] B[k].bf16[2n+1], i.e. rows of A in plain k order against B's packed pairs.
__attribute__((target("amx-tile,amx-bf16"))) static void bf16mm_kernel_amx(size_t kc, const void *ap,
                                                                           const uint16_t *bp, size_t pstride,
                                                                           float *Cm, size_t ldc) {
    const uint16_t *a = (const uint16_t *)ap;
    size_t cs = ldc * sizeof(float), as = kc * sizeof(uint16_t);
    // GCC's tile intrinsics are asm statements that do not tell the compiler they touch memory
    __asm__ volatile("" ::: "memory");
    _tile_loadd(0, Cm, cs);
    _tile_loadd(1, Cm + 16, cs);
    _tile_loadd(2, Cm + 16 * ldc, cs);
    _tile_loadd(3, Cm + 16 * ldc + 16, cs);
    for (size_t k = 0; k < kc; k += 32) {
        _tile_loadd(4, a + k, as);                // A rows 0-15, k .. k+31
        _tile_loadd(5, a + 16 * kc + k, as);      // A rows 16-31
        _tile_loadd(6, bp + k * 16, 64);          // B panel 0: pairs k/2 .. k/2+15
        _tile_loadd(7, bp + pstride + k * 16, 64); // B panel 1
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, Cm, cs);
    _tile_stored(1, Cm + 16, cs);
    _tile_stored(2, Cm + 16 * ldc, cs);
    _tile_stored(3, Cm + 16 * ldc + 16, cs);
    __asm__ volatile("" ::: "memory");
}
#endif // BF16MM_X86

enum { BF16MM_REF, BF16MM_AVX2, BF16MM_AVX512BF16, BF16MM_AMX, BF16MM_NUM_VARIANTS };

static const Bf16mmVariant BF16MM_VARIANTS[BF16MM_NUM_VARIANTS] = {
    {"ref", 4, 16, BF16MM_A_F32, bf16mm_kernel_ref, NULL, NULL},
#if BF16MM_X86
    {"avx2", BF16MM_AVX2_MR, 16, BF16MM_A_F32, bf16mm_kernel_avx2, NULL, NULL},
    {"avx512bf16", 6, 64, BF16MM_A_PAIRS, bf16mm_kernel_avx512bf16, NULL, NULL},
    {"amx", 32, 32, BF16MM_A_ROWS, bf16mm_kernel_amx, bf16mm_amx_begin, bf16mm_amx_end},
#else
    {"avx2", 0, 0, BF16MM_A_F32, NULL, NULL, NULL},
    {"avx512bf16", 0, 0, BF16MM_A_F32, NULL, NULL, NULL},
    {"amx", 0, 0, BF16MM_A_F32, NULL, NULL, NULL},
#endif
};

// ----------------------------------------------------------------------------
// run-time detection (cpuid; the OS must also save the registers: XCR0)

#if BF16MM_X86
static uint64_t bf16mm_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

// 1 if this CPU (and OS) can run variant v; asks Linux for the AMX tile state the first time.
static int bf16mm_supported(int v) {
    if (v == BF16MM_REF) return 1;
#if BF16MM_X86
    unsigned a1, b1, c1, d1, a7, b7, c7, d7, a71, b71, c71, d71;
    if (!__get_cpuid(1, &a1, &b1, &c1, &d1) || !(c1 & (1u << 27))) return 0; // OSXSAVE: xgetbv works
    if (!__get_cpuid_count(7, 0, &a7, &b7, &c7, &d7)) return 0;
    uint64_t xcr0 = bf16mm_xcr0();
    if (v == BF16MM_AVX2) {
        // FMA (leaf 1 ecx 12), AVX (ecx 28), AVX2 (leaf 7 ebx 5); XMM and YMM state saved
        return (c1 & (1u << 12)) && (c1 & (1u << 28)) && (b7 & (1u << 5)) && (xcr0 & 0x6) == 0x6;
    }
    if (v == BF16MM_AVX512BF16) {
        // AVX512F (leaf 7 ebx 16), AVX512_BF16 (leaf 7 subleaf 1 eax 5); opmask, ZMM state saved
        if (a7 < 1 || !__get_cpuid_count(7, 1, &a71, &b71, &c71, &d71)) return 0; // a7: last subleaf
        return (b7 & (1u << 16)) && (a71 & (1u << 5)) && (xcr0 & 0xe6) == 0xe6;
    }
    if (v == BF16MM_AMX) {
        // AMX-BF16 (leaf 7 edx 22), AMX-TILE (edx 24); XTILECFG and XTILEDATA (XCR0 bits 17, 18)
        if (!((d7 & (1u << 22)) && (d7 & (1u << 24)) && (xcr0 & 0x60000) == 0x60000)) return 0;
#if defined(__linux__)
        // Linux hands out the 8 KiB tile state on request only: ARCH_REQ_XCOMP_PERM (0x1023)
        // for XFEATURE_XTILEDATA (18); without it the first tile instruction faults
        static int granted = -1;
        if (granted < 0) granted = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
        return granted;
#else
        return 0;
#endif
    }
#endif
    return 0;
}

// The fastest variant this machine runs (decided once).
static const Bf16mmVariant *bf16mm_best(void) {
    static int best = -1;
    if (best < 0) {
        int b = BF16MM_REF;
        for (int v = BF16MM_AVX2; v < BF16MM_NUM_VARIANTS; v++) {
            if (bf16mm_supported(v)) b = v;
        }
        best = b;
    }
    return &BF16MM_VARIANTS[best];
}

// ----------------------------------------------------------------------------
// packing

// out[t] = bf16 of x's element at offset o + t*step, t < n, and zeros up to npad: one row or
// column of an operand. The loops are plain so they vectorize when step is 1.
static void bf16mm_gather(uint16_t *out, const Bf16mmOperand *x, size_t o, size_t step, size_t n, size_t npad) {
    if (x->bf16) {
        const uint16_t *p = (const uint16_t *)x->p + o;
        if (step == 1) memcpy(out, p, n * sizeof(uint16_t));
        else for (size_t t = 0; t < n; t++) out[t] = p[t * step];
    } else {
        const float *p = (const float *)x->p + o;
        if (step == 1) for (size_t t = 0; t < n; t++) out[t] = float_to_bf16(p[t]);
        else for (size_t t = 0; t < n; t++) out[t] = float_to_bf16(p[t * step]);
    }
    for (size_t t = n; t < npad; t++) out[t] = 0;
}

// B[pc:pc+kc, jc:jc+nc] into panels of 16 pair-interleaved columns (see the top), zero-padded
// to kcp rows (a multiple of BF16MM_KB) and npanels * 16 columns: each column is gathered,
// then its k pairs (32 bits each) go to their rows.
static void bf16mm_pack_b(uint16_t *bp, const Bf16mmOperand *B, size_t pc, size_t kc, size_t kcp, size_t jc,
                          size_t nc, size_t npanels) {
    uint16_t col[BF16MM_KC];
    for (size_t q = 0; q < npanels; q++) {
        uint16_t *dst = bp + q * kcp * BF16MM_PW;
        for (size_t j = 0; j < BF16MM_PW; j++) {
            size_t n = q * BF16MM_PW + j;
            if (n < nc) bf16mm_gather(col, B, pc * B->rs + (jc + n) * B->cs, B->rs, kc, kcp);
            else memset(col, 0, kcp * sizeof(uint16_t));
            for (size_t p = 0; p < kcp / 2; p++) memcpy(dst + p * 2 * BF16MM_PW + 2 * j, col + 2 * p, 4);
        }
    }
}

// A[ic:ic+mr, pc:pc+kc] as one MR-row strip in layout `lay`, zero-padded to MR rows, kcp columns.
static void bf16mm_pack_a(void *ap, Bf16mmALayout lay, int MR, const Bf16mmOperand *A, size_t ic, size_t mr,
                          size_t pc, size_t kc, size_t kcp) {
    uint16_t row[BF16MM_KC];
    for (size_t r = 0; r < (size_t)MR; r++) {
        if (r < mr) bf16mm_gather(row, A, (ic + r) * A->rs + pc * A->cs, A->cs, kc, kcp);
        else memset(row, 0, kcp * sizeof(uint16_t));
        switch (lay) {
        case BF16MM_A_F32:
            for (size_t k = 0; k < kcp; k++) ((float *)ap)[k * MR + r] = bf16_to_float(row[k]);
            break;
        case BF16MM_A_PAIRS:
            for (size_t p = 0; p < kcp / 2; p++) memcpy((uint16_t *)ap + p * MR * 2 + r * 2, row + 2 * p, 4);
            break;
        case BF16MM_A_ROWS: memcpy((uint16_t *)ap + r * kcp, row, kcp * sizeof(uint16_t)); break;
        }
    }
}

// ----------------------------------------------------------------------------
// the GEMM

// Rows [m0, m1), columns [n0, n1) of Cm, on one thread.
static void bf16mm_gemm_tile(const Bf16mmVariant *v, float *Cm, size_t ldc, const Bf16mmOperand *A,
                             const Bf16mmOperand *B, size_t K, const float *bias, int accumulate, size_t m0,
                             size_t m1, size_t n0, size_t n1) {
#if defined(__GNUC__)
    uint16_t bp[BF16MM_KC * BF16MM_NC] __attribute__((aligned(64)));
    float ap[BF16MM_MAXMR * BF16MM_KC] __attribute__((aligned(64))); // one A strip: at most 32 x 256
    float edge[BF16MM_MAXMR * BF16MM_MAXNR] __attribute__((aligned(64)));
#else
    uint16_t bp[BF16MM_KC * BF16MM_NC];
    float ap[BF16MM_MAXMR * BF16MM_KC];
    float edge[BF16MM_MAXMR * BF16MM_MAXNR];
#endif
    size_t MR = (size_t)v->mr, NR = (size_t)v->nr;
    if (!accumulate) { // Cm starts as the bias (or 0); every K block then adds to it
        for (size_t i = m0; i < m1; i++) {
            for (size_t j = n0; j < n1; j++) Cm[i * ldc + j] = bias != NULL ? bias[j] : 0.0f;
        }
    }
    for (size_t jc = n0; jc < n1; jc += BF16MM_NC) {
        size_t nc = n1 - jc < BF16MM_NC ? n1 - jc : BF16MM_NC;
        size_t npanels = (nc + NR - 1) / NR * (NR / BF16MM_PW);
        for (size_t pc = 0; pc < K; pc += BF16MM_KC) {
            size_t kc = K - pc < BF16MM_KC ? K - pc : BF16MM_KC;
            size_t kcp = (kc + BF16MM_KB - 1) / BF16MM_KB * BF16MM_KB;
            bf16mm_pack_b(bp, B, pc, kc, kcp, jc, nc, npanels);
            for (size_t ic = m0; ic < m1; ic += MR) {
                size_t mr = m1 - ic < MR ? m1 - ic : MR;
                bf16mm_pack_a(ap, v->a_layout, v->mr, A, ic, mr, pc, kc, kcp);
                for (size_t jr = 0; jr < nc; jr += NR) {
                    size_t nr = nc - jr < NR ? nc - jr : NR;
                    const uint16_t *b = bp + (jr / BF16MM_PW) * kcp * BF16MM_PW;
                    float *c = Cm + ic * ldc + jc + jr;
                    if (mr == MR && nr == NR) {
                        v->kernel(kcp, ap, b, kcp * BF16MM_PW, c, ldc);
                        continue;
                    }
                    // partial tile: through a zero-padded MR x NR copy
                    for (size_t r = 0; r < MR; r++) {
                        for (size_t j = 0; j < NR; j++) edge[r * NR + j] = r < mr && j < nr ? c[r * ldc + j] : 0.0f;
                    }
                    v->kernel(kcp, ap, b, kcp * BF16MM_PW, edge, NR);
                    for (size_t r = 0; r < mr; r++) memcpy(c + r * ldc, edge + r * NR, nr * sizeof(float));
                }
            }
        }
    }
}

// Cm (M, N) = (accumulate ? Cm : bias row, or 0) + bf16(A) (M, K) @ bf16(B) (K, N) with kernel v,
// split over threads like cpumm_gemm.
static void bf16mm_gemm(const Bf16mmVariant *v, float *Cm, size_t ldc, Bf16mmOperand A, Bf16mmOperand B, size_t M,
                        size_t N, size_t K, const float *bias, int accumulate) {
    if (M == 0 || N == 0) return;
#ifdef _OPENMP
    int nthreads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if ((double)M * (double)N * (double)K < 1e5) nthreads = 1; // not worth waking the others
#else
    int nthreads = 1;
#endif
    int tm = 1, tn = 1;
    cpumm_split(M, N, K, nthreads, &tm, &tn);
    size_t MR = (size_t)v->mr, NR = (size_t)v->nr;
#pragma omp parallel num_threads(tm * tn) if (tm * tn > 1)
    {
#ifdef _OPENMP
        int t0 = omp_get_thread_num(), step = omp_get_num_threads();
#else
        int t0 = 0, step = 1;
#endif
        // tile t = (t / tn, t % tn), in whole MR / NR blocks; a loop, in case fewer threads came
        for (int t = t0; t < tm * tn; t += step) {
            size_t m0, m1, n0, n1;
            cpumm_thread_tile(t, tm, tn, M, N, MR, NR, &m0, &m1, &n0, &n1);
            if (m0 < m1 && n0 < n1) {
                if (v->thread_begin) v->thread_begin();
                bf16mm_gemm_tile(v, Cm, ldc, &A, &B, K, bias, accumulate, m0, m1, n0, n1);
                if (v->thread_end) v->thread_end();
            }
        }
    }
}

// ----------------------------------------------------------------------------
// the two entry points of a linear layer, as matmul_forward_cpu / matmul_backward_cpu with the
// weight (OC, C) given as bf16 bits; inp and dout are fp32 and rounded as they are packed

// out (BT, OC) = bf16(inp) (BT, C) @ weight (OC, C)^T + bias (OC); bias may be NULL. Overwrites out.
static void matmul_forward_bf16(float *out, const float *inp, const uint16_t *weight, const float *bias, size_t BT,
                                size_t C, size_t OC) {
    Bf16mmOperand A = {inp, C, 1, 0}, B = {weight, 1, C, 1};
    bf16mm_gemm(bf16mm_best(), out, OC, A, B, BT, OC, C, bias, 0);
}

// Accumulates (+=): dinp (BT, C) += bf16(dout) @ weight; dweight (OC, C) += bf16(dout)^T @
// bf16(inp); dbias (OC) += column sums of dout in fp32 (dbias may be NULL).
static void matmul_backward_bf16(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                                 const uint16_t *weight, size_t BT, size_t C, size_t OC) {
    const Bf16mmVariant *v = bf16mm_best();
    Bf16mmOperand dout_rows = {dout, OC, 1, 0}, w = {weight, C, 1, 1};
    bf16mm_gemm(v, dinp, C, dout_rows, w, BT, C, OC, NULL, 1);
    Bf16mmOperand dout_t = {dout, 1, OC, 0}, x = {inp, C, 1, 0};
    bf16mm_gemm(v, dweight, C, dout_t, x, OC, C, BT, NULL, 1);
    if (dbias != NULL) cpumm_dbias(dbias, dout, BT, OC);
}

#endif // LLMC_CPU_MATMUL_BF16_H
