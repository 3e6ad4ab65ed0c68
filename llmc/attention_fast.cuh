/*
 * attention_fast.cuh: the faster tensor-core kernels (ldmatrix, cp.async double buffering), used
 * by the dispatch in llmc/attention.cuh only with -DATT_FAST=1 until a GPU run validates them;
 * they share the tile helpers of attention_tc.cuh.
 */
#ifndef LLMC_ATTENTION_FAST_CUH
#define LLMC_ATTENTION_FAST_CUH

#include "attention_tc.cuh"

#if !FLOATX_IS_FP32
// ----------------------------------------------------------------------------
// Fast tensor-core kernels (-DATT_FAST=1; the dispatch uses attention_tc.cuh's otherwise).
// The same math as attention_tc.cuh (fp32 accumulation, bf16 P and dS, deterministic: every output element
// is owned by one thread and summed in a fixed order), 4 warps per block, but:
//  - HS = 64: each warp owns 2 m-tiles of 16 rows (MT = 2, 128-row blocks), see ATT_FAST_MT.
//  - operand fragments come from shared memory with ldmatrix.x4: lane l gives the address of row
//    l % 8 of 8x8 matrix l / 8 (16-byte rows) and receives register i = row l / 4, elements
//    2(l % 4), 2(l % 4) + 1 of matrix i, which is exactly the layout of an mma A/B register; with
//    .trans it receives elements (2(l % 4), l / 4), (2(l % 4) + 1, l / 4), i.e. the B register
//    of a tile stored k-major (V in P V, dO / Q / K in the backward's second products). This
//    replaces 4 (A) or 2 (B) 32-bit loads, and the 16-bit pair loads of k-major B, by 1 instruction.
//    Row stride HS + 8 elements = 16 (mod 128) bytes: the 8 rows of each matrix hit distinct
//    16-byte bank groups, conflict-free.
//  - K/V (Q/dO) tiles stream through two shared-memory buffers with cp.async: one wait + one
//    __syncthreads per tile, after which the next tile's copy is issued into the other buffer
//    (free: every warp has passed the barrier, so it finished the previous tile) and flies during
//    this tile's math. Rows >= T are zero-filled by the copy itself (src-size 0).
//  - softmax in base 2: log2(e) folded into the score scale, ex2.approx; lse stored in natural log.
//  - the backward works on 16-query (dK/dV) or 16-key (dQ) chunks: only two n-tiles of S and dP
//    are live (16 + 16 registers), and chunks that the causal mask empties for the whole warp
//    are skipped (warp-uniform tests, no barrier inside); the mask is applied only to chunks that
//    straddle the diagonal or T.

// Off by default until a GPU run has validated it: the H200 could not be reached again after
// these kernels were written (they passed a host emulation of the PTX fragment layouts and of
// cp.async ordering). dev/cuda/attention.cu validates and times the _fast variants either way,
// and dev/test/gpu_check.sh builds and tests a -DATT_FAST=1 trainer next to the default one.
#ifndef ATT_FAST
#define ATT_FAST 0
#endif

#define ATT_LOG2E 1.4426950408889634f
#define ATT_LN2 0.6931471805599453f

__device__ __forceinline__ uint32_t att_smem_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void ldsm_x4(uint32_t r[4], const __nv_bfloat16 *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(att_smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t r[4], const __nv_bfloat16 *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(att_smem_addr(p)));
}
// A fragment, rows row0..+15, cols k0..+15 of a row-major tile: matrices (rows 0-7, k 0-7),
// (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15) = a0..a3. Lane l addresses row
// l % 16 at k offset 8 (l / 16).
__device__ __forceinline__ void ldsm_a(uint32_t a[4], const __nv_bfloat16 *X, int ld, int row0, int k0, int lane) {
    ldsm_x4(a, X + (row0 + (lane & 15)) * ld + k0 + (lane >> 4) * 8);
}
// B fragments of two n-tiles (n0..n0+7 -> b[0..1], n0+8..n0+15 -> b[2..3]), k0..k0+15, from a tile
// stored n-major X[n][k] (K in Q K^T): matrices (n 0-7, k 0-7) = b0, (n 0-7, k 8-15) = b1 of the
// first n-tile, then the same for n 8-15. Lane l addresses n row (l % 8) + 8 (l / 16), k 8 ((l/8)%2).
__device__ __forceinline__ void ldsm_b_nmajor2(uint32_t b[4], const __nv_bfloat16 *X, int ld, int n0, int k0,
                                               int lane) {
    ldsm_x4(b, X + (n0 + (lane & 7) + ((lane >> 4) << 3)) * ld + k0 + ((lane >> 3) & 1) * 8);
}
// Same two n-tiles from a tile stored k-major X[k][n] (V in P V), transposed on the fly:
// matrices (k 0-7, n 0-7) = b0, (k 8-15, n 0-7) = b1, (k 0-7, n 8-15), (k 8-15, n 8-15).
// Lane l addresses k row l % 16 at n offset 8 (l / 16).
__device__ __forceinline__ void ldsm_b_kmajor2(uint32_t b[4], const __nv_bfloat16 *X, int ld, int k0, int n0,
                                               int lane) {
    ldsm_x4_trans(b, X + (k0 + (lane & 15)) * ld + n0 + (lane >> 4) * 8);
}

