/*
 * adamw.cuh: torch.optim.AdamW step with gradient clipping computed on the device
 * (CPU adamw_update + the clip_grad_norm_ rule of doc/cpu_layers.md).
 *
 *   adamw_update(params (n) floatX, master_params (n) fp32 or NULL, grads (n) floatX, m (n), v (n) fp32,
 *                n, lr, beta1, beta2, t, eps, weight_decay, global_norm_sq, grad_clip,
 *                extra_grad_scale, seed, stream)
 *
 *   Effective gradient: g = grads[i] * extra_grad_scale * clip. global_norm_sq points to ONE
 *   device float, the sum of squares of the raw `grads` (all tensors, global_norm_squared), so
 *   the effective gradient's norm is norm = sqrt(*global_norm_sq) * |extra_grad_scale|, and as
 *   torch.nn.utils.clip_grad_norm_: clip = grad_clip / (norm + 1e-6) if grad_clip > 0 and that
 *   is < 1, else 1. global_norm_sq may be NULL (no clipping). Use extra_grad_scale = 1 unless the
 *   gradients still need a scale (e.g. 1/num_processes after a summing all-reduce).
 *   Then, as the CPU reference (t counts from 1; bias corrections in double on the host):
 *     m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p = p * (1 - lr wd);
 *     p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 *   p is read from master_params when given (else from params). master_params (if given) gets p
 *   exactly; params gets p stochastically rounded to bf16 from a hash of (seed, i) (identity in
 *   fp32 builds). Pass a different seed per tensor and step.
 *   sqrt and the divisions use IEEE-rounded intrinsics even under --use_fast_math, so fp32 builds
 *   track the CPU reference closely.
 */
#ifndef LLMC_ADAMW_CUH
#define LLMC_ADAMW_CUH

#include <math.h>

#include "cuda_common.h"

struct AdamWScalars {
    float beta1, beta2, eps, step_size, bc2_sqrt, decay, grad_clip, extra_grad_scale;
};

// Scale applied to every raw gradient element (clipping and the extra scale).
__device__ __forceinline__ float adamw_grad_scale(const float *global_norm_sq, float grad_clip, float extra) {
    float scale = extra;
    if (global_norm_sq != NULL && grad_clip > 0.0f) {
        float norm = __fsqrt_rn(*global_norm_sq) * fabsf(extra);
        float clip = __fdiv_rn(grad_clip, norm + 1e-6f);
        if (clip < 1.0f) scale = extra * clip;
    }
    return scale;
}

__device__ __forceinline__ float adamw_step_one(float p, float g, float &m, float &v, const AdamWScalars &s) {
    float mi = s.beta1 * m + (1.0f - s.beta1) * g;
    float vi = s.beta2 * v + (1.0f - s.beta2) * g * g;
    m = mi;
    v = vi;
    p = p * s.decay;
    float denom = __fdiv_rn(__fsqrt_rn(vi), s.bc2_sqrt) + s.eps;
    return p - s.step_size * __fdiv_rn(mi, denom);
}

// Thread owns elements [i0, i0 + x128::size). VEC: all pointers 16-byte aligned, 16-byte accesses
// (floatX in one x128, fp32 arrays in x128::size/4 float4s); the partial last chunk is scalar.
template <bool VEC>
__global__ void adamw_kernel(floatX *params, float *master, const floatX *grads, float *m, float *v, size_t n,
                             AdamWScalars s, const float *global_norm_sq, unsigned int seed) {
    const size_t i0 = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * x128::size;
    if (i0 >= n) return;
    const float gscale = adamw_grad_scale(global_norm_sq, s.grad_clip, s.extra_grad_scale);
    if (VEC && i0 + x128::size <= n) {
        constexpr int NF = x128::size / f128::size; // float4s per chunk (2 for bf16, 1 for fp32)
        x128 g = load128cs(grads + i0);
        x128 pin = load128(params + i0);
        f128 mm[NF], vv[NF], pm[NF];
#pragma unroll
        for (int j = 0; j < NF; j++) {
            mm[j] = load128cs(m + i0 + j * f128::size);
            vv[j] = load128cs(v + i0 + j * f128::size);
            if (master != NULL) pm[j] = load128cs(master + i0 + j * f128::size);
        }
        x128 pout;
#pragma unroll
        for (int k = 0; k < x128::size; k++) {
            const int j = k / f128::size, e = k % f128::size;
            float p = master != NULL ? pm[j][e] : to_float(pin[k]);
            p = adamw_step_one(p, to_float(g[k]) * gscale, mm[j][e], vv[j][e], s);
            pm[j][e] = p;
            pout[k] = stochastic_round(p, seed, i0 + k);
        }
#pragma unroll
        for (int j = 0; j < NF; j++) {
            store128cs(m + i0 + j * f128::size, mm[j]);
            store128cs(v + i0 + j * f128::size, vv[j]);
            if (master != NULL) store128cs(master + i0 + j * f128::size, pm[j]);
        }
        store128(params + i0, pout);
    } else {
        const size_t end = i0 + x128::size < n ? i0 + x128::size : n;
        for (size_t i = i0; i < end; i++) {
            float p = master != NULL ? master[i] : to_float(params[i]);
            float mi = m[i], vi = v[i];
            p = adamw_step_one(p, to_float(grads[i]) * gscale, mi, vi, s);
            m[i] = mi;
            v[i] = vi;
            if (master != NULL) master[i] = p;
            params[i] = stochastic_round(p, seed, i);
        }
    }
}

static void adamw_update(floatX *params, float *master_params, const floatX *grads, float *m, float *v, size_t n,
                         float lr, float beta1, float beta2, int t, float eps, float weight_decay,
                         const float *global_norm_sq, float grad_clip, float extra_grad_scale, unsigned int seed,
                         cudaStream_t stream) {
    if (n == 0) return;
    AdamWScalars s;
    s.beta1 = beta1;
    s.beta2 = beta2;
    s.eps = eps;
    // as the CPU reference: bias corrections in double, then float
    s.step_size = (float)(lr / (1.0 - pow((double)beta1, t)));
    s.bc2_sqrt = (float)sqrt(1.0 - pow((double)beta2, t));
    s.decay = 1.0f - lr * weight_decay;
    s.grad_clip = grad_clip;
    s.extra_grad_scale = extra_grad_scale;
    const int block = 256;
    const size_t chunks = ceil_div_sz(n, (size_t)x128::size);
    const unsigned grid = (unsigned)ceil_div_sz(chunks, block);
    const bool vec = is_aligned16(params) && is_aligned16(grads) && is_aligned16(m) && is_aligned16(v) &&
                     (master_params == NULL || is_aligned16(master_params));
    if (vec) {
        adamw_kernel<true><<<grid, block, 0, stream>>>(params, master_params, grads, m, v, n, s, global_norm_sq, seed);
    } else {
        adamw_kernel<false><<<grid, block, 0, stream>>>(params, master_params, grads, m, v, n, s, global_norm_sq, seed);
    }
    CUDA_CHECK_LAST();
}

#endif // LLMC_ADAMW_CUH
