/*
 * dev/cuda/classifier.cu: fused_classifier (llmc/fused_classifier.cuh) against the CPU
 * classifier_forward + classifier_backward of train_gpt2.c, then timed at the GPT-2 124M shape.
 *
 * Cases: GPT-2 vocabulary (V = 50257, Vp = 50304), a small padded vocabulary, Vp not a multiple of
 * the vector width (scalar path), no padding at all; write_dlogits = 0 (losses only, logits
 * untouched); per-token weights in [-1, 1) (classifier_backward's weights); an ignored row
 * (target -1: loss 0, zero gradient row).
 */
#define TESTING
#include "../../train_gpt2.c"

#include "../../llmc/fused_classifier.cuh"
#include "common.h"

#if FLOATX_IS_FP32
static const double LOSS_ATOL = 1e-5, LOSS_RTOL = 1e-5, D_TOL = 1e-4;
#else
static const double LOSS_ATOL = 1e-4, LOSS_RTOL = 1e-5, D_TOL = 1e-2;
#endif

static void run_case(Bench *b, const CudaContext *ctx, int N, int V, int Vp) {
    const size_t NV = (size_t)N * Vp;
    char name[128];
    float *logits = bench_random(NV, 0.0f, 4.0f, 1);
    int *targets = (int *)malloc_check(N * sizeof(int));
    BenchRng r = {7};
    for (int i = 0; i < N; i++) targets[i] = (int)(bench_rng_next(&r) % (uint64_t)V);
    const float dloss = 1.0f / N;
    float *losses = (float *)malloc_check(N * sizeof(float)), *lse = (float *)malloc_check(N * sizeof(float));
    classifier_forward(losses, lse, logits, targets, N, V, Vp);
    float *dlogits = bench_copy_host(logits, NV);
    classifier_backward(dlogits, lse, targets, NULL, dloss, N, V, Vp);

    floatX *d_logits = to_device(logits, NV);
    int *d_targets = to_device_int(targets, N);
    float *d_losses = to_device_f32(logits, N); // junk
    // losses only: logits must stay as they were
    fused_classifier(d_logits, d_losses, d_targets, NULL, dloss, N, V, Vp, 0, ctx->stream);
    float *g_losses = from_device_f32(d_losses, N), *g_logits = from_device(d_logits, NV);
    snprintf(name, sizeof(name), "fused_classifier_losses_only_N%d_V%d_Vp%d", N, V, Vp);
    check(b, name, g_losses, losses, N, LOSS_ATOL, LOSS_RTOL);
    snprintf(name, sizeof(name), "fused_classifier_logits_untouched_N%d_V%d_Vp%d", N, V, Vp);
    check(b, name, g_logits, logits, NV, 0.0, 0.0);
    free(g_losses); free(g_logits);
    // losses and dlogits
    fused_classifier(d_logits, d_losses, d_targets, NULL, dloss, N, V, Vp, 1, ctx->stream);
    g_losses = from_device_f32(d_losses, N);
    g_logits = from_device(d_logits, NV);
    snprintf(name, sizeof(name), "fused_classifier_losses_N%d_V%d_Vp%d", N, V, Vp);
    check(b, name, g_losses, losses, N, LOSS_ATOL, LOSS_RTOL);
    snprintf(name, sizeof(name), "fused_classifier_dlogits_N%d_V%d_Vp%d", N, V, Vp);
    check(b, name, g_logits, dlogits, NV, D_TOL * rms_of(dlogits, NV), D_TOL);
    free(g_losses); free(g_logits);
    // per-token weights (RL's advantages, any sign): row i's gradient scaled by dloss * w[i]
    float *w = bench_random((size_t)N, 0.0f, 1.0f, 3);
    float *dlogits_w = bench_copy_host(logits, NV);
    classifier_backward(dlogits_w, lse, targets, w, dloss, N, V, Vp);
    float *d_w = to_device_f32(w, N);
    to_device_into(d_logits, logits, NV);
    fused_classifier(d_logits, d_losses, d_targets, d_w, dloss, N, V, Vp, 1, ctx->stream);
    g_logits = from_device(d_logits, NV);
    snprintf(name, sizeof(name), "fused_classifier_weighted_dlogits_N%d_V%d_Vp%d", N, V, Vp);
    check(b, name, g_logits, dlogits_w, NV, D_TOL * rms_of(dlogits_w, NV), D_TOL);
    free(g_logits); free(w); free(dlogits_w);
    cudaCheck(cudaFree(d_w));
    // an ignored row: target -1 -> loss 0 and an all-zero gradient row
    to_device_into(d_logits, logits, NV);
    int ignored = -1;
    cudaCheck(cudaDeviceSynchronize()); // see to_device_into in common.h
    cudaCheck(cudaMemcpy(d_targets, &ignored, sizeof(int), cudaMemcpyHostToDevice));
    fused_classifier(d_logits, d_losses, d_targets, NULL, dloss, N, V, Vp, 1, ctx->stream);
    g_losses = from_device_f32(d_losses, N);
    g_logits = from_device(d_logits, NV);
    int zero_row = g_losses[0] == 0.0f;
    for (int v = 0; v < Vp; v++) zero_row &= g_logits[v] == 0.0f;
    snprintf(name, sizeof(name), "fused_classifier_ignored_row_N%d_V%d_Vp%d", N, V, Vp);
    check_true(b, name, zero_row, zero_row ? "target -1: loss 0, gradient row 0" : "target -1 row not zeroed");
    free(g_losses); free(g_logits);

    free(logits); free(targets); free(losses); free(lse); free(dlogits);
    cudaCheck(cudaFree(d_logits)); cudaCheck(cudaFree(d_targets)); cudaCheck(cudaFree(d_losses));
}

int main(void) {
    CudaContext ctx;
    cuda_context_init(&ctx, 0);
    Bench b;
    bench_init(&b, "classifier", ctx.stream);
    run_case(&b, &ctx, 128, 50257, 50304);
    run_case(&b, &ctx, 37, 97, 128);
    run_case(&b, &ctx, 20, 97, 100);
    run_case(&b, &ctx, 10, 5000, 5000);

    const int N = 64 * 1024, V = 50257, Vp = 50304;
    floatX *logits = bench_alloc_filled((size_t)N * Vp, 1, ctx.stream);
    int *targets_h = (int *)malloc_check(N * sizeof(int));
    for (int i = 0; i < N; i++) targets_h[i] = (int)((i * 2654435761u) % (unsigned)V);
    int *targets = to_device_int(targets_h, N);
    float *losses;
    cudaCheck(cudaMalloc(&losses, N * sizeof(float)));
    float ms = time_ms(ctx.stream, 10, [&]() { fused_classifier(logits, losses, targets, NULL, 1.0f / N, N, V, Vp, 0, ctx.stream); });
    report_bandwidth(&b, "fused_classifier losses only N=65536 Vp=50304", ms, (double)N * Vp * sizeof(floatX));
    // with gradients written the row is overwritten each time; the cost does not depend on the values
    ms = time_ms(ctx.stream, 10, [&]() { fused_classifier(logits, losses, targets, NULL, 1.0f / N, N, V, Vp, 1, ctx.stream); });
    report_bandwidth(&b, "fused_classifier losses + dlogits N=65536 Vp=50304", ms, 3.0 * N * Vp * sizeof(floatX));
    free(targets_h);
    cudaCheck(cudaFree(logits)); cudaCheck(cudaFree(targets)); cudaCheck(cudaFree(losses));
    int rc = bench_finish(&b);
    cuda_context_free(&ctx);
    return rc;
}
