/*
 * dev/cuda/attention.cu: attention_forward / attention_backward (llmc/attention.cuh) against the CPU
 * layers of train_gpt2.c, then timed at GPT-2 shapes against the GEMM ceiling.
 *
 * Cases: HS = 64 (GPT-2; tensor-core path in bf16 builds), HS = 128 with T = 200 (not a multiple of
 * the 64-row tile), a 5-token sequence, and head sizes only the general SIMT path takes (16, 96,
 * 320 > 128: several dimension chunks). In bf16 builds the SIMT path is also checked on the GPT-2
 * shape directly. dqkv is pre-filled with junk (the backward must overwrite every element) and the
 * backward must repeat bit for bit. Built with USE_CUDNN=1 (make -C dev/cuda USE_CUDNN=1), the cuDNN
 * flash-attention path (llmc/cudnn_att.cuh) is checked and timed too, as path _cudnn.
 */
#define TESTING
#include "../../train_gpt2.c"

#include "../../llmc/attention.cuh"
#include "../../llmc/cudnn_att.cuh"
#include "../../llmc/matmul.cuh"
#include "common.h"

#if FLOATX_IS_FP32
static const double OUT_TOL = 1e-4, LSE_ATOL = 1e-5, LSE_RTOL = 1e-5, GRAD_TOL = 1e-4, GRAD_RTOL = 1e-3;
#else
// bf16: the tensor-core path rounds P and dS to bf16 (2^-9 relative) before each product, so an
// element of dV or dK summed over T queries carries ~2^-9 * sqrt(T) of the terms' size; on the
// H200 the worst of ~1e6 elements reached 3.6x a 2e-2 * rms bound (early keys, T = 200), hence 1e-1.
static const double OUT_TOL = 2e-2, LSE_ATOL = 1e-3, LSE_RTOL = 1e-4, GRAD_TOL = 1e-1, GRAD_RTOL = 3e-2;
#endif

static int omp_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// path: 0 = dispatch (attention_forward/_backward), 1 = force the SIMT kernels,
// 2 / 3 = the first tensor-core kernels with the register prefetch forced on / off, 4 = the fast
// tensor-core kernels (ldmatrix, cp.async; the dispatch default when ATT_FAST) with the default
// m-tiles per warp (ATT_FAST_MT / ATT_FAST_MT_KV: 2 for HS 64), 5 = the fast kernels with 1 m-tile
// per warp everywhere, 6 = 1 m-tile per warp in dK/dV only (bf16, HS 64 or 128), 7 = cuDNN
// (USE_CUDNN bf16 builds; the graph cache is emptied after each case)
static const char *PATH_NAMES[] = {"", "_simt", "_tc_prefetch", "_tc_noprefetch", "_fast", "_fast_mt1", "_fast_kvmt1", "_cudnn"};

// A cuDNN call that did not apply (shape, alignment) would leave junk behind: say so.
static void cudnn_must_apply(int done, const char *what) {
    if (!done) {
        fprintf(stderr, "error: the cuDNN %s path did not apply to this case\n", what);
        exit(1);
    }
}

static void att_forward_path(int path, floatX *out, float *lse, const floatX *qkv, int B, int T, int C, int NH,
                             cudaStream_t s) {
    if (path == 7) {
        cudnn_must_apply(cudnn_attention_forward(out, lse, qkv, B, T, C, NH, s), "forward");
        return;
    }
#if !FLOATX_IS_FP32
    if (path >= 4) {
        const int mt = path == 5 ? 1 : -1;
        if (C / NH == 64) attention_forward_fast<64>(out, lse, qkv, B, T, C, NH, s, mt);
        else attention_forward_fast<128>(out, lse, qkv, B, T, C, NH, s, mt);
        return;
    }
    if (path >= 2) {
        if (C / NH == 64) attention_forward_tc<64>(out, lse, qkv, B, T, C, NH, s, path == 2);
        else attention_forward_tc<128>(out, lse, qkv, B, T, C, NH, s, path == 2);
        return;
    }
#endif
    if (path == 1) attention_forward_simt(out, lse, qkv, B, T, C, NH, s);
    else attention_forward(out, lse, qkv, B, T, C, NH, s);
}

