/*
 * sampler.h: picks the next token from one row of logits (temperature, top-k), on the CPU.
 * Shared by both trainers; the GPU trainer copies the row to the host first.
 */
#ifndef LLMC_SAMPLER_H
#define LLMC_SAMPLER_H

#include <math.h>
#include <stdint.h>

#include "rand.h"

// logits (V) are read only; scratch holds V floats. temperature 0 means greedy (argmax);
// top_k 0 means all V tokens. Returns a token id in [0, V).
static inline int sample_token(const float *logits, int V, float temperature, int top_k, uint64_t *rng,
                        float *scratch) {
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
    double coin = (double)random_f32(rng) * sum;
    double cdf = 0.0;
    for (int i = 0; i < V; i++) {
        cdf += scratch[i];
        if (coin < cdf) return i;
    }
    return best;  // rounding left the coin past the end
}

#endif // LLMC_SAMPLER_H
