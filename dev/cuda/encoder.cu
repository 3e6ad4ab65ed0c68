/*
 * dev/cuda/encoder.cu: encoder_forward / encoder_backward (llmc/encoder.cuh) against the CPU layers
 * of train_gpt2.c, then timed at a GPT-2 124M training shape.
 *
 * Cases: GPT-2 sizes with a quarter of the positions on one token (end-of-text), so big buckets
 * are split into several work items and reduced in a second pass; and an odd shape (C = 50, not a
 * multiple of the vector width: scalar path). The backward accumulates into non-zero gradients and
 * must repeat bit for bit.
 */
#define TESTING
#include "../../train_gpt2.c"

#include "../../llmc/encoder.cuh"
#include "common.h"

#if FLOATX_IS_FP32
static const double FWD_RTOL = 1e-6, BWD_ATOL = 1e-3, BWD_RTOL = 1e-5;
#else
static const double FWD_RTOL = 5e-3, BWD_ATOL = 1e-3, BWD_RTOL = 5e-3; // half a bf16 ulp + fp32 noise
#endif

static int *random_tokens(size_t n, int V, int eot_percent, uint64_t seed) {
    int *tok = (int *)malloc_check(n * sizeof(int));
    BenchRng r = {seed};
    for (size_t i = 0; i < n; i++) {
        uint64_t x = bench_rng_next(&r);
        tok[i] = (int)(x % 100) < eot_percent ? V - 1 : (int)((x >> 8) % (uint64_t)V);
    }
    return tok;
}

static void run_case(Bench *b, const CudaContext *ctx, const char *tag, int B, int T, int C, int V, int Vp, int maxT,
                     int eot_percent) {
    const size_t N = (size_t)B * T;
    char name[128];
    int *inp = random_tokens(N, V, eot_percent, 11);
    float *wte = bench_random((size_t)Vp * C, 0.0f, 1.0f, 1);
    float *wpe = bench_random((size_t)maxT * C, 0.0f, 1.0f, 2);
    float *dout = bench_random(N * C, 0.0f, 1.0f, 3);
    float *dwte0 = bench_random((size_t)Vp * C, 0.0f, 0.5f, 4); // gradients accumulate: start non-zero
    float *dwpe0 = bench_random((size_t)maxT * C, 0.0f, 0.5f, 5);

    // forward
    float *out_cpu = (float *)malloc_check(N * C * sizeof(float));
    encoder_forward(out_cpu, inp, wte, wpe, B, T, C);
    int *d_inp = to_device_int(inp, N);
    floatX *d_wte = to_device(wte, (size_t)Vp * C), *d_wpe = to_device(wpe, (size_t)maxT * C);
    floatX *d_out = to_device(out_cpu, N * C); // overwritten
    encoder_forward(d_out, d_inp, d_wte, d_wpe, B, T, C, ctx->stream);
    float *out_gpu = from_device(d_out, N * C);
    snprintf(name, sizeof(name), "encoder_forward_%s", tag);
    check(b, name, out_gpu, out_cpu, N * C, 1e-6, FWD_RTOL);

    // backward
    float *dwte_cpu = bench_copy_host(dwte0, (size_t)Vp * C), *dwpe_cpu = bench_copy_host(dwpe0, (size_t)maxT * C);
    encoder_backward(dwte_cpu, dwpe_cpu, dout, inp, B, T, C);
    floatX *d_dout = to_device(dout, N * C);
    floatX *d_dwte = to_device(dwte0, (size_t)Vp * C), *d_dwpe = to_device(dwpe0, (size_t)maxT * C);
    void *scratch = NULL;
    cudaCheck(cudaMalloc(&scratch, encoder_backward_scratch_bytes(B, T, C)));
    encoder_backward(d_dwte, d_dwpe, d_dout, d_inp, inp, B, T, C, scratch, ctx->stream);
    float *dwte_gpu = from_device(d_dwte, (size_t)Vp * C), *dwpe_gpu = from_device(d_dwpe, (size_t)maxT * C);
    snprintf(name, sizeof(name), "encoder_backward_dwte_%s", tag);
    check(b, name, dwte_gpu, dwte_cpu, (size_t)Vp * C, BWD_ATOL, BWD_RTOL);
    snprintf(name, sizeof(name), "encoder_backward_dwpe_%s", tag);
    check(b, name, dwpe_gpu, dwpe_cpu, (size_t)maxT * C, BWD_ATOL, BWD_RTOL);

    // determinism: same inputs again, bitwise the same result
    unsigned char *run1 = bytes_from_device(d_dwte, (size_t)Vp * C * sizeof(floatX));
    to_device_into(d_dwte, dwte0, (size_t)Vp * C);
    to_device_into(d_dwpe, dwpe0, (size_t)maxT * C);
    encoder_backward(d_dwte, d_dwpe, d_dout, d_inp, inp, B, T, C, scratch, ctx->stream);
    unsigned char *run2 = bytes_from_device(d_dwte, (size_t)Vp * C * sizeof(floatX));
    snprintf(name, sizeof(name), "encoder_backward_deterministic_%s", tag);
    check_same(b, name, run1, run2, (size_t)Vp * C * sizeof(floatX));

    free(run1); free(run2);
    free(inp); free(wte); free(wpe); free(dout); free(dwte0); free(dwpe0); free(out_cpu); free(out_gpu);
    free(dwte_cpu); free(dwpe_cpu); free(dwte_gpu); free(dwpe_gpu);
    cudaCheck(cudaFree(d_inp)); cudaCheck(cudaFree(d_wte)); cudaCheck(cudaFree(d_wpe)); cudaCheck(cudaFree(d_out));
    cudaCheck(cudaFree(d_dout)); cudaCheck(cudaFree(d_dwte)); cudaCheck(cudaFree(d_dwpe)); cudaCheck(cudaFree(scratch));
}