static void att_backward_path(int path, floatX *dqkv, const floatX *dout, const floatX *qkv, const floatX *out,
                              const float *lse, float *scratch, int B, int T, int C, int NH, cudaStream_t s) {
    if (path == 7) {
        cudnn_must_apply(cudnn_attention_backward(dqkv, dout, qkv, out, lse, B, T, C, NH, s), "backward");
        return;
    }
#if !FLOATX_IS_FP32
    if (path >= 4) {
        const int mt = path == 5 ? 1 : -1, mtkv = path >= 5 ? 1 : -1;
        attention_backward_D(scratch, dout, out, B, T, C, NH, s);
        if (C / NH == 64) attention_backward_fast<64>(dqkv, dout, qkv, lse, scratch, B, T, C, NH, s, mt, mtkv);
        else attention_backward_fast<128>(dqkv, dout, qkv, lse, scratch, B, T, C, NH, s, mt, mtkv);
        return;
    }
    if (path >= 2) {
        attention_backward_D(scratch, dout, out, B, T, C, NH, s);
        if (C / NH == 64) attention_backward_tc<64>(dqkv, dout, qkv, lse, scratch, B, T, C, NH, s, path == 2);
        else attention_backward_tc<128>(dqkv, dout, qkv, lse, scratch, B, T, C, NH, s, path == 2);
        return;
    }
#endif
    if (path == 1) {
        attention_backward_D(scratch, dout, out, B, T, C, NH, s);
        attention_backward_simt(dqkv, dout, qkv, lse, scratch, B, T, C, NH, s);
    } else {
        attention_backward(dqkv, dout, qkv, out, lse, scratch, B, T, C, NH, s);
    }
}

static void run_case(Bench *b, const CudaContext *ctx, int B, int T, int C, int NH, int path) {
    const size_t n_qkv = (size_t)B * T * 3 * C, n_out = (size_t)B * T * C, n_lse = (size_t)B * NH * T;
    const int HS = C / NH;
    char tag[96], name[160];
    snprintf(tag, sizeof(tag), "B%d_T%d_C%d_NH%d_HS%d%s", B, T, C, NH, HS, PATH_NAMES[path]);
    float *qkv = bench_random(n_qkv, 0.0f, 1.5f, 1);
    float *dout = bench_random(n_out, 0.0f, 1.0f, 2);
    float *cpu_scratch = (float *)malloc_check((size_t)omp_threads() * attention_scratch_floats(T, C, NH) * sizeof(float));

    // forward
    float *out = (float *)malloc_check(n_out * sizeof(float)), *lse = (float *)malloc_check(n_lse * sizeof(float));
    attention_forward(out, lse, cpu_scratch, qkv, B, T, C, NH);
    floatX *d_qkv = to_device(qkv, n_qkv);
    floatX *d_out = to_device(dout, n_out); // junk, overwritten
    float *d_lse = to_device_f32(dout, n_lse);
    att_forward_path(path, d_out, d_lse, d_qkv, B, T, C, NH, ctx->stream);
    float *g_out = from_device(d_out, n_out), *g_lse = from_device_f32(d_lse, n_lse);
    snprintf(name, sizeof(name), "attention_forward_out_%s", tag);
    check(b, name, g_out, out, n_out, OUT_TOL * rms_of(out, n_out), OUT_TOL);
    snprintf(name, sizeof(name), "attention_forward_lse_%s", tag);
    check(b, name, g_lse, lse, n_lse, LSE_ATOL, LSE_RTOL);

    // backward from the CPU forward's out (as stored in floatX) and lse, on both sides
    for (size_t i = 0; i < n_out; i++) out[i] = round_floatx(out[i]);
    float *dqkv = (float *)calloc_check(n_qkv, sizeof(float));
    attention_backward(dqkv, cpu_scratch, dout, qkv, out, lse, B, T, C, NH);
    to_device_into(d_out, out, n_out);
    cudaCheck(cudaDeviceSynchronize()); // see to_device_into in common.h
    cudaCheck(cudaMemcpy(d_lse, lse, n_lse * sizeof(float), cudaMemcpyHostToDevice));
    floatX *d_dout = to_device(dout, n_out);
    floatX *d_dqkv = to_device(qkv, n_qkv); // junk: every element must be overwritten
    float *scratch = NULL;
    cudaCheck(cudaMalloc(&scratch, attention_backward_scratch_bytes(B, T, C, NH)));
    auto backward = [&]() {
        att_backward_path(path, d_dqkv, d_dout, d_qkv, d_out, d_lse, scratch, B, T, C, NH, ctx->stream);
    };
    backward();
    float *g_dqkv = from_device(d_dqkv, n_qkv);
    snprintf(name, sizeof(name), "attention_backward_dqkv_%s", tag);
    check(b, name, g_dqkv, dqkv, n_qkv, GRAD_TOL * rms_of(dqkv, n_qkv), GRAD_RTOL);
    unsigned char *r1 = bytes_from_device(d_dqkv, n_qkv * sizeof(floatX));
    to_device_into(d_dqkv, dout, n_out); // different junk in the first third
    backward();
    unsigned char *r2 = bytes_from_device(d_dqkv, n_qkv * sizeof(floatX));
    snprintf(name, sizeof(name), "attention_backward_deterministic_%s", tag);
    check_same(b, name, r1, r2, n_qkv * sizeof(floatX));

    free(r1); free(r2);
    free(qkv); free(dout); free(cpu_scratch); free(out); free(lse); free(g_out); free(g_lse); free(dqkv); free(g_dqkv);
    cudaCheck(cudaFree(d_qkv)); cudaCheck(cudaFree(d_out)); cudaCheck(cudaFree(d_lse)); cudaCheck(cudaFree(d_dout));
    cudaCheck(cudaFree(d_dqkv)); cudaCheck(cudaFree(scratch));
    if (path == 7) cudnn_attention_free();
}

