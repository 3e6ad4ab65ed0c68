/*
 * global_norm.cuh: deterministic sum of squares of a floatX tensor (gradient clipping).
 *
 *   global_norm_squared(out, values, n, scratch, accumulate, stream)
 *       *out = (accumulate ? *out : 0) + sum_i values[i]^2, in fp32. out is ONE device float.
 *       Call it once over the whole contiguous gradient buffer, or once per tensor with
 *       accumulate = 1 after the first (the calls run in stream order, so sharing scratch is fine).
 *   global_norm_scratch_floats(): floats of device scratch it needs (GLOBAL_NORM_BLOCKS).
 *
 * Fixed grid of GLOBAL_NORM_BLOCKS blocks (independent of the GPU, so the summation order and the
 * result are the same on any device): each thread sums a grid-strided slice in fp32, each block
 * reduces in a fixed tree order into scratch[block], then one block adds the partials in a fixed
 * order. 16-byte loads when values is 16-byte aligned (scalar tail), scalar otherwise.
 */
#ifndef LLMC_GLOBAL_NORM_CUH
#define LLMC_GLOBAL_NORM_CUH

#include "cuda_common.h"

#define GLOBAL_NORM_BLOCKS 512
#define GLOBAL_NORM_THREADS 512

static size_t global_norm_scratch_floats(void) { return GLOBAL_NORM_BLOCKS; }

template <bool VEC>
__global__ void __launch_bounds__(GLOBAL_NORM_THREADS)
    global_norm_partial_kernel(float *partials, const floatX *values, size_t n) {
    __shared__ float sh[32];
    const size_t tid = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    float acc = 0.0f;
    if (VEC) {
        const size_t nvec = n / x128::size;
        for (size_t i = tid; i < nvec; i += stride) {
            x128 a = load128cs(values + i * x128::size);
#pragma unroll
            for (int k = 0; k < x128::size; k++) {
                float v = to_float(a[k]);
                acc += v * v;
            }
        }
        for (size_t i = nvec * x128::size + tid; i < n; i += stride) {
            float v = to_float(values[i]);
            acc += v * v;
        }
    } else {
        for (size_t i = tid; i < n; i += stride) {
            float v = to_float(values[i]);
            acc += v * v;
        }
    }
    float total = block_reduce_sum(acc, sh);
    if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// One block: sums the GLOBAL_NORM_BLOCKS partials (fixed assignment and tree order).
__global__ void global_norm_final_kernel(float *out, const float *partials, int nparts, int accumulate) {
    __shared__ float sh[32];
    float acc = 0.0f;
    for (int i = threadIdx.x; i < nparts; i += blockDim.x) acc += partials[i];
    float total = block_reduce_sum(acc, sh);
    if (threadIdx.x == 0) *out = accumulate ? *out + total : total;
}

static void global_norm_squared(float *out, const floatX *values, size_t n, float *scratch, int accumulate,
                                cudaStream_t stream) {
    if (is_aligned16(values)) {
        global_norm_partial_kernel<true><<<GLOBAL_NORM_BLOCKS, GLOBAL_NORM_THREADS, 0, stream>>>(scratch, values, n);
    } else {
        global_norm_partial_kernel<false><<<GLOBAL_NORM_BLOCKS, GLOBAL_NORM_THREADS, 0, stream>>>(scratch, values, n);
    }
    CUDA_CHECK_LAST();
    global_norm_final_kernel<<<1, 512, 0, stream>>>(out, scratch, GLOBAL_NORM_BLOCKS, accumulate);
    CUDA_CHECK_LAST();
}

#endif // LLMC_GLOBAL_NORM_CUH
