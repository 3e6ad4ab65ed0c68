/*
 * attention_simt.cuh: the general attention path (any head size, fp32 and bf16 builds), one warp
 * per query row; llmc/attention.cuh states the contract and dispatches. Included from there only.
 */
#ifndef LLMC_ATTENTION_SIMT_CUH
#define LLMC_ATTENTION_SIMT_CUH

#include <math.h>

#include "cuda_common.h"

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


#endif // LLMC_ATTENTION_SIMT_CUH
