/*
 * layernorm.cuh: LayerNorm over the last dimension, eps 1e-5 (CPU layernorm_forward/_backward).
 *
 *   layernorm_forward(out (N,C), mean (N), rstd (N), inp (N,C), weight (C), bias (C), N, C, stream)
 *       mean/rstd are fp32 and may be NULL (inference).
 *   fused_residual_layernorm_forward(residual (N,C), normed (N,C), mean, rstd, inp1, inp2, weight, bias,
 *                                    N, C, stream)
 *       residual = inp1 + inp2 (rounded to floatX), normed = LN(residual) computed from the rounded
 *       residual (what the backward will see). residual may alias inp1 or inp2.
 *   layernorm_backward(dinp (N,C), dweight (C), dbias (C), scratch, dout (N,C), inp (N,C), weight,
 *                      mean, rstd, N, C, stream)
 *       ACCUMULATES into dinp, dweight, dbias:
 *         xhat = (x - mean) * rstd, g = dout * weight
 *         dinp += rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)); dweight += sum_rows dout * xhat;
 *         dbias += sum_rows dout.
 *   layernorm_backward_scratch_bytes(N, C): bytes of fp32 scratch layernorm_backward needs.
 *
 * One warp per row, fp32 math. The row is read in several passes (sum, centred sum of squares,
 * normalise) like the CPU function; re-reads hit L1/L2. 16-byte vectors when
 * C % (16/sizeof(floatX)) == 0 and every pointer is 16-byte aligned; scalar loads otherwise.
 *
 * Backward determinism: a fixed grid of G <= LN_BWD_MAX_BLOCKS blocks of W warps; block g's warp w
 * handles rows g*W + w, + G*W, ... and accumulates dweight/dbias for the channels its lanes own
 * in its own shared-memory slice (no two threads ever touch one address, no atomics). The block
 * then sums its W slices in warp order into scratch[g] (2C floats), and a second kernel adds the G
 * block partials in block order into dweight/dbias. If C is so large that one warp's 2C floats do
 * not fit in shared memory, W = 1 and the warp accumulates straight into its scratch slice.
 */
#ifndef LLMC_LAYERNORM_CUH
#define LLMC_LAYERNORM_CUH

#include "cuda_common.h"

#define LN_EPS 1e-5f
#define LN_BWD_MAX_BLOCKS 512
#define LN_BWD_MAX_WARPS 8

// ----------------------------------------------------------------------------
// forward

// VEC = x128::size (vector path) or 1. Lane owns channels c = lane*VEC + j*32*VEC, j = 0, 1, ...
template <int VEC>
__device__ __forceinline__ void ln_normalize_row(floatX *o, float *mean, float *rstd, const floatX *x,
                                                 const floatX *weight, const floatX *bias, int row, int C,
                                                 int lane) {
    // pass 2: centred variance (two-pass, as the CPU reference, not E[x^2] - m^2)
    float sum = 0.0f;
    for (int c = lane * VEC; c < C; c += 32 * VEC) {
        if (VEC == x128::size) {
            x128 a = load128(x + c);
#pragma unroll
            for (int k = 0; k < x128::size; k++) sum += to_float(a[k]);
        } else {
            sum += to_float(x[c]);
        }
    }
    const float m = warp_reduce_sum(sum) / (float)C;
    float var = 0.0f;
    for (int c = lane * VEC; c < C; c += 32 * VEC) {
        if (VEC == x128::size) {
            x128 a = load128(x + c);
#pragma unroll
            for (int k = 0; k < x128::size; k++) {
                float d = to_float(a[k]) - m;
                var += d * d;
            }
        } else {
            float d = to_float(x[c]) - m;
            var += d * d;
        }
    }
    var = warp_reduce_sum(var) / (float)C;
    const float s = 1.0f / sqrtf(var + LN_EPS);
    for (int c = lane * VEC; c < C; c += 32 * VEC) {
        if (VEC == x128::size) {
            x128 a = load128cs(x + c);
            x128 w = load128(weight + c);
            x128 b = load128(bias + c);
            x128 r;
#pragma unroll
            for (int k = 0; k < x128::size; k++) {
                r[k] = from_float((to_float(a[k]) - m) * s * to_float(w[k]) + to_float(b[k]));
            }
            store128(o + c, r);
        } else {
            o[c] = from_float((to_float(x[c]) - m) * s * to_float(weight[c]) + to_float(bias[c]));
        }
    }
    if (lane == 0) {
        if (mean != NULL) mean[row] = m;
        if (rstd != NULL) rstd[row] = s;
    }
}

