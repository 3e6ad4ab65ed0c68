/*
 * generate.h: text generation with a KV cache on the CPU, for chat.c and the CPU trainer's
 * samples. Include it after the CPU trainer's model code (train_gpt2.c): it reuses GPT2, its
 * parameter table and its layers (layernorm_forward, matmul_forward, gelu_forward,
 * residual_forward).
 *
 * The cache keeps, for each of S sequences ("slots") and each layer, the keys and values of
 * every position so far: k, v (L, S, maxT, C), heads contiguous in C as in the qkv activation.
 * kv_forward runs the model on new tokens only: each row is one token of some slot, at that
 * slot's next position; its keys and values are appended and its attention reads the slot's
 * cache (positions 0..pos). A prompt of n tokens is one call with n rows (a matrix multiply
 * per layer: the prompt's "prefill"); each generated token is one row per slot (decoding: one
 * matrix-vector product per layer, batched over the slots).
 *
 * Exactness: in a decode step every row is computed on its own (a plain dot product per output,
 * the attention a loop over the row's own cache), whatever the batch size, so a sequence
 * generates the same tokens alone or in a batch. A prompt of more than KV_GEMV_ROWS tokens uses
 * the trainer's blocked matmul; its logits equal a full gpt2_forward's to rounding (tested: 1e-5
 * relative).
 *
 *   kv_init(&kv, model, S, maxT)            allocate for S slots of up to maxT positions
 *   kv_reset(&kv, slot)                     forget a slot's tokens
 *   kv_forward(model, &kv, tokens, slots, n, all_logits)
 *                                           n rows; logits of every row (all_logits) or of the
 *                                           last row of each slot in kv.logits (n, Vp)
 *   generate(model, &kv, ...)               prompts -> sampled continuations (llmc/gen_loop.h,
 *                                           the loop the GPU's llmc/generate_gpu.cuh shares)
 */
#ifndef LLMC_GENERATE_H
#define LLMC_GENERATE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gen_loop.h"
#include "rand.h"
#include "sampler.h"
#include "utils.h"

#define KV_GEMV_ROWS 8 // prompts up to this many tokens use the per-row products too

typedef struct {
    int L, C, NH, Vp;
    int num_slots, max_T;
    float *k, *v;   // (L, num_slots, max_T, C)
    int *len;       // (num_slots) positions filled
    // scratch for one call of up to max_rows rows (grown on demand)
    int max_rows;
    int *pos;       // (rows) position of each row
    float *x, *ln, *mean, *rstd, *qkv, *atty, *proj, *fch, *fch_gelu, *logits;
    float *att;     // (threads, max_T) attention weights
    int nthreads;
} KVCache;

// Bytes of the key/value cache itself.
static inline size_t kv_cache_bytes(const KVCache *kv) {
    return 2 * (size_t)kv->L * kv->num_slots * kv->max_T * kv->C * sizeof(float);
}

static inline void kv_grow_rows_(KVCache *kv, int rows) {
    if (rows <= kv->max_rows) return;
    size_t n = (size_t)rows, C = (size_t)kv->C;
    free(kv->pos);
    free(kv->x);
    kv->pos = (int *)malloc_check(n * sizeof(int));
    // one block: x ln mean rstd qkv atty proj fch fch_gelu logits
    size_t total = n * C * 4 + 2 * n + n * 3 * C + n * 8 * C + n * (size_t)kv->Vp;
    float *b = (float *)malloc_check(total * sizeof(float));
    kv->x = b; b += n * C;
    kv->ln = b; b += n * C;
    kv->mean = b; b += n;
    kv->rstd = b; b += n;
    kv->qkv = b; b += n * 3 * C;
    kv->atty = b; b += n * C;
    kv->proj = b; b += n * C;
    kv->fch = b; b += n * 4 * C;
    kv->fch_gelu = b; b += n * 4 * C;
    kv->logits = b;
    kv->max_rows = rows;
}

static inline void kv_init(KVCache *kv, const GPT2 *model, int num_slots, int max_T) {
    memset(kv, 0, sizeof(*kv));
    const GPT2Config *c = &model->config;
    if (num_slots < 1) die("generation needs at least one sequence (got %d)", num_slots);
    if (max_T < 1 || max_T > c->max_seq_len) {
        die("generation length %d is outside the model's context [1, %d]", max_T, c->max_seq_len);
    }
    kv->L = c->num_layers;
    kv->C = c->channels;
    kv->NH = c->num_heads;
    kv->Vp = c->padded_vocab_size;
    kv->num_slots = num_slots;
    kv->max_T = max_T;
    size_t n = (size_t)kv->L * num_slots * max_T * kv->C;
    kv->k = (float *)malloc_check(n * sizeof(float));
    kv->v = (float *)malloc_check(n * sizeof(float));
    kv->len = (int *)calloc_check((size_t)num_slots, sizeof(int));
    kv->nthreads = 1;
#ifdef _OPENMP
    kv->nthreads = omp_get_max_threads();
#endif
    kv->att = (float *)malloc_check((size_t)kv->nthreads * max_T * sizeof(float));
    kv_grow_rows_(kv, KV_GEMV_ROWS);
}