static void run_timing(Bench *b, const CudaContext *ctx, int B, int T, int C, int NH, int path) {
    const size_t n_qkv = (size_t)B * T * 3 * C, n_out = (size_t)B * T * C, n_lse = (size_t)B * NH * T;
    cudaStream_t s = ctx->stream;
    floatX *qkv = bench_alloc_filled(n_qkv, 1, s), *out = bench_alloc_filled(n_out, 2, s);
    floatX *dout = bench_alloc_filled(n_out, 3, s), *dqkv = bench_alloc_filled(n_qkv, 4, s);
    float *lse, *scratch;
    cudaCheck(cudaMalloc(&lse, n_lse * sizeof(float)));
    cudaCheck(cudaMalloc(&scratch, attention_backward_scratch_bytes(B, T, C, NH)));
    // useful causal FLOPs: QK^T and PV over the lower triangle
    const double fwd_flops = 2.0 * 2.0 * B * NH * (double)T * (T + 1) / 2.0 * (C / NH);
    char name[160];
    const char *p = PATH_NAMES[path];
    const int reps = path == 1 ? 2 : 10;
    float ms = time_ms(s, reps, [&]() { att_forward_path(path, out, lse, qkv, B, T, C, NH, s); });
    snprintf(name, sizeof(name), "attention_forward%s B=%d T=%d C=%d NH=%d", p, B, T, C, NH);
    report_flops(b, ctx, name, ms, fwd_flops);
    ms = time_ms(s, reps, [&]() { att_backward_path(path, dqkv, dout, qkv, out, lse, scratch, B, T, C, NH, s); });
    snprintf(name, sizeof(name), "attention_backward%s B=%d T=%d C=%d NH=%d (2.5x forward FLOPs)", p, B, T, C, NH);
    report_flops(b, ctx, name, ms, 2.5 * fwd_flops);
    cudaCheck(cudaFree(qkv)); cudaCheck(cudaFree(out)); cudaCheck(cudaFree(dout)); cudaCheck(cudaFree(dqkv));
    cudaCheck(cudaFree(lse)); cudaCheck(cudaFree(scratch));
    if (path == 7) cudnn_attention_free();
}

static void run_own_kernels(Bench *b, const CudaContext *ctx);

int main(void) {
    CudaContext ctx;
    cuda_context_init(&ctx, 0);
    Bench b;
    bench_init(&b, "attention", ctx.stream);
#if !FLOATX_IS_FP32
    printf("# ATT_FAST=%d: the dispatch (unsuffixed names) takes the %s tensor-core kernels\n", (int)ATT_FAST,
           ATT_FAST ? "fast (_fast)" : "first (_tc_*)");
#endif
    printf("# paths: %s\n", FLOATX_IS_FP32 ? "fp32 build: SIMT for every head size"
                                           : "bf16 build: tensor cores for HS 64/128, SIMT otherwise");
    // ATT_CUDNN=0 leaves the cuDNN path out, ATT_CUDNN=only runs nothing else (scripts/gpu_check.sh
    // gives it its own step and time: building each cuDNN graph compiles kernels, seconds each)
    const char *env = getenv("ATT_CUDNN");
    const int cudnn_only = CUDNN_ATT_ENABLED && env && strcmp(env, "only") == 0;
    const int with_cudnn = CUDNN_ATT_ENABLED && !(env && strcmp(env, "0") == 0);
    if (!cudnn_only) run_own_kernels(&b, &ctx);
    // cuDNN last: a graph cuDNN rejects stops the program (one line), after the rest has run
    if (with_cudnn) {
        run_case(&b, &ctx, 2, 256, 768, 12, 7);  // GPT-2 head size
        run_case(&b, &ctx, 2, 200, 768, 12, 7);  // T not a multiple of the tiles
        run_case(&b, &ctx, 3, 37, 192, 3, 7);    // T < one tile
        run_case(&b, &ctx, 1, 100, 256, 2, 7);   // HS 128
        run_case(&b, &ctx, 2, 5, 128, 2, 7);     // T = 5, B*NH = 4
        run_case(&b, &ctx, 2, 1, 768, 12, 7);    // T = 1
        run_timing(&b, &ctx, 64, 1024, 768, 12, 7); // d12 shape
        run_timing(&b, &ctx, 32, 1024, 1024, 8, 7); // HS 128
        run_timing(&b, &ctx, 8, 2048, 768, 12, 7);  // longer sequences
    }
    int rc = bench_finish(&b);
    cuda_context_free(&ctx);
    return rc;
}

