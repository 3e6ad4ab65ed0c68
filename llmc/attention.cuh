/*
 * attention.cuh: causal multi-head self-attention, flash-attention style: the T x T score matrix is
 * never written to memory; the backward rebuilds probabilities from Q, K and the saved lse
 * (CPU attention_forward / attention_backward).
 *
 *   attention_forward(out (B,T,C), lse (B,NH,T) fp32, qkv (B,T,3C), B, T, C, NH, stream)
 *       qkv rows are [Q | K | V], each C wide with heads contiguous (head h = channels h*HS..h*HS+HS-1,
 *       HS = C/NH). out = softmax(Q K^T / sqrt(HS), causal) V per head, heads contiguous;
 *       lse = natural log-sum-exp of each scaled, causal score row.
 *   attention_backward(dqkv (B,T,3C), dout (B,T,C), qkv, out, lse, scratch, B, T, C, NH, stream)
 *       dqkv is OVERWRITTEN (not accumulated): every element is written exactly once.
 *       With p = exp(scale q.k - lse), dp = dout.v, D = dout.out:  ds = p (dp - D);
 *       dq = scale ds K;  dk = scale ds^T Q;  dv = p^T dout.
 *       Deterministic, no atomics: one kernel computes D per row, one computes dK,dV per key
 *       (block) looping over the query (blocks) that see it, one computes dQ per query (block)
 *       looping over its keys. Scores are recomputed in both of the last two.
 *   attention_backward_scratch_bytes(B, T, C, NH): fp32 scratch (D, B*NH*T floats).
 *
 * Paths (same results up to rounding, chosen per call):
 *   - tensor cores (bf16 builds, HS = 64 or 128, 16-byte aligned tensors, C % 8 == 0):
 *     mma.sync m16n8k16 bf16 x bf16 -> fp32, 64-row tiles, online softmax in registers.
 *   - general SIMT path (fp32 builds, any other HS, any T): fp32 CUDA-core math, one warp per
 *     query (key) row, 32 keys (queries) per step, lanes own output dims (chunks of 128 dims, so
 *     any HS works).
 *   - fast tensor-core kernels (-DATT_FAST=1; off until validated on a GPU, see ATT_FAST): the
 *     same tiles and math, with ldmatrix(.trans) fragment loads, cp.async double-buffered tiles,
 *     base-2 softmax, 2 m-tiles of 16 rows per warp (HS = 64 forward and dQ: 128-row tiles), a
 *     16-row chunked backward that skips causally empty chunks. See "Fast tensor-core kernels".
 *   Define ATTENTION_FORCE_SIMT to always take the general path. ATT_PREFETCH_FWD(HS) /
 *   ATT_PREFETCH_BWD(HS) (macros, 0 or 1) choose whether the tensor-core kernels stage the next
 *   K/V (Q/dO) tile in registers while computing on the current one; defaults in the code.
 * All accumulation is fp32; T need not be a multiple of anything.
 */
#ifndef LLMC_ATTENTION_CUH
#define LLMC_ATTENTION_CUH

#include <math.h>

#include "cuda_common.h"

static size_t attention_backward_scratch_bytes(int B, int T, int C, int NH) {
    (void)C;
    return (size_t)B * NH * T * sizeof(float);
}

// ----------------------------------------------------------------------------
// General SIMT path

#define ATT_SIMT_WARPS 4

// fp32 dot product of two HS-long floatX rows (fixed order).
__device__ __forceinline__ float att_dot(const floatX *a, const floatX *b, int HS) {
    float s = 0.0f;
    for (int i = 0; i < HS; i++) s += to_float(a[i]) * to_float(b[i]);
    return s;
}

