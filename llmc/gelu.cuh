/*
 * gelu.cuh: GELU, tanh approximation (as GPT-2 and the CPU gelu_forward / gelu_backward).
 *
 *   gelu_forward(out, inp, n, stream)                 out[i] = gelu(inp[i])
 *   gelu_backward_inplace(d_in_out, inp, n, stream)   d[i] = d[i] * gelu'(inp[i])   (overwrites d)
 *
 * n elements of floatX; out may alias inp, d_in_out may not alias inp. 16-byte vector path when
 * every pointer is 16-byte aligned (scalar tail for n not a multiple of the vector width),
 * scalar path otherwise. Math in fp32, results rounded to nearest.
 */
#ifndef LLMC_GELU_CUH
#define LLMC_GELU_CUH

#include "cuda_common.h"

#define GELU_SCALING_FACTOR 0.7978845608028654f // sqrt(2 / pi)

// 0.5 (1 + tanh(u)) is written as the logistic sigmoid(2u) = 1 / (1 + exp(-2u)), and
// 1 - tanh(u)^2 as 4 sigmoid(2u) (1 - sigmoid(2u)): for x well below 0, 1 + tanh(u) cancels, and
// --use_fast_math's tanh approximation (about 2^-11 relative) then lost up to 1% of gelu'(x);
// exp keeps full relative accuracy, and 1 - sigmoid is formed as e * sigmoid without cancelling.
__device__ __forceinline__ float gelu_fwd_f(float x) {
    float u = GELU_SCALING_FACTOR * (x + 0.044715f * x * x * x);
    return x / (1.0f + expf(-2.0f * u));
}

// d gelu(x) / dx = sigmoid(2u) + 2 x sigmoid(2u) (1 - sigmoid(2u)) du/dx
__device__ __forceinline__ float gelu_grad_f(float x) {
    float u = GELU_SCALING_FACTOR * (x + 0.044715f * x * x * x);
    float e = expf(-2.0f * u);           // inf for very negative u: s = 0, then e * s is NaN
    float s = 1.0f / (1.0f + e);
    float one_minus_s = e < 1e30f ? e * s : 1.0f;
    float du = GELU_SCALING_FACTOR * (1.0f + 3.0f * 0.044715f * x * x);
    return s + 2.0f * x * s * one_minus_s * du;
}

// One thread per 16-byte vector; the last partial vector (n % x128::size) done element-wise by
// the thread that owns it.
__global__ void gelu_forward_kernel(floatX *out, const floatX *inp, size_t n) {
    size_t v = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    size_t i = v * x128::size;
    if (i >= n) return;
    if (i + x128::size <= n) {
        x128 a = load128cs(inp + i);
        x128 r;
#pragma unroll
        for (int k = 0; k < x128::size; k++) r[k] = from_float(gelu_fwd_f(to_float(a[k])));
        store128(out + i, r);
    } else {
        for (size_t j = i; j < n; j++) out[j] = from_float(gelu_fwd_f(to_float(inp[j])));
    }
}

__global__ void gelu_forward_scalar_kernel(floatX *out, const floatX *inp, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = from_float(gelu_fwd_f(to_float(inp[i])));
}

__global__ void gelu_backward_inplace_kernel(floatX *d, const floatX *inp, size_t n) {
    size_t v = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    size_t i = v * x128::size;
    if (i >= n) return;
    if (i + x128::size <= n) {
        x128 a = load128cs(inp + i);
        x128 g = load128(d + i);
        x128 r;
#pragma unroll
        for (int k = 0; k < x128::size; k++) r[k] = from_float(to_float(g[k]) * gelu_grad_f(to_float(a[k])));
        store128(d + i, r);
    } else {
        for (size_t j = i; j < n; j++) d[j] = from_float(to_float(d[j]) * gelu_grad_f(to_float(inp[j])));
    }
}

__global__ void gelu_backward_inplace_scalar_kernel(floatX *d, const floatX *inp, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) d[i] = from_float(to_float(d[i]) * gelu_grad_f(to_float(inp[i])));
}

static void gelu_forward(floatX *out, const floatX *inp, size_t n, cudaStream_t stream) {
    if (n == 0) return;
    const int block = 256;
    if (is_aligned16(out) && is_aligned16(inp)) {
        size_t nvec = ceil_div_sz(n, (size_t)x128::size);
        gelu_forward_kernel<<<(unsigned)ceil_div_sz(nvec, block), block, 0, stream>>>(out, inp, n);
    } else {
        gelu_forward_scalar_kernel<<<(unsigned)ceil_div_sz(n, block), block, 0, stream>>>(out, inp, n);
    }
    CUDA_CHECK_LAST();
}

static void gelu_backward_inplace(floatX *d_in_out, const floatX *inp, size_t n, cudaStream_t stream) {
    if (n == 0) return;
    const int block = 256;
    if (is_aligned16(d_in_out) && is_aligned16(inp)) {
        size_t nvec = ceil_div_sz(n, (size_t)x128::size);
        gelu_backward_inplace_kernel<<<(unsigned)ceil_div_sz(nvec, block), block, 0, stream>>>(d_in_out, inp, n);
    } else {
        gelu_backward_inplace_scalar_kernel<<<(unsigned)ceil_div_sz(n, block), block, 0, stream>>>(d_in_out, inp, n);
    }
    CUDA_CHECK_LAST();
}

#endif // LLMC_GELU_CUH