static void run_timing(Bench *b, const CudaContext *ctx, int B, int T, int C, int V, int Vp) {
    const size_t N = (size_t)B * T;
    int *inp = random_tokens(N, V, 5, 21);
    int *d_inp = to_device_int(inp, N);
    floatX *wte = bench_alloc_filled((size_t)Vp * C, 1, ctx->stream), *wpe = bench_alloc_filled((size_t)T * C, 2, ctx->stream);
    floatX *out = bench_alloc_filled(N * C, 3, ctx->stream);
    void *scratch = NULL;
    cudaCheck(cudaMalloc(&scratch, encoder_backward_scratch_bytes(B, T, C)));
    float ms = time_ms(ctx->stream, 20, [&]() { encoder_forward(out, d_inp, wte, wpe, B, T, C, ctx->stream); });
    char name[128];
    snprintf(name, sizeof(name), "encoder_forward B=%d T=%d C=%d", B, T, C);
    report_bandwidth(b, name, ms, 3.0 * N * C * sizeof(floatX));
    // backward: count distinct tokens for the bytes estimate (dwte rows read + written once each)
    char *seen = (char *)calloc_check((size_t)V, 1);
    size_t distinct = 0;
    for (size_t i = 0; i < N; i++) {
        if (!seen[inp[i]]) distinct++;
        seen[inp[i]] = 1;
    }
    ms = time_ms(ctx->stream, 10, [&]() {
        encoder_backward(wte, wpe, out, d_inp, inp, B, T, C, scratch, ctx->stream);
    });
    snprintf(name, sizeof(name), "encoder_backward B=%d T=%d C=%d (incl. host bucketing)", B, T, C);
    report_bandwidth(b, name, ms, (2.0 * N + 2.0 * distinct + 2.0 * T) * C * sizeof(floatX));
    free(seen);
    free(inp);
    cudaCheck(cudaFree(d_inp)); cudaCheck(cudaFree(wte)); cudaCheck(cudaFree(wpe)); cudaCheck(cudaFree(out));
    cudaCheck(cudaFree(scratch));
}

int main(void) {
    CudaContext ctx;
    cuda_context_init(&ctx, 0);
    Bench b;
    bench_init(&b, "encoder", ctx.stream);
    run_case(&b, &ctx, "gpt2", 8, 1024, 768, 50257, 50304, 1024, 25);
    run_case(&b, &ctx, "odd", 3, 37, 50, 97, 128, 64, 30);
    run_timing(&b, &ctx, 64, 1024, 768, 50257, 50304);
    int rc = bench_finish(&b);
    cuda_context_free(&ctx);
    return rc;
}
