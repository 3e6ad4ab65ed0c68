/*
 * kv_gpu_test.cu: the GPU KV cache (llmc/generate_gpu.cuh) against the GPU trainer's full forward
 * (needs a GPU; dev/test/gpu_check.sh runs it).
 *
 *   build/test/kv_gpu_test [MODEL]       MODEL: a checkpoint or descriptor (default L3:C96:H3:V1000:T128)
 *
 * Three sequences of random tokens fill the context. At every position, the logits of the cache
 * path must equal gpt2_forward's (FORWARD_LOGITS on the whole (3, T) batch):
 *   prefill   all three sequences in one call (3T rows: more than KVG_ROWS, so several passes)
 *   decode    one token per sequence per call (3 rows of distinct slots), from an empty cache
 *   mixed     the first half of sequences 0 and 1 as prompts in one call (only their last rows'
 *             logits), then their decode steps together with sequence 2, which starts from
 *             nothing and feeds two rows of its own per call while it is behind
 * Tolerance, per position: max|ours - full| / max|full| over the row <= 3e-2 in bf16 builds (both
 * sides round activations to bf16 at the same points; the attention sums in another order and
 * cuBLAS picks its algorithm by the number of rows: a few bf16 roundings), 1e-4 in fp32 builds.
 * Exit status 0 only if every position passes.
 */
#define TESTING
#include "../../train_gpt2.cu"

#if FLOATX_IS_FP32
#define TOL 1e-4
#else
#define TOL 3e-2
#endif