// cp.async: 16 (4) bytes global -> shared, bypassing registers; src-size 0 writes zeros without
// reading (the source address is still kept inside the tensor by the callers).
__device__ __forceinline__ void att_cp16(void *dst, const void *src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(att_smem_addr(dst)),
                 "l"(__cvta_generic_to_global(src)),
                 "r"(valid ? 16 : 0)
                 : "memory");
}
__device__ __forceinline__ void att_cp4(void *dst, const void *src, bool valid) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(att_smem_addr(dst)),
                 "l"(__cvta_generic_to_global(src)),
                 "r"(valid ? 4 : 0)
                 : "memory");
}
__device__ __forceinline__ void att_cp_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void att_cp_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

__device__ __forceinline__ float att_exp2(float x) { // 2^x; -inf -> +0
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

// Asynchronous copy of rows row0..row0+ROWS-1 (HS bf16 each, global row stride `stride`) into a
// smem tile with row stride HS + 8; rows >= T become zeros. Needs blockDim.x == 32 * ATT_TC_WARPS.
template <int HS, int ROWS>
__device__ __forceinline__ void att_tile_async(__nv_bfloat16 *dst, const __nv_bfloat16 *src, size_t stride, int row0,
                                               int T) {
    constexpr int VPR = HS / 8, NTH = 32 * ATT_TC_WARPS;
    static_assert((ROWS * VPR) % NTH == 0, "tile must split evenly over the block");
#pragma unroll
    for (int i = 0; i < ROWS * VPR / NTH; i++) {
        const int idx = threadIdx.x + i * NTH;
        const int r = idx / VPR, cv = idx % VPR, row = row0 + r;
        const bool ok = row < T;
        att_cp16(dst + r * (HS + 8) + cv * 8, src + (size_t)(ok ? row : 0) * stride + cv * 8, ok);
    }
}

// Forward. grid (ceil(T/(64 MT)) query tiles, B*NH), 4 warps; warp w owns MT m-tiles of 16 query
// rows, rows qt*64MT + 64mt + 16w + {g, g+8} for mt < MT (interleaved so that every warp gets the
// same causal work). With MT = 2 each K/V fragment read from shared memory feeds two mmas (the
// ldmatrix traffic per flop halves; by estimate, ~1 ldmatrix.x4 per 2 mmas is about what shared
// memory sustains at the mma rate, and MT = 1 asks for twice that). A = Q fragments stay in registers.
// Key tiles of 64 from 0 to the last one holding a key <= the block's last row < T; tile 0 holds
// key 0 <= every row, so the running max is finite from the first tile on, and an m-tile whose
// rows all precede a later key tile skips that tile entirely (state untouched).
// smem: Q [64MT][LD], K [2][64][LD], V [2][64][LD] (two buffers).
// Per tile and m-tile: S = Q K^T (B = K rows, n-major: ldmatrix), online softmax on S in
// registers, then the S accumulators of two adjacent n-tiles re-pack as the A fragment of P V
// (C/D layout (row g|g+8, cols 2q,2q+1) == A layout), B = V rows, k-major: ldmatrix.trans.
// 16-key groups lying after every row of an m-tile are skipped in both products.
template <int HS, int MT>
__global__ void __launch_bounds__(32 * ATT_TC_WARPS)
    attention_forward_fast_kernel(__nv_bfloat16 *out, float *lse, const __nv_bfloat16 *qkv, int T, int C, int NH) {
    constexpr int LD = HS + 8, BK = 64, KS = HS / 16, NT = BK / 8, NO = HS / 8, TILE = 64 * LD, RB = 64 * MT;
    extern __shared__ __align__(16) unsigned char att_smem_raw[];
    __nv_bfloat16 *Qs = reinterpret_cast<__nv_bfloat16 *>(att_smem_raw); // [RB][LD]
    __nv_bfloat16 *Ks = Qs + MT * TILE;                                    // [2][64][LD]
    __nv_bfloat16 *Vs = Ks + 2 * TILE;                                     // [2][64][LD]
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, q = lane & 3;
    const int g = lane >> 2;
    const int qt = gridDim.x - 1 - blockIdx.x; // heaviest (last) query tiles first
    const int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    const size_t C3 = 3 * (size_t)C;
    const __nv_bfloat16 *qbase = qkv + (size_t)b * T * C3 + (size_t)h * HS;
    const __nv_bfloat16 *kbase = qbase + C;
    const __nv_bfloat16 *vbase = qbase + 2 * (size_t)C;
    const float sl2 = ATT_LOG2E / sqrtf((float)HS); // scores in log2 units
    int row0[MT];                                   // first row of each m-tile of this warp
#pragma unroll
    for (int mt = 0; mt < MT; mt++) row0[mt] = qt * RB + mt * 64 + warp * 16;

    att_tile_async<HS, RB>(Qs, qbase, C3, qt * RB, T);
    att_tile_async<HS, 64>(Ks, kbase, C3, 0, T);
    att_tile_async<HS, 64>(Vs, vbase, C3, 0, T);
    att_cp_commit();

    uint32_t qa[MT][KS][4];
    float o[MT][NO][4];
    float m[MT][2], l[MT][2]; // m in log2 units
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int j = 0; j < NO; j++) o[mt][j][0] = o[mt][j][1] = o[mt][j][2] = o[mt][j][3] = 0.0f;
        m[mt][0] = m[mt][1] = -INFINITY;
        l[mt][0] = l[mt][1] = 0.0f;
    }
    const int last_kt = (min(qt * RB + RB, T) - 1) / BK;
    att_cp_wait_all();
    __syncthreads();
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int kk = 0; kk < KS; kk++) ldsm_a(qa[mt][kk], Qs, LD, mt * 64 + warp * 16, kk * 16, lane);
    }
    for (int kt = 0; kt <= last_kt; kt++) {
        const int buf = kt & 1;
        if (kt > 0) {          // (tile 0 and Q: waited for above)
            att_cp_wait_all(); // this thread's copies of tile kt have landed
            __syncthreads();   // everyone's have; everyone is done with tile kt-1 (buffer buf ^ 1)
        }
        if (kt < last_kt) {
            att_tile_async<HS, 64>(Ks + (buf ^ 1) * TILE, kbase, C3, (kt + 1) * BK, T);
            att_tile_async<HS, 64>(Vs + (buf ^ 1) * TILE, vbase, C3, (kt + 1) * BK, T);
            att_cp_commit();
        }
        const __nv_bfloat16 *Kb = Ks + buf * TILE, *Vb = Vs + buf * TILE;
        // S = Q K^T, 16 rows x 64 keys per m-tile, two n-tiles (16 keys) per ldmatrix
        float s[MT][NT][4];
#pragma unroll
        for (int np = 0; np < NT / 2; np++) {
            bool act[MT]; // m-tile has a row at or after some key of this 16-key group
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                act[mt] = kt * BK + np * 16 <= row0[mt] + 15;
#pragma unroll
                for (int i = 0; i < 4; i++) s[mt][2 * np][i] = s[mt][2 * np + 1][i] = 0.0f;
            }
            if (!act[MT - 1]) continue; // (the last m-tile has the latest rows)
#pragma unroll
            for (int kk = 0; kk < KS; kk++) {
                uint32_t bk[4];
                ldsm_b_nmajor2(bk, Kb, LD, np * 16, kk * 16, lane);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    if (!act[mt]) continue;
                    mma_16816(s[mt][2 * np], qa[mt][kk], bk);
                    mma_16816(s[mt][2 * np + 1], qa[mt][kk], bk + 2);
                }
            }
        }
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            if (kt * BK > row0[mt] + 15) continue;         // every key of the tile after every row: skip
            const bool diag = kt * BK + BK - 1 > row0[mt]; // some key of this tile may lie after a row
            const int rows[2] = {row0[mt] + g, row0[mt] + g + 8};
            float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const int key = kt * BK + nt * 8 + 2 * q + (i & 1);
                    float v = s[mt][nt][i] * sl2;
                    if (diag && key > rows[i >> 1]) v = -INFINITY;
                    s[mt][nt][i] = v;
                    mx[i >> 1] = fmaxf(mx[i >> 1], v);
                }
            }
            float corr[2], ls[2] = {0.0f, 0.0f};
