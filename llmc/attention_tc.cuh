/*
 * attention_tc.cuh: the tensor-core attention path (bf16 builds, HS = 64 or 128): mma.sync tiles,
 * the default in bf16 builds; llmc/attention.cuh states the contract and dispatches.
 */
#ifndef LLMC_ATTENTION_TC_CUH
#define LLMC_ATTENTION_TC_CUH

#include <math.h>

#include "cuda_common.h"

// ----------------------------------------------------------------------------
// Tensor-core path (bf16 builds, HS = 64 or 128)
//
// Fragment layouts of mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 (PTX ISA), with
// g = lane / 4 and q = lane % 4; a 32-bit register holds two bf16, the lower index in the low half:
//   A (16 x 16, row-major): a0 = (row g,   cols 2q, 2q+1)   a1 = (row g+8, cols 2q, 2q+1)
//                           a2 = (row g,   cols 2q+8, +9)   a3 = (row g+8, cols 2q+8, +9)
//   B (16 x 8, k x n):      b0 = (k 2q, 2q+1; col n = g)    b1 = (k 2q+8, 2q+9; col g)
//   C/D (16 x 8 fp32):      c0, c1 = (row g, cols 2q, 2q+1) c2, c3 = (row g+8, cols 2q, 2q+1)
// So the accumulator of two adjacent n-tiles (16 columns) re-packs in registers into the A
// fragment of the next product (P in P V, dS in dS K, ...), without going through memory.
// Shared-memory tiles are row-major with a row stride of HS + 8 elements: rows stay 16-byte
// aligned for vector stores, and the fragment loads below are free of bank conflicts
// (32-bit loads: bank = 4g + q + const; paired 16-bit loads: bank = 8q + g/2 + const).


#if !FLOATX_IS_FP32
#define ATT_TC_WARPS 4                 // 4 warps x 16 rows = 64-row tiles
#define ATT_TC_ROWS (16 * ATT_TC_WARPS)

__device__ __forceinline__ void mma_16816(float c[4], const uint32_t a[4], const uint32_t b[2]) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi); // .x (lo) in the low 16 bits
    return *reinterpret_cast<uint32_t *>(&v);
}
__device__ __forceinline__ uint32_t lds_u32(const __nv_bfloat16 *p) { return *reinterpret_cast<const uint32_t *>(p); }
__device__ __forceinline__ uint32_t lds_2x16(const __nv_bfloat16 *lo, const __nv_bfloat16 *hi) {
    uint32_t a = *reinterpret_cast<const unsigned short *>(lo);
    uint32_t b = *reinterpret_cast<const unsigned short *>(hi);
    return a | (b << 16);
}

// A fragment of rows row0..row0+15, cols k0..k0+15 of a row-major smem tile X (stride ld).
__device__ __forceinline__ void frag_a(uint32_t a[4], const __nv_bfloat16 *X, int ld, int row0, int k0, int g, int q) {
    const __nv_bfloat16 *r0 = X + (row0 + g) * ld + k0 + 2 * q;
    const __nv_bfloat16 *r1 = r0 + 8 * ld;
    a[0] = lds_u32(r0);
    a[1] = lds_u32(r1);
    a[2] = lds_u32(r0 + 8);
    a[3] = lds_u32(r1 + 8);
}
// B fragment (k0..k0+15) x (n0..n0+7) where the tile stores B transposed: X[n][k] (n-major),
// e.g. K (key, dim) as the B of Q K^T.
__device__ __forceinline__ void frag_b_nmajor(uint32_t b[2], const __nv_bfloat16 *X, int ld, int n0, int k0, int g,
                                              int q) {
    const __nv_bfloat16 *r = X + (n0 + g) * ld + k0 + 2 * q;
    b[0] = lds_u32(r);
    b[1] = lds_u32(r + 8);
}
// B fragment where the tile stores B as is: X[k][n] (k-major), e.g. V (key, dim) as the B of P V.
__device__ __forceinline__ void frag_b_kmajor(uint32_t b[2], const __nv_bfloat16 *X, int ld, int n0, int k0, int g,
                                              int q) {
    const __nv_bfloat16 *c = X + (k0 + 2 * q) * ld + n0 + g;
    b[0] = lds_2x16(c, c + ld);
    b[1] = lds_2x16(c + 8 * ld, c + 9 * ld);
}
// A fragment for k-step kk (16 columns) from fp32 accumulators acc[n-tile][4] (two n-tiles).
__device__ __forceinline__ void frag_a_from_acc(uint32_t a[4], const float lo_tile[4], const float hi_tile[4]) {
    a[0] = pack_bf16x2(lo_tile[0], lo_tile[1]);
    a[1] = pack_bf16x2(lo_tile[2], lo_tile[3]);
    a[2] = pack_bf16x2(hi_tile[0], hi_tile[1]);
    a[3] = pack_bf16x2(hi_tile[2], hi_tile[3]);
}

