/*
 * adamw_settings.h: the AdamW hyperparameters both trainers pass to their update, taken from
 * the flags and checked together. The learning rate is not here: it changes every step and
 * lives in the schedule (llmc/schedule.h), which the trainers ask for each step's value.
 */
#ifndef LLMC_ADAMW_SETTINGS_H
#define LLMC_ADAMW_SETTINGS_H

#include "train_options.h"
#include "utils.h"

typedef struct {
    float beta1, beta2, eps, weight_decay;
    float grad_clip; // clip the global gradient norm to this; 0: off
} AdamWSettings;

// Refuses settings that can only give NaN or a run that cannot train: eps must be > 0 (the
// flag table ensures it; with 0, m / (sqrt(v) + eps) is 0/0 for a weight whose gradient is 0),
// betas below 1 (the table again: 1 - beta^t = 0 divides by zero), and lr * weight decay below 1
// (at or above it, decoupled decay zeroes or flips every weight each step and the run diverges).
static inline AdamWSettings adamw_settings_from_options(const TrainOptions *o) {
    AdamWSettings s = {o->beta1, o->beta2, o->eps, o->weight_decay, o->grad_clip};
    if ((double)o->learning_rate * o->weight_decay >= 1.0) {
        die("flags -l and -c: learning rate %g * weight decay %g must be < 1 (decay would flip or zero every weight)",
            (double)o->learning_rate, (double)o->weight_decay);
    }
    return s;
}

#endif // LLMC_ADAMW_SETTINGS_H