// Warp per query row (b, h, t). Lane `lane` scores key kb0 + lane; the 32 probabilities are then
// broadcast one by one and every lane accumulates its output dims d = d0 + lane + 32 j.
template <int DPL>
__global__ void __launch_bounds__(32 * ATT_SIMT_WARPS)
    attention_forward_simt_kernel(floatX *out, float *lse, const floatX *qkv, int B, int T, int C, int NH) {
    const int lane = threadIdx.x & 31;
    const size_t gw = (size_t)blockIdx.x * ATT_SIMT_WARPS + threadIdx.x / 32;
    if (gw >= (size_t)B * NH * T) return; // uniform per warp
    const int t = (int)(gw % T);
    const int bh = (int)(gw / T);
    const int h = bh % NH, b = bh / NH;
    const int HS = C / NH;
    const size_t C3 = 3 * (size_t)C;
    const float scale = 1.0f / sqrtf((float)HS);
    const floatX *q = qkv + ((size_t)b * T + t) * C3 + (size_t)h * HS;
    const floatX *kbase = qkv + (size_t)b * T * C3 + C + (size_t)h * HS; // key t2 at kbase + t2*C3
    const floatX *vbase = kbase + C;
    floatX *o_row = out + ((size_t)b * T + t) * C + (size_t)h * HS;
    for (int d0 = 0; d0 < HS; d0 += 32 * DPL) {
        float m = -INFINITY, l = 0.0f;
        float o[DPL];
#pragma unroll
        for (int j = 0; j < DPL; j++) o[j] = 0.0f;
        for (int kb0 = 0; kb0 <= t; kb0 += 32) {
            const int t2 = kb0 + lane;
            float s = -INFINITY;
            if (t2 <= t) s = att_dot(q, kbase + (size_t)t2 * C3, HS) * scale;
            const float mn = fmaxf(m, warp_reduce_max(s)); // finite: key kb0 <= t is valid
            const float p = t2 <= t ? fast_expf(s - mn) : 0.0f;
            const float corr = fast_expf(m - mn);             // 0 on the first step (m = -inf)
            l = l * corr + warp_reduce_sum(p);
#pragma unroll
            for (int j = 0; j < DPL; j++) o[j] *= corr;
            const int nk = min(32, t - kb0 + 1); // warp-uniform
            for (int jj = 0; jj < nk; jj++) {
                const float pj = __shfl_sync(0xFFFFFFFFu, p, jj);
                const floatX *vr = vbase + (size_t)(kb0 + jj) * C3;
#pragma unroll
                for (int j = 0; j < DPL; j++) {
                    const int d = d0 + lane + 32 * j;
                    if (d < HS) o[j] += pj * to_float(vr[d]);
                }
            }
            m = mn;
        }
        const float inv = 1.0f / l;
#pragma unroll
        for (int j = 0; j < DPL; j++) {
            const int d = d0 + lane + 32 * j;
            if (d < HS) o_row[d] = from_float(o[j] * inv);
        }
        if (d0 == 0 && lane == 0) lse[((size_t)b * NH + h) * T + t] = m + logf(l);
    }
}

// D[b,h,t] = dout[b,t,h,:] . out[b,t,h,:]   (one thread per row; shared by both backward paths)
// VEC: 16-byte loads (HS % 8 == 0 and aligned tensors), else scalar.
template <bool VEC>
__global__ void attention_backward_D_kernel(float *Dbuf, const floatX *dout, const floatX *out, int B, int T, int C,
                                            int NH) {
    const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * NH * T) return;
    const int t = (int)(idx % T);
    const int bh = (int)(idx / T);
    const int h = bh % NH, b = bh / NH;
    const int HS = C / NH;
    const size_t off = ((size_t)b * T + t) * C + (size_t)h * HS;
    if (VEC) {
        float s = 0.0f;
        for (int i = 0; i < HS; i += x128::size) {
            x128 a = load128(dout + off + i), o = load128(out + off + i);
#pragma unroll
            for (int k = 0; k < x128::size; k++) s += to_float(a[k]) * to_float(o[k]);
        }
        Dbuf[idx] = s;
    } else {
        Dbuf[idx] = att_dot(dout + off, out + off, HS);
    }
}