template <int VEC>
__global__ void layernorm_forward_kernel(floatX *out, float *mean, float *rstd, const floatX *inp,
                                         const floatX *weight, const floatX *bias, int N, int C) {
    const int warps = blockDim.x / 32;
    const int row = blockIdx.x * warps + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    if (row >= N) return;
    const size_t off = (size_t)row * C;
    ln_normalize_row<VEC>(out + off, mean, rstd, inp + off, weight, bias, row, C, lane);
}

// residual = inp1 + inp2 written first (each element by the lane that owns it, so aliasing
// residual with an input is safe), then normalised from the stored, rounded values.
template <int VEC>
__global__ void fused_residual_layernorm_forward_kernel(floatX *residual, floatX *normed, float *mean, float *rstd,
                                                        const floatX *inp1, const floatX *inp2,
                                                        const floatX *weight, const floatX *bias, int N, int C) {
    const int warps = blockDim.x / 32;
    const int row = blockIdx.x * warps + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    if (row >= N) return;
    const size_t off = (size_t)row * C;
    floatX *r = residual + off;
    const floatX *a = inp1 + off;
    const floatX *b = inp2 + off;
    for (int c = lane * VEC; c < C; c += 32 * VEC) {
        if (VEC == x128::size) {
            x128 va = load128cs(a + c);
            x128 vb = load128cs(b + c);
            x128 vr;
#pragma unroll
            for (int k = 0; k < x128::size; k++) vr[k] = from_float(to_float(va[k]) + to_float(vb[k]));
            store128(r + c, vr);
        } else {
            r[c] = from_float(to_float(a[c]) + to_float(b[c]));
        }
    }
    // The lane re-reads only elements it wrote itself: program order makes them visible.
    ln_normalize_row<VEC>(normed + off, mean, rstd, r, weight, bias, row, C, lane);
}

static int ln_vec_ok(int C, const void *p0, const void *p1, const void *p2, const void *p3, const void *p4) {
    return C % x128::size == 0 && is_aligned16(p0) && is_aligned16(p1) && is_aligned16(p2) && is_aligned16(p3) &&
           is_aligned16(p4);
}

static void layernorm_forward(floatX *out, float *mean, float *rstd, const floatX *inp, const floatX *weight,
                              const floatX *bias, int N, int C, cudaStream_t stream) {
    if (N <= 0) return;
    const int block = 256, warps = block / 32;
    const int grid = ceil_div(N, warps);
    if (ln_vec_ok(C, out, inp, weight, bias, out)) {
        layernorm_forward_kernel<x128::size><<<grid, block, 0, stream>>>(out, mean, rstd, inp, weight, bias, N, C);
    } else {
        layernorm_forward_kernel<1><<<grid, block, 0, stream>>>(out, mean, rstd, inp, weight, bias, N, C);
    }
    CUDA_CHECK_LAST();
}

