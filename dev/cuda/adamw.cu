/*
 * dev/cuda/adamw.cu: adamw_update (llmc/adamw.cuh) against the CPU adamw_update of train_gpt2.c with
 * the clip_grad_norm_ rule of gpt2_update, then timed over the GPT-2 124M parameter count.
 *
 * Cases: fp32 master weights with clipping active (step 3, weight decay on); no master weights
 * (bf16 params are the master copy); extra_grad_scale 0.5 with clipping (the norm is that of the
 * scaled gradient); no clipping (NULL norm) on pointers one element off alignment (scalar path).
 * bf16 params come from stochastic rounding: each must be within one bf16 ulp of the exact value,
 * and the rounding must be unbiased on average (mean error far below one ulp).
 *
 * adamw_update_multi (the trainer's --fuse_adamw 1): pieces of odd sizes and offsets (vector
 * chunks straddle piece boundaries), alternating weight decay, a gap that belongs to no piece;
 * params, master weights, m and v must equal, bit for bit, one adamw_update per piece (the
 * reference path), the master weights must match the CPU, the gap must be untouched; with the
 * skip flag set, or a non-finite norm, nothing may change; adamw_flag_nonfinite flags one inf or
 * NaN among 10^6 values and nothing else. Timed over the 16 tensors of GPT-2 124M: 16 launches
 * against one.
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

// ----------------------------------------------------------------------------
// multi-tensor AdamW

typedef struct {
    floatX *p, *g;
    float *master, *m, *v;
} AdamState;

static void state_alloc(AdamState *s, size_t n, int use_master) {
    cudaCheck(cudaMalloc(&s->p, n * sizeof(floatX)));
    cudaCheck(cudaMalloc(&s->g, n * sizeof(floatX)));
    cudaCheck(cudaMalloc(&s->m, n * sizeof(float)));
    cudaCheck(cudaMalloc(&s->v, n * sizeof(float)));
    s->master = NULL;
    if (use_master) cudaCheck(cudaMalloc(&s->master, n * sizeof(float)));
}

static void state_upload(AdamState *s, size_t n, const float *p, const float *g, const float *m, const float *v) {
    to_device_into(s->p, p, n);
    to_device_into(s->g, g, n);
    cudaCheck(cudaDeviceSynchronize()); // see to_device_into in common.h
    cudaCheck(cudaMemcpy(s->m, m, n * sizeof(float), cudaMemcpyHostToDevice));
    cudaCheck(cudaMemcpy(s->v, v, n * sizeof(float), cudaMemcpyHostToDevice));
    if (s->master) cudaCheck(cudaMemcpy(s->master, p, n * sizeof(float), cudaMemcpyHostToDevice));
    cudaCheck(cudaDeviceSynchronize()); // pageable uploads may still be in flight for the context's stream
}

static void state_free(AdamState *s) {
    cudaCheck(cudaFree(s->p)); cudaCheck(cudaFree(s->g)); cudaCheck(cudaFree(s->m)); cudaCheck(cudaFree(s->v));
    if (s->master) cudaCheck(cudaFree(s->master));
}

// Bitwise comparison of two states (params, master, m, v); returns 1 when all equal.
static void state_check_same(Bench *b, const char *tag, const AdamState *x, const AdamState *y, size_t n) {
    char name[160];
    const char *what[] = {"params", "m", "v", "master"};
    const void *xs[] = {x->p, x->m, x->v, x->master}, *ys[] = {y->p, y->m, y->v, y->master};
    size_t bytes[] = {n * sizeof(floatX), n * sizeof(float), n * sizeof(float), n * sizeof(float)};
    for (int k = 0; k < 4; k++) {
        if (xs[k] == NULL) continue;
        unsigned char *a = bytes_from_device(xs[k], bytes[k]), *c = bytes_from_device(ys[k], bytes[k]);
        snprintf(name, sizeof(name), "adamw_multi_%s_%s", tag, what[k]);
        check_same(b, name, a, c, bytes[k]);
        free(a);
        free(c);
    }
}

static void run_multi_case(Bench *b, const CudaContext *ctx, const char *tag, int use_master) {
    // pieces of odd sizes; [gap_lo, gap_hi) belongs to none
    const size_t sizes[] = {1001, 7, 64, 100003, 3, 8, 4096, 77777, 1, 250000};
    const int np = (int)(sizeof(sizes) / sizeof(sizes[0]));
    const size_t gap = 13;
    AdamWTable table;
    table.count = np;
    size_t n = 0, gap_lo = 0;
    for (int k = 0; k < np; k++) {
        if (k == 4) { gap_lo = n; n += gap; }
        table.piece[k].start = n;
        table.piece[k].end = n + sizes[k];
        table.piece[k].decay = k % 2 ? 0.0f : 0.1f; // weight decay (the call makes 1 - lr wd of it)
        table.piece[k].seed = 1000u + 17u * (unsigned)k;
        n += sizes[k];
    }
    const float lr = 6e-4f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, clip = 1.0f;
    const int t = 5;
    float *p0 = bench_random(n, 0.0f, 0.1f, 31), *g = bench_random(n, 0.0f, 0.5f, 32);
    float *m0 = bench_random(n, 0.0f, 0.01f, 33), *v0 = bench_random(n, 1e-4f, 5e-5f, 34);
    double sumsq = 0.0;
    for (size_t i = 0; i < n; i++) sumsq += (double)g[i] * g[i];
    float sq = (float)sumsq;
    float *d_norm = to_device_f32(&sq, 1);
    int *d_skip = NULL;
    cudaCheck(cudaMalloc(&d_skip, sizeof(int)));
    cudaCheck(cudaMemsetAsync(d_skip, 0, sizeof(int), ctx->stream));
    AdamState ref, multi;
    state_alloc(&ref, n, use_master);
    state_alloc(&multi, n, use_master);
    state_upload(&ref, n, p0, g, m0, v0);
    state_upload(&multi, n, p0, g, m0, v0);
    for (int k = 0; k < np; k++) { // the reference path: one launch per piece
        size_t a = table.piece[k].start, len = table.piece[k].end - a;
        adamw_update(ref.p + a, ref.master ? ref.master + a : NULL, ref.g + a, ref.m + a, ref.v + a, len, lr, b1, b2, t,
                     eps, table.piece[k].decay, d_norm, clip, 1.0f, table.piece[k].seed, ctx->stream);
    }
    adamw_update_multi(multi.p, multi.master, multi.g, multi.m, multi.v, &table, lr, b1, b2, t, eps, d_norm, clip, 1.0f,
                       d_skip, ctx->stream);
    state_check_same(b, tag, &ref, &multi, n);
    // the CPU on each piece (clipped as gpt2_update: the norm of all gradients)
    float scale = 1.0f, norm = (float)sqrt(sumsq), coef = clip / (norm + 1e-6f);
    if (coef < 1.0f) scale = coef;
    float *p = bench_copy_host(p0, n), *m = bench_copy_host(m0, n), *v = bench_copy_host(v0, n);
    for (int k = 0; k < np; k++) {
        size_t a = table.piece[k].start, len = table.piece[k].end - a;
        adamw_update(p + a, g + a, m + a, v + a, len, lr, b1, b2, eps, table.piece[k].decay, scale, t);
    }
    char name[160];
    float *gm = from_device_f32(multi.m, n);
    snprintf(name, sizeof(name), "adamw_multi_%s_m_vs_cpu", tag);
    check(b, name, gm, m, n, 1e-10, 1e-5);
    if (use_master) {
        float *gmaster = from_device_f32(multi.master, n);
        snprintf(name, sizeof(name), "adamw_multi_%s_master_vs_cpu", tag);
        check(b, name, gmaster, p, n, 1e-8, 1e-5);
        free(gmaster);
    }
    float *gp = from_device(multi.p, n);
    int gap_same = memcmp(gp + gap_lo, p0 + gap_lo, gap * sizeof(float)) == 0 && memcmp(gm + gap_lo, m0 + gap_lo, gap * sizeof(float)) == 0;
    snprintf(name, sizeof(name), "adamw_multi_%s_gap_untouched", tag);
    check_true(b, name, gap_same, "elements in no piece must keep their values");

    // skip flag set, then a non-finite norm: nothing changes
    AdamState before;
    state_alloc(&before, n, use_master);
    state_upload(&before, n, p0, g, m0, v0);
    state_upload(&multi, n, p0, g, m0, v0);
    int one = 1;
    cudaCheck(cudaMemcpyAsync(d_skip, &one, sizeof(int), cudaMemcpyHostToDevice, ctx->stream));
    adamw_update_multi(multi.p, multi.master, multi.g, multi.m, multi.v, &table, lr, b1, b2, t, eps, d_norm, clip, 1.0f,
                       d_skip, ctx->stream);
    snprintf(name, sizeof(name), "%s_skip_flag_set", tag);
    state_check_same(b, name, &before, &multi, n);
    float nan = NAN;
    cudaCheck(cudaMemsetAsync(d_skip, 0, sizeof(int), ctx->stream));
    cudaCheck(cudaMemcpyAsync(d_norm, &nan, sizeof(float), cudaMemcpyHostToDevice, ctx->stream));
    adamw_update_multi(multi.p, multi.master, multi.g, multi.m, multi.v, &table, lr, b1, b2, t, eps, d_norm, clip, 1.0f,
                       d_skip, ctx->stream);
    snprintf(name, sizeof(name), "%s_nan_norm", tag);
    state_check_same(b, name, &before, &multi, n);
    cudaCheck(cudaStreamSynchronize(ctx->stream)); // the host values above are copied before they go
    state_free(&before); state_free(&ref); state_free(&multi);
    free(p0); free(g); free(m0); free(v0); free(p); free(m); free(v); free(gm); free(gp);
    cudaCheck(cudaFree(d_norm)); cudaCheck(cudaFree(d_skip));
}

static void run_flag_case(Bench *b, const CudaContext *ctx) {
    const size_t n = 1000003;
    float *x = bench_random(n, 0.0f, 10.0f, 41);
    float *d = to_device_f32(x, n);
    int *flag = NULL, h = -1;
    cudaCheck(cudaDeviceSynchronize()); // the upload ran on the legacy stream
    cudaCheck(cudaMalloc(&flag, sizeof(int)));
    const float bad[] = {INFINITY, -INFINITY, NAN};
    const size_t where[] = {n - 1, 0, n / 2};
    cudaCheck(cudaMemsetAsync(flag, 0, sizeof(int), ctx->stream));
    adamw_flag_nonfinite(flag, d, n, ctx->stream);
    cudaCheck(cudaMemcpyAsync(&h, flag, sizeof(int), cudaMemcpyDeviceToHost, ctx->stream));
    cudaCheck(cudaStreamSynchronize(ctx->stream));
    check_true(b, "adamw_flag_nonfinite_all_finite", h == 0, "flag set on finite values");
    for (int k = 0; k < 3; k++) {
        float tmp = x[where[k]];
        x[where[k]] = bad[k];
        cudaCheck(cudaMemcpyAsync(d, x, n * sizeof(float), cudaMemcpyHostToDevice, ctx->stream));
        cudaCheck(cudaMemsetAsync(flag, 0, sizeof(int), ctx->stream));
        adamw_flag_nonfinite(flag, d, n, ctx->stream);
        cudaCheck(cudaMemcpyAsync(&h, flag, sizeof(int), cudaMemcpyDeviceToHost, ctx->stream));
        cudaCheck(cudaStreamSynchronize(ctx->stream));
        char name[96];
        snprintf(name, sizeof(name), "adamw_flag_nonfinite_%s_at_%zu", k == 2 ? "nan" : "inf", where[k]);
        check_true(b, name, h == 1, "non-finite value not flagged");
        x[where[k]] = tmp;
    }
    free(x);
    cudaCheck(cudaFree(d)); cudaCheck(cudaFree(flag));
}

// GPT-2 124M's 16 tensors: one adamw_update each (the reference) against one adamw_update_multi.
static void run_multi_timing(Bench *b, const CudaContext *ctx) {
    GPT2Config c;
    memset(&c, 0, sizeof(c));
    gpt2_config_from_descriptor(&c, "d12");
    size_t sizes[NUM_PARAMETER_TENSORS], offsets[NUM_PARAMETER_TENSORS];
    size_t n = gpt2_param_sizes(&c, sizes);
    gpt2_param_offsets(&c, offsets);
    AdamWTable table;
    table.count = NUM_PARAMETER_TENSORS;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        table.piece[i].start = offsets[i];
        table.piece[i].end = offsets[i] + sizes[i];
        table.piece[i].decay = GPT2_PARAMS[i].weight_decay ? 0.1f : 0.0f;
        table.piece[i].seed = 7u + (unsigned)i;
    }
    cudaStream_t s = ctx->stream;
    floatX *params = bench_alloc_filled(n, 1, s), *grads = bench_alloc_filled(n, 2, s);
    float *master, *m, *v, *norm;
    cudaCheck(cudaMalloc(&master, n * sizeof(float)));
    cudaCheck(cudaMalloc(&m, n * sizeof(float)));
    cudaCheck(cudaMalloc(&v, n * sizeof(float)));
    cudaCheck(cudaMalloc(&norm, sizeof(float)));
    cudaCheck(cudaMemsetAsync(master, 0, n * sizeof(float), s));
    cudaCheck(cudaMemsetAsync(m, 0, n * sizeof(float), s));
    cudaCheck(cudaMemsetAsync(v, 0, n * sizeof(float), s));
    cudaCheck(cudaMemsetAsync(norm, 0, sizeof(float), s));
    const double bytes = (double)n * (3 * sizeof(floatX) + 6 * sizeof(float));
    float per = time_ms(s, 10, [&]() {
        for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
            size_t a = offsets[i];
            adamw_update(params + a, master + a, grads + a, m + a, v + a, sizes[i], 6e-4f, 0.9f, 0.95f, 1, 1e-8f,
                         table.piece[i].decay, norm, 1.0f, 1.0f, table.piece[i].seed, s);
        }
    });
    report_bandwidth(b, "adamw_update d12, 16 launches (one per tensor)", per, bytes);
    float one = time_ms(s, 10, [&]() {
        adamw_update_multi(params, master, grads, m, v, &table, 6e-4f, 0.9f, 0.95f, 1, 1e-8f, norm, 1.0f, 1.0f, NULL, s);
    });
    char name[160];
    snprintf(name, sizeof(name), "adamw_update_multi d12, one launch: %.3f ms vs %.3f, %.2fx", one, per, per / one);
    report_bandwidth(b, name, one, bytes);
    cudaCheck(cudaFree(params)); cudaCheck(cudaFree(grads)); cudaCheck(cudaFree(master)); cudaCheck(cudaFree(m));
    cudaCheck(cudaFree(v)); cudaCheck(cudaFree(norm));
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
    run_multi_case(&b, &ctx, "master", 1);
    run_multi_case(&b, &ctx, "no_master", 0);
    run_flag_case(&b, &ctx);

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
    run_multi_timing(&b, &ctx);
    int rc = bench_finish(&b);
    cuda_context_free(&ctx);
    return rc;
}