// Copies rows row0..row0+nrows-1 (HS bf16 each, global row stride `stride`) into a smem tile
// with row stride HS + 8; rows >= T are zero-filled (no NaN garbage reaches an mma).
template <int HS>
__device__ __forceinline__ void att_load_tile(__nv_bfloat16 *dst, const __nv_bfloat16 *src, size_t stride, int row0,
                                              int nrows, int T) {
    constexpr int VPR = HS / 8; // 16-byte vectors per row
    for (int idx = threadIdx.x; idx < nrows * VPR; idx += blockDim.x) {
        const int r = idx / VPR, cv = idx % VPR;
        const int row = row0 + r;
        int4 v = make_int4(0, 0, 0, 0);
        if (row < T) v = *reinterpret_cast<const int4 *>(src + (size_t)row * stride + cv * 8);
        *reinterpret_cast<int4 *>(dst + r * (HS + 8) + cv * 8) = v;
    }
}

// Register staging of one ROWS x HS tile for software pipelining: fetch() issues the global loads
// of the next tile (rows >= T give zeros) before the current tile is computed on, store() writes
// them to shared memory (row stride HS + 8) after the block has finished with the old contents.
// Thread i handles 16-byte vectors i, i + 128, ... (blockDim.x == 32 * ATT_TC_WARPS).
template <int HS, int ROWS> struct AttTileRegs {
    static constexpr int VPR = HS / 8;
    static constexpr int CNT = ROWS * VPR / (32 * ATT_TC_WARPS);
    static_assert((ROWS * VPR) % (32 * ATT_TC_WARPS) == 0, "tile must split evenly over the block");
    int4 v[CNT];
    __device__ __forceinline__ void fetch(const __nv_bfloat16 *src, size_t stride, int row0, int T) {
#pragma unroll
        for (int i = 0; i < CNT; i++) {
            const int idx = threadIdx.x + i * 32 * ATT_TC_WARPS;
            const int r = idx / VPR, cv = idx % VPR, row = row0 + r;
            v[i] = row < T ? *reinterpret_cast<const int4 *>(src + (size_t)row * stride + cv * 8) : make_int4(0, 0, 0, 0);
        }
    }
    __device__ __forceinline__ void store(__nv_bfloat16 *dst) const {
#pragma unroll
        for (int i = 0; i < CNT; i++) {
            const int idx = threadIdx.x + i * 32 * ATT_TC_WARPS;
            const int r = idx / VPR, cv = idx % VPR;
            *reinterpret_cast<int4 *>(dst + r * (HS + 8) + cv * 8) = v[i];
        }
    }
};