#pragma unroll
            for (int r = 0; r < 2; r++) {
                mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xFFFFFFFFu, mx[r], 1));
                mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xFFFFFFFFu, mx[r], 2));
                const float mnew = fmaxf(m[mt][r], mx[r]); // finite: tile 0 holds key 0 <= every row
                corr[r] = att_exp2(m[mt][r] - mnew);        // 0 on the first tile (m = -inf)
                m[mt][r] = mnew;
            }
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const float p = att_exp2(s[mt][nt][i] - m[mt][i >> 1]); // masked: 2^-inf = 0
                    s[mt][nt][i] = p;
                    ls[i >> 1] += p;
                }
            }
#pragma unroll
            for (int r = 0; r < 2; r++) {
                ls[r] += __shfl_xor_sync(0xFFFFFFFFu, ls[r], 1);
                ls[r] += __shfl_xor_sync(0xFFFFFFFFu, ls[r], 2);
                l[mt][r] = l[mt][r] * corr[r] + ls[r];
            }
#pragma unroll
            for (int j = 0; j < NO; j++) {
                o[mt][j][0] *= corr[0];
                o[mt][j][1] *= corr[0];
                o[mt][j][2] *= corr[1];
                o[mt][j][3] *= corr[1];
            }
        }
        // O += P V (P == 0 in 16-key groups after every row of an m-tile: skipped)
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++) {
            bool act[MT];
            uint32_t pa[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                act[mt] = kt * BK + kk * 16 <= row0[mt] + 15;
                frag_a_from_acc(pa[mt], s[mt][2 * kk], s[mt][2 * kk + 1]);
            }
            if (!act[MT - 1]) continue;
#pragma unroll
            for (int jp = 0; jp < NO / 2; jp++) {
                uint32_t bv[4];
                ldsm_b_kmajor2(bv, Vb, LD, kk * 16, jp * 16, lane);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    if (!act[mt]) continue;
                    mma_16816(o[mt][2 * jp], pa[mt], bv);
                    mma_16816(o[mt][2 * jp + 1], pa[mt], bv + 2);
                }
            }
        }
    }
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int t = row0[mt] + g + 8 * r;
            if (t >= T) continue;
            const float inv = 1.0f / l[mt][r];
            __nv_bfloat16 *orow = out + ((size_t)b * T + t) * C + (size_t)h * HS;
