/*
 * sampler.h: picks the next token from one row of logits (temperature, top-k, top-p), on the CPU.
 * Shared by both trainers; the GPU trainer copies the row to the host first.
 */
#ifndef LLMC_SAMPLER_H
#define LLMC_SAMPLER_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "rand.h"

// Sorts candidate ids by probability, largest first (ties: lower id first).
static const float *sampler_sort_probs_;
static inline int sampler_cmp_(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    float pi = sampler_sort_probs_[i], pj = sampler_sort_probs_[j];
    if (pi != pj) return pi > pj ? -1 : 1;
    return i < j ? -1 : (i > j);
}

// logits (V) are read only; scratch holds V floats, idx V ints (used only when top_p < 1).
// temperature 0 means greedy (argmax); top_k 0 means all V tokens; top_p 1 means no nucleus
// cut, else only the smallest set of most likely tokens (after temperature and top-k) whose
// probability reaches top_p is kept. Draws one random_f32 from rng unless greedy. Returns a
// token id in [0, V).
static inline int sample_token_p(const float *logits, int V, float temperature, int top_k, float top_p,
                                 uint64_t *rng, float *scratch, int *idx) {
    int best = 0;
    for (int i = 1; i < V; i++) {
        if (logits[i] > logits[best]) best = i;
    }
    if (temperature <= 0.0f) return best;
    // the k-th largest logit is the cut-off; ties at the cut-off stay in
    float cutoff = -INFINITY;
    if (top_k > 0 && top_k < V) {
        // k rounds of "largest value below the previous one" are O(kV); keep k small
        float prev = INFINITY;
        int taken = 0;
        while (taken < top_k) {
            float m = -INFINITY;
            int count = 0;
            for (int i = 0; i < V; i++) {
                if (logits[i] < prev && logits[i] > m) { m = logits[i]; count = 0; }
                if (logits[i] == m) count++;
            }
            if (m == -INFINITY) break;
            cutoff = m;
            prev = m;
            taken += count;
        }
    }
    float maxv = logits[best];
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        scratch[i] = logits[i] >= cutoff ? expf((logits[i] - maxv) / temperature) : 0.0f;
        sum += scratch[i];
    }
    if (top_p < 1.0f && idx != NULL) {
        // A token of the nucleus has p > (1 - top_p) / V (the tokens at or below it hold more
        // than 1 - top_p), so only those are sorted: usually few.
        double floor_p = (1.0 - (double)top_p) / V * sum;
        int n = 0;
        for (int i = 0; i < V; i++) {
            if (scratch[i] > floor_p) idx[n++] = i;
        }
        sampler_sort_probs_ = scratch;
        qsort(idx, (size_t)n, sizeof(int), sampler_cmp_);
        double kept = 0.0;
        int m = 0;
        while (m < n && kept < (double)top_p * sum) kept += scratch[idx[m++]];
        if (m == 0) return best;
        double coin = (double)random_f32(rng) * kept, cdf = 0.0;
        for (int j = 0; j < m; j++) {
            cdf += scratch[idx[j]];
            if (coin < cdf) return idx[j];
        }
        return idx[0];
    }
    double coin = (double)random_f32(rng) * sum;
    double cdf = 0.0;
    for (int i = 0; i < V; i++) {
        cdf += scratch[i];
        if (coin < cdf) return i;
    }
    return best;  // rounding left the coin past the end
}

// sample_token_p without the nucleus cut.
static inline int sample_token(const float *logits, int V, float temperature, int top_k, uint64_t *rng,
                               float *scratch) {
    return sample_token_p(logits, V, temperature, top_k, 1.0f, rng, scratch, NULL);
}

#endif // LLMC_SAMPLER_H