// Forward. grid (ceil(T/64) query tiles, B*NH), 4 warps; warp w owns query rows qt*64 + 16w + {g, g+8}.
// Key tiles of 64 from 0 to the diagonal tile; online softmax state (m, l) per row in registers.
template <int HS, bool PREFETCH>
__global__ void __launch_bounds__(32 * ATT_TC_WARPS)
    attention_forward_tc_kernel(__nv_bfloat16 *out, float *lse, const __nv_bfloat16 *qkv, int T, int C, int NH) {
    constexpr int LD = HS + 8, BK = 64, KS = HS / 16, NT = BK / 8, NO = HS / 8;
    extern __shared__ __align__(16) unsigned char att_smem_raw[];
    __nv_bfloat16 *Qs = reinterpret_cast<__nv_bfloat16 *>(att_smem_raw); // [64][LD]
    __nv_bfloat16 *Ks = Qs + ATT_TC_ROWS * LD;                             // [64][LD]
    __nv_bfloat16 *Vs = Ks + BK * LD;                                      // [64][LD]
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    const int qt = gridDim.x - 1 - blockIdx.x; // heaviest (last) query tiles first
    const int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    const size_t C3 = 3 * (size_t)C;
    const __nv_bfloat16 *qbase = qkv + (size_t)b * T * C3 + (size_t)h * HS;
    const __nv_bfloat16 *kbase = qbase + C;
    const __nv_bfloat16 *vbase = qbase + 2 * (size_t)C;
    const float scale = 1.0f / sqrtf((float)HS);
    const int row0 = qt * ATT_TC_ROWS + warp * 16; // this warp's first query row
    const int rows[2] = {row0 + g, row0 + g + 8};

    att_load_tile<HS>(Qs, qbase, C3, qt * ATT_TC_ROWS, ATT_TC_ROWS, T);
    __syncthreads();
    uint32_t qa[KS][4];
#pragma unroll
    for (int kk = 0; kk < KS; kk++) frag_a(qa[kk], Qs, LD, warp * 16, kk * 16, g, q);

    float o[NO][4];
#pragma unroll
    for (int j = 0; j < NO; j++) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};

    const int last_kt = (qt * ATT_TC_ROWS + ATT_TC_ROWS - 1) / BK; // == qt (BK == 64)
    AttTileRegs<HS, BK> kr, vr;
    if (PREFETCH) {
        kr.fetch(kbase, C3, 0, T);
        vr.fetch(vbase, C3, 0, T);
    }
    for (int kt = 0; kt <= last_kt; kt++) {
        __syncthreads(); // everyone is done with the previous K/V tile
        if (PREFETCH) {
            kr.store(Ks);
            vr.store(Vs);
        } else {
            att_load_tile<HS>(Ks, kbase, C3, kt * BK, BK, T);
            att_load_tile<HS>(Vs, vbase, C3, kt * BK, BK, T);
        }
        __syncthreads();
        if (PREFETCH && kt < last_kt) { // next tile's loads fly while this one is computed on
            kr.fetch(kbase, C3, (kt + 1) * BK, T);
            vr.fetch(vbase, C3, (kt + 1) * BK, T);
        }
        // S = Q K^T for 16 rows x 64 keys
        float s[NT][4];
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
#pragma unroll
            for (int kk = 0; kk < KS; kk++) {
                uint32_t bf[2];
                frag_b_nmajor(bf, Ks, LD, nt * 8, kk * 16, g, q);
                mma_16816(s[nt], qa[kk], bf);
            }
        }
        // scale, causal mask, tile row max
        const bool diag = kt * BK + BK - 1 > row0; // some key of this tile may lie after a row
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int key = kt * BK + nt * 8 + 2 * q + (i & 1);
                float v = s[nt][i] * scale;
                if (diag && key > rows[i >> 1]) v = -INFINITY;
                s[nt][i] = v;
                mx[i >> 1] = fmaxf(mx[i >> 1], v);
            }
        }
        float corr[2], mnew[2], ls[2] = {0.0f, 0.0f};
#pragma unroll
        for (int r = 0; r < 2; r++) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xFFFFFFFFu, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xFFFFFFFFu, mx[r], 2));
            mnew[r] = fmaxf(m[r], mx[r]); // finite: key kt*64 <= every row of this tile
            corr[r] = fast_expf(m[r] - mnew[r]);
        }
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const float p = fast_expf(s[nt][i] - mnew[i >> 1]); // masked: exp(-inf) = 0
                s[nt][i] = p;
                ls[i >> 1] += p;
            }
        }