static inline void kv_free(KVCache *kv) {
    free(kv->k);
    free(kv->v);
    free(kv->len);
    free(kv->att);
    free(kv->pos);
    free(kv->x);
    memset(kv, 0, sizeof(*kv));
}

static inline void kv_reset(KVCache *kv, int slot) { kv->len[slot] = 0; }

// out (n, OC) = inp (n, C) @ weight (OC, C)^T + bias: per-row dot products (each weight row is
// read once for all rows; a row's result does not depend on the others), or with gemm the
// blocked matmul (prompts).
static inline void kv_matmul_(float *out, const float *inp, const float *weight, const float *bias, int n, int C,
                              int OC, int gemm) {
    if (gemm) {
        matmul_forward(out, inp, weight, bias, n, C, OC);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int o = 0; o < OC; o++) {
        const float *w = weight + (size_t)o * C;
        float b = bias ? bias[o] : 0.0f;
        int r = 0;
        // four rows at a time: four independent accumulator chains per weight load; each row
        // still sums in exactly the order of the one-row loop below (same bits in any batch)
        for (; r + 4 <= n; r += 4) {
            const float *x0 = inp + (size_t)r * C, *x1 = x0 + C, *x2 = x1 + C, *x3 = x2 + C;
            float a0[16] = {0}, a1[16] = {0}, a2[16] = {0}, a3[16] = {0};
            int k = 0;
            for (; k + 16 <= C; k += 16) {
                for (int j = 0; j < 16; j++) {
                    float wv = w[k + j];
                    a0[j] += wv * x0[k + j];
                    a1[j] += wv * x1[k + j];
                    a2[j] += wv * x2[k + j];
                    a3[j] += wv * x3[k + j];
                }
            }
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
            for (int j = 0; j < 16; j++) {
                s0 += a0[j];
                s1 += a1[j];
                s2 += a2[j];
                s3 += a3[j];
            }
            for (; k < C; k++) {
                s0 += w[k] * x0[k];
                s1 += w[k] * x1[k];
                s2 += w[k] * x2[k];
                s3 += w[k] * x3[k];
            }
            out[(size_t)r * OC + o] = s0 + b;
            out[(size_t)(r + 1) * OC + o] = s1 + b;
            out[(size_t)(r + 2) * OC + o] = s2 + b;
            out[(size_t)(r + 3) * OC + o] = s3 + b;
        }
        for (; r < n; r++) {
            const float *x = inp + (size_t)r * C;
            float acc[16] = {0};
            int k = 0;
            for (; k + 16 <= C; k += 16) {
                for (int j = 0; j < 16; j++) acc[j] += w[k + j] * x[k + j];
            }
            float s = 0.0f;
            for (int j = 0; j < 16; j++) s += acc[j];
            for (; k < C; k++) s += w[k] * x[k];
            out[(size_t)r * OC + o] = s + b;
        }
    }
}

// Attention of n new rows over a KV cache (the CPU side of llmc/kv_attention.cuh, the same
// contract): out (n,C), qkv (n,3C), k and v (S,maxT,C) of one layer; row r's query against its
// slot's keys and values at positions 0..pos[r] (its own appended first), per head of HS = C/NH
// channels: out = softmax(q . k_t / sqrt(HS)) . v. scratch: (threads, maxT) floats.
static inline void kv_attention_forward(float *out, const float *qkv, const float *k, const float *v, const int *slots,
                                        const int *pos, int n, int C, int NH, int maxT, float *scratch) {
    int HS = C / NH;
    float scale = 1.0f / sqrtf((float)HS);
#pragma omp parallel for schedule(dynamic, 1)
    for (int rh = 0; rh < n * NH; rh++) {
        int r = rh / NH, h = rh % NH, tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *w = scratch + (size_t)tid * maxT;
        const float *q = qkv + (size_t)r * 3 * C + (size_t)h * HS;
        const float *K = k + (size_t)slots[r] * maxT * C + (size_t)h * HS;
        const float *Vc = v + (size_t)slots[r] * maxT * C + (size_t)h * HS;
        int npos = pos[r] + 1;
        float maxv = -INFINITY;
        for (int t = 0; t < npos; t++) {
            const float *kt = K + (size_t)t * C;
            float s = 0.0f;
            for (int i = 0; i < HS; i++) s += q[i] * kt[i];
            w[t] = s * scale;
            if (w[t] > maxv) maxv = w[t];
        }
        float sum = 0.0f;
        for (int t = 0; t < npos; t++) {
            w[t] = expf(w[t] - maxv);
            sum += w[t];
        }
        float inv = 1.0f / sum;
        float *y = out + (size_t)r * C + (size_t)h * HS;
        for (int i = 0; i < HS; i++) y[i] = 0.0f;
        for (int t = 0; t < npos; t++) {
            const float *vt = Vc + (size_t)t * C;
            float p = w[t] * inv;
            for (int i = 0; i < HS; i++) y[i] += p * vt[i];
        }
    }
}

