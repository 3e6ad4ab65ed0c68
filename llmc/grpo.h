/*
 * grpo.h: group-relative advantages (GRPO, DeepSeekMath / DeepSeek-R1) for rl.c.
 *
 * A step samples K replies to each of P prompts. Reply j of group g gets the advantage
 *     A = r_gj - mean_g(r)                   (scale_std = 0)
 *     A = (r_gj - mean_g(r)) / (std_g(r) + eps)   (scale_std = 1; std over the K, divided by K)
 * so a group whose replies all score the same (all right, all wrong) teaches nothing: A = 0
 * exactly, whatever eps. Better-than-average replies get A > 0 (their tokens are pushed up),
 * worse ones A < 0. Sums run in double so the mean of equal rewards is exact.
 */
#ifndef LLMC_GRPO_H
#define LLMC_GRPO_H

#include <math.h>

// rewards, adv: (P, K) row-major.
static inline void grpo_advantages(const float *rewards, float *adv, int P, int K, int scale_std, float eps) {
    for (int g = 0; g < P; g++) {
        const float *r = rewards + (size_t)g * K;
        float *a = adv + (size_t)g * K;
        double mean = 0.0, var = 0.0;
        int all_equal = 1;
        for (int j = 0; j < K; j++) {
            mean += r[j];
            all_equal &= r[j] == r[0];
        }
        mean /= K;
        for (int j = 0; j < K; j++) var += (r[j] - mean) * (r[j] - mean);
        double denom = scale_std ? sqrt(var / K) + eps : 1.0;
        for (int j = 0; j < K; j++) a[j] = all_equal ? 0.0f : (float)((r[j] - mean) / denom);
    }
}

#endif // LLMC_GRPO_H