#pragma unroll
        for (int r = 0; r < 2; r++) {
            ls[r] += __shfl_xor_sync(0xFFFFFFFFu, ls[r], 1);
            ls[r] += __shfl_xor_sync(0xFFFFFFFFu, ls[r], 2);
            l[r] = l[r] * corr[r] + ls[r];
            m[r] = mnew[r];
        }
#pragma unroll
        for (int j = 0; j < NO; j++) {
            o[j][0] *= corr[0];
            o[j][1] *= corr[0];
            o[j][2] *= corr[1];
            o[j][3] *= corr[1];
        }
        // O += P V: P (16 x 64 keys) from registers, V tile k-major (key, dim)
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++) {
            uint32_t pa[4];
            frag_a_from_acc(pa, s[2 * kk], s[2 * kk + 1]);
#pragma unroll
            for (int j = 0; j < NO; j++) {
                uint32_t bf[2];
                frag_b_kmajor(bf, Vs, LD, j * 8, kk * 16, g, q);
                mma_16816(o[j], pa, bf);
            }
        }
    }
    // normalise and store: out (B,T,C) row (b, t), head h, dims j*8 + 2q, +1
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int t = rows[r];
        if (t >= T) continue;
        const float inv = 1.0f / l[r];
        __nv_bfloat16 *orow = out + ((size_t)b * T + t) * C + (size_t)h * HS;
#pragma unroll
        for (int j = 0; j < NO; j++) {
            *reinterpret_cast<uint32_t *>(orow + j * 8 + 2 * q) = pack_bf16x2(o[j][2 * r] * inv, o[j][2 * r + 1] * inv);
        }
        if (q == 0) lse[(size_t)bh * T + t] = m[r] + logf(l[r]);
    }
}

