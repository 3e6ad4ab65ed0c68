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
 *
 *   adamw_update_multi(params, master, grads, m, v, table, lr, beta1, beta2, t, eps,
 *                      global_norm_sq, grad_clip, extra_grad_scale, skip, stream)
 *       The same update over many tensors in ONE launch (the trainer's --fuse_adamw 1): table
 *       lists up to ADAMW_MAX_PIECES pieces [start, end) of the flat arrays (indices into params,
 *       grads, master, m, v alike), each with its weight decay and rounding seed. Element i of a
 *       piece is exactly what adamw_update(params + start, ..., end - start, ..., wd, seed) makes
 *       of it (stochastic rounding indexed from the piece's start), so the two paths agree bit
 *       for bit; adamw_update stays as the reference. Elements in no piece are left alone.
 *       skip (one device int) or NULL: when given, the whole update is skipped if *skip != 0 or
 *       *global_norm_sq is not finite: the step guard's non-finite test on the device, so the
 *       update can be queued before the host has seen the loss and the norm.
 *   adamw_flag_nonfinite(flag, values (n) fp32, n, stream)
 *       *flag = 1 if any of values is NaN or infinite (else *flag is left as it was): the per-token
 *       losses of each micro-step, into the skip flag above (zeroed by the caller once per step).
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

// One 16-byte chunk at i0 (all pointers 16-byte aligned; floatX in one x128, fp32 arrays in
// x128::size/4 float4s). sr0: the stochastic-rounding index of element i0 (its offset in its tensor).
__device__ __forceinline__ void adamw_chunk(floatX *params, float *master, const floatX *grads, float *m, float *v,
                                            size_t i0, float gscale, const AdamWScalars &s, unsigned int seed,
                                            size_t sr0) {
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
        pout[k] = stochastic_round(p, seed, sr0 + k);
    }
#pragma unroll
    for (int j = 0; j < NF; j++) {
        store128cs(m + i0 + j * f128::size, mm[j]);
        store128cs(v + i0 + j * f128::size, vv[j]);
        if (master != NULL) store128cs(master + i0 + j * f128::size, pm[j]);
    }
    store128(params + i0, pout);
}

// One element i (the scalar path: unaligned arrays, the partial last chunk); sr: as sr0 above.
__device__ __forceinline__ void adamw_element(floatX *params, float *master, const floatX *grads, float *m, float *v,
                                              size_t i, float gscale, const AdamWScalars &s, unsigned int seed,
                                              size_t sr) {
    float p = master != NULL ? master[i] : to_float(params[i]);
    float mi = m[i], vi = v[i];
    p = adamw_step_one(p, to_float(grads[i]) * gscale, mi, vi, s);
    m[i] = mi;
    v[i] = vi;
    if (master != NULL) master[i] = p;
    params[i] = stochastic_round(p, seed, sr);
}

// Thread owns elements [i0, i0 + x128::size). VEC: all pointers 16-byte aligned, 16-byte accesses;
// the partial last chunk is scalar.
template <bool VEC>
__global__ void adamw_kernel(floatX *params, float *master, const floatX *grads, float *m, float *v, size_t n,
                             AdamWScalars s, const float *global_norm_sq, unsigned int seed) {
    const size_t i0 = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * x128::size;
    if (i0 >= n) return;
    const float gscale = adamw_grad_scale(global_norm_sq, s.grad_clip, s.extra_grad_scale);
    if (VEC && i0 + x128::size <= n) {
        adamw_chunk(params, master, grads, m, v, i0, gscale, s, seed, i0);
    } else {
        const size_t end = i0 + x128::size < n ? i0 + x128::size : n;
        for (size_t i = i0; i < end; i++) adamw_element(params, master, grads, m, v, i, gscale, s, seed, i);
    }
}

// The step's scalars (decay: 1 - lr * weight_decay). As the CPU reference: bias corrections in
// double, then float.
static AdamWScalars adamw_scalars(float lr, float beta1, float beta2, int t, float eps, float weight_decay,
                                  float grad_clip, float extra_grad_scale) {
    AdamWScalars s;
    s.beta1 = beta1;
    s.beta2 = beta2;
    s.eps = eps;
    s.step_size = (float)(lr / (1.0 - pow((double)beta1, t)));
    s.bc2_sqrt = (float)sqrt(1.0 - pow((double)beta2, t));
    s.decay = 1.0f - lr * weight_decay;
    s.grad_clip = grad_clip;
    s.extra_grad_scale = extra_grad_scale;
    return s;
}

static void adamw_update(floatX *params, float *master_params, const floatX *grads, float *m, float *v, size_t n,
                         float lr, float beta1, float beta2, int t, float eps, float weight_decay,
                         const float *global_norm_sq, float grad_clip, float extra_grad_scale, unsigned int seed,
                         cudaStream_t stream) {
    if (n == 0) return;
    const AdamWScalars s = adamw_scalars(lr, beta1, beta2, t, eps, weight_decay, grad_clip, extra_grad_scale);
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

// ----------------------------------------------------------------------------
// Multi-tensor AdamW: one launch over every piece of the table.

#define ADAMW_MAX_PIECES 32

struct AdamWPiece {
    size_t start, end;  // [start, end) of the flat arrays
    float decay;        // 1 - lr * weight_decay of this piece's tensor
    unsigned int seed;  // stochastic-rounding seed of this piece (index 0 at start)
};

struct AdamWTable {
    int count;
    AdamWPiece piece[ADAMW_MAX_PIECES];
};

// The piece holding flat index i, or -1. Pieces are few (16 for GPT-2), a linear scan is cheap.
__device__ __forceinline__ int adamw_find_piece(const AdamWTable &tab, size_t i) {
    for (int k = 0; k < tab.count; k++)
        if (i >= tab.piece[k].start && i < tab.piece[k].end) return k;
    return -1;
}

// Thread owns flat elements [i0, i0 + x128::size) of [0, n). A chunk inside one piece with VEC
// (all base pointers 16-byte aligned) takes 16-byte accesses; a chunk that straddles pieces, the
// tail, or the unaligned case goes element by element, each looking up its own piece.
template <bool VEC>
__global__ void adamw_multi_kernel(floatX *params, float *master, const floatX *grads, float *m, float *v, size_t n,
                                   AdamWTable tab, AdamWScalars s, const float *global_norm_sq, const int *skip) {
    const size_t i0 = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * x128::size;
    if (i0 >= n) return;
    if (skip != NULL && (*skip != 0 || (global_norm_sq != NULL && !isfinite(*global_norm_sq)))) return;
    const float gscale = adamw_grad_scale(global_norm_sq, s.grad_clip, s.extra_grad_scale);
    const int k0 = adamw_find_piece(tab, i0);
    if (VEC && k0 >= 0 && i0 + x128::size <= tab.piece[k0].end) {
        const AdamWPiece pc = tab.piece[k0];
        AdamWScalars sk = s;
        sk.decay = pc.decay;
        adamw_chunk(params, master, grads, m, v, i0, gscale, sk, pc.seed, i0 - pc.start);
        return;
    }
    const size_t end = i0 + x128::size < n ? i0 + x128::size : n;
    for (size_t i = i0; i < end; i++) {
        const int k = adamw_find_piece(tab, i);
        if (k < 0) continue;
        AdamWScalars sk = s;
        sk.decay = tab.piece[k].decay;
        adamw_element(params, master, grads, m, v, i, gscale, sk, tab.piece[k].seed, i - tab.piece[k].start);
    }
}

// table: pieces with start/end set and .decay holding the tensor's weight decay (converted to
// 1 - lr * wd here, as adamw_update does). n: the flat length covered (max end).
static void adamw_update_multi(floatX *params, float *master_params, const floatX *grads, float *m, float *v,
                               const AdamWTable *table, float lr, float beta1, float beta2, int t, float eps,
                               const float *global_norm_sq, float grad_clip, float extra_grad_scale, const int *skip,
                               cudaStream_t stream) {
    if (table->count < 0 || table->count > ADAMW_MAX_PIECES) {
        fprintf(stderr, "error: adamw_update_multi: %d pieces, at most %d\n", table->count, ADAMW_MAX_PIECES);
        exit(1);
    }
    AdamWTable tab = *table;
    size_t n = 0;
    for (int k = 0; k < tab.count; k++) {
        tab.piece[k].decay = 1.0f - lr * table->piece[k].decay;
        if (tab.piece[k].end > n) n = tab.piece[k].end;
    }
    if (n == 0) return;
    const AdamWScalars s = adamw_scalars(lr, beta1, beta2, t, eps, 0.0f, grad_clip, extra_grad_scale); // decay per piece
    const int block = 256;
    const unsigned grid = (unsigned)ceil_div_sz(ceil_div_sz(n, (size_t)x128::size), block);
    const bool vec = is_aligned16(params) && is_aligned16(grads) && is_aligned16(m) && is_aligned16(v) &&
                     (master_params == NULL || is_aligned16(master_params));
    if (vec) {
        adamw_multi_kernel<true><<<grid, block, 0, stream>>>(params, master_params, grads, m, v, n, tab, s, global_norm_sq, skip);
    } else {
        adamw_multi_kernel<false><<<grid, block, 0, stream>>>(params, master_params, grads, m, v, n, tab, s, global_norm_sq, skip);
    }
    CUDA_CHECK_LAST();
}

// Grid-strided; every thread that sees a non-finite value stores the same 1 (no read-modify-write).
__global__ void adamw_flag_nonfinite_kernel(int *flag, const float *values, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        if (!isfinite(values[i])) *flag = 1;
}

static void adamw_flag_nonfinite(int *flag, const float *values, size_t n, cudaStream_t stream) {
    if (n == 0) return;
    const int block = 256;
    size_t blocks = ceil_div_sz(n, block);
    adamw_flag_nonfinite_kernel<<<(unsigned)(blocks < 1024 ? blocks : 1024), block, 0, stream>>>(flag, values, n);
    CUDA_CHECK_LAST();
}

#endif // LLMC_ADAMW_CUH