// Runs the model on n new tokens: row r is token tokens[r] of slot slots[r], at that slot's
// next position (rows of one slot in order). Fills kv->logits (n, Vp): every row if all_logits,
// else only the last row of each slot in this call (the others are left undefined). Dies if a
// slot's context would overflow max_T or a token is outside the vocabulary.
static inline void kv_forward(GPT2 *model, KVCache *kv, const int *tokens, const int *slots, int n, int all_logits) {
    const GPT2Config *c = &model->config;
    int L = c->num_layers, C = c->channels, NH = c->num_heads, V = c->vocab_size, Vp = c->padded_vocab_size;
    int S = kv->num_slots, maxT = kv->max_T;
    kv_grow_rows_(kv, n);
    for (int r = 0; r < n; r++) {
        if (slots[r] < 0 || slots[r] >= S) die("generation slot %d outside [0, %d)", slots[r], S);
        if (tokens[r] < 0 || tokens[r] >= V) die("token %d is outside the model's vocabulary [0, %d)", tokens[r], V);
        if (kv->len[slots[r]] >= maxT) die("context full: sequence %d already holds %d tokens (the limit)", slots[r], maxT);
        kv->pos[r] = kv->len[slots[r]]++;
    }
    // rows of distinct slots (a decode step) always take the per-row products, so a sequence's
    // numbers never depend on its batch; a long prompt takes the blocked matmul
    int distinct = 1;
    for (int r = 0; r < n && distinct; r++) {
        for (int q = r + 1; q < n; q++) distinct &= slots[q] != slots[r];
    }
    int gemm = !distinct && n > KV_GEMV_ROWS;
    const float *P = model->params;
    const float *wte = P + model->param_offsets[PARAM_WTE], *wpe = P + model->param_offsets[PARAM_WPE];
    size_t NC = (size_t)n * C;
    for (int r = 0; r < n; r++) {
        float *x = kv->x + (size_t)r * C;
        const float *te = wte + (size_t)tokens[r] * C, *pe = wpe + (size_t)kv->pos[r] * C;
        for (int i = 0; i < C; i++) x[i] = te[i] + pe[i];
    }
    for (int l = 0; l < L; l++) {
        layernorm_forward(kv->ln, kv->mean, kv->rstd, kv->x, param_slice(model, model->params, PARAM_LN1W, l),
                          param_slice(model, model->params, PARAM_LN1B, l), n, C);
        kv_matmul_(kv->qkv, kv->ln, param_slice(model, model->params, PARAM_QKVW, l),
                   param_slice(model, model->params, PARAM_QKVB, l), n, C, 3 * C, gemm);
        // append this layer's keys and values
        for (int r = 0; r < n; r++) {
            size_t at = (((size_t)l * S + slots[r]) * maxT + kv->pos[r]) * C;
            memcpy(kv->k + at, kv->qkv + (size_t)r * 3 * C + C, (size_t)C * sizeof(float));
            memcpy(kv->v + at, kv->qkv + (size_t)r * 3 * C + 2 * C, (size_t)C * sizeof(float));
        }
        // attention of each (row, head) over its slot's positions 0..pos
        size_t layer = (size_t)l * S * maxT * C;
        kv_attention_forward(kv->atty, kv->qkv, kv->k + layer, kv->v + layer, slots, kv->pos, n, C, NH, maxT, kv->att);
        kv_matmul_(kv->proj, kv->atty, param_slice(model, model->params, PARAM_ATTPROJW, l),
                   param_slice(model, model->params, PARAM_ATTPROJB, l), n, C, C, gemm);
        residual_forward(kv->x, kv->x, kv->proj, NC);
        layernorm_forward(kv->ln, kv->mean, kv->rstd, kv->x, param_slice(model, model->params, PARAM_LN2W, l),
                          param_slice(model, model->params, PARAM_LN2B, l), n, C);
        kv_matmul_(kv->fch, kv->ln, param_slice(model, model->params, PARAM_FCW, l),
                   param_slice(model, model->params, PARAM_FCB, l), n, C, 4 * C, gemm);
        gelu_forward(kv->fch_gelu, kv->fch, NC * 4);
        kv_matmul_(kv->proj, kv->fch_gelu, param_slice(model, model->params, PARAM_FCPROJW, l),
                   param_slice(model, model->params, PARAM_FCPROJB, l), n, 4 * C, C, gemm);
        residual_forward(kv->x, kv->x, kv->proj, NC);
    }
    layernorm_forward(kv->ln, kv->mean, kv->rstd, kv->x, P + model->param_offsets[PARAM_LNFW],
                      P + model->param_offsets[PARAM_LNFB], n, C);
    if (all_logits) {
        kv_matmul_(kv->logits, kv->ln, wte, NULL, n, C, Vp, gemm);
        return;
    }
    // only the last row of each slot: gather those rows, multiply, scatter back
    int m = 0;
    int *last = (int *)malloc_check((size_t)n * sizeof(int));
    for (int r = 0; r < n; r++) {
        int is_last = 1;
        for (int q = r + 1; q < n; q++) is_last &= slots[q] != slots[r];
        if (is_last) last[m++] = r;
    }
    if (m == n) { // a decode step: every row is the last of its slot
        free(last);
        kv_matmul_(kv->logits, kv->ln, wte, NULL, n, C, Vp, 0);
        return;
    }
    float *rows = (float *)malloc_check((size_t)m * C * sizeof(float));
    float *out = (float *)malloc_check((size_t)m * Vp * sizeof(float));
    for (int j = 0; j < m; j++) memcpy(rows + (size_t)j * C, kv->ln + (size_t)last[j] * C, (size_t)C * sizeof(float));
    kv_matmul_(out, rows, wte, NULL, m, C, Vp, 0); // rows of distinct slots
    for (int j = 0; j < m; j++) memcpy(kv->logits + (size_t)last[j] * Vp, out + (size_t)j * Vp, (size_t)Vp * sizeof(float));
    free(last);
    free(rows);
    free(out);
}