#pragma unroll
            for (int j = 0; j < NO; j++) {
                *reinterpret_cast<uint32_t *>(orow + j * 8 + 2 * q) =
                    pack_bf16x2(o[mt][j][2 * r] * inv, o[mt][j][2 * r + 1] * inv);
            }
            if (q == 0) lse[(size_t)bh * T + t] = m[mt][r] * ATT_LN2 + logf(l[mt][r]);
        }
    }
}

// dK, dV. grid (ceil(T/(64 MT)) key tiles, B*NH), 4 warps; warp w owns MT m-tiles of 16 keys,
// keys kt*64MT + 64mt + 16w + {g, g+8}, as the rows of every product. Loops over query tiles of BQ
// (double-buffered Q, dO, lse, D), each in chunks of 16 queries: S^T = K Q^T and dP^T = V dO^T
// (A = K, V rows: ldmatrix, kept in registers when KV_REG; B = Q, dO rows, n-major: ldmatrix),
// P^T = 2^(sl2 S^T - log2e lse[query]) (causal: query >= key), dS^T = P^T (dP^T - D[query]); then
// the accumulators re-pack as A fragments (keys x 16 queries) of dV += P^T dO and dK += dS^T Q
// (B = dO, Q rows, k-major: ldmatrix.trans). Every B fragment feeds MT m-tiles.
// smem: K, V [64MT][LD]; Q, dO [2][BQ][LD]; lse, D [2][BQ] fp32.
template <int HS, int BQ, int MT, bool KV_REG>
__global__ void __launch_bounds__(32 * ATT_TC_WARPS)
    attention_backward_dkdv_fast_kernel(__nv_bfloat16 *dqkv, const __nv_bfloat16 *dout, const __nv_bfloat16 *qkv,
                                        const float *lse, const float *Dbuf, int T, int C, int NH) {
    constexpr int LD = HS + 8, KS = HS / 16, NO = HS / 8, QTILE = BQ * LD, RB = 64 * MT;
    static_assert(BQ % 16 == 0 && 2 * BQ <= 32 * ATT_TC_WARPS, "lse/D copy: one value per thread");
    extern __shared__ __align__(16) unsigned char att_smem_raw[];
    __nv_bfloat16 *Ks = reinterpret_cast<__nv_bfloat16 *>(att_smem_raw); // [RB][LD]
    __nv_bfloat16 *Vs = Ks + RB * LD;                                      // [RB][LD]
    __nv_bfloat16 *Qs = Vs + RB * LD;                                      // [2][BQ][LD]
    __nv_bfloat16 *dOs = Qs + 2 * QTILE;                                   // [2][BQ][LD]
    float *lse_s = reinterpret_cast<float *>(dOs + 2 * QTILE);            // [2][BQ]
    float *D_s = lse_s + 2 * BQ;                                           // [2][BQ]
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    const int kt = blockIdx.x; // low key tiles see the most queries: launched first
    const int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    const size_t C3 = 3 * (size_t)C;
    const __nv_bfloat16 *qbase = qkv + (size_t)b * T * C3 + (size_t)h * HS;
    const __nv_bfloat16 *kbase = qbase + C;
    const __nv_bfloat16 *vbase = qbase + 2 * (size_t)C;
    const __nv_bfloat16 *dobase = dout + (size_t)b * T * C + (size_t)h * HS;
    const float *lse_bh = lse + (size_t)bh * T;
    const float *D_bh = Dbuf + (size_t)bh * T;
    const float scale = 1.0f / sqrtf((float)HS), sl2 = scale * ATT_LOG2E;
    int key0[MT];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) key0[mt] = kt * RB + mt * 64 + warp * 16;
    const int first_qt = (kt * RB) / BQ;
    const int num_qt = (T + BQ - 1) / BQ;

    // copies of query tile qt into buffer buf (Q, dO rows; lse, D values: thread i < BQ takes
    // lse of query i, BQ <= i < 2 BQ takes D of query i - BQ)
    auto issue_q = [&](int qt, int buf) {
        att_tile_async<HS, BQ>(Qs + buf * QTILE, qbase, C3, qt * BQ, T);
        att_tile_async<HS, BQ>(dOs + buf * QTILE, dobase, (size_t)C, qt * BQ, T);
        const int i = threadIdx.x;
        if (i < 2 * BQ) {
            const int ii = i < BQ ? i : i - BQ, t = qt * BQ + ii;
            const float *src = (i < BQ ? lse_bh : D_bh) + (t < T ? t : 0);
            att_cp4((i < BQ ? lse_s : D_s) + buf * BQ + ii, src, t < T);
        }
    };
    att_tile_async<HS, RB>(Ks, kbase, C3, kt * RB, T);
    att_tile_async<HS, RB>(Vs, vbase, C3, kt * RB, T);
    issue_q(first_qt, 0);
    att_cp_commit();

    // K fragments in registers when KV_REG, V fragments too when MT == 1 (MT = 2 would spill)
    constexpr bool V_REG = KV_REG && MT == 1;
    constexpr int KR = KV_REG ? MT : 1, KSR = KV_REG ? KS : 1, VR = V_REG ? MT : 1, VSR = V_REG ? KS : 1;
    uint32_t kf[KR][KSR][4], vf[VR][VSR][4];
    float dk[MT][NO][4], dv[MT][NO][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int j = 0; j < NO; j++) {
            dk[mt][j][0] = dk[mt][j][1] = dk[mt][j][2] = dk[mt][j][3] = 0.0f;
            dv[mt][j][0] = dv[mt][j][1] = dv[mt][j][2] = dv[mt][j][3] = 0.0f;
        }
    }
    for (int qt = first_qt; qt < num_qt; qt++) {
        const int buf = (qt - first_qt) & 1;
        att_cp_wait_all();
        __syncthreads(); // tile qt visible to all; everyone done with tile qt-1 (buffer buf ^ 1)
        if (qt + 1 < num_qt) {
            issue_q(qt + 1, buf ^ 1);
            att_cp_commit();
        }
        if (KV_REG && qt == first_qt) {
#pragma unroll
            for (int mt = 0; mt < KR; mt++) {
#pragma unroll
                for (int kk = 0; kk < KSR; kk++) ldsm_a(kf[mt][kk], Ks, LD, mt * 64 + warp * 16, kk * 16, lane);
            }
            if (V_REG) {
#pragma unroll
                for (int mt = 0; mt < VR; mt++) {
#pragma unroll
                    for (int kk = 0; kk < VSR; kk++) ldsm_a(vf[mt][kk], Vs, LD, mt * 64 + warp * 16, kk * 16, lane);
                }
            }
        }
        const __nv_bfloat16 *Qb = Qs + buf * QTILE, *dOb = dOs + buf * QTILE;
        const float *lb = lse_s + buf * BQ, *Db = D_s + buf * BQ;
#pragma unroll
        for (int kq = 0; kq < BQ / 16; kq++) {
            const int c0 = qt * BQ + kq * 16; // first query of the chunk
            bool act[MT];                     // m-tile has a key at or before some query of the chunk
#pragma unroll
            for (int mt = 0; mt < MT; mt++) act[mt] = c0 + 15 >= key0[mt];
            if (!act[0]) continue; // (m-tile 0 has the earliest keys)
            float st[MT][2][4], dpt[MT][2][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
#pragma unroll
                for (int i = 0; i < 4; i++) st[mt][0][i] = st[mt][1][i] = dpt[mt][0][i] = dpt[mt][1][i] = 0.0f;
            }
#pragma unroll
            for (int kk = 0; kk < KS; kk++) {
                uint32_t bq[4], bo[4];
                ldsm_b_nmajor2(bq, Qb, LD, kq * 16, kk * 16, lane);
                ldsm_b_nmajor2(bo, dOb, LD, kq * 16, kk * 16, lane);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    if (!act[mt]) continue;
                    uint32_t ka[4], va[4];
                    if (KV_REG) {
#pragma unroll
                        for (int i = 0; i < 4; i++) ka[i] = kf[KV_REG ? mt : 0][KV_REG ? kk : 0][i];
                    } else {
                        ldsm_a(ka, Ks, LD, mt * 64 + warp * 16, kk * 16, lane);
                    }
                    if (V_REG) {
#pragma unroll
                        for (int i = 0; i < 4; i++) va[i] = vf[V_REG ? mt : 0][V_REG ? kk : 0][i];
                    } else {
                        ldsm_a(va, Vs, LD, mt * 64 + warp * 16, kk * 16, lane);
                    }
                    mma_16816(st[mt][0], ka, bq);
                    mma_16816(st[mt][1], ka, bq + 2);
                    mma_16816(dpt[mt][0], va, bo);
                    mma_16816(dpt[mt][1], va, bo + 2);
                }
            }
            uint32_t pa[MT][4], sa[MT][4];
#pragma unroll
            for (int nt = 0; nt < 2; nt++) {
                const int col = kq * 16 + nt * 8 + 2 * q; // this thread's query columns col, col + 1
                const float2 L = *reinterpret_cast<const float2 *>(lb + col);
                const float2 Dd = *reinterpret_cast<const float2 *>(Db + col);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    const bool need_mask = c0 < key0[mt] + 15 || c0 + 15 >= T; // straddles the diagonal or T
#pragma unroll
                    for (int i = 0; i < 4; i++) {
                        const float Lv = (i & 1) ? L.y : L.x, Dv = (i & 1) ? Dd.y : Dd.x;
                        float p = att_exp2(st[mt][nt][i] * sl2 - Lv * ATT_LOG2E);
                        if (need_mask) {
                            const int t = qt * BQ + col + (i & 1);
                            if (!(t < T && t >= key0[mt] + g + 8 * (i >> 1))) p = 0.0f;
                        }
                        st[mt][nt][i] = p;
                        dpt[mt][nt][i] = p * (dpt[mt][nt][i] - Dv);
                    }
                }
            }
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                frag_a_from_acc(pa[mt], st[mt][0], st[mt][1]);
                frag_a_from_acc(sa[mt], dpt[mt][0], dpt[mt][1]);
            }
