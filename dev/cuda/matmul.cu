/*
 * dev/cuda/matmul.cu: matmul_forward / matmul_backward (llmc/matmul.cuh, cuBLASLt) against the CPU
 * layers of train_gpt2.c, then timed at the GPT-2 124M training shapes against the GEMM ceiling.
 *
 * Cases: the four linear layers of a GPT-2 block (qkv, attproj, fc with fused GELU, fcproj), the
 * classifier (no bias, OC = 50304), and odd shapes (OC = 97: the GELU aux epilogue needs OC % 8 == 0,
 * so the unfused fallback runs; C = 48 / 40; dbias scalar path). The backward accumulates into
 * non-zero gradients; with GELU, dout is replaced in place by dout * gelu'(pre_gelu), which is
 * checked too. dweight and dbias must repeat bit for bit.
 */
#define TESTING
#include "../../train_gpt2.c"

#include "../../llmc/matmul.cuh"
#include "common.h"

#if FLOATX_IS_FP32
static const double TOL = 1e-4; // abs tol = TOL * rms(ref), rel tol = TOL
#else
static const double TOL = 1e-2;
#endif

static void run_case(Bench *b, const CudaContext *ctx, const char *tag, int N, int C, int OC, int has_bias, int gelu) {
    const size_t NC = (size_t)N * C, NO = (size_t)N * OC, OCC = (size_t)OC * C;
    char name[160];
    float *inp = bench_random(NC, 0.0f, 1.0f, 1);
    float *w = bench_random(OCC, 0.0f, 1.0f / sqrtf((float)C), 2);
    float *bias = has_bias ? bench_random(OC, 0.0f, 0.5f, 3) : NULL;
    floatX *d_inp = to_device(inp, NC), *d_w = to_device(w, OCC), *d_bias = has_bias ? to_device(bias, OC) : NULL;

    // forward
    float *pre = (float *)malloc_check(NO * sizeof(float));
    matmul_forward(pre, inp, w, bias, N, C, OC);
    float *out = pre;
    if (gelu) {
        out = (float *)malloc_check(NO * sizeof(float));
        gelu_forward(out, pre, NO);
    }
    float *junk = bench_random(NO, 0.0f, 1.0f, 9);
    floatX *d_out = to_device(junk, NO), *d_pre = gelu ? to_device(junk, NO) : NULL;
    matmul_forward(ctx, d_out, d_inp, d_w, d_bias, N, C, OC, d_pre);
    float *g_out = from_device(d_out, NO);
    snprintf(name, sizeof(name), "matmul_forward_%s%s", tag, gelu ? "_gelu_out" : "");
    check(b, name, g_out, out, NO, TOL * rms_of(out, NO), TOL);
    if (gelu) {
        float *g_pre = from_device(d_pre, NO);
        snprintf(name, sizeof(name), "matmul_forward_%s_pre_gelu", tag);
        check(b, name, g_pre, pre, NO, TOL * rms_of(pre, NO), TOL);
        free(g_pre);
    }

    // backward (its own pre_gelu input, identical on both sides)
    float *dout = bench_random(NO, 0.0f, 1.0f, 4);
    float *pre_b = gelu ? bench_random(NO, 0.0f, 2.0f, 5) : NULL;
    float *dout_eff = dout;
    if (gelu) {
        dout_eff = (float *)calloc_check(NO, sizeof(float));
        gelu_backward(dout_eff, pre_b, dout, NO); // zero += dout * gelu'(pre)
    }
    float *dinp0 = bench_random(NC, 0.0f, 0.5f, 6), *dw0 = bench_random(OCC, 0.0f, 0.5f, 7);
    float *db0 = bench_random(OC, 0.0f, 0.5f, 8);
    float *dinp = bench_copy_host(dinp0, NC), *dw = bench_copy_host(dw0, OCC), *db = bench_copy_host(db0, OC);
    matmul_backward(dinp, dw, has_bias ? db : NULL, dout_eff, inp, w, N, C, OC);
    floatX *d_dout = to_device(dout, NO), *d_preb = gelu ? to_device(pre_b, NO) : NULL;
    floatX *d_dinp = to_device(dinp0, NC), *d_dw = to_device(dw0, OCC), *d_db = to_device(db0, OC);
    float *scratch = NULL;
    cudaCheck(cudaMalloc(&scratch, matmul_backward_scratch_bytes(N, OC)));
    matmul_backward(ctx, d_dinp, d_dw, has_bias ? d_db : NULL, d_dout, d_inp, d_w, scratch, N, C, OC, d_preb);
    float *g_dinp = from_device(d_dinp, NC), *g_dw = from_device(d_dw, OCC), *g_db = from_device(d_db, OC);
    snprintf(name, sizeof(name), "matmul_backward_%s_dinp", tag);
    check(b, name, g_dinp, dinp, NC, TOL * rms_of(dinp, NC), TOL);
    snprintf(name, sizeof(name), "matmul_backward_%s_dweight", tag);
    check(b, name, g_dw, dw, OCC, TOL * rms_of(dw, OCC), TOL);
    if (has_bias) {
        snprintf(name, sizeof(name), "matmul_backward_%s_dbias", tag);
        check(b, name, g_db, db, OC, TOL * rms_of(db, OC), TOL);
    }
    if (gelu) {
        float *g_dout = from_device(d_dout, NO);
        snprintf(name, sizeof(name), "matmul_backward_%s_dout_times_dgelu", tag);
        check(b, name, g_dout, dout_eff, NO, TOL * rms_of(dout_eff, NO), TOL);
        free(g_dout);
    }

    // determinism: rerun from the same state
    unsigned char *w1 = bytes_from_device(d_dw, OCC * sizeof(floatX)), *b1 = bytes_from_device(d_db, OC * sizeof(floatX));
    to_device_into(d_dout, dout, NO);
    to_device_into(d_dinp, dinp0, NC);
    to_device_into(d_dw, dw0, OCC);
    to_device_into(d_db, db0, OC);
    matmul_backward(ctx, d_dinp, d_dw, has_bias ? d_db : NULL, d_dout, d_inp, d_w, scratch, N, C, OC, d_preb);
    unsigned char *w2 = bytes_from_device(d_dw, OCC * sizeof(floatX)), *b2 = bytes_from_device(d_db, OC * sizeof(floatX));
    snprintf(name, sizeof(name), "matmul_backward_%s_dweight_deterministic", tag);
    check_same(b, name, w1, w2, OCC * sizeof(floatX));
    if (has_bias) {
        snprintf(name, sizeof(name), "matmul_backward_%s_dbias_deterministic", tag);
        check_same(b, name, b1, b2, OC * sizeof(floatX));
    }

    free(w1); free(w2); free(b1); free(b2);
    free(inp); free(w); free(bias); free(pre); if (gelu) free(out); free(junk); free(g_out);
    free(dout); free(pre_b); if (gelu) free(dout_eff); free(dinp0); free(dw0); free(db0); free(dinp); free(dw); free(db);
    free(g_dinp); free(g_dw); free(g_db);
    cudaCheck(cudaFree(d_inp)); cudaCheck(cudaFree(d_w)); if (d_bias) cudaCheck(cudaFree(d_bias));
    cudaCheck(cudaFree(d_out)); if (d_pre) cudaCheck(cudaFree(d_pre)); cudaCheck(cudaFree(d_dout));
    if (d_preb) cudaCheck(cudaFree(d_preb));
    cudaCheck(cudaFree(d_dinp)); cudaCheck(cudaFree(d_dw)); cudaCheck(cudaFree(d_db)); cudaCheck(cudaFree(scratch));
}

