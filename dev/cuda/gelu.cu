/*
 * dev/cuda/gelu.cu: gelu_forward / gelu_backward_inplace (llmc/gelu.cuh) against the CPU layers of
 * train_gpt2.c, then timed at the GPT-2 124M MLP shape (B*T x 4C).
 *
 * Cases: a vector-friendly size, an odd size (scalar tail), and pointers one element off 16-byte
 * alignment (the scalar kernels).
 */
#define TESTING
#include "../../train_gpt2.c"

#include "../../llmc/gelu.cuh"
#include "common.h"

#if FLOATX_IS_FP32
static const double ATOL = 1e-6, RTOL = 1e-5;
#else
static const double ATOL = 1e-5, RTOL = 5e-3; // one bf16 rounding of the result
#endif

// offset: elements by which the device pointers are shifted (1 breaks 16-byte alignment)
static void run_case(Bench *b, const CudaContext *ctx, size_t n, int offset) {
    char name[128];
    float *x = bench_random(n, 0.0f, 4.0f, 1);
    float *d = bench_random(n, 0.0f, 1.0f, 2);
    float *y = (float *)malloc_check(n * sizeof(float));
    gelu_forward(y, x, n);
    float *dx = (float *)calloc_check(n, sizeof(float));
    gelu_backward(dx, x, d, n); // 0 += d * gelu'(x)

    floatX *bx = NULL, *bd = NULL, *by = NULL; // n + offset elements: room for the shift
    cudaCheck(cudaMalloc(&bx, (n + offset) * sizeof(floatX)));
    cudaCheck(cudaMalloc(&bd, (n + offset) * sizeof(floatX)));
    cudaCheck(cudaMalloc(&by, (n + offset) * sizeof(floatX)));
    to_device_into(bx + offset, x, n);
    to_device_into(bd + offset, d, n);
    gelu_forward(by + offset, bx + offset, n, ctx->stream);
    float *gy = from_device(by + offset, n);
    snprintf(name, sizeof(name), "gelu_forward_n%zu_offset%d", n, offset);
    check(b, name, gy, y, n, ATOL, RTOL);
    gelu_backward_inplace(bd + offset, bx + offset, n, ctx->stream);
    float *gd = from_device(bd + offset, n);
    snprintf(name, sizeof(name), "gelu_backward_inplace_n%zu_offset%d", n, offset);
    check(b, name, gd, dx, n, ATOL, RTOL);
    free(x); free(d); free(y); free(dx); free(gy); free(gd);
    cudaCheck(cudaFree(bx)); cudaCheck(cudaFree(bd)); cudaCheck(cudaFree(by));
}

int main(void) {
    CudaContext ctx;
    cuda_context_init(&ctx, 0);
    Bench b;
    bench_init(&b, "gelu", ctx.stream);
    run_case(&b, &ctx, (size_t)1 << 20, 0);
    run_case(&b, &ctx, 1000003, 0);
    run_case(&b, &ctx, 1000003, 1);

    const size_t n = (size_t)64 * 1024 * 3072;
    floatX *x = bench_alloc_filled(n, 1, ctx.stream), *y = bench_alloc_filled(n, 2, ctx.stream);
    float ms = time_ms(ctx.stream, 20, [&]() { gelu_forward(y, x, n, ctx.stream); });
    report_bandwidth(&b, "gelu_forward n=64*1024*3072", ms, 2.0 * n * sizeof(floatX));
    ms = time_ms(ctx.stream, 20, [&]() { gelu_backward_inplace(y, x, n, ctx.stream); });
    report_bandwidth(&b, "gelu_backward_inplace n=64*1024*3072", ms, 3.0 * n * sizeof(floatX));
    cudaCheck(cudaFree(x));
    cudaCheck(cudaFree(y));
    int rc = bench_finish(&b);
    cuda_context_free(&ctx);
    return rc;
}
