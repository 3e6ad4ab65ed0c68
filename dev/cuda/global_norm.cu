/*
 * dev/cuda/global_norm.cu: global_norm_squared (llmc/global_norm.cuh) against a double-precision sum
 * of squares on the CPU (what gpt2_grad_norm in train_gpt2.c computes, squared), then timed over
 * the GPT-2 124M parameter count.
 *
 * Cases: a large aligned tensor (vector path + scalar tail), a small tensor one element off 16-byte
 * alignment (scalar path), the same sum as two calls with accumulate = 1, and run-to-run bitwise
 * equality.
 */
#define TESTING
#include "../../train_gpt2.c"

#include "../../llmc/global_norm.cuh"
#include "common.h"

static double cpu_sumsq(const float *a, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * a[i];
    return s;
}

static void run_case(Bench *b, const CudaContext *ctx, size_t n, int offset) {
    char name[128];
    float *x = bench_random(n, 0.0f, 1.0f, 3);
    const double ref = cpu_sumsq(x, n);
    floatX *d = NULL;
    cudaCheck(cudaMalloc(&d, (n + offset) * sizeof(floatX)));
    to_device_into(d + offset, x, n);
    float *out, *scratch;
    cudaCheck(cudaMalloc(&out, sizeof(float)));
    cudaCheck(cudaMalloc(&scratch, global_norm_scratch_floats() * sizeof(float)));
    global_norm_squared(out, d + offset, n, scratch, 0, ctx->stream);
    float got = 0.0f;
    cudaCheck(cudaStreamSynchronize(ctx->stream)); // the stream does not wait for the legacy stream
    cudaCheck(cudaMemcpy(&got, out, sizeof(float), cudaMemcpyDeviceToHost));
    float reff = (float)ref;
    snprintf(name, sizeof(name), "global_norm_squared_n%zu_offset%d", n, offset);
    check(b, name, &got, &reff, 1, 0.0, 1e-5);
    // two calls: first half, then the rest with accumulate = 1
    const size_t h = n / 2;
    global_norm_squared(out, d + offset, h, scratch, 0, ctx->stream);
    global_norm_squared(out, d + offset + h, n - h, scratch, 1, ctx->stream);
    float got2 = 0.0f;
    cudaCheck(cudaStreamSynchronize(ctx->stream));
    cudaCheck(cudaMemcpy(&got2, out, sizeof(float), cudaMemcpyDeviceToHost));
    snprintf(name, sizeof(name), "global_norm_squared_accumulate_n%zu_offset%d", n, offset);
    check(b, name, &got2, &reff, 1, 0.0, 1e-5);
    // determinism
    float again = 0.0f;
    global_norm_squared(out, d + offset, n, scratch, 0, ctx->stream);
    cudaCheck(cudaStreamSynchronize(ctx->stream));
    cudaCheck(cudaMemcpy(&again, out, sizeof(float), cudaMemcpyDeviceToHost));
    snprintf(name, sizeof(name), "global_norm_squared_deterministic_n%zu_offset%d", n, offset);
    check_same(b, name, &got, &again, sizeof(float));
    free(x);
    cudaCheck(cudaFree(d)); cudaCheck(cudaFree(out)); cudaCheck(cudaFree(scratch));
}

int main(void) {
    CudaContext ctx;
    cuda_context_init(&ctx, 0);
    Bench b;
    bench_init(&b, "global_norm", ctx.stream);
    run_case(&b, &ctx, 10000003, 0);
    run_case(&b, &ctx, 1001, 1);
    run_case(&b, &ctx, 7, 0);

    const size_t n = 124475904; // GPT-2 124M parameters
    floatX *g = bench_alloc_filled(n, 1, ctx.stream);
    float *out, *scratch;
    cudaCheck(cudaMalloc(&out, sizeof(float)));
    cudaCheck(cudaMalloc(&scratch, global_norm_scratch_floats() * sizeof(float)));
    float ms = time_ms(ctx.stream, 20, [&]() { global_norm_squared(out, g, n, scratch, 0, ctx.stream); });
    report_bandwidth(&b, "global_norm_squared n=124475904", ms, (double)n * sizeof(floatX));
    cudaCheck(cudaFree(g)); cudaCheck(cudaFree(out)); cudaCheck(cudaFree(scratch));
    int rc = bench_finish(&b);
    cuda_context_free(&ctx);
    return rc;
}