#pragma unroll
            for (int jp = 0; jp < NO / 2; jp++) {
                uint32_t bo[4], bq[4];
                ldsm_b_kmajor2(bo, dOb, LD, kq * 16, jp * 16, lane);
                ldsm_b_kmajor2(bq, Qb, LD, kq * 16, jp * 16, lane);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    if (!act[mt]) continue;
                    mma_16816(dv[mt][2 * jp], pa[mt], bo);
                    mma_16816(dv[mt][2 * jp + 1], pa[mt], bo + 2);
                    mma_16816(dk[mt][2 * jp], sa[mt], bq);
                    mma_16816(dk[mt][2 * jp + 1], sa[mt], bq + 2);
                }
            }
        }
    }
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int t2 = key0[mt] + g + 8 * r;
            if (t2 >= T) continue;
            __nv_bfloat16 *dkrow = dqkv + ((size_t)b * T + t2) * C3 + C + (size_t)h * HS;
            __nv_bfloat16 *dvrow = dkrow + C;
#pragma unroll
            for (int j = 0; j < NO; j++) {
                *reinterpret_cast<uint32_t *>(dkrow + j * 8 + 2 * q) =
                    pack_bf16x2(dk[mt][j][2 * r] * scale, dk[mt][j][2 * r + 1] * scale);
                *reinterpret_cast<uint32_t *>(dvrow + j * 8 + 2 * q) =
                    pack_bf16x2(dv[mt][j][2 * r], dv[mt][j][2 * r + 1]);
            }
        }
    }
}

