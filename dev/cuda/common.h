/*
 * dev/cuda/common.h: helpers shared by the kernel benchmarks in dev/cuda/ (not by the trainer).
 *
 * Each benchmark includes the CPU layers (`#define TESTING` + train_gpt2.c) and the llmc/ kernel
 * header it measures, then this file. It provides:
 *   - random inputs that are never zero, already rounded to floatX precision so the CPU reference
 *     sees exactly the values the GPU sees;
 *   - host <-> device copies with floatX conversion;
 *   - check(): max abs / rel error against the CPU with a tolerance err <= atol + rtol*|ref|,
 *     one line "ok NAME: ..." or "not ok NAME: ..." per check; check_same(): bitwise equality
 *     (determinism);
 *   - timing with cudaEvents, the memory bandwidth of a plain device-to-device copy kernel, and
 *     the TFLOP/s of a large cuBLASLt GEMM (the matmul ceiling), to put numbers in context.
 * A benchmark exits with bench_finish(): status 1 if any check failed.
 */
#ifndef DEV_CUDA_COMMON_H
#define DEV_CUDA_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../llmc/cuda_common.h"
#include "../../llmc/gpt2.h"
#include "../../llmc/utils.h"

typedef struct {
    const char *program;
    int checks;
    int failures;
    double copy_gbps;    // measured device-to-device copy bandwidth (read + write bytes), 0 = not yet
    double gemm_tflops;  // measured large-GEMM throughput, 0 = not yet
    cudaStream_t stream;
} Bench;

// stream: where every kernel of the benchmark runs (the CudaContext's); the caller owns it.
static void bench_init(Bench *b, const char *program, cudaStream_t stream) {
    memset(b, 0, sizeof(*b));
    b->program = program;
    b->stream = stream;
    cudaDeviceProp p;
    int dev = 0;
    cudaCheck(cudaGetDevice(&dev));
    cudaCheck(cudaGetDeviceProperties(&p, dev));
    printf("# %s: %s, %d SMs, precision %s\n", program, p.name, p.multiProcessorCount, FLOATX_NAME);
}

static int bench_finish(Bench *b) {
    cudaCheck(cudaDeviceSynchronize());
    printf("# %s: %d checks, %d failed\n", b->program, b->checks, b->failures);
    return b->failures ? 1 : 0;
}

// ----------------------------------------------------------------------------
// random data (splitmix64): uniform in [-scale, scale), never exactly zero

typedef struct {
    uint64_t s;
} BenchRng;

static uint64_t bench_rng_next(BenchRng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// odd multiples of 2^-24 in (-1, 1): never zero
static float bench_rng_uniform(BenchRng *r) {
    uint32_t x = (uint32_t)(bench_rng_next(r) >> 40); // 24 bits
    return ((float)x + 0.5f) * (2.0f / 16777216.0f) - 1.0f;
}

// Value as it is after a round trip through floatX (round to nearest even).
static float round_floatx(float x) {
#if FLOATX_IS_FP32
    return x;
#else
    float r = bf16_to_float(float_to_bf16(x));
    return r;
#endif
}

// n values uniform in offset + [-scale, scale), rounded to floatX; a value that rounds to zero is
// nudged away from it (the checks want no zeros).
static float *bench_random(size_t n, float offset, float scale, uint64_t seed) {
    float *a = (float *)malloc_check(n * sizeof(float));
    BenchRng r = {seed * 0x2545F4914F6CDD1Dull + 1};
    for (size_t i = 0; i < n; i++) {
        float v = round_floatx(offset + scale * bench_rng_uniform(&r));
        if (v == 0.0f) v = round_floatx(scale * 1e-3f);
        a[i] = v;
    }
    return a;
}

static float *bench_copy_host(const float *a, size_t n) {
    float *b = (float *)malloc_check(n * sizeof(float));
    memcpy(b, a, n * sizeof(float));
    return b;
}

// ----------------------------------------------------------------------------
// host <-> device

static floatX *to_device(const float *h, size_t n) {
    floatX *d = NULL;
    cudaCheck(cudaMalloc(&d, (n ? n : 1) * sizeof(floatX)));
#if FLOATX_IS_FP32
    cudaCheck(cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice));
#else
    uint16_t *tmp = (uint16_t *)malloc_check(n * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++) tmp[i] = float_to_bf16(h[i]);
    cudaCheck(cudaMemcpy(d, tmp, n * sizeof(uint16_t), cudaMemcpyHostToDevice));
    free(tmp);
#endif
    return d;
}

// Overwrites a buffer that kernels on the (non-blocking) context stream may still be using:
// cudaMemcpy runs on the legacy stream, which does not wait for that stream, so wait first.
static void to_device_into(floatX *d, const float *h, size_t n) {
    cudaCheck(cudaDeviceSynchronize());
#if FLOATX_IS_FP32
    cudaCheck(cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice));
#else
    uint16_t *tmp = (uint16_t *)malloc_check(n * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++) tmp[i] = float_to_bf16(h[i]);
    cudaCheck(cudaMemcpy(d, tmp, n * sizeof(uint16_t), cudaMemcpyHostToDevice));
    free(tmp);
