/*
 * timer.h: wall-clock timing of training steps and the ETA both trainers print.
 * The first step of a run is left out of the average: it pages in memory and warms caches
 * (and cuBLAS on the GPU), so it would make every ETA too long.
 */
#ifndef LLMC_TIMER_H
#define LLMC_TIMER_H

#include <stdio.h>
#include <time.h>

static inline double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// "1h02m03s" style duration.
static inline void format_duration(char *out, size_t size, double seconds) {
    if (!(seconds >= 0.0)) seconds = 0.0;
    long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(out, size, "%ldh%02ldm%02lds", s / 3600, (s / 60) % 60, s % 60);
    else if (s >= 60) snprintf(out, size, "%ldm%02lds", s / 60, s % 60);
    else snprintf(out, size, "%lds", s);
}

typedef struct {
    double total; // seconds of the counted steps
    int count;    // steps counted (all but the first)
    double last;  // seconds of the last step
    int seen;
} StepTimer;

static inline void step_timer_init(StepTimer *t) {
    t->total = 0.0;
    t->last = 0.0;
    t->count = 0;
    t->seen = 0;
}

static inline void step_timer_add(StepTimer *t, double seconds) {
    t->last = seconds;
    if (t->seen++ > 0) {
        t->total += seconds;
        t->count++;
    }
}

// Mean seconds per step (the last step's time until a second step is counted).
static inline double step_timer_mean(const StepTimer *t) { return t->count > 0 ? t->total / t->count : t->last; }

// Formats the time left for `steps_left` more steps into out.
static inline void step_timer_eta(const StepTimer *t, int steps_left, char *out, size_t size) {
    format_duration(out, size, step_timer_mean(t) * steps_left);
}

#endif // LLMC_TIMER_H
