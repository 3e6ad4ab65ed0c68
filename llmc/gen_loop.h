/*
 * gen_loop.h: the generation loop, once for the CPU (llmc/generate.h) and the GPU
 * (llmc/generate_gpu.cuh): prompts in, sampled continuations out. The model is seen through two
 * functions over its KV cache (GenModel); everything else happens here on the host, so a fixed
 * seed gives the same tokens on both whenever their logits agree:
 *   - every sequence samples from its own RNG state (llmc/sampler.h sample_token_p: temperature,
 *     top-k, top-p), so it generates the same tokens alone or in a batch;
 *   - a sequence stops at a stop token (not emitted, but stored after its tokens: RL trains on
 *     it), at max_new tokens, or when its context is full; the others go on.
 *
 *   gen_run(&model, prompts, lens, nb, &settings, rngs, out, out_len, finished, cb, user)
 */
#ifndef LLMC_GEN_LOOP_H
#define LLMC_GEN_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sampler.h"
#include "utils.h"

typedef struct {
    float temperature; // 0: greedy
    int top_k;         // 0: all
    float top_p;       // 1: all
    int max_new;       // tokens to generate per sequence at most
    const int *stop;   // tokens that end a sequence (not emitted), or NULL
    int num_stop;
} GenSettings;

// Called for each new token of sequence `seq` (not for stop tokens); may be NULL.
typedef void (*GenCallback)(void *user, int seq, int token);

// A model with a KV cache of num_slots sequences of up to max_T positions each.
typedef struct {
    void *ctx;
    int V, num_slots, max_T;
    // Forgets slots 0..nb-1 and feeds prompt i (lens[i] tokens) into slot i; returns host fp32
    // logits, row i (at i * *stride floats) = the last position of prompt i.
    const float *(*prefill)(void *ctx, const int *const *prompts, const int *lens, int nb, size_t *stride);
    // Feeds tokens[r] to slot slots[r] (n distinct slots) at its next position; returns host fp32
    // logits, row r at r * *stride floats.
    const float *(*decode)(void *ctx, const int *tokens, const int *slots, int n, size_t *stride);
} GenModel;

// Generates continuations of nb prompts (prompts[i] of lens[i] tokens, 1..max_T) in slots
// 0..nb-1, all sequences decoding together one token per step. Sequence i samples with rngs[i]
// (advanced in place). out[i] (max_new) receives its tokens, out_len[i] their count;
// finished[i] = 1 if it stopped at a stop token (else it hit max_new or the context), and then
// out[i][out_len[i]] holds that stop token (not counted). Returns the total tokens generated.
static inline long gen_run(const GenModel *m, const int *const *prompts, const int *lens, int nb, const GenSettings *g,
                           uint64_t *rngs, int **out, int *out_len, int *finished, GenCallback cb, void *user) {
    int V = m->V;
    if (nb > m->num_slots) die("%d sequences exceed the cache's %d slots", nb, m->num_slots);
    if (nb < 1) return 0;
    for (int i = 0; i < nb; i++) {
        if (lens[i] < 1 || lens[i] > m->max_T) {
            die("prompt %d has %d tokens; it must have 1..%d (the context)", i, lens[i], m->max_T);
        }
    }
    float *scratch = (float *)malloc_check((size_t)V * sizeof(float));
    int *idx = (int *)malloc_check((size_t)V * sizeof(int));
    int *active = (int *)malloc_check((size_t)nb * sizeof(int));
    int *next = (int *)malloc_check((size_t)nb * sizeof(int));
    int *slots = (int *)malloc_check((size_t)nb * sizeof(int));
    long total = 0;
    size_t stride = 0;
    const float *logits = m->prefill(m->ctx, prompts, lens, nb, &stride);
    for (int i = 0; i < nb; i++) {
        out_len[i] = 0;
        finished[i] = 0;
        active[i] = g->max_new > 0;
        next[i] = sample_token_p(logits + (size_t)i * stride, V, g->temperature, g->top_k, g->top_p, &rngs[i], scratch, idx);
    }
    for (;;) {
        // take each active sequence's sampled token: stop, emit, or end at the limits
        int n = 0;
        for (int i = 0; i < nb; i++) {
            if (!active[i]) continue;
            int stop = 0;
            for (int s = 0; s < g->num_stop; s++) stop |= next[i] == g->stop[s];
            if (stop) {
                out[i][out_len[i]] = next[i]; // in bounds: a full sequence samples no more
                finished[i] = 1;
                active[i] = 0;
                continue;
            }
            out[i][out_len[i]++] = next[i];
            total++;
            if (cb) cb(user, i, next[i]);
            // the slot holds the prompt and every emitted token but this one: room to feed it?
            if (out_len[i] >= g->max_new || lens[i] + out_len[i] - 1 >= m->max_T) {
                active[i] = 0;
                continue;
            }
            slots[n] = i;
            next[n] = next[i]; // compact: row n feeds sequence i
            n++;
        }
        if (n == 0) break;
        logits = m->decode(m->ctx, next, slots, n, &stride);
        for (int r = n - 1; r >= 0; r--) { // un-compact (i >= r, so go backwards)
            int i = slots[r];
            next[i] = sample_token_p(logits + (size_t)r * stride, V, g->temperature, g->top_k, g->top_p, &rngs[i],
                                     scratch, idx);
        }
    }
    free(scratch);
    free(idx);
    free(active);
    free(next);
    free(slots);
    return total;
}

#endif // LLMC_GEN_LOOP_H