// dQ. grid (ceil(T/(64 MT)) query tiles, B*NH), 4 warps; warp w owns MT m-tiles of 16 queries,
// rows qt*64MT + 64mt + 16w + {g, g+8} (A = Q, dO fragments in registers for the whole loop; with
// MT = 2 every K/V fragment read from shared memory feeds two m-tiles, as in the forward).
// Loops over key tiles of BK up to the block's last row < T (double-buffered K, V), each in
// chunks of 16 keys: S = Q K^T, dP = dO V^T (B = K, V rows, n-major: ldmatrix), dS = P (dP - D)
// with P = 2^(sl2 S - log2e lse); dQ += dS K (A = dS re-packed from the accumulators, B = K rows,
// k-major: ldmatrix.trans), scaled at the end. Chunks after every row of an m-tile are skipped.
// smem: Q, dO [64MT][LD]; K, V [2][BK][LD].
template <int HS, int BK, int MT>
__global__ void __launch_bounds__(32 * ATT_TC_WARPS)
    attention_backward_dq_fast_kernel(__nv_bfloat16 *dqkv, const __nv_bfloat16 *dout, const __nv_bfloat16 *qkv,
                                      const float *lse, const float *Dbuf, int T, int C, int NH) {
    constexpr int LD = HS + 8, KS = HS / 16, NO = HS / 8, KTILE = BK * LD, RB = 64 * MT;
    static_assert(BK % 16 == 0, "16-key chunks");
    extern __shared__ __align__(16) unsigned char att_smem_raw[];
    __nv_bfloat16 *Qs = reinterpret_cast<__nv_bfloat16 *>(att_smem_raw); // [RB][LD]
    __nv_bfloat16 *dOs = Qs + RB * LD;                                     // [RB][LD]
    __nv_bfloat16 *Ks = dOs + RB * LD;                                     // [2][BK][LD]
    __nv_bfloat16 *Vs = Ks + 2 * KTILE;                                    // [2][BK][LD]
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    const int qt = gridDim.x - 1 - blockIdx.x; // heaviest first
    const int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    const size_t C3 = 3 * (size_t)C;
    const __nv_bfloat16 *qbase = qkv + (size_t)b * T * C3 + (size_t)h * HS;
    const __nv_bfloat16 *kbase = qbase + C;
    const __nv_bfloat16 *vbase = qbase + 2 * (size_t)C;
    const __nv_bfloat16 *dobase = dout + (size_t)b * T * C + (size_t)h * HS;
    const float scale = 1.0f / sqrtf((float)HS), sl2 = scale * ATT_LOG2E;
    int row0[MT];
    float lse2[MT][2], D_r[MT][2]; // lse in log2 units
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        row0[mt] = qt * RB + mt * 64 + warp * 16;
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int t = row0[mt] + g + 8 * r;
            lse2[mt][r] = t < T ? lse[(size_t)bh * T + t] * ATT_LOG2E : 0.0f;
            D_r[mt][r] = t < T ? Dbuf[(size_t)bh * T + t] : 0.0f;
        }
    }
    att_tile_async<HS, RB>(Qs, qbase, C3, qt * RB, T);
    att_tile_async<HS, RB>(dOs, dobase, (size_t)C, qt * RB, T);
    att_tile_async<HS, BK>(Ks, kbase, C3, 0, T);
    att_tile_async<HS, BK>(Vs, vbase, C3, 0, T);
    att_cp_commit();

    uint32_t qa[MT][KS][4], oa[MT][KS][4];
    float dq[MT][NO][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int j = 0; j < NO; j++) dq[mt][j][0] = dq[mt][j][1] = dq[mt][j][2] = dq[mt][j][3] = 0.0f;
    }
    const int last_row = min(qt * RB + RB, T) - 1;
    const int last_kt = last_row / BK;
    att_cp_wait_all();
    __syncthreads();
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int kk = 0; kk < KS; kk++) {
            ldsm_a(qa[mt][kk], Qs, LD, mt * 64 + warp * 16, kk * 16, lane);
            ldsm_a(oa[mt][kk], dOs, LD, mt * 64 + warp * 16, kk * 16, lane);
        }
    }
    for (int kt = 0; kt <= last_kt; kt++) {
        const int buf = kt & 1;
        if (kt > 0) { // (tile 0, Q and dO: waited for above)
            att_cp_wait_all();
            __syncthreads(); // tile kt visible to all; everyone done with tile kt-1 (buffer buf ^ 1)
        }
        if (kt < last_kt) {
            att_tile_async<HS, BK>(Ks + (buf ^ 1) * KTILE, kbase, C3, (kt + 1) * BK, T);
            att_tile_async<HS, BK>(Vs + (buf ^ 1) * KTILE, vbase, C3, (kt + 1) * BK, T);
            att_cp_commit();
        }
        const __nv_bfloat16 *Kb = Ks + buf * KTILE, *Vb = Vs + buf * KTILE;
#pragma unroll
        for (int kc = 0; kc < BK / 16; kc++) {
            const int k0 = kt * BK + kc * 16; // first key of the chunk
            bool act[MT];                     // m-tile has a row at or after some key of the chunk
#pragma unroll
            for (int mt = 0; mt < MT; mt++) act[mt] = k0 <= row0[mt] + 15;
            if (!act[MT - 1]) continue; // (the last m-tile has the latest rows)
            float s[MT][2][4], dp[MT][2][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
#pragma unroll
                for (int i = 0; i < 4; i++) s[mt][0][i] = s[mt][1][i] = dp[mt][0][i] = dp[mt][1][i] = 0.0f;
            }
#pragma unroll
            for (int kk = 0; kk < KS; kk++) {
                uint32_t bk[4], bv[4];
                ldsm_b_nmajor2(bk, Kb, LD, kc * 16, kk * 16, lane);
                ldsm_b_nmajor2(bv, Vb, LD, kc * 16, kk * 16, lane);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    if (!act[mt]) continue;
                    mma_16816(s[mt][0], qa[mt][kk], bk);
                    mma_16816(s[mt][1], qa[mt][kk], bk + 2);
                    mma_16816(dp[mt][0], oa[mt][kk], bv);
                    mma_16816(dp[mt][1], oa[mt][kk], bv + 2);
                }
            }
            uint32_t sa[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                const bool need_mask = k0 + 15 > row0[mt] || k0 + 15 >= T; // straddles the diagonal or T
#pragma unroll
                for (int nt = 0; nt < 2; nt++) {
#pragma unroll
                    for (int i = 0; i < 4; i++) {
                        float p = att_exp2(s[mt][nt][i] * sl2 - lse2[mt][i >> 1]);
                        if (need_mask) {
                            const int key = k0 + nt * 8 + 2 * q + (i & 1);
                            if (!(key <= row0[mt] + g + 8 * (i >> 1) && key < T)) p = 0.0f;
                        }
                        s[mt][nt][i] = p * (dp[mt][nt][i] - D_r[mt][i >> 1]); // dS
                    }
                }
                frag_a_from_acc(sa[mt], s[mt][0], s[mt][1]);
            }
#pragma unroll
            for (int jp = 0; jp < NO / 2; jp++) {
                uint32_t bk[4];
                ldsm_b_kmajor2(bk, Kb, LD, kc * 16, jp * 16, lane);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    if (!act[mt]) continue;
                    mma_16816(dq[mt][2 * jp], sa[mt], bk);
                    mma_16816(dq[mt][2 * jp + 1], sa[mt], bk + 2);
                }
            }
        }
    }
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int t = row0[mt] + g + 8 * r;
            if (t >= T) continue;
            __nv_bfloat16 *dqrow = dqkv + ((size_t)b * T + t) * C3 + (size_t)h * HS;