// dK, dV. grid (ceil(T/64) key tiles, B*NH), 4 warps; warp w owns keys kt*64 + 16w + {g, g+8}.
// Loops over the query tiles (BQ rows) at or after the key tile. Per tile, with the warp's keys
// as rows: S^T = K Q^T, dP^T = V dO^T, P^T = exp(scale S^T - lse[query]) (causal: query >= key),
// dS^T = P^T (dP^T - D[query]); dV += P^T dO, dK += dS^T Q (scaled at the end).
template <int HS, int BQ, bool PREFETCH>
__global__ void __launch_bounds__(32 * ATT_TC_WARPS)
    attention_backward_dkdv_tc_kernel(__nv_bfloat16 *dqkv, const __nv_bfloat16 *dout, const __nv_bfloat16 *qkv,
                                      const float *lse, const float *Dbuf, int T, int C, int NH) {
    constexpr int LD = HS + 8, KS = HS / 16, NT = BQ / 8, NO = HS / 8;
    extern __shared__ __align__(16) unsigned char att_smem_raw[];
    __nv_bfloat16 *Ks = reinterpret_cast<__nv_bfloat16 *>(att_smem_raw); // [64][LD]
    __nv_bfloat16 *Vs = Ks + ATT_TC_ROWS * LD;                             // [64][LD]
    __nv_bfloat16 *Qs = Vs + ATT_TC_ROWS * LD;                             // [BQ][LD]
    __nv_bfloat16 *dOs = Qs + BQ * LD;                                     // [BQ][LD]
    float *lse_s = reinterpret_cast<float *>(dOs + BQ * LD);              // [BQ]
    float *D_s = lse_s + BQ;                                               // [BQ]
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
    const float scale = 1.0f / sqrtf((float)HS);
    const int key0 = kt * ATT_TC_ROWS + warp * 16;
    const int keys[2] = {key0 + g, key0 + g + 8};

    att_load_tile<HS>(Ks, kbase, C3, kt * ATT_TC_ROWS, ATT_TC_ROWS, T);
    att_load_tile<HS>(Vs, vbase, C3, kt * ATT_TC_ROWS, ATT_TC_ROWS, T);

    float dk[NO][4], dv[NO][4];
#pragma unroll
    for (int j = 0; j < NO; j++) {
        dk[j][0] = dk[j][1] = dk[j][2] = dk[j][3] = 0.0f;
        dv[j][0] = dv[j][1] = dv[j][2] = dv[j][3] = 0.0f;
    }
    const int first_qt = (kt * ATT_TC_ROWS) / BQ;
    const int num_qt = (T + BQ - 1) / BQ;
    AttTileRegs<HS, BQ> qr, dr;
    if (PREFETCH) {
        qr.fetch(qbase, C3, first_qt * BQ, T);
        dr.fetch(dobase, (size_t)C, first_qt * BQ, T);
    }
    for (int qt = first_qt; qt < num_qt; qt++) {
        __syncthreads(); // previous Q/dO tile no longer in use (and K/V loads above ordered)
        if (PREFETCH) {
            qr.store(Qs);
            dr.store(dOs);
        } else {
            att_load_tile<HS>(Qs, qbase, C3, qt * BQ, BQ, T);
            att_load_tile<HS>(dOs, dobase, (size_t)C, qt * BQ, BQ, T);
        }
        for (int i = threadIdx.x; i < BQ; i += blockDim.x) {
            const int t = qt * BQ + i;
            lse_s[i] = t < T ? lse_bh[t] : 0.0f;
            D_s[i] = t < T ? D_bh[t] : 0.0f;
        }
        __syncthreads();
        if (PREFETCH && qt + 1 < num_qt) { // prefetch the next query tile during this one's math
            qr.fetch(qbase, C3, (qt + 1) * BQ, T);
            dr.fetch(dobase, (size_t)C, (qt + 1) * BQ, T);
        }
        float st[NT][4], dpt[NT][4];
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            st[nt][0] = st[nt][1] = st[nt][2] = st[nt][3] = 0.0f;
            dpt[nt][0] = dpt[nt][1] = dpt[nt][2] = dpt[nt][3] = 0.0f;
        }
#pragma unroll
        for (int kk = 0; kk < KS; kk++) {
            uint32_t ka[4], va[4];
            frag_a(ka, Ks, LD, warp * 16, kk * 16, g, q);
            frag_a(va, Vs, LD, warp * 16, kk * 16, g, q);
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
                uint32_t bq[2], bo[2];
                frag_b_nmajor(bq, Qs, LD, nt * 8, kk * 16, g, q);
                frag_b_nmajor(bo, dOs, LD, nt * 8, kk * 16, g, q);
                mma_16816(st[nt], ka, bq);
                mma_16816(dpt[nt], va, bo);
            }
        }
        // P^T and dS^T (rows = keys, cols = queries of this tile)
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int qc = nt * 8 + 2 * q + (i & 1);
                const int t = qt * BQ + qc;
                const bool live = t < T && t >= keys[i >> 1];
                const float p = live ? fast_expf(st[nt][i] * scale - lse_s[qc]) : 0.0f;
                st[nt][i] = p;
                dpt[nt][i] = p * (dpt[nt][i] - D_s[qc]);
            }
        }
        // dV += P^T dO ; dK += dS^T Q   (k = queries of the tile, k-major tiles Qs / dOs)
#pragma unroll
        for (int kq = 0; kq < BQ / 16; kq++) {
            uint32_t pa[4], sa[4];
            frag_a_from_acc(pa, st[2 * kq], st[2 * kq + 1]);
            frag_a_from_acc(sa, dpt[2 * kq], dpt[2 * kq + 1]);
#pragma unroll
            for (int j = 0; j < NO; j++) {
                uint32_t bo[2], bq[2];
                frag_b_kmajor(bo, dOs, LD, j * 8, kq * 16, g, q);
                frag_b_kmajor(bq, Qs, LD, j * 8, kq * 16, g, q);
                mma_16816(dv[j], pa, bo);
                mma_16816(dk[j], sa, bq);
            }
        }
    }
    // store dK (scaled) and dV of this warp's keys
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int t2 = keys[r];
        if (t2 >= T) continue;
        __nv_bfloat16 *dkrow = dqkv + ((size_t)b * T + t2) * C3 + C + (size_t)h * HS;
        __nv_bfloat16 *dvrow = dkrow + C;