// ----------------------------------------------------------------------------
// generation: the shared loop (llmc/gen_loop.h) over this cache

typedef struct {
    GPT2 *model;
    KVCache *kv;
    float *rows; // (nb, Vp) the prompts' last logits rows
} KVGen_;

static inline const float *kv_gen_prefill_(void *p, const int *const *prompts, const int *lens, int nb, size_t *stride) {
    KVGen_ *g = (KVGen_ *)p;
    int Vp = g->kv->Vp;
    g->rows = (float *)malloc_check((size_t)nb * Vp * sizeof(float));
    for (int i = 0; i < nb; i++) { // one prompt at a time: its rows take the blocked matmul
        kv_reset(g->kv, i);
        int *sl = (int *)malloc_check((size_t)lens[i] * sizeof(int));
        for (int t = 0; t < lens[i]; t++) sl[t] = i;
        kv_forward(g->model, g->kv, prompts[i], sl, lens[i], 0);
        free(sl);
        memcpy(g->rows + (size_t)i * Vp, g->kv->logits + (size_t)(lens[i] - 1) * Vp, (size_t)Vp * sizeof(float));
    }
    *stride = (size_t)Vp;
    return g->rows;
}

static inline const float *kv_gen_decode_(void *p, const int *tokens, const int *slots, int n, size_t *stride) {
    KVGen_ *g = (KVGen_ *)p;
    kv_forward(g->model, g->kv, tokens, slots, n, 0);
    *stride = (size_t)g->kv->Vp;
    return g->kv->logits;
}

// Generates continuations of nb prompts in slots 0..nb-1 of kv (reset first): gen_run's contract
// (llmc/gen_loop.h) on the CPU model.
static inline long generate(GPT2 *model, KVCache *kv, const int *const *prompts, const int *lens, int nb,
                            const GenSettings *g, uint64_t *rngs, int **out, int *out_len, int *finished,
                            GenCallback cb, void *user) {
    KVGen_ ctx = {model, kv, NULL};
    GenModel m = {&ctx, model->config.vocab_size, kv->num_slots, kv->max_T, kv_gen_prefill_, kv_gen_decode_};
    long total = gen_run(&m, prompts, lens, nb, g, rngs, out, out_len, finished, cb, user);
    free(ctx.rows);
    return total;
}

#endif // LLMC_GENERATE_H