// Every path but cuDNN: correctness at the awkward shapes, then speed at GPT-2 shapes.
static void run_own_kernels(Bench *b, const CudaContext *ctx) {
    run_case(b, ctx, 2, 256, 768, 12, 0);
    run_case(b, ctx, 1, 200, 512, 4, 0);
    run_case(b, ctx, 2, 5, 128, 2, 0);
    run_case(b, ctx, 2, 37, 48, 3, 0);
    run_case(b, ctx, 1, 129, 192, 2, 0);
    run_case(b, ctx, 1, 40, 320, 1, 0);
    if (!FLOATX_IS_FP32) {
        run_case(b, ctx, 2, 256, 768, 12, 1);  // SIMT on the GPT-2 head size
        run_case(b, ctx, 2, 200, 768, 12, 2);  // both prefetch variants, T not a tile multiple
        run_case(b, ctx, 2, 200, 768, 12, 3);
        run_case(b, ctx, 1, 100, 256, 2, 2);   // HS 128
        run_case(b, ctx, 1, 100, 256, 2, 3);
        // the fast kernels at odd T (partial last tiles, T < one tile, one row), several tiles
        // (cp.async double buffering: T = 200 and 300 use 4-10 tiles), B*NH small and large
        run_case(b, ctx, 2, 200, 768, 12, 4);
        run_case(b, ctx, 3, 37, 192, 3, 4);    // HS 64, T < 64
        run_case(b, ctx, 1, 129, 128, 2, 4);   // HS 64, B*NH = 2, T = 2 tiles + 1 row
        run_case(b, ctx, 2, 1, 768, 12, 4);    // T = 1
        run_case(b, ctx, 1, 520, 768, 12, 4);  // HS 64, 9 tiles, last one 8 rows
        run_case(b, ctx, 1, 100, 256, 2, 4);   // HS 128
        run_case(b, ctx, 2, 37, 256, 2, 4);    // HS 128, T < 32 + 32 (BQ = BK = 32)
        run_case(b, ctx, 1, 300, 512, 4, 4);   // HS 128, 10 key tiles of 32
        run_case(b, ctx, 8, 64, 768, 12, 4);   // exactly one tile, B*NH = 96
        run_case(b, ctx, 2, 257, 768, 12, 4);  // 128-row tiles (MT 2) + 1 row
        run_case(b, ctx, 2, 200, 768, 12, 5);  // one m-tile per warp (64-row tiles)
        run_case(b, ctx, 3, 37, 192, 3, 5);
        run_case(b, ctx, 1, 520, 768, 12, 5);
        run_case(b, ctx, 2, 200, 768, 12, 6);  // dK/dV with one m-tile per warp
    }
    bench_gemm_ceiling(b, ctx);
    run_timing(b, ctx, 64, 1024, 768, 12, 0);
    run_timing(b, ctx, 32, 1024, 1024, 8, 0);
    if (!FLOATX_IS_FP32) {
        run_timing(b, ctx, 64, 1024, 768, 12, 2);
        run_timing(b, ctx, 64, 1024, 768, 12, 3);
        run_timing(b, ctx, 32, 1024, 1024, 8, 3);
        run_timing(b, ctx, 64, 1024, 768, 12, 4); // fast kernels, defaults (d12 shape)
        run_timing(b, ctx, 32, 1024, 1024, 8, 4); // fast kernels, HS 128
        run_timing(b, ctx, 64, 1024, 768, 12, 5); // fast kernels, 1 m-tile per warp
        run_timing(b, ctx, 64, 1024, 768, 12, 6); // fast kernels, 1 m-tile per warp in dK/dV
        run_timing(b, ctx, 8, 2048, 768, 12, 4);  // longer sequences, fewer heads
    }
    run_timing(b, ctx, 4, 1024, 768, 12, 1);
}
