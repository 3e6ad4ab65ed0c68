/*
 * dev/cuda/kv_attention.cu: kv_attention_forward (llmc/kv_attention.cuh, the attention of decoding
 * over the KV cache) against the CPU's (llmc/generate.h), then timed at a d12 decode step.
 *
 * Cases: heads of 64 channels (GPT-2), 16 (narrower than a warp), 48 (the block's threads not a
 * multiple of the head: idle threads), 200 (wider than the block: the per-channel loop); rows of
 * several slots at positions 0, 1, the last, and in between, two rows of one slot in one call; a
 * 2048-position context. Every case runs twice: the results must be bitwise equal.
 */
#define TESTING
#include "../../train_gpt2.c"

#include "../../llmc/generate.h"
#include "../../llmc/kv_attention.cuh"
#include "common.h"

#if FLOATX_IS_FP32
static const double TOL = 1e-5;
#else
static const double TOL = 1e-2; // one bf16 rounding of the output, plus the inputs' fp32 noise
#endif

static void run_case(Bench *b, const CudaContext *ctx, int C, int NH, int S, int maxT, const int *slots, const int *pos,
                     int n) {
    char name[128];
    size_t cache = (size_t)S * maxT * C;
    float *qkv = bench_random((size_t)n * 3 * C, 0.0f, 2.0f, 1); // scores of a few units: a peaked softmax
    float *k = bench_random(cache, 0.0f, 2.0f, 2);
    float *v = bench_random(cache, 0.0f, 1.0f, 3);
    float *out = (float *)malloc_check((size_t)n * C * sizeof(float));
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    float *scratch = (float *)malloc_check((size_t)threads * maxT * sizeof(float));
    kv_attention_forward(out, qkv, k, v, slots, pos, n, C, NH, maxT, scratch);

    floatX *d_qkv = to_device(qkv, (size_t)n * 3 * C), *d_k = to_device(k, cache), *d_v = to_device(v, cache);
    floatX *d_out = to_device(out, (size_t)n * C); // overwritten
    int *d_slots = to_device_int(slots, n), *d_pos = to_device_int(pos, n);
    kv_attention_forward(d_out, d_qkv, d_k, d_v, d_slots, d_pos, n, C, NH, maxT, ctx->stream);
    float *g1 = from_device(d_out, (size_t)n * C);
    snprintf(name, sizeof(name), "kv_attention_forward_C%d_NH%d_HS%d_maxT%d_n%d", C, NH, C / NH, maxT, n);
    check(b, name, g1, out, (size_t)n * C, TOL * rms_of(out, (size_t)n * C), TOL);
    kv_attention_forward(d_out, d_qkv, d_k, d_v, d_slots, d_pos, n, C, NH, maxT, ctx->stream);
    float *g2 = from_device(d_out, (size_t)n * C);
    snprintf(name, sizeof(name), "kv_attention_forward_deterministic_C%d_NH%d", C, NH);
    check_same(b, name, g1, g2, (size_t)n * C * sizeof(float));
    free(qkv); free(k); free(v); free(out); free(scratch); free(g1); free(g2);
    cudaCheck(cudaFree(d_qkv)); cudaCheck(cudaFree(d_k)); cudaCheck(cudaFree(d_v)); cudaCheck(cudaFree(d_out));
    cudaCheck(cudaFree(d_slots)); cudaCheck(cudaFree(d_pos));
}

int main(void) {
    CudaContext ctx;
    cuda_context_init(&ctx, 0);
    Bench b;
    bench_init(&b, "kv_attention", ctx.stream);
    // slot and position of each row: the first position, the second, the last, in between, and
    // two rows of slot 0 in one call
    const int slots[6] = {0, 1, 2, 1, 0, 2}, pos64[6] = {0, 1, 63, 17, 40, 5};
    run_case(&b, &ctx, 768, 12, 3, 64, slots, pos64, 6);  // HS 64
    run_case(&b, &ctx, 48, 3, 3, 64, slots, pos64, 6);    // HS 16
    run_case(&b, &ctx, 96, 2, 3, 64, slots, pos64, 6);    // HS 48
    run_case(&b, &ctx, 400, 2, 3, 64, slots, pos64, 6);   // HS 200
    const int pos2k[6] = {2047, 0, 1000, 2046, 1, 1500};
    run_case(&b, &ctx, 128, 2, 3, 2048, slots, pos2k, 6); // a long context

    // timing: a d12 decode step of 64 sequences at position 1023 (every cached key and value read once)
    const int n = 64, C = 768, NH = 12, maxT = 1024;
    size_t cache = (size_t)n * maxT * C;
    floatX *qkv = bench_alloc_filled((size_t)n * 3 * C, 1, ctx.stream), *k = bench_alloc_filled(cache, 2, ctx.stream);
    floatX *v = bench_alloc_filled(cache, 3, ctx.stream), *out = bench_alloc_filled((size_t)n * C, 4, ctx.stream);
    int hs[64], hp[64];
    for (int i = 0; i < n; i++) hs[i] = i, hp[i] = maxT - 1;
    int *d_slots = to_device_int(hs, n), *d_pos = to_device_int(hp, n);
    float ms = time_ms(ctx.stream, 20, [&]() { kv_attention_forward(out, qkv, k, v, d_slots, d_pos, n, C, NH, maxT, ctx.stream); });
    report_bandwidth(&b, "kv_attention_forward d12 n=64 pos=1023", ms, 2.0 * cache * sizeof(floatX));
    cudaCheck(cudaFree(qkv)); cudaCheck(cudaFree(k)); cudaCheck(cudaFree(v)); cudaCheck(cudaFree(out));
    cudaCheck(cudaFree(d_slots)); cudaCheck(cudaFree(d_pos));
    int rc = bench_finish(&b);
    cuda_context_free(&ctx);
    return rc;
}
