// Test helper for dev/test/t_chat.sh: KV-cache generation (llmc/generate.h) against the CPU
// trainer's full forward, on random models of a few shapes.
// Usage: chat_kv_test; prints "ok NAME" / "not ok NAME: why" lines, exits 1 on any failure.
//   kv_prefill_logits_*   one prefill call of T tokens: logits at every position vs gpt2_forward
//   kv_decode_logits_*    token by token (one row per call): every position vs gpt2_forward
//   kv_split_logits_*     prefill of part, then decode, in a batch of 3 slots at different positions
//   batched_equals_single_*  generate() of 10 prompts together == each alone (greedy and sampled)
//   seed_reproduces_*     the same seed twice gives the same tokens; another seed differs
// Logit tolerance: max |kv - full| / max |full| over the row <= 1e-5 for every position.
#define TESTING
#include "../../train_gpt2.c"

#include "../../llmc/generate.h"

static int failures = 0;

static void report(int cond, const char *name, const char *shape, const char *why) {
    if (cond) {
        printf("ok %s_%s\n", name, shape);
    } else {
        printf("not ok %s_%s: %s\n", name, shape, why);
        failures++;
    }
}

// Worst over positions of max|a - b| / max|b| over the V columns of each row.
static double worst_row_error(const float *a, size_t a_stride, const float *b, size_t b_stride, int rows, int V) {
    double worst = 0.0;
    for (int r = 0; r < rows; r++) {
        double m = 0.0, d = 0.0;
        for (int v = 0; v < V; v++) {
            double x = a[(size_t)r * a_stride + v], y = b[(size_t)r * b_stride + v];
            if (fabs(y) > m) m = fabs(y);
            if (!(fabs(x - y) <= d)) d = fabs(x - y);
        }
        double e = m > 0 ? d / m : d;
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

static void test_shape(const char *shape, const char *descriptor, int T, uint64_t seed) {
    GPT2Config cfg;
    if (!gpt2_config_from_descriptor(&cfg, descriptor)) die("bad descriptor %s", descriptor);
    GPT2 model;
    gpt2_build_from_random(&model, &cfg, seed);
    int V = cfg.vocab_size, Vp = cfg.padded_vocab_size;
    gpt2_alloc_activations(&model, 3, T);
    // three sequences of random tokens
    uint64_t rng = seed * 7 + 1;
    int *tokens = (int *)malloc_check((size_t)3 * T * sizeof(int));
    for (int i = 0; i < 3 * T; i++) tokens[i] = (int)(random_u32(&rng) % (uint32_t)V);
    float *full = (float *)malloc_check((size_t)3 * T * Vp * sizeof(float));
    gpt2_forward(&model, tokens, NULL, 3, T);
    memcpy(full, model.acts.logits, (size_t)3 * T * Vp * sizeof(float));
    char why[256];

    KVCache kv;
    kv_init(&kv, &model, 3, T);
    // 1. prefill of sequence 0 in one call, logits of every row
    int *slots = (int *)calloc_check((size_t)3 * T, sizeof(int));
    kv_forward(&model, &kv, tokens, slots, T, 1);
    double e = worst_row_error(kv.logits, (size_t)Vp, full, (size_t)Vp, T, V);
    snprintf(why, sizeof(why), "worst row error %.3e > 1e-5", e);
    report(e <= 1e-5, "kv_prefill_logits", shape, why);
    // 2. sequence 1 one token per call
    double worst = 0.0;
    int one = 1;
    for (int t = 0; t < T; t++) {
        kv_forward(&model, &kv, tokens + T + t, &one, 1, 1);
        double et = worst_row_error(kv.logits, (size_t)Vp, full + ((size_t)T + t) * Vp, (size_t)Vp, 1, V);
        if (et > worst) worst = et;
    }
    snprintf(why, sizeof(why), "worst row error %.3e > 1e-5", worst);
    report(worst <= 1e-5, "kv_decode_logits", shape, why);
    // 3. all three slots together: reset, prefill different lengths per slot, then decode in a batch
    for (int s = 0; s < 3; s++) kv_reset(&kv, s);
    worst = 0.0;
    int pre[3] = {T / 2, 1, T - 3 > 0 ? T - 3 : 1};
    for (int s = 0; s < 3; s++) {
        for (int t = 0; t < pre[s]; t++) slots[t] = s;
        kv_forward(&model, &kv, tokens + (size_t)s * T, slots, pre[s], 1);
        double es = worst_row_error(kv.logits, (size_t)Vp, full + (size_t)s * T * Vp, (size_t)Vp, pre[s], V);
        if (es > worst) worst = es;
    }
    int pos[3] = {pre[0], pre[1], pre[2]};
    for (;;) {
        int rows[3], sl[3], n = 0;
        for (int s = 0; s < 3; s++) {
            if (pos[s] < T) {
                rows[n] = tokens[(size_t)s * T + pos[s]];
                sl[n] = s;
                n++;
            }
        }
        if (n == 0) break;
        kv_forward(&model, &kv, rows, sl, n, 1);
        for (int r = 0; r < n; r++) {
            int s = sl[r];
            double er = worst_row_error(kv.logits + (size_t)r * Vp, (size_t)Vp, full + ((size_t)s * T + pos[s]) * Vp, (size_t)Vp, 1, V);
            if (er > worst) worst = er;
            pos[s]++;
        }
    }
    snprintf(why, sizeof(why), "worst row error %.3e > 1e-5", worst);
    report(worst <= 1e-5, "kv_split_logits", shape, why);
    kv_free(&kv);

    // 4. batched generation equals one at a time, greedy and sampled (top-k, top-p)
    // 10 sequences: more than KV_GEMV_ROWS, so a batch that could take the blocked matmul
    enum { NB = 10 };
    int nb = NB, max_new = T / 2;
    const int *prompts[NB];
    int lens[NB];
    for (int i = 0; i < nb; i++) {
        lens[i] = 1 + (i * 7) % (T / 2);
        prompts[i] = tokens + (size_t)(i % 3) * T + i % 3;
    }
    int *out_b[NB], *out_s[NB], len_b[NB], len_s[NB], done_b[NB], done_s[NB];
    for (int i = 0; i < nb; i++) {
        out_b[i] = (int *)malloc_check((size_t)max_new * sizeof(int));
        out_s[i] = (int *)malloc_check((size_t)max_new * sizeof(int));
    }
    for (int mode = 0; mode < 2; mode++) {
        GenSettings g = {mode ? 1.0f : 0.0f, mode ? 20 : 0, mode ? 0.9f : 1.0f, max_new, NULL, 0};
        KVCache kb;
        kv_init(&kb, &model, nb, T);
        uint64_t rb[NB], rs;
        for (int i = 0; i < nb; i++) rb[i] = 1000 + (uint64_t)i;
        generate(&model, &kb, prompts, lens, nb, &g, rb, out_b, len_b, done_b, NULL, NULL);
        kv_free(&kb);
        int same = 1;
        for (int i = 0; i < nb; i++) {
            KVCache k1;
            kv_init(&k1, &model, 1, T);
            rs = 1000 + (uint64_t)i;
            generate(&model, &k1, &prompts[i], &lens[i], 1, &g, &rs, &out_s[i], &len_s[i], &done_s[i], NULL, NULL);
            kv_free(&k1);
            same &= len_s[i] == len_b[i] && memcmp(out_s[i], out_b[i], (size_t)len_s[i] * sizeof(int)) == 0;
            same &= rs == rb[i]; // the same number of draws
        }
        report(same, mode ? "batched_equals_single_sampled" : "batched_equals_single_greedy", shape,
               "a sequence generated in a batch differs from the same sequence alone");
    }
    // 5. a fixed seed reproduces; another seed gives another sample
    {
        GenSettings g = {1.0f, 0, 1.0f, max_new, NULL, 0};
        int *a = out_s[0], *b = out_s[1], la, lb, lc, da;
        uint64_t r = 77;
        KVCache k1;
        kv_init(&k1, &model, 1, T);
        generate(&model, &k1, &prompts[0], &lens[0], 1, &g, &r, &a, &la, &da, NULL, NULL);
        r = 77;
        generate(&model, &k1, &prompts[0], &lens[0], 1, &g, &r, &b, &lb, &da, NULL, NULL);
        report(la == lb && memcmp(a, b, (size_t)la * sizeof(int)) == 0, "seed_reproduces", shape,
               "two runs with seed 77 differ");
        r = 78;
        int *cc = out_s[2];
        generate(&model, &k1, &prompts[0], &lens[0], 1, &g, &r, &cc, &lc, &da, NULL, NULL);
        report(!(la == lc && memcmp(a, cc, (size_t)la * sizeof(int)) == 0), "other_seed_differs", shape,
               "seeds 77 and 78 gave the same sample (the seed is not used?)");
        kv_free(&k1);
    }
    for (int i = 0; i < nb; i++) {
        free(out_b[i]);
        free(out_s[i]);
    }
    free(slots);
    free(tokens);
    free(full);
    gpt2_free(&model);
}

int main(void) {
    test_shape("L2_C64_H4_V97_T48", "L2:C64:H4:V97:T64", 48, 3);
    test_shape("L3_C48_H3_V1000_T37", "L3:C48:H3:V1000:T40", 37, 5);
    test_shape("L1_C16_H1_V50267_T9", "L1:C16:H1:V50267:T16", 9, 7); // chat vocab, GEMV path only (T < 8 rows)
    test_shape("L2_C128_H2_V300_T64", "L2:C128:H2:V300:T64", 64, 9);
    return failures ? 1 : 0;
}