// dQ: warp per query row; lane scores key kb0 + lane.
template <int DPL>
__global__ void __launch_bounds__(32 * ATT_SIMT_WARPS)
    attention_backward_dq_simt_kernel(floatX *dqkv, const floatX *dout, const floatX *qkv, const float *lse,
                                      const float *Dbuf, int B, int T, int C, int NH) {
    const int lane = threadIdx.x & 31;
    const size_t gw = (size_t)blockIdx.x * ATT_SIMT_WARPS + threadIdx.x / 32;
    if (gw >= (size_t)B * NH * T) return;
    const int t = (int)(gw % T);
    const int bh = (int)(gw / T);
    const int h = bh % NH, b = bh / NH;
    const int HS = C / NH;
    const size_t C3 = 3 * (size_t)C;
    const float scale = 1.0f / sqrtf((float)HS);
    const floatX *q = qkv + ((size_t)b * T + t) * C3 + (size_t)h * HS;
    const floatX *kbase = qkv + (size_t)b * T * C3 + C + (size_t)h * HS;
    const floatX *vbase = kbase + C;
    const floatX *dO = dout + ((size_t)b * T + t) * C + (size_t)h * HS;
    floatX *dq_row = dqkv + ((size_t)b * T + t) * C3 + (size_t)h * HS;
    const float L = lse[gw], Dt = Dbuf[gw]; // gw == (b*NH + h)*T + t
    for (int d0 = 0; d0 < HS; d0 += 32 * DPL) {
        float dq[DPL];
#pragma unroll
        for (int j = 0; j < DPL; j++) dq[j] = 0.0f;
        for (int kb0 = 0; kb0 <= t; kb0 += 32) {
            const int t2 = kb0 + lane;
            float ds = 0.0f;
            if (t2 <= t) {
                const float p = fast_expf(att_dot(q, kbase + (size_t)t2 * C3, HS) * scale - L);
                const float dp = att_dot(dO, vbase + (size_t)t2 * C3, HS);
                ds = p * (dp - Dt);
            }
            const int nk = min(32, t - kb0 + 1);
            for (int jj = 0; jj < nk; jj++) {
                const float dsj = __shfl_sync(0xFFFFFFFFu, ds, jj);
                const floatX *kr = kbase + (size_t)(kb0 + jj) * C3;
#pragma unroll
                for (int j = 0; j < DPL; j++) {
                    const int d = d0 + lane + 32 * j;
                    if (d < HS) dq[j] += dsj * to_float(kr[d]);
                }
            }
        }
#pragma unroll
        for (int j = 0; j < DPL; j++) {
            const int d = d0 + lane + 32 * j;
            if (d < HS) dq_row[d] = from_float(dq[j] * scale);
        }
    }
}

