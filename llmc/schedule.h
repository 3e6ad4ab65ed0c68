/*
 * schedule.h: the learning rate at each step, shared by both trainers (train_gpt2.py matches).
 *
 * Linear warmup over the first `warmup` steps, (lr * (step+1) / warmup), then a decay from lr to
 * lr * final_frac over the remaining steps: cosine, linear, or none ("constant").
 */
#ifndef LLMC_SCHEDULE_H
#define LLMC_SCHEDULE_H

#include <math.h>
#include <string.h>

typedef enum { SCHEDULE_COSINE, SCHEDULE_LINEAR, SCHEDULE_CONSTANT } ScheduleKind;

typedef struct {
    ScheduleKind kind;
    float learning_rate;
    int warmup;
    int total_steps;
    float final_frac;
} LRSchedule;

static inline void lr_schedule_init(LRSchedule *s, const char *kind, float lr, int warmup, int total_steps,
                             float final_frac) {
    s->kind = strcmp(kind, "linear") == 0     ? SCHEDULE_LINEAR
              : strcmp(kind, "constant") == 0 ? SCHEDULE_CONSTANT
                                              : SCHEDULE_COSINE;
    s->learning_rate = lr;
    s->warmup = warmup;
    s->total_steps = total_steps;
    s->final_frac = final_frac;
}

// Learning rate of 0-based step `step`.
static inline float lr_schedule_get(const LRSchedule *s, int step) {
    float lr = s->learning_rate;
    if (step < s->warmup) return lr * (float)(step + 1) / (float)s->warmup;
    if (s->kind == SCHEDULE_CONSTANT) return lr;
    int span = s->total_steps - s->warmup;
    float ratio = (float)(step - s->warmup) / (float)(span > 1 ? span : 1);
    if (ratio < 0.0f) ratio = 0.0f;
    if (ratio > 1.0f) ratio = 1.0f;
    float min_lr = lr * s->final_frac;
    float coeff = s->kind == SCHEDULE_LINEAR ? 1.0f - ratio : 0.5f * (1.0f + cosf((float)M_PI * ratio));
    return min_lr + coeff * (lr - min_lr);
}

#endif // LLMC_SCHEDULE_H