static void run_timing(Bench *b, const CudaContext *ctx, const char *tag, int N, int C, int OC, int has_bias, int gelu) {
    const size_t NC = (size_t)N * C, NO = (size_t)N * OC, OCC = (size_t)OC * C;
    cudaStream_t s = ctx->stream;
    floatX *inp = bench_alloc_filled(NC, 1, s), *w = bench_alloc_filled(OCC, 2, s);
    floatX *bias = has_bias ? bench_alloc_filled(OC, 3, s) : NULL;
    floatX *out = bench_alloc_filled(NO, 4, s), *pre = gelu ? bench_alloc_filled(NO, 5, s) : NULL;
    floatX *dinp = bench_alloc_filled(NC, 6, s), *dw = bench_alloc_filled(OCC, 7, s), *db = bench_alloc_filled(OC, 8, s);
    float *scratch = NULL;
    cudaCheck(cudaMalloc(&scratch, matmul_backward_scratch_bytes(N, OC)));
    char name[160];
    const double flops = 2.0 * N * (double)C * OC;
    float ms = time_ms(s, 10, [&]() { matmul_forward(ctx, out, inp, w, bias, N, C, OC, pre); });
    snprintf(name, sizeof(name), "matmul_forward %s N=%d C=%d OC=%d%s%s", tag, N, C, OC, has_bias ? " +bias" : "",
             gelu ? " +gelu" : "");
    report_flops(b, ctx, name, ms, flops);
    // the backward overwrites `out` (as dout) in place when gelu is on: values stay bounded
    ms = time_ms(s, 10, [&]() { matmul_backward(ctx, dinp, dw, has_bias ? db : NULL, out, inp, w, scratch, N, C, OC, pre); });
    snprintf(name, sizeof(name), "matmul_backward %s N=%d C=%d OC=%d%s%s", tag, N, C, OC, has_bias ? " +dbias" : "",
             gelu ? " +dgelu" : "");
    report_flops(b, ctx, name, ms, 2.0 * flops);
    cudaCheck(cudaFree(inp)); cudaCheck(cudaFree(w)); if (bias) cudaCheck(cudaFree(bias)); cudaCheck(cudaFree(out));
    if (pre) cudaCheck(cudaFree(pre));
    cudaCheck(cudaFree(dinp)); cudaCheck(cudaFree(dw)); cudaCheck(cudaFree(db)); cudaCheck(cudaFree(scratch));
}

