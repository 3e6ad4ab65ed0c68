/*
 * dev/cuda/adamw.cu: adamw_update (llmc/adamw.cuh) against the CPU adamw_update of train_gpt2.c with
 * the clip_grad_norm_ rule of gpt2_update, then timed over the GPT-2 124M parameter count.
 *
 * Cases: fp32 master weights with clipping active (step 3, weight decay on); no master weights
 * (bf16 params are the master copy); extra_grad_scale 0.5 with clipping (the norm is that of the
 * scaled gradient); no clipping (NULL norm) on pointers one element off alignment (scalar path).
 * bf16 params come from stochastic rounding: each must be within one bf16 ulp of the exact value,
 * and the rounding must be unbiased on average (mean error far below one ulp).
 */
#define TESTING
#include "../../train_gpt2.c"

#include "../../llmc/adamw.cuh"
#include "common.h"

typedef struct {
    const char *tag;
    size_t n;
    int offset;      // elements by which device pointers are shifted
    int use_master;
    int clip;        // 1: global norm given and grad_clip = 1.0; 0: NULL norm
    float extra;     // extra_grad_scale
} AdamCase;

static void run_case(Bench *b, const CudaContext *ctx, const AdamCase *c) {
    const size_t n = c->n;
    const int off = c->offset;
    const float lr = 6e-4f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f, grad_clip = 1.0f;
    const int t = 3;
    const unsigned int seed = 1234u;
    char name[160];
    float *p0 = bench_random(n, 0.0f, 0.1f, 1);   // already bf16-representable in bf16 builds
    float *g = bench_random(n, 0.0f, 0.5f, 2);
    float *m0 = bench_random(n, 0.0f, 0.01f, 3);
    float *v0 = bench_random(n, 1e-4f, 5e-5f, 4);  // positive
    // CPU: effective gradient = grads * extra, clipped by its own norm
    float *geff = (float *)malloc_check(n * sizeof(float));
    for (size_t i = 0; i < n; i++) geff[i] = g[i] * c->extra;
    double sumsq_raw = 0.0, sumsq_eff = 0.0;
    for (size_t i = 0; i < n; i++) {
        sumsq_raw += (double)g[i] * g[i];
        sumsq_eff += (double)geff[i] * geff[i];
    }
    float scale = 1.0f;
    if (c->clip) {
        float norm = (float)sqrt(sumsq_eff);
        float coef = grad_clip / (norm + 1e-6f);
        if (coef < 1.0f) scale = coef;
    }
    float *p = bench_copy_host(p0, n), *m = bench_copy_host(m0, n), *v = bench_copy_host(v0, n);
    adamw_update(p, geff, m, v, n, lr, b1, b2, eps, wd, scale, t);

    // GPU
    floatX *d_p = NULL, *d_g = NULL;
    float *d_master = NULL, *d_m = NULL, *d_v = NULL, *d_norm = NULL;
    cudaCheck(cudaMalloc(&d_p, (n + off) * sizeof(floatX)));
    cudaCheck(cudaMalloc(&d_g, (n + off) * sizeof(floatX)));
    cudaCheck(cudaMalloc(&d_m, (n + off) * sizeof(float)));
    cudaCheck(cudaMalloc(&d_v, (n + off) * sizeof(float)));
    to_device_into(d_p + off, p0, n);
    to_device_into(d_g + off, g, n);
    cudaCheck(cudaDeviceSynchronize()); // see to_device_into in common.h
    cudaCheck(cudaMemcpy(d_m + off, m0, n * sizeof(float), cudaMemcpyHostToDevice));
    cudaCheck(cudaDeviceSynchronize()); // see to_device_into in common.h
    cudaCheck(cudaMemcpy(d_v + off, v0, n * sizeof(float), cudaMemcpyHostToDevice));
    if (c->use_master) {
        cudaCheck(cudaMalloc(&d_master, (n + off) * sizeof(float)));
        cudaCheck(cudaDeviceSynchronize()); // see to_device_into in common.h
        cudaCheck(cudaMemcpy(d_master + off, p0, n * sizeof(float), cudaMemcpyHostToDevice));
    }
    if (c->clip) {
        float s = (float)sumsq_raw; // what global_norm_squared gives for the raw grads
        d_norm = to_device_f32(&s, 1);
    }
    adamw_update(d_p + off, d_master ? d_master + off : NULL, d_g + off, d_m + off, d_v + off, n, lr, b1, b2, t, eps,
                 wd, d_norm, c->clip ? grad_clip : 0.0f, c->extra, seed, ctx->stream);
    float *gp = from_device(d_p + off, n), *gm = from_device_f32(d_m + off, n), *gv = from_device_f32(d_v + off, n);
    snprintf(name, sizeof(name), "adamw_m_%s", c->tag);
    check(b, name, gm, m, n, 1e-10, 1e-5);
    snprintf(name, sizeof(name), "adamw_v_%s", c->tag);
    check(b, name, gv, v, n, 1e-12, 1e-5);
    if (d_master) {
        float *gmaster = from_device_f32(d_master + off, n);
        snprintf(name, sizeof(name), "adamw_master_params_%s", c->tag);
        check(b, name, gmaster, p, n, 1e-8, 1e-5);
        free(gmaster);
    }
#if FLOATX_IS_FP32
    snprintf(name, sizeof(name), "adamw_params_%s", c->tag);
    check(b, name, gp, p, n, 1e-8, 1e-5);
#else
    // stochastic rounding: within one bf16 ulp (relative spacing <= 2^-7) and unbiased on average
    snprintf(name, sizeof(name), "adamw_params_within_one_bf16_ulp_%s", c->tag);
    check(b, name, gp, p, n, 1e-12, 1.0 / 128 + 1e-6);
    double err = 0.0, ulps = 0.0;
    size_t up = 0;
    for (size_t i = 0; i < n; i++) {
        int e;
        frexpf(p[i], &e); // |p| in [2^(e-1), 2^e): bf16 spacing 2^(e-8)
        err += (double)gp[i] - p[i];
        ulps += ldexp(1.0, e - 8);
        up += fabs(gp[i]) > fabs(p[i]);
    }
    double bias = err / ulps;
    char detail[160];
    snprintf(detail, sizeof(detail), "mean rounding error %.2e ulp (|.| < 0.01 wanted), rounded up %.1f%%", bias,
             100.0 * up / n);
    snprintf(name, sizeof(name), "adamw_stochastic_rounding_unbiased_%s", c->tag);
    check_true(b, name, n < 1000 || fabs(bias) < 0.01, detail);
#endif
    free(p0); free(g); free(m0); free(v0); free(geff); free(p); free(m); free(v); free(gp); free(gm); free(gv);
    cudaCheck(cudaFree(d_p)); cudaCheck(cudaFree(d_g)); cudaCheck(cudaFree(d_m)); cudaCheck(cudaFree(d_v));
    if (d_master) cudaCheck(cudaFree(d_master));
    if (d_norm) cudaCheck(cudaFree(d_norm));
}

