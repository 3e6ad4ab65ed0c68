/*
 * schedule.h: the learning rate at each step, shared by both trainers (train_gpt2.py matches).
 *
 * Linear warmup over the first `warmup` steps, (lr * (step+1) / warmup), then a decay from lr to
 * lr * final_frac over the remaining steps: cosine, linear, or none ("constant").
 * Unlike llm.c, whose constant schedule ignores the warmup, "constant" here warms up too; -u 0
 * gives llm.c's behaviour.
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
    // in double, as train_gpt2.py computes it, then rounded once
    int span = s->total_steps - s->warmup;
    double ratio = (double)(step - s->warmup) / (double)(span > 1 ? span : 1);
    if (ratio < 0.0) ratio = 0.0;
    if (ratio > 1.0) ratio = 1.0;
    double min_lr = (double)lr * s->final_frac;
    double coeff = s->kind == SCHEDULE_LINEAR ? 1.0 - ratio : 0.5 * (1.0 + cos(M_PI * ratio));
    return (float)(min_lr + coeff * ((double)lr - min_lr));
}

#endif // LLMC_SCHEDULE_H