#pragma unroll
        for (int j = 0; j < NO; j++) {
            *reinterpret_cast<uint32_t *>(dkrow + j * 8 + 2 * q) =
                pack_bf16x2(dk[j][2 * r] * scale, dk[j][2 * r + 1] * scale);
            *reinterpret_cast<uint32_t *>(dvrow + j * 8 + 2 * q) = pack_bf16x2(dv[j][2 * r], dv[j][2 * r + 1]);
        }
    }
}

// dQ. grid (ceil(T/64) query tiles, B*NH), 4 warps; warp w owns queries qt*64 + 16w + {g, g+8}.
// Loops over key tiles (BK keys) up to the diagonal: S = Q K^T, dP = dO V^T, P = exp(scale S - lse),
// dS = P (dP - D); dQ += dS K (scaled at the end).
template <int HS, int BK, bool PREFETCH>
__global__ void __launch_bounds__(32 * ATT_TC_WARPS)
    attention_backward_dq_tc_kernel(__nv_bfloat16 *dqkv, const __nv_bfloat16 *dout, const __nv_bfloat16 *qkv,
                                    const float *lse, const float *Dbuf, int T, int C, int NH) {
    constexpr int LD = HS + 8, KS = HS / 16, NT = BK / 8, NO = HS / 8;
    extern __shared__ __align__(16) unsigned char att_smem_raw[];
    __nv_bfloat16 *Qs = reinterpret_cast<__nv_bfloat16 *>(att_smem_raw); // [64][LD]
    __nv_bfloat16 *dOs = Qs + ATT_TC_ROWS * LD;                            // [64][LD]
    __nv_bfloat16 *Ks = dOs + ATT_TC_ROWS * LD;                            // [BK][LD]
    __nv_bfloat16 *Vs = Ks + BK * LD;                                      // [BK][LD]
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    const int qt = gridDim.x - 1 - blockIdx.x; // heaviest first
    const int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    const size_t C3 = 3 * (size_t)C;
    const __nv_bfloat16 *qbase = qkv + (size_t)b * T * C3 + (size_t)h * HS;
    const __nv_bfloat16 *kbase = qbase + C;
    const __nv_bfloat16 *vbase = qbase + 2 * (size_t)C;
    const __nv_bfloat16 *dobase = dout + (size_t)b * T * C + (size_t)h * HS;
    const float scale = 1.0f / sqrtf((float)HS);
    const int row0 = qt * ATT_TC_ROWS + warp * 16;
    const int rows[2] = {row0 + g, row0 + g + 8};
    float lse_r[2], D_r[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        lse_r[r] = rows[r] < T ? lse[(size_t)bh * T + rows[r]] : 0.0f;
        D_r[r] = rows[r] < T ? Dbuf[(size_t)bh * T + rows[r]] : 0.0f;
    }
    att_load_tile<HS>(Qs, qbase, C3, qt * ATT_TC_ROWS, ATT_TC_ROWS, T);
    att_load_tile<HS>(dOs, dobase, (size_t)C, qt * ATT_TC_ROWS, ATT_TC_ROWS, T);

    float dq[NO][4];
#pragma unroll
    for (int j = 0; j < NO; j++) dq[j][0] = dq[j][1] = dq[j][2] = dq[j][3] = 0.0f;
    const int last_row = min(qt * ATT_TC_ROWS + ATT_TC_ROWS, T) - 1;
    const int last_kt = last_row / BK;
    AttTileRegs<HS, BK> kr, vr;
    if (PREFETCH) {
        kr.fetch(kbase, C3, 0, T);
        vr.fetch(vbase, C3, 0, T);
    }
    for (int kt = 0; kt <= last_kt; kt++) {
        __syncthreads(); // previous K/V tile no longer in use (and Q/dO loads above ordered)
        if (PREFETCH) {
            kr.store(Ks);
            vr.store(Vs);
        } else {
            att_load_tile<HS>(Ks, kbase, C3, kt * BK, BK, T);
            att_load_tile<HS>(Vs, vbase, C3, kt * BK, BK, T);
        }
        __syncthreads();
        if (PREFETCH && kt < last_kt) {
            kr.fetch(kbase, C3, (kt + 1) * BK, T);
            vr.fetch(vbase, C3, (kt + 1) * BK, T);
        }
        float s[NT][4], dp[NT][4];
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
            dp[nt][0] = dp[nt][1] = dp[nt][2] = dp[nt][3] = 0.0f;
        }
#pragma unroll
        for (int kk = 0; kk < KS; kk++) {
            uint32_t qa[4], oa[4];
            frag_a(qa, Qs, LD, warp * 16, kk * 16, g, q);
            frag_a(oa, dOs, LD, warp * 16, kk * 16, g, q);
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
                uint32_t bk[2], bv[2];
                frag_b_nmajor(bk, Ks, LD, nt * 8, kk * 16, g, q);
                frag_b_nmajor(bv, Vs, LD, nt * 8, kk * 16, g, q);
                mma_16816(s[nt], qa, bk);
                mma_16816(dp[nt], oa, bv);
            }
        }
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int key = kt * BK + nt * 8 + 2 * q + (i & 1);
                const bool live = key <= rows[i >> 1] && key < T;
                const float p = live ? fast_expf(s[nt][i] * scale - lse_r[i >> 1]) : 0.0f;
                s[nt][i] = p * (dp[nt][i] - D_r[i >> 1]); // dS
            }
        }
        // dQ += dS K: k = keys of the tile, K tile k-major (key, dim)
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++) {
            uint32_t sa[4];
            frag_a_from_acc(sa, s[2 * kk], s[2 * kk + 1]);
#pragma unroll
            for (int j = 0; j < NO; j++) {
                uint32_t bk[2];
                frag_b_kmajor(bk, Ks, LD, j * 8, kk * 16, g, q);
                mma_16816(dq[j], sa, bk);
            }
        }
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int t = rows[r];
        if (t >= T) continue;
        __nv_bfloat16 *dqrow = dqkv + ((size_t)b * T + t) * C3 + (size_t)h * HS;