static void fused_residual_layernorm_forward(floatX *residual, floatX *normed, float *mean, float *rstd,
                                             const floatX *inp1, const floatX *inp2, const floatX *weight,
                                             const floatX *bias, int N, int C, cudaStream_t stream) {
    if (N <= 0) return;
    const int block = 256, warps = block / 32;
    const int grid = ceil_div(N, warps);
    if (ln_vec_ok(C, residual, normed, inp1, inp2, weight) && is_aligned16(bias)) {
        fused_residual_layernorm_forward_kernel<x128::size><<<grid, block, 0, stream>>>(
            residual, normed, mean, rstd, inp1, inp2, weight, bias, N, C);
    } else {
        fused_residual_layernorm_forward_kernel<1><<<grid, block, 0, stream>>>(residual, normed, mean, rstd, inp1,
                                                                               inp2, weight, bias, N, C);
    }
    CUDA_CHECK_LAST();
}

// ----------------------------------------------------------------------------
// backward

static size_t layernorm_backward_scratch_bytes(int N, int C) {
    (void)N;
    return (size_t)LN_BWD_MAX_BLOCKS * 2 * (size_t)C * sizeof(float);
}

// grid G blocks, W = blockDim.x/32 warps. USE_SMEM: per-warp accumulators in dynamic shared memory
// (W x 2C floats: [dweight C | dbias C] per warp); otherwise W == 1 and the accumulator is the
// block's scratch slice itself.
template <int VEC, bool USE_SMEM>
__global__ void layernorm_backward_kernel(floatX *dinp, float *scratch, const floatX *dout, const floatX *inp,
                                          const floatX *weight, const float *mean, const float *rstd, int N,
                                          int C) {
    extern __shared__ float ln_smem[];
    const int W = blockDim.x / 32;
    const int warp = threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    const int G = gridDim.x;
    float *block_partial = scratch + (size_t)blockIdx.x * 2 * C;
    float *acc = USE_SMEM ? ln_smem + (size_t)warp * 2 * C : block_partial;
    // zero this warp's accumulator (each lane its own channels)
    for (int c = lane * VEC; c < C; c += 32 * VEC) {
#pragma unroll
        for (int k = 0; k < VEC; k++) {
            acc[c + k] = 0.0f;
            acc[C + c + k] = 0.0f;
        }
    }
    const float invC = 1.0f / (float)C;
    for (int row = blockIdx.x * W + warp; row < N; row += G * W) {
        const size_t off = (size_t)row * C;
        const floatX *x = inp + off;
        const floatX *d = dout + off;
        floatX *dx = dinp + off;
        const float m = mean[row], s = rstd[row];
        // pass 1: the two row means
        float gsum = 0.0f, gxsum = 0.0f;
        for (int c = lane * VEC; c < C; c += 32 * VEC) {
            if (VEC == x128::size) {
                x128 xa = load128(x + c), da = load128(d + c), wa = load128(weight + c);
#pragma unroll
                for (int k = 0; k < x128::size; k++) {
                    float xhat = (to_float(xa[k]) - m) * s;
                    float g = to_float(wa[k]) * to_float(da[k]);
                    gsum += g;
                    gxsum += g * xhat;
                }
            } else {
                float xhat = (to_float(x[c]) - m) * s;
                float g = to_float(weight[c]) * to_float(d[c]);
                gsum += g;
                gxsum += g * xhat;
            }
        }
        const float gmean = warp_reduce_sum(gsum) * invC;
        const float gxmean = warp_reduce_sum(gxsum) * invC;
        // pass 2: dinp, and this warp's dweight/dbias partials
        for (int c = lane * VEC; c < C; c += 32 * VEC) {
            if (VEC == x128::size) {
                x128 xa = load128cs(x + c), da = load128cs(d + c), wa = load128(weight + c);
                x128 dxa = load128(dx + c);
#pragma unroll
                for (int k = 0; k < x128::size; k++) {
                    float dk = to_float(da[k]);
                    float xhat = (to_float(xa[k]) - m) * s;
                    float g = to_float(wa[k]) * dk;
                    acc[c + k] += xhat * dk;
                    acc[C + c + k] += dk;
                    dxa[k] = from_float(to_float(dxa[k]) + s * (g - gmean - xhat * gxmean));
                }
                store128(dx + c, dxa);
            } else {
                float dk = to_float(d[c]);
                float xhat = (to_float(x[c]) - m) * s;
                float g = to_float(weight[c]) * dk;
                acc[c] += xhat * dk;
                acc[C + c] += dk;
                dx[c] = from_float(to_float(dx[c]) + s * (g - gmean - xhat * gxmean));
            }
        }
    }
    if (USE_SMEM) {
        __syncthreads();
        // block partial = sum of the W warp slices, in warp order
        for (int c = threadIdx.x; c < 2 * C; c += blockDim.x) {
            float v = 0.0f;
            for (int w = 0; w < W; w++) v += ln_smem[(size_t)w * 2 * C + c];
            block_partial[c] = v;
        }
    }
}

