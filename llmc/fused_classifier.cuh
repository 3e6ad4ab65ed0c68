/*
 * fused_classifier.cuh: softmax cross-entropy and its gradient in one kernel
 * (CPU classifier_forward + classifier_backward).
 *
 *   fused_classifier(logits (N,Vp), losses (N), targets (N), weights (N) or NULL, dloss, N, V, Vp,
 *                    write_dlogits, stream)
 *       per row i, over the first V columns only (fp32 math):
 *         lse = log(sum_v exp(logit[i,v])),  losses[i] = lse - logit[i, targets[i]]
 *       if write_dlogits: logits row overwritten in place with
 *         (softmax_v - [v == target]) * d_i for v < V, and 0 for the padding columns V..Vp-1,
 *         where d_i = dloss * weights[i] (device fp32, any sign: RL's per-token weights), or
 *         d_i = dloss when weights is NULL (CPU classifier_backward, the same rule).
 *       losses may be NULL. A target outside [0, V) marks an ignored row (the loss mask): loss 0
 *       and, if write_dlogits, an all-zero gradient row whatever its weight. A mask is the special
 *       case of weights 0/1; the caller's dloss carries the normalization (1 / counted targets for
 *       a masked mean, 1 / generated tokens for RL).
 *
 * One block per row. Pass 1 keeps a running (max, sum of exp) per thread (online softmax, one
 * rescale per 16-byte vector), combined across the block in a fixed tree order; pass 2 re-reads
 * the row (mostly from L2) and writes the gradient. Vector path when Vp % (16/sizeof(floatX)) == 0
 * and logits is 16-byte aligned; scalar otherwise.
 */
#ifndef LLMC_FUSED_CLASSIFIER_CUH
#define LLMC_FUSED_CLASSIFIER_CUH

#include <math.h>

#include "cuda_common.h"

#define CLASSIFIER_BLOCK 512

// Merge two (max, sum) softmax states; a state with max = -inf is empty (sum 0).
__device__ __forceinline__ void softmax_merge(float &m, float &s, float m2, float s2) {
    float M = fmaxf(m, m2);
    float a = (m == -INFINITY) ? 0.0f : s * fast_expf(m - M);
    float b = (m2 == -INFINITY) ? 0.0f : s2 * fast_expf(m2 - M);
    m = M;
    s = a + b;
}

template <int VEC>
__global__ void __launch_bounds__(CLASSIFIER_BLOCK)
    fused_classifier_kernel(floatX *logits, float *losses, const int *targets, const float *weights, float dloss,
                            int V, int Vp, int write_dlogits) {
    __shared__ float sh_m[32], sh_s[32];
    __shared__ float sh_lse;
    const size_t row = blockIdx.x;
    floatX *x = logits + row * (size_t)Vp;
    const int target = targets[row];
    const bool valid = target >= 0 && target < V;
    // read the target logit before any thread can overwrite the row (pass 2 starts after the
    // barriers of the reduction below)
    const float target_logit = (valid && threadIdx.x == 0) ? to_float(x[target]) : 0.0f;

    // pass 1: per-thread online softmax state over its columns
    float m = -INFINITY, s = 0.0f;
    for (int i = threadIdx.x * VEC; i < V; i += blockDim.x * VEC) {
        float v[VEC];
        if (VEC == x128::size) {
            x128 a = load128(x + i);
#pragma unroll
            for (int k = 0; k < VEC; k++) v[k] = (i + k < V) ? to_float(a[k]) : -INFINITY;
        } else {
#pragma unroll
            for (int k = 0; k < VEC; k++) v[k] = to_float(x[i + k]);
        }
        float cm = v[0];
#pragma unroll
        for (int k = 1; k < VEC; k++) cm = fmaxf(cm, v[k]);
        float M = fmaxf(m, cm); // finite: element i < V is valid
        float cs = 0.0f;
#pragma unroll
        for (int k = 0; k < VEC; k++) cs += fast_expf(v[k] - M); // exp(-inf) = 0 for masked lanes
        s = (m == -INFINITY ? 0.0f : s * fast_expf(m - M)) + cs;
        m = M;
    }
    // block combine, fixed order: warp butterfly, then warp 0 over the warp results
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        float m2 = __shfl_xor_sync(0xFFFFFFFFu, m, off);
        float s2 = __shfl_xor_sync(0xFFFFFFFFu, s, off);
        softmax_merge(m, s, m2, s2);
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    if (lane == 0) {
        sh_m[warp] = m;
        sh_s[warp] = s;
    }
    __syncthreads();
    if (warp == 0) {
        m = lane < nwarps ? sh_m[lane] : -INFINITY;
        s = lane < nwarps ? sh_s[lane] : 0.0f;
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
            float m2 = __shfl_xor_sync(0xFFFFFFFFu, m, off);
            float s2 = __shfl_xor_sync(0xFFFFFFFFu, s, off);
            softmax_merge(m, s, m2, s2);
        }
        if (lane == 0) {
            float lse = m + logf(s);
            sh_lse = lse;
            if (losses != NULL) losses[row] = valid ? lse - target_logit : 0.0f;
        }
    }
    __syncthreads();
    if (!write_dlogits) return;
    const float lse = sh_lse;
    const float scale = valid ? (weights != NULL ? dloss * weights[row] : dloss) : 0.0f;
    // pass 2: gradient over all Vp columns (padding -> 0)
    for (int i = threadIdx.x * VEC; i < Vp; i += blockDim.x * VEC) {
        if (VEC == x128::size) {
            x128 a = load128cs(x + i);
            x128 r;
#pragma unroll
            for (int k = 0; k < VEC; k++) {
                int col = i + k;
                float g = 0.0f;
                if (col < V) g = (fast_expf(to_float(a[k]) - lse) - (col == target ? 1.0f : 0.0f)) * scale;
                r[k] = from_float(g);
            }
            store128(x + i, r);
        } else {
            int col = i;
            float g = 0.0f;
            if (col < V) g = (fast_expf(to_float(x[col]) - lse) - (col == target ? 1.0f : 0.0f)) * scale;
            x[col] = from_float(g);
        }
    }
}

static void fused_classifier(floatX *logits, float *losses, const int *targets, const float *weights, float dloss,
                             int N, int V, int Vp, int write_dlogits, cudaStream_t stream) {
    if (N <= 0) return;
    if (Vp % x128::size == 0 && is_aligned16(logits)) {
        fused_classifier_kernel<x128::size><<<N, CLASSIFIER_BLOCK, 0, stream>>>(logits, losses, targets, weights, dloss,
                                                                               V, Vp, write_dlogits);
    } else {
        fused_classifier_kernel<1><<<N, CLASSIFIER_BLOCK, 0, stream>>>(logits, losses, targets, weights, dloss, V, Vp,
                                                                      write_dlogits);
    }
    CUDA_CHECK_LAST();
}

#endif // LLMC_FUSED_CLASSIFIER_CUH