// dK, dV: warp per key row t2; lane handles query q0 + lane (queries t >= t2 see key t2).
template <int DPL>
__global__ void __launch_bounds__(32 * ATT_SIMT_WARPS)
    attention_backward_dkdv_simt_kernel(floatX *dqkv, const floatX *dout, const floatX *qkv, const float *lse,
                                        const float *Dbuf, int B, int T, int C, int NH) {
    const int lane = threadIdx.x & 31;
    const size_t gw = (size_t)blockIdx.x * ATT_SIMT_WARPS + threadIdx.x / 32;
    if (gw >= (size_t)B * NH * T) return;
    const int t2 = (int)(gw % T);
    const int bh = (int)(gw / T);
    const int h = bh % NH, b = bh / NH;
    const int HS = C / NH;
    const size_t C3 = 3 * (size_t)C;
    const float scale = 1.0f / sqrtf((float)HS);
    const floatX *qbase = qkv + (size_t)b * T * C3 + (size_t)h * HS; // query t at qbase + t*C3
    const floatX *k = qbase + (size_t)t2 * C3 + C;
    const floatX *v = k + C;
    const floatX *dObase = dout + (size_t)b * T * C + (size_t)h * HS; // query t at dObase + t*C
    const float *lse_bh = lse + (size_t)bh * T;
    const float *D_bh = Dbuf + (size_t)bh * T;
    floatX *dk_row = dqkv + ((size_t)b * T + t2) * C3 + C + (size_t)h * HS;
    floatX *dv_row = dk_row + C;
    for (int d0 = 0; d0 < HS; d0 += 32 * DPL) {
        float dk[DPL], dv[DPL];
#pragma unroll
        for (int j = 0; j < DPL; j++) dk[j] = dv[j] = 0.0f;
        for (int q0 = t2; q0 < T; q0 += 32) {
            const int t = q0 + lane;
            float p = 0.0f, ds = 0.0f;
            if (t < T) {
                p = fast_expf(att_dot(qbase + (size_t)t * C3, k, HS) * scale - lse_bh[t]);
                const float dp = att_dot(dObase + (size_t)t * C, v, HS);
                ds = p * (dp - D_bh[t]);
            }
            const int nq = min(32, T - q0);
            for (int jj = 0; jj < nq; jj++) {
                const float pj = __shfl_sync(0xFFFFFFFFu, p, jj);
                const float dsj = __shfl_sync(0xFFFFFFFFu, ds, jj);
                const floatX *qr = qbase + (size_t)(q0 + jj) * C3;
                const floatX *dr = dObase + (size_t)(q0 + jj) * C;
#pragma unroll
                for (int j = 0; j < DPL; j++) {
                    const int d = d0 + lane + 32 * j;
                    if (d < HS) {
                        dv[j] += pj * to_float(dr[d]);
                        dk[j] += dsj * to_float(qr[d]);
                    }
                }
            }
        }
#pragma unroll
        for (int j = 0; j < DPL; j++) {
            const int d = d0 + lane + 32 * j;
            if (d < HS) {
                dk_row[d] = from_float(dk[j] * scale);
                dv_row[d] = from_float(dv[j]);
            }
        }
    }
}

static int attention_simt_dpl(int HS) { return HS <= 32 ? 1 : (HS <= 64 ? 2 : 4); }

static void attention_forward_simt(floatX *out, float *lse, const floatX *qkv, int B, int T, int C, int NH,
                                   cudaStream_t stream) {
    const size_t rows = (size_t)B * NH * T;
    const unsigned grid = (unsigned)ceil_div_sz(rows, ATT_SIMT_WARPS);
    const int block = 32 * ATT_SIMT_WARPS;
    switch (attention_simt_dpl(C / NH)) {
    case 1: attention_forward_simt_kernel<1><<<grid, block, 0, stream>>>(out, lse, qkv, B, T, C, NH); break;
    case 2: attention_forward_simt_kernel<2><<<grid, block, 0, stream>>>(out, lse, qkv, B, T, C, NH); break;
    default: attention_forward_simt_kernel<4><<<grid, block, 0, stream>>>(out, lse, qkv, B, T, C, NH); break;
    }
    CUDA_CHECK_LAST();
}

static void attention_backward_D(float *Dbuf, const floatX *dout, const floatX *out, int B, int T, int C, int NH,
                                 cudaStream_t stream) {
    const size_t rows = (size_t)B * NH * T;
    const int block = 256;
    const unsigned grid = (unsigned)ceil_div_sz(rows, block);
    if ((C / NH) % x128::size == 0 && C % x128::size == 0 && is_aligned16(dout) && is_aligned16(out)) {
        attention_backward_D_kernel<true><<<grid, block, 0, stream>>>(Dbuf, dout, out, B, T, C, NH);
    } else {
        attention_backward_D_kernel<false><<<grid, block, 0, stream>>>(Dbuf, dout, out, B, T, C, NH);
    }
    CUDA_CHECK_LAST();
}