// One thread per channel: dweight[c] += sum_g partial[g][c], dbias[c] += sum_g partial[g][C + c].
__global__ void layernorm_backward_final_kernel(floatX *dweight, floatX *dbias, const float *scratch, int G, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float dw = 0.0f, db = 0.0f;
    for (int g = 0; g < G; g++) {
        dw += scratch[(size_t)g * 2 * C + c];
        db += scratch[(size_t)g * 2 * C + C + c];
    }
    dweight[c] = from_float(to_float(dweight[c]) + dw);
    dbias[c] = from_float(to_float(dbias[c]) + db);
}

template <int VEC, bool USE_SMEM>
static void layernorm_backward_launch(floatX *dinp, float *scratch, const floatX *dout, const floatX *inp,
                                      const floatX *weight, const float *mean, const float *rstd, int N, int C,
                                      int G, int W, cudaStream_t stream) {
    size_t smem = USE_SMEM ? (size_t)W * 2 * C * sizeof(float) : 0;
    if (smem > 48 * 1024) {
        cudaCheck(cudaFuncSetAttribute(layernorm_backward_kernel<VEC, USE_SMEM>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    }
    layernorm_backward_kernel<VEC, USE_SMEM><<<G, W * 32, smem, stream>>>(dinp, scratch, dout, inp, weight, mean,
                                                                          rstd, N, C);
    CUDA_CHECK_LAST();
}

static void layernorm_backward(floatX *dinp, floatX *dweight, floatX *dbias, float *scratch, const floatX *dout,
                               const floatX *inp, const floatX *weight, const float *mean, const float *rstd, int N,
                               int C, cudaStream_t stream) {
    if (N <= 0 || C <= 0) return;
    int dev = 0, optin = 0;
    cudaCheck(cudaGetDevice(&dev));
    cudaCheck(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    const size_t per_warp = (size_t)2 * C * sizeof(float);
    int W = (int)((size_t)optin / per_warp);
    if (W > LN_BWD_MAX_WARPS) W = LN_BWD_MAX_WARPS;
    const bool use_smem = W >= 1;
    if (!use_smem) W = 1;
    int G = ceil_div(N, W);
    if (G > LN_BWD_MAX_BLOCKS) G = LN_BWD_MAX_BLOCKS;
    const bool vec = ln_vec_ok(C, dinp, dout, inp, weight, dinp);
    if (vec && use_smem) {
        layernorm_backward_launch<x128::size, true>(dinp, scratch, dout, inp, weight, mean, rstd, N, C, G, W, stream);
    } else if (vec) {
        layernorm_backward_launch<x128::size, false>(dinp, scratch, dout, inp, weight, mean, rstd, N, C, G, W, stream);
    } else if (use_smem) {
        layernorm_backward_launch<1, true>(dinp, scratch, dout, inp, weight, mean, rstd, N, C, G, W, stream);
    } else {
        layernorm_backward_launch<1, false>(dinp, scratch, dout, inp, weight, mean, rstd, N, C, G, W, stream);
    }
    const int block = 256;
    layernorm_backward_final_kernel<<<ceil_div(C, block), block, 0, stream>>>(dweight, dbias, scratch, G, C);
    CUDA_CHECK_LAST();
}

#endif // LLMC_LAYERNORM_CUH