#pragma unroll
            for (int j = 0; j < NO; j++) {
                *reinterpret_cast<uint32_t *>(dqrow + j * 8 + 2 * q) =
                    pack_bf16x2(dq[mt][j][2 * r] * scale, dq[mt][j][2 * r + 1] * scale);
            }
        }
    }
}

// Tiles and shared memory of the fast kernels. HS = 128 halves the streamed tiles (BQ, BK = 32)
// so that 3 blocks fit an SM's shared memory (the forward keeps 64-key tiles). MT (m-tiles of 16
// rows per warp) = 2 for HS = 64 in the forward, dQ and dK/dV (registers allow it, 233-249 of
// them, 2 blocks/SM; halves (dK/dV: 3/4) the ldmatrix traffic per mma), 1 for HS = 128 (the
// o / dq / dk+dv accumulators alone would take 128-256 registers).
// ATT_FAST_MT(HS) (forward, dQ) / ATT_FAST_MT_KV(HS) (dK, dV) override the defaults;
// dev/cuda/attention.cu validates and times the variants.
#ifndef ATT_FAST_MT
#define ATT_FAST_MT(HS) ((HS) == 64 ? 2 : 1)
#endif
#ifndef ATT_FAST_MT_KV
#define ATT_FAST_MT_KV(HS) ((HS) == 64 ? 2 : 1)
#endif
template <int HS, int MT, int MTKV = 1> struct AttFast {
    static constexpr int BQ = HS == 128 ? 32 : 64, BK = HS == 128 ? 32 : 64, LD = HS + 8;
    // dK/dV: MTKV m-tiles of keys per warp; K (and with MTKV = 1 V) A fragments in registers
    // when KV_REG (HS = 128: the dK/dV accumulators alone take 128 registers)
    static constexpr bool KV_REG = HS == 64;
    static constexpr size_t fwd_smem = (size_t)(64 * MT + 4 * 64) * LD * sizeof(__nv_bfloat16);
    static constexpr size_t dkdv_smem =
        (size_t)(2 * 64 * MTKV + 4 * BQ) * LD * sizeof(__nv_bfloat16) + (size_t)4 * BQ * sizeof(float);
    static constexpr size_t dq_smem = (size_t)(2 * 64 * MT + 4 * BK) * LD * sizeof(__nv_bfloat16);
};