#pragma unroll
        for (int j = 0; j < NO; j++) {
            *reinterpret_cast<uint32_t *>(dqrow + j * 8 + 2 * q) =
                pack_bf16x2(dq[j][2 * r] * scale, dq[j][2 * r + 1] * scale);
        }
    }
}

// Tile sizes per head size: the second tile dimension shrinks for HS = 128 to bound registers.
template <int HS> struct AttTC {
    static constexpr int BQ_DKDV = HS == 128 ? 32 : 64;
    static constexpr int BK_DQ = HS == 128 ? 32 : 64;
    static constexpr size_t fwd_smem = (size_t)3 * ATT_TC_ROWS * (HS + 8) * sizeof(__nv_bfloat16);
    static constexpr size_t dkdv_smem =
        (size_t)(2 * ATT_TC_ROWS + 2 * BQ_DKDV) * (HS + 8) * sizeof(__nv_bfloat16) + 2 * BQ_DKDV * sizeof(float);
    static constexpr size_t dq_smem = (size_t)(2 * ATT_TC_ROWS + 2 * BK_DQ) * (HS + 8) * sizeof(__nv_bfloat16);
};

// Default for the register prefetch of the next tile (see AttTileRegs): on for the HS = 64 forward
// (no occupancy cost: 3 blocks/SM either way), off where its registers would cost occupancy or
// spill. dev/cuda/attention.cu times both variants.
#ifndef ATT_PREFETCH_FWD
#define ATT_PREFETCH_FWD(HS) ((HS) == 64)
#endif
#ifndef ATT_PREFETCH_BWD
#define ATT_PREFETCH_BWD(HS) ((HS) == 64) // H200, B=64 T=1024 HS=64: 2.43 ms vs 3.27 ms without
#endif