int main(void) {
    CudaContext ctx;
    cuda_context_init(&ctx, 0);
    Bench b;
    bench_init(&b, "matmul", ctx.stream);
    run_case(&b, &ctx, "qkv", 512, 768, 2304, 1, 0);
    run_case(&b, &ctx, "attproj", 512, 768, 768, 1, 0);
    run_case(&b, &ctx, "fc", 512, 768, 3072, 1, 1);
    run_case(&b, &ctx, "fcproj", 512, 3072, 768, 1, 0);
    run_case(&b, &ctx, "classifier", 128, 768, 50304, 0, 0);
    run_case(&b, &ctx, "odd_gelu_fallback", 37, 48, 97, 1, 1);
    run_case(&b, &ctx, "odd_gelu_fused", 33, 40, 144, 1, 1);
    run_case(&b, &ctx, "odd_nobias_gelu", 21, 24, 40, 0, 1);
    const int N = 64 * 1024;
    bench_gemm_ceiling(&b, &ctx);
    run_timing(&b, &ctx, "qkv", N, 768, 2304, 1, 0);
    run_timing(&b, &ctx, "attproj", N, 768, 768, 1, 0);
    run_timing(&b, &ctx, "fc", N, 768, 3072, 1, 1);
    run_timing(&b, &ctx, "fcproj", N, 3072, 768, 1, 0);
    run_timing(&b, &ctx, "classifier", N, 768, 50304, 0, 0);
    int rc = bench_finish(&b);
    cuda_context_free(&ctx);
    return rc;
}