template <int HS, int MT>
static void attention_forward_fast_launch(floatX *out, float *lse, const floatX *qkv, int B, int T, int C, int NH,
                                          cudaStream_t stream) {
    const size_t smem = AttFast<HS, MT>::fwd_smem;
    cudaCheck(cudaFuncSetAttribute(attention_forward_fast_kernel<HS, MT>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   (int)smem));
    dim3 grid((unsigned)ceil_div(T, 64 * MT), (unsigned)(B * NH));
    attention_forward_fast_kernel<HS, MT><<<grid, 32 * ATT_TC_WARPS, smem, stream>>>(out, lse, qkv, T, C, NH);
    CUDA_CHECK_LAST();
}

template <int HS, int MTKV>
static void attention_backward_dkdv_fast_launch(floatX *dqkv, const floatX *dout, const floatX *qkv, const float *lse,
                                                const float *Dbuf, int B, int T, int C, int NH, cudaStream_t stream) {
    typedef AttFast<HS, 1, MTKV> F;
    const size_t smem = F::dkdv_smem;
    cudaCheck(cudaFuncSetAttribute(attention_backward_dkdv_fast_kernel<HS, F::BQ, MTKV, F::KV_REG>,
                                   cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid((unsigned)ceil_div(T, 64 * MTKV), (unsigned)(B * NH));
    attention_backward_dkdv_fast_kernel<HS, F::BQ, MTKV, F::KV_REG><<<grid, 32 * ATT_TC_WARPS, smem, stream>>>(
        dqkv, dout, qkv, lse, Dbuf, T, C, NH);
    CUDA_CHECK_LAST();
}

template <int HS, int MT>
static void attention_backward_dq_fast_launch(floatX *dqkv, const floatX *dout, const floatX *qkv, const float *lse,
                                              const float *Dbuf, int B, int T, int C, int NH, cudaStream_t stream) {
    typedef AttFast<HS, MT> F;
    const size_t smem = F::dq_smem;
    cudaCheck(cudaFuncSetAttribute(attention_backward_dq_fast_kernel<HS, F::BK, MT>,
                                   cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid((unsigned)ceil_div(T, 64 * MT), (unsigned)(B * NH));
    attention_backward_dq_fast_kernel<HS, F::BK, MT><<<grid, 32 * ATT_TC_WARPS, smem, stream>>>(dqkv, dout, qkv, lse,
                                                                                               Dbuf, T, C, NH);
    CUDA_CHECK_LAST();
}

// mt (forward, dQ) / mtkv (dK, dV): m-tiles of 16 rows per warp; -1 = ATT_FAST_MT(HS) /
// ATT_FAST_MT_KV(HS), 1 / 2 = force (benchmarks; 2 only for HS = 64, HS = 128 always takes 1).
template <int HS>
static void attention_forward_fast(floatX *out, float *lse, const floatX *qkv, int B, int T, int C, int NH,
                                   cudaStream_t stream, int mt = -1) {
    if (mt < 0) mt = ATT_FAST_MT(HS);
    if (HS == 64 && mt == 2) attention_forward_fast_launch<HS, HS == 64 ? 2 : 1>(out, lse, qkv, B, T, C, NH, stream);
    else attention_forward_fast_launch<HS, 1>(out, lse, qkv, B, T, C, NH, stream);
}

// dqkv only (Dbuf already computed by attention_backward_D).
template <int HS>
static void attention_backward_fast(floatX *dqkv, const floatX *dout, const floatX *qkv, const float *lse,
                                    const float *Dbuf, int B, int T, int C, int NH, cudaStream_t stream, int mt = -1,
                                    int mtkv = -1) {
    if (mt < 0) mt = ATT_FAST_MT(HS);
    if (mtkv < 0) mtkv = ATT_FAST_MT_KV(HS);
    constexpr int M2 = HS == 64 ? 2 : 1;
    if (HS == 64 && mtkv == 2) attention_backward_dkdv_fast_launch<HS, M2>(dqkv, dout, qkv, lse, Dbuf, B, T, C, NH, stream);
    else attention_backward_dkdv_fast_launch<HS, 1>(dqkv, dout, qkv, lse, Dbuf, B, T, C, NH, stream);
    if (HS == 64 && mt == 2) attention_backward_dq_fast_launch<HS, M2>(dqkv, dout, qkv, lse, Dbuf, B, T, C, NH, stream);
    else attention_backward_dq_fast_launch<HS, 1>(dqkv, dout, qkv, lse, Dbuf, B, T, C, NH, stream);
}
#endif // !FLOATX_IS_FP32

#endif // LLMC_ATTENTION_FAST_CUH