template <int HS, bool PREFETCH>
static void attention_forward_tc_launch(floatX *out, float *lse, const floatX *qkv, int B, int T, int C, int NH,
                                        cudaStream_t stream) {
    const size_t smem = AttTC<HS>::fwd_smem;
    cudaCheck(cudaFuncSetAttribute(attention_forward_tc_kernel<HS, PREFETCH>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   (int)smem));
    dim3 grid((unsigned)ceil_div(T, ATT_TC_ROWS), (unsigned)(B * NH));
    attention_forward_tc_kernel<HS, PREFETCH><<<grid, 32 * ATT_TC_WARPS, smem, stream>>>(out, lse, qkv, T, C, NH);
    CUDA_CHECK_LAST();
}

template <int HS, bool PREFETCH>
static void attention_backward_tc_launch(floatX *dqkv, const floatX *dout, const floatX *qkv, const float *lse,
                                         const float *Dbuf, int B, int T, int C, int NH, cudaStream_t stream) {
    constexpr int BQ = AttTC<HS>::BQ_DKDV, BK = AttTC<HS>::BK_DQ;
    const size_t smem_kv = AttTC<HS>::dkdv_smem, smem_q = AttTC<HS>::dq_smem;
    cudaCheck(cudaFuncSetAttribute(attention_backward_dkdv_tc_kernel<HS, BQ, PREFETCH>,
                                   cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem_kv));
    cudaCheck(cudaFuncSetAttribute(attention_backward_dq_tc_kernel<HS, BK, PREFETCH>,
                                   cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem_q));
    dim3 grid((unsigned)ceil_div(T, ATT_TC_ROWS), (unsigned)(B * NH));
    attention_backward_dkdv_tc_kernel<HS, BQ, PREFETCH><<<grid, 32 * ATT_TC_WARPS, smem_kv, stream>>>(
        dqkv, dout, qkv, lse, Dbuf, T, C, NH);
    CUDA_CHECK_LAST();
    attention_backward_dq_tc_kernel<HS, BK, PREFETCH><<<grid, 32 * ATT_TC_WARPS, smem_q, stream>>>(dqkv, dout, qkv, lse,
                                                                                                 Dbuf, T, C, NH);
    CUDA_CHECK_LAST();
}

// prefetch: -1 = the default above, 0 / 1 = force (benchmarks).
template <int HS>
static void attention_forward_tc(floatX *out, float *lse, const floatX *qkv, int B, int T, int C, int NH,
                                 cudaStream_t stream, int prefetch = -1) {
    if (prefetch < 0) prefetch = ATT_PREFETCH_FWD(HS);
    if (prefetch) attention_forward_tc_launch<HS, true>(out, lse, qkv, B, T, C, NH, stream);
    else attention_forward_tc_launch<HS, false>(out, lse, qkv, B, T, C, NH, stream);
}

template <int HS>
static void attention_backward_tc(floatX *dqkv, const floatX *dout, const floatX *qkv, const float *lse,
                                  const float *Dbuf, int B, int T, int C, int NH, cudaStream_t stream,
                                  int prefetch = -1) {
    if (prefetch < 0) prefetch = ATT_PREFETCH_BWD(HS);
    if (prefetch) attention_backward_tc_launch<HS, true>(dqkv, dout, qkv, lse, Dbuf, B, T, C, NH, stream);
    else attention_backward_tc_launch<HS, false>(dqkv, dout, qkv, lse, Dbuf, B, T, C, NH, stream);
}
#endif // !FLOATX_IS_FP32

#endif // LLMC_ATTENTION_TC_CUH