int main(void) {
    CudaContext ctx;
    cuda_context_init(&ctx, 0);
    Bench b;
    bench_init(&b, "adamw", ctx.stream);
    const AdamCase cases[] = {
        {"master_clip", 1000003, 0, 1, 1, 1.0f},
        {"no_master_clip", 1000003, 0, 0, 1, 1.0f},
        {"extra_scale_0.5_clip", 100003, 0, 1, 1, 0.5f},
        {"no_clip_unaligned", 1001, 1, 1, 0, 1.0f},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) run_case(&b, &ctx, &cases[i]);

    const size_t n = 124475904; // GPT-2 124M parameters
    floatX *params = bench_alloc_filled(n, 1, ctx.stream), *grads = bench_alloc_filled(n, 2, ctx.stream);
    float *master, *m, *v, *norm;
    cudaCheck(cudaMalloc(&master, n * sizeof(float)));
    cudaCheck(cudaMalloc(&m, n * sizeof(float)));
    cudaCheck(cudaMalloc(&v, n * sizeof(float)));
    cudaCheck(cudaMalloc(&norm, sizeof(float)));
    cudaCheck(cudaMemset(master, 0, n * sizeof(float)));
    cudaCheck(cudaMemset(m, 0, n * sizeof(float)));
    cudaCheck(cudaMemset(v, 0, n * sizeof(float)));
    cudaCheck(cudaMemset(norm, 0, sizeof(float)));
    float ms = time_ms(ctx.stream, 10, [&]() {
        adamw_update(params, master, grads, m, v, n, 6e-4f, 0.9f, 0.95f, 1, 1e-8f, 0.1f, norm, 1.0f, 1.0f, 7u, ctx.stream);
    });
    // params r+w, grads r, m v master r+w
    report_bandwidth(&b, "adamw_update n=124475904 with master weights", ms,
                     (double)n * (3 * sizeof(floatX) + 6 * sizeof(float)));
    cudaCheck(cudaFree(params)); cudaCheck(cudaFree(grads)); cudaCheck(cudaFree(master)); cudaCheck(cudaFree(m));
    cudaCheck(cudaFree(v)); cudaCheck(cudaFree(norm));
    int rc = bench_finish(&b);
    cuda_context_free(&ctx);
    return rc;
}
