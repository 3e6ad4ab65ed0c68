/*
 * cuda_common.h: what every CUDA kernel header in llmc/ shares.
 *
 *   floatX              activation/parameter type: __nv_bfloat16 (default) or float (-DENABLE_FP32)
 *   cudaCheck(x)        dies with "error: CUDA <what> at file:line" if a runtime call failed
 *   cublasCheck(x)      the same for cuBLAS / cuBLASLt status codes
 *   CUDA_CHECK_LAST()   after a kernel launch: reports launch errors (bad config, ...)
 *   Packed128<T>        16 bytes of T for one vector load/store; load128 / load128cs (streaming,
 *                       evict-first) / store128 / store128cs. Pointers must be 16-byte aligned.
 *   stochastic_round    float -> floatX rounding up with probability equal to the dropped fraction,
 *                       driven by a hash of (seed, index): deterministic, no RNG state.
 *                       Identity in fp32 builds.
 *   CudaContext         stream + cuBLASLt handle + workspace + device properties, passed
 *                       explicitly (no global mutable state): cuda_context_init / cuda_context_free.
 *   warp_reduce_sum / warp_reduce_max / block_reduce_sum: fixed-order reductions (deterministic).
 *
 * All reductions in the llmc/ kernel headers accumulate in fp32 and never use float atomics, so results are
 * bitwise identical from run to run on the same GPU.
 */
#ifndef LLMC_CUDA_COMMON_H
#define LLMC_CUDA_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

// ----------------------------------------------------------------------------
// Precision

#if defined(ENABLE_FP32)
typedef float floatX;
#define FLOATX_IS_FP32 1
#define FLOATX_NAME "fp32"
#else
typedef __nv_bfloat16 floatX;
#define FLOATX_IS_FP32 0
#define FLOATX_NAME "bf16"
#endif

// ----------------------------------------------------------------------------
// Error checking: one line on stderr, exit(1)

static inline void cuda_check_(cudaError_t err, const char *what, const char *file, int line) {
    if (err != cudaSuccess) {
        fflush(stdout);
        fprintf(stderr, "error: CUDA %s (%s) at %s:%d\n", cudaGetErrorString(err), what, file, line);
        exit(1);
    }
}
#define cudaCheck(x) cuda_check_((x), #x, __FILE__, __LINE__)
#define CUDA_CHECK_LAST() cuda_check_(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

static inline void cublas_check_(cublasStatus_t st, const char *what, const char *file, int line) {
    if (st != CUBLAS_STATUS_SUCCESS) {
        fflush(stdout);
        fprintf(stderr, "error: CUDA cuBLAS status %d (%s) at %s:%d\n", (int)st, what, file, line);
        exit(1);
    }
}
#define cublasCheck(x) cublas_check_((x), #x, __FILE__, __LINE__)

static inline int ceil_div(int a, int b) { return (a + b - 1) / b; }
static inline size_t ceil_div_sz(size_t a, size_t b) { return (a + b - 1) / b; }

// True when p is 16-byte aligned (Packed128 loads/stores need it).
static inline int is_aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

// ----------------------------------------------------------------------------
// 16-byte vectors

template <class T> struct alignas(16) Packed128 {
    static constexpr int size = (int)(16 / sizeof(T));
    T payload[size];

    __device__ __forceinline__ Packed128() {}
    __device__ __forceinline__ explicit Packed128(int4 bits) {
        static_assert(sizeof(Packed128) == sizeof(int4), "Packed128 must be 16 bytes");
        memcpy(&payload, &bits, sizeof(bits));
    }
    __device__ __forceinline__ static Packed128 constant(T v) {
        Packed128 r;
#pragma unroll
        for (int k = 0; k < size; k++) r.payload[k] = v;
        return r;
    }
    __device__ __forceinline__ T &operator[](int k) { return payload[k]; }
    __device__ __forceinline__ const T &operator[](int k) const { return payload[k]; }
    __device__ __forceinline__ int4 get_bits() const {
        int4 bits;
        memcpy(&bits, &payload, sizeof(bits));
        return bits;
    }
};
typedef Packed128<floatX> x128;
typedef Packed128<float> f128;

template <class T> __device__ __forceinline__ Packed128<T> load128(const T *address) {
    return Packed128<T>(*reinterpret_cast<const int4 *>(address));
}
// Streaming load (cache at all levels, evict first): data read once.
template <class T> __device__ __forceinline__ Packed128<T> load128cs(const T *address) {
    return Packed128<T>(__ldcs(reinterpret_cast<const int4 *>(address)));
}
template <class T> __device__ __forceinline__ void store128(T *target, Packed128<T> value) {
    *reinterpret_cast<int4 *>(target) = value.get_bits();
}
// Streaming store: data not read again soon.
template <class T> __device__ __forceinline__ void store128cs(T *target, Packed128<T> value) {
    __stcs(reinterpret_cast<int4 *>(target), value.get_bits());
}