static void attention_backward_simt(floatX *dqkv, const floatX *dout, const floatX *qkv, const float *lse,
                                    const float *Dbuf, int B, int T, int C, int NH, cudaStream_t stream) {
    const size_t rows = (size_t)B * NH * T;
    const unsigned grid = (unsigned)ceil_div_sz(rows, ATT_SIMT_WARPS);
    const int block = 32 * ATT_SIMT_WARPS;
    switch (attention_simt_dpl(C / NH)) {
    case 1:
        attention_backward_dq_simt_kernel<1><<<grid, block, 0, stream>>>(dqkv, dout, qkv, lse, Dbuf, B, T, C, NH);
        CUDA_CHECK_LAST();
        attention_backward_dkdv_simt_kernel<1><<<grid, block, 0, stream>>>(dqkv, dout, qkv, lse, Dbuf, B, T, C, NH);
        break;
    case 2:
        attention_backward_dq_simt_kernel<2><<<grid, block, 0, stream>>>(dqkv, dout, qkv, lse, Dbuf, B, T, C, NH);
        CUDA_CHECK_LAST();
        attention_backward_dkdv_simt_kernel<2><<<grid, block, 0, stream>>>(dqkv, dout, qkv, lse, Dbuf, B, T, C, NH);
        break;
    default:
        attention_backward_dq_simt_kernel<4><<<grid, block, 0, stream>>>(dqkv, dout, qkv, lse, Dbuf, B, T, C, NH);
        CUDA_CHECK_LAST();
        attention_backward_dkdv_simt_kernel<4><<<grid, block, 0, stream>>>(dqkv, dout, qkv, lse, Dbuf, B, T, C, NH);
        break;
    }
    CUDA_CHECK_LAST();
}

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
// ----------------------------------------------------------------------------
// Fast tensor-core kernels (-DATT_FAST=1; the dispatch uses the kernels above otherwise).
// The same math as above (fp32 accumulation, bf16 P and dS, deterministic: every output element
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

// Whether the tensor-core path handles this call (see the header comment).
static int attention_use_tc(int C, int NH, const void *p0, const void *p1, const void *p2) {
#if FLOATX_IS_FP32 || defined(ATTENTION_FORCE_SIMT)
    (void)C; (void)NH; (void)p0; (void)p1; (void)p2;
    return 0;
#else
    const int HS = C / NH;
    return (HS == 64 || HS == 128) && C % 8 == 0 && is_aligned16(p0) && is_aligned16(p1) && is_aligned16(p2);
#endif
}

// ----------------------------------------------------------------------------
// Dispatch

static void attention_forward(floatX *out, float *lse, const floatX *qkv, int B, int T, int C, int NH,
                              cudaStream_t stream) {
    if ((size_t)B * T * C == 0) return;
#if !FLOATX_IS_FP32
    if (attention_use_tc(C, NH, out, qkv, qkv)) {
#if ATT_FAST
        if (C / NH == 64) attention_forward_fast<64>(out, lse, qkv, B, T, C, NH, stream);
        else attention_forward_fast<128>(out, lse, qkv, B, T, C, NH, stream);
#else
        if (C / NH == 64) attention_forward_tc<64>(out, lse, qkv, B, T, C, NH, stream);
        else attention_forward_tc<128>(out, lse, qkv, B, T, C, NH, stream);
#endif
        return;
    }
#endif
    attention_forward_simt(out, lse, qkv, B, T, C, NH, stream);
}

static void attention_backward(floatX *dqkv, const floatX *dout, const floatX *qkv, const floatX *out, const float *lse,
                               float *scratch, int B, int T, int C, int NH, cudaStream_t stream) {
    if ((size_t)B * T * C == 0) return;
    attention_backward_D(scratch, dout, out, B, T, C, NH, stream);
#if !FLOATX_IS_FP32
    if (attention_use_tc(C, NH, dqkv, dout, qkv)) {
#if ATT_FAST
        if (C / NH == 64) attention_backward_fast<64>(dqkv, dout, qkv, lse, scratch, B, T, C, NH, stream);
        else attention_backward_fast<128>(dqkv, dout, qkv, lse, scratch, B, T, C, NH, stream);
#else
        if (C / NH == 64) attention_backward_tc<64>(dqkv, dout, qkv, lse, scratch, B, T, C, NH, stream);
        else attention_backward_tc<128>(dqkv, dout, qkv, lse, scratch, B, T, C, NH, stream);
#endif
        return;
    }
#endif
    attention_backward_simt(dqkv, dout, qkv, lse, scratch, B, T, C, NH, stream);
}

#endif // LLMC_ATTENTION_CUH