#endif
}

static float *from_device(const floatX *d, size_t n) {
    float *h = (float *)malloc_check((n ? n : 1) * sizeof(float));
    cudaCheck(cudaDeviceSynchronize());
#if FLOATX_IS_FP32
    cudaCheck(cudaMemcpy(h, d, n * sizeof(float), cudaMemcpyDeviceToHost));
#else
    uint16_t *tmp = (uint16_t *)malloc_check((n ? n : 1) * sizeof(uint16_t));
    cudaCheck(cudaMemcpy(tmp, d, n * sizeof(uint16_t), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < n; i++) h[i] = bf16_to_float(tmp[i]);
    free(tmp);
#endif
    return h;
}

static float *to_device_f32(const float *h, size_t n) {
    float *d = NULL;
    cudaCheck(cudaMalloc(&d, (n ? n : 1) * sizeof(float)));
    cudaCheck(cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice));
    return d;
}

static float *from_device_f32(const float *d, size_t n) {
    float *h = (float *)malloc_check((n ? n : 1) * sizeof(float));
    cudaCheck(cudaDeviceSynchronize());
    cudaCheck(cudaMemcpy(h, d, n * sizeof(float), cudaMemcpyDeviceToHost));
    return h;
}

static int *to_device_int(const int *h, size_t n) {
    int *d = NULL;
    cudaCheck(cudaMalloc(&d, (n ? n : 1) * sizeof(int)));
    cudaCheck(cudaMemcpy(d, h, n * sizeof(int), cudaMemcpyHostToDevice));
    return d;
}

// Raw bytes of a device buffer (for bitwise comparisons).
static unsigned char *bytes_from_device(const void *d, size_t nbytes) {
    unsigned char *h = (unsigned char *)malloc_check(nbytes ? nbytes : 1);
    cudaCheck(cudaDeviceSynchronize());
    cudaCheck(cudaMemcpy(h, d, nbytes, cudaMemcpyDeviceToHost));
    return h;
}

// ----------------------------------------------------------------------------
// checks

static double rms_of(const float *a, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * a[i];
    return n ? sqrt(s / (double)n) : 0.0;
}

// Passes if every |gpu - ref| <= atol + rtol * |ref| (and gpu is finite). Prints one line.
static int check(Bench *b, const char *name, const float *gpu, const float *ref, size_t n, double atol, double rtol) {
    double max_abs = 0.0, max_rel = 0.0, worst_ratio = 0.0;
    size_t bad = 0, worst = 0;
    for (size_t i = 0; i < n; i++) {
        double g = gpu[i], r = ref[i];
        double d = fabs(g - r);
        if (!isfinite(g)) d = INFINITY;
        double rel = d / (fabs(r) > 1e-30 ? fabs(r) : 1e-30);
        double tol = atol + rtol * fabs(r);
        if (d > max_abs) max_abs = d;
        if (rel > max_rel && fabs(r) > atol) max_rel = rel; // relative error where it is meaningful
        double ratio = d / (tol > 0 ? tol : 1e-30);
        if (ratio > worst_ratio) {
            worst_ratio = ratio;
            worst = i;
        }
        if (!(d <= tol)) bad++;
    }
    b->checks++;
    if (bad == 0) {
        printf("ok %s: n=%zu max abs err %.3e, max rel err %.3e (tol %.1e + %.1e*|ref|), worst at %.2f of tol\n", name,
               n, max_abs, max_rel, atol, rtol, worst_ratio);
        return 1;
    }
    b->failures++;
    printf("not ok %s: %zu of %zu outside tol %.1e + %.1e*|ref|; max abs err %.3e, max rel err %.3e; worst [%zu] "
           "gpu %.6e ref %.6e\n",
           name, bad, n, atol, rtol, max_abs, max_rel, worst, (double)gpu[worst], (double)ref[worst]);
    return 0;
}

// Bitwise equality of two host copies of a result (run-to-run determinism).
static int check_same(Bench *b, const char *name, const void *x, const void *y, size_t nbytes) {
    b->checks++;
    const unsigned char *p = (const unsigned char *)x, *q = (const unsigned char *)y;
    size_t diff = 0;
    for (size_t i = 0; i < nbytes; i++) diff += p[i] != q[i];
    if (diff == 0) {
        printf("ok %s: %zu bytes bitwise identical across runs\n", name, nbytes);
        return 1;
    }
    b->failures++;
    printf("not ok %s: %zu of %zu bytes differ between two identical runs\n", name, diff, nbytes);
    return 0;
}

static int check_true(Bench *b, const char *name, int cond, const char *detail) {
    b->checks++;
    if (cond) {
        printf("ok %s: %s\n", name, detail);
        return 1;
    }
    b->failures++;
    printf("not ok %s: %s\n", name, detail);
    return 0;
}

// ----------------------------------------------------------------------------
// timing and ceilings

