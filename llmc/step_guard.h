/*
 * step_guard.h: decides whether a training step's update is applied, shared by both trainers.
 *
 * A step is skipped (no update: the weights and AdamW state stay as they were) when its loss
 * or its gradient norm is not finite, or, when asked (-sl / -sg, as llm.c), when either lies
 * more than z standard deviations above its mean over the last STEP_GUARD_WINDOW accepted
 * steps. Skips are counted; after --max_skips consecutive skips the run stops with a one-line
 * error and exit 1, before any checkpoint of the bad state could be written, so the newest
 * checkpoint is the last good one.
 *
 * The windows are not saved in checkpoints: after a resume they refill from the steps that
 * follow (the outlier test waits for STEP_GUARD_MIN samples), so with -sl/-sg a resumed run can
 * differ from an uninterrupted one; without them (the default) it cannot.
 */
#ifndef LLMC_STEP_GUARD_H
#define LLMC_STEP_GUARD_H

#include <math.h>
#include <stdio.h>

#include "logger.h"
#include "utils.h"

#define STEP_GUARD_WINDOW 128
#define STEP_GUARD_MIN 16

typedef struct {
    double values[STEP_GUARD_WINDOW];
    int count, next;
} GuardWindow;

typedef struct {
    GuardWindow loss, norm;
    float loss_z, norm_z; // 0: no outlier test
    int max_consecutive;
    int consecutive;      // skips in a row so far
    long total;           // skips in this process's run
} StepGuard;

static inline void step_guard_init(StepGuard *g, float loss_z, float norm_z, int max_consecutive) {
    memset(g, 0, sizeof(*g));
    g->loss_z = loss_z;
    g->norm_z = norm_z;
    g->max_consecutive = max_consecutive;
}

// z-score of x against the window (0 while the window holds fewer than STEP_GUARD_MIN values).
static inline double guard_window_z(const GuardWindow *w, double x) {
    if (w->count < STEP_GUARD_MIN) return 0.0;
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < w->count; i++) mean += w->values[i];
    mean /= w->count;
    for (int i = 0; i < w->count; i++) var += (w->values[i] - mean) * (w->values[i] - mean);
    double sd = sqrt(var / w->count);
    return sd > 0.0 ? (x - mean) / sd : 0.0;
}

static inline void guard_window_add(GuardWindow *w, double x) {
    w->values[w->next] = x;
    w->next = (w->next + 1) % STEP_GUARD_WINDOW;
    if (w->count < STEP_GUARD_WINDOW) w->count++;
}

// Returns 1 if the update of a step with this loss and norm should be applied; on a skip, writes the
// reason into why (e.g. "non-finite loss"); step_guard_log then logs it and stops the run.
static inline int step_guard_accept(StepGuard *g, float loss, float norm, char *why, size_t why_size) {
    why[0] = '\0';
    if (!isfinite(loss) || !isfinite(norm)) {
        snprintf(why, why_size, "non-finite %s", !isfinite(loss) ? "loss" : "grad norm");
    } else {
        double zl = guard_window_z(&g->loss, loss), zn = guard_window_z(&g->norm, norm);
        if (g->loss_z > 0 && zl > g->loss_z) snprintf(why, why_size, "loss outlier (z = %.1f > %g)", zl, (double)g->loss_z);
        else if (g->norm_z > 0 && zn > g->norm_z) snprintf(why, why_size, "grad norm outlier (z = %.1f > %g)", zn, (double)g->norm_z);
    }
    if (why[0] == '\0') {
        g->consecutive = 0;
        guard_window_add(&g->loss, loss);
        guard_window_add(&g->norm, norm);
        return 1;
    }
    g->consecutive++;
    g->total++;
    return 0;
}

// Logs 1-based step `step`: its train line, or (skipped non-empty) the skip, also printed when
// `print` (process 0); after max_consecutive skips in a row, stops the run with a one-line error.
static inline void step_guard_log(const StepGuard *g, Logger *l, int step, const char *skipped, float loss, float lr,
                                  float norm, int print) {
    if (skipped[0] == '\0') {
        logger_log_train(l, step, loss, lr, norm);
    } else {
        logger_log_skip(l, step, skipped, loss, norm);
        if (print) printf("step %d skipped, no update: %s (%d in a row, %ld in all)\n", step, skipped, g->consecutive, g->total);
    }
    if (print) fflush(stdout);
    if (g->consecutive >= g->max_consecutive) {
        die("step %d: %d consecutive steps skipped (last: %s, loss %g, grad norm %g); stopping, the newest checkpoint is "
            "the last good one (--max_skips %d)", step, g->consecutive, skipped, (double)loss, (double)norm,
            g->max_consecutive);
    }
}

// No checkpoint is written while steps are being skipped: the newest stays the last good one.
static inline int step_guard_clean(const StepGuard *g) { return g->consecutive == 0; }

#endif // LLMC_STEP_GUARD_H