// worst over rows: max|a - b| / max|b| of each row (V columns; a rows at stride Vp, b likewise)
static double worst_row_err(const float *a, const float *b, int rows, int V, int Vp) {
    double worst = 0.0;
    for (int r = 0; r < rows; r++) {
        double mx = 0.0, d = 0.0;
        for (int v = 0; v < V; v++) {
            double x = a[(size_t)r * Vp + v], y = b[(size_t)r * Vp + v];
            if (fabs(y) > mx) mx = fabs(y);
            if (!(fabs(x - y) <= d)) d = fabs(x - y); // NaN propagates
        }
        double e = mx > 0 ? d / mx : d;
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

static int report(const char *name, double err) {
    int ok = err <= TOL;
    printf("%-4s %-8s worst row rel err %.3e (tol %.0e)\n", ok ? "OK" : "FAIL", name, err, TOL);
    return ok;
}

int main(int argc, char **argv) {
    const char *load = argc > 1 ? argv[1] : "L3:C96:H3:V1000:T128";
    CudaContext ctx;
    cuda_context_init(&ctx, 0);
    GPT2 model;
    gpt2_build(&model, &ctx, load, 1234, 0, 0);
    const GPT2Config *c = &model.config;
    const int B = 3, T = c->max_seq_len, V = c->vocab_size, Vp = c->padded_vocab_size;
    printf("device %s, %s; model L=%d C=%d NH=%d V=%d T=%d\n", ctx.props.name, FLOATX_NAME, c->num_layers, c->channels,
           c->num_heads, V, T);
    size_t BT = (size_t)B * T;
    int *tokens = (int *)malloc_check(BT * sizeof(int));
    uint64_t rng = 42;
    for (size_t i = 0; i < BT; i++) tokens[i] = (int)(random_u32(&rng) % (uint32_t)V);

    // the reference: the full forward on the whole batch
    gpt2_alloc_activations(&model, B, T, 0);
    gpt2_set_batch(&model, tokens, NULL, B, T);
    gpt2_forward(&model, B, T, FORWARD_LOGITS, 0.0f);
    float *full = (float *)malloc_check(BT * Vp * sizeof(float));
    download_floatX(full, model.acts.logits, BT * Vp, ctx.stream);

    KVCacheGPU kv;
    kvg_init(&kv, &model, B, T);
    float *got = (float *)malloc_check(BT * Vp * sizeof(float));
    int ok = 1, m, slots[3] = {0, 1, 2}, rows[3];

    // prefill: all sequences in one call, every row's logits
    int *sl = (int *)malloc_check(BT * sizeof(int));
    for (size_t i = 0; i < BT; i++) sl[i] = (int)(i / T);
    const float *out = kvg_forward(&model, &kv, tokens, sl, (int)BT, 1, &m);
    ok &= m == (int)BT;
    ok &= report("prefill", m == (int)BT ? worst_row_err(out, full, (int)BT, V, Vp) : INFINITY);

    // decode: one token per sequence per call
    for (int b = 0; b < B; b++) kvg_reset(&kv, b);
    for (int t = 0; t < T; t++) {
        for (int b = 0; b < B; b++) rows[b] = tokens[(size_t)b * T + t];
        out = kvg_forward(&model, &kv, rows, slots, B, 0, &m);
        for (int b = 0; b < B; b++) memcpy(got + ((size_t)b * T + t) * Vp, out + (size_t)b * Vp, (size_t)Vp * sizeof(float));
    }
    ok &= report("decode", worst_row_err(got, full, (int)BT, V, Vp));

    // mixed: prompts of half the context for slots 0 and 1 in one call (only their last rows'
    // logits), then decode; slot 2 joins late, fed two tokens per call until it catches up
    for (int b = 0; b < B; b++) kvg_reset(&kv, b);
    int half = T / 2, pos2 = 0;
    int *pr = (int *)malloc_check((size_t)2 * half * sizeof(int)), *ps = (int *)malloc_check((size_t)2 * half * sizeof(int));
    for (int b = 0; b < 2; b++) {
        for (int t = 0; t < half; t++) pr[b * half + t] = tokens[(size_t)b * T + t], ps[b * half + t] = b;
    }
    out = kvg_forward(&model, &kv, pr, ps, 2 * half, 0, &m);
    ok &= m == 2;
    for (int b = 0; b < 2 && m == 2; b++) {
        memcpy(got + ((size_t)b * T + half - 1) * Vp, out + (size_t)b * Vp, (size_t)Vp * sizeof(float));
    }
    double err_mixed = 0.0;
    for (int b = 0; b < 2; b++) {
        double e = worst_row_err(got + ((size_t)b * T + half - 1) * Vp, full + ((size_t)b * T + half - 1) * Vp, 1, V, Vp);
        if (!(e <= err_mixed)) err_mixed = e;
    }
    for (int t = half; t < T; t++) {
        int n = 0, tok[4], sls[4], where[4];
        for (int b = 0; b < 2; b++) tok[n] = tokens[(size_t)b * T + t], sls[n] = b, where[n] = b * T + t, n++;
        int k2 = pos2 < t ? 2 : 1; // slot 2 feeds two tokens per call while it is behind
        for (int k = 0; k < k2 && pos2 < T; k++) tok[n] = tokens[2 * (size_t)T + pos2], sls[n] = 2, where[n] = 2 * T + pos2, n++, pos2++;
        out = kvg_forward(&model, &kv, tok, sls, n, 1, &m);
        for (int j = 0; j < n; j++) {
            double e = worst_row_err(out + (size_t)j * Vp, full + (size_t)where[j] * Vp, 1, V, Vp);
            if (!(e <= err_mixed)) err_mixed = e;
        }
    }
    while (pos2 < T) { // the rest of slot 2 alone
        int t2 = tokens[2 * (size_t)T + pos2], s2 = 2;
        out = kvg_forward(&model, &kv, &t2, &s2, 1, 0, &m);
        double e = worst_row_err(out, full + ((size_t)2 * T + pos2) * Vp, 1, V, Vp);
        if (!(e <= err_mixed)) err_mixed = e;
        pos2++;
    }
    ok &= report("mixed", err_mixed);

    printf(ok ? "overall okay\n" : "overall FAILED\n");
    free(pr);
    free(ps);
    free(sl);
    free(got);
    free(full);
    free(tokens);
    kvg_free(&kv);
    gpt2_free(&model);
    cuda_context_free(&ctx);
    return ok ? 0 : 1;
}