// ----------------------------------------------------------------------------
// Conversions

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

// Round to nearest even (deterministic, used for activations).
__device__ __forceinline__ floatX from_float(float x) {
#if FLOATX_IS_FP32
    return x;
#else
    return __float2bfloat16_rn(x);
#endif
}

// 32-bit hash of (seed, index) (murmur3 finaliser over a mix of both): every element gets an
// independent-looking random word without any RNG state.
__device__ __forceinline__ unsigned int hash_seed_index(unsigned int seed, size_t index) {
    unsigned int h = (unsigned int)index * 0x9E3779B1u;
    h ^= (unsigned int)(index >> 32) * 0x85EBCA77u;
    h ^= seed * 0xC2B2AE3Du + 0x27D4EB2Fu;
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

// Stochastic rounding float -> floatX: bf16 keeps the top 16 bits of the fp32 pattern; adding a
// uniform random 16-bit value to the dropped half before truncating rounds up with probability
// dropped/65536, so the expected value equals x (unbiased small parameter updates).
// NaN/Inf pass through unchanged.
__device__ __forceinline__ floatX stochastic_round(float x, unsigned int seed, size_t index) {
#if FLOATX_IS_FP32
    (void)seed;
    (void)index;
    return x;
#else
    unsigned int bits = __float_as_uint(x);
    if ((bits & 0x7F800000u) == 0x7F800000u) return __float2bfloat16_rn(x);
    unsigned int r = hash_seed_index(seed, index) & 0xFFFFu;
    bits = (bits + r) & 0xFFFF0000u;
    return __float2bfloat16_rz(__uint_as_float(bits)); // exact: low half is zero
#endif
}

// exp for softmax-type math: the hardware approximation (ex2.approx, ~2 ulp plus the range
// reduction) in bf16 builds, where bf16 rounding dominates anyway; IEEE expf in fp32 builds, the
// exact-testing configuration.
__device__ __forceinline__ float fast_expf(float x) {
#if FLOATX_IS_FP32
    return expf(x);
#else
    return __expf(x);
#endif
}

// ----------------------------------------------------------------------------
// Fixed-order reductions (deterministic)

__device__ __forceinline__ float warp_reduce_sum(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
    return v;
}
__device__ __forceinline__ float warp_reduce_max(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, off));
    return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024). Every thread gets the
// result. `shared` holds >= 32 floats; the function may be called repeatedly with the same array
// (it synchronises before reuse).
__device__ __forceinline__ float block_reduce_sum(float v, float *shared) {
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int nwarps = (int)(blockDim.x >> 5);
    v = warp_reduce_sum(v);
    __syncthreads(); // previous use of `shared` finished
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    float r = lane < nwarps ? shared[lane] : 0.0f;
    return warp_reduce_sum(r);
}

// ----------------------------------------------------------------------------
// Context: everything a kernel launcher needs besides its tensors.

#define CUDA_CONTEXT_WORKSPACE_BYTES ((size_t)32 << 20) // cuBLASLt on Hopper wants 32 MiB

typedef struct {
    cudaStream_t stream;
    cublasLtHandle_t lt;
    void *workspace;       // cuBLASLt workspace, device memory
    size_t workspace_size; // bytes
    cudaDeviceProp props;
} CudaContext;

// Selects `device`, creates a non-blocking stream, the cuBLASLt handle and its workspace.
static inline void cuda_context_init(CudaContext *ctx, int device) {
    cudaCheck(cudaSetDevice(device));
    cudaCheck(cudaGetDeviceProperties(&ctx->props, device));
    cudaCheck(cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking));
    cublasCheck(cublasLtCreate(&ctx->lt));
    ctx->workspace_size = CUDA_CONTEXT_WORKSPACE_BYTES;
    cudaCheck(cudaMalloc(&ctx->workspace, ctx->workspace_size));
}

static inline void cuda_context_free(CudaContext *ctx) {
    cudaCheck(cudaStreamSynchronize(ctx->stream));
    cudaCheck(cudaFree(ctx->workspace));
    cublasCheck(cublasLtDestroy(ctx->lt));
    cudaCheck(cudaStreamDestroy(ctx->stream));
    ctx->workspace = NULL;
    ctx->workspace_size = 0;
}

#endif // LLMC_CUDA_COMMON_H