// Average milliseconds of fn() over `reps` runs on `stream` after one warm-up run.
template <class F> static float time_ms(cudaStream_t stream, int reps, F fn) {
    fn();
    cudaEvent_t e0, e1;
    cudaCheck(cudaEventCreate(&e0));
    cudaCheck(cudaEventCreate(&e1));
    cudaCheck(cudaEventRecord(e0, stream));
    for (int i = 0; i < reps; i++) fn();
    cudaCheck(cudaEventRecord(e1, stream));
    cudaCheck(cudaEventSynchronize(e1));
    float ms = 0.0f;
    cudaCheck(cudaEventElapsedTime(&ms, e0, e1));
    cudaCheck(cudaEventDestroy(e0));
    cudaCheck(cudaEventDestroy(e1));
    return ms / reps;
}

__global__ void bench_copy_kernel(int4 *dst, const int4 *src, size_t n) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) dst[i] = __ldcs(src + i);
}

// Device-to-device copy bandwidth in GB/s (bytes read + bytes written), 1 GiB moved per copy.
static double bench_copy_bandwidth(Bench *b) {
    if (b->copy_gbps > 0) return b->copy_gbps;
    const size_t bytes = (size_t)512 << 20;
    void *src, *dst;
    cudaCheck(cudaMalloc(&src, bytes));
    cudaCheck(cudaMalloc(&dst, bytes));
    cudaCheck(cudaMemset(src, 1, bytes));
    int dev = 0, sms = 0;
    cudaCheck(cudaGetDevice(&dev));
    cudaCheck(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    const size_t n = bytes / 16;
    float ms = time_ms(b->stream, 10, [&]() {
        bench_copy_kernel<<<sms * 8, 256, 0, b->stream>>>((int4 *)dst, (const int4 *)src, n);
    });
    cudaCheck(cudaFree(src));
    cudaCheck(cudaFree(dst));
    b->copy_gbps = 2.0 * bytes / (ms * 1e-3) / 1e9;
    printf("# copy kernel bandwidth: %.0f GB/s (read + write)\n", b->copy_gbps);
    return b->copy_gbps;
}

// One line of performance numbers for a memory-bound kernel.
static void report_bandwidth(Bench *b, const char *name, float ms, double bytes) {
    double gbps = bytes / (ms * 1e-3) / 1e9;
    double ceiling = bench_copy_bandwidth(b);
    printf("perf %s: %.4f ms, %.0f GB/s = %.0f%% of copy bandwidth\n", name, ms, gbps, 100.0 * gbps / ceiling);
}

__global__ void bench_fill_kernel(floatX *p, size_t n, unsigned int seed) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) p[i] = from_float(((float)(hash_seed_index(seed, i) % 2001u) - 1000.0f) * 1e-3f);
}

// Fills a device floatX buffer with pseudo-random values in [-1, 1] (for timing-only buffers).
static void bench_fill(floatX *p, size_t n, unsigned int seed, cudaStream_t stream) {
    bench_fill_kernel<<<(unsigned)ceil_div_sz(n, 256), 256, 0, stream>>>(p, n, seed);
    CUDA_CHECK_LAST();
}

static floatX *bench_alloc_filled(size_t n, unsigned int seed, cudaStream_t stream) {
    floatX *p = NULL;
    cudaCheck(cudaMalloc(&p, (n ? n : 1) * sizeof(floatX)));
    bench_fill(p, n, seed, stream);
    return p;
}

#ifdef LLMC_MATMUL_CUH
// TFLOP/s of an 8192^3 GEMM through matmul_forward (the matmul ceiling of this GPU and precision).
static double bench_gemm_ceiling(Bench *b, const CudaContext *ctx) {
    if (b->gemm_tflops > 0) return b->gemm_tflops;
    const int n = 8192;
    const size_t nn = (size_t)n * n;
    floatX *x = bench_alloc_filled(nn, 1, ctx->stream);
    floatX *w = bench_alloc_filled(nn, 2, ctx->stream);
    floatX *o = bench_alloc_filled(nn, 3, ctx->stream);
    float ms = time_ms(ctx->stream, 5, [&]() { matmul_forward(ctx, o, x, w, NULL, n, n, n, NULL); });
    b->gemm_tflops = 2.0 * n * (double)n * n / (ms * 1e-3) / 1e12;
    printf("# GEMM ceiling: %d^3 %s GEMM %.3f ms = %.1f TFLOP/s\n", n, FLOATX_NAME, ms, b->gemm_tflops);
    cudaCheck(cudaFree(x));
    cudaCheck(cudaFree(w));
    cudaCheck(cudaFree(o));
    return b->gemm_tflops;
}

static void report_flops(Bench *b, const CudaContext *ctx, const char *name, float ms, double flops) {
    double tf = flops / (ms * 1e-3) / 1e12;
    double ceiling = bench_gemm_ceiling(b, ctx);
    printf("perf %s: %.4f ms, %.1f TFLOP/s = %.0f%% of the GEMM ceiling\n", name, ms, tf, 100.0 * tf / ceiling);
}
#endif

#endif // DEV_CUDA_COMMON_H
