/*
 * logger.h: the run log, main.log in the output directory (doc/formats.md "Run log").
 * One line per event: "s:<step> trl:<train loss> lr:<lr> norm:<norm>", "s:<step> tel:<val loss>",
 * "s:<step> eval:<accuracy>". Lines are flushed as written so a killed run keeps its log.
 */
#ifndef LLMC_LOGGER_H
#define LLMC_LOGGER_H

#include <stdio.h>

#include "utils.h"

typedef struct {
    FILE *fp;  // NULL when no output directory was given
} Logger;

// Starts a new log, or appends to it when resuming.
static inline void logger_init(Logger *l, const char *dir, int resume) {
    l->fp = NULL;
    if (dir == NULL || dir[0] == '\0') return;
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/main.log", dir);
    if (n < 0 || (size_t)n >= sizeof(path)) die("output directory path too long: %s", dir);
    l->fp = fopen_check(path, resume ? "a" : "w");
}

static inline void logger_log_train(Logger *l, int step, float loss, float lr, float norm) {
    if (l->fp == NULL) return;
    fprintf(l->fp, "s:%d trl:%.6f lr:%.6e norm:%.4f\n", step, loss, lr, norm);
    fflush(l->fp);
}

static inline void logger_log_val(Logger *l, int step, float loss) {
    if (l->fp == NULL) return;
    fprintf(l->fp, "s:%d tel:%.6f\n", step, loss);
    fflush(l->fp);
}

static inline void logger_log_eval(Logger *l, int step, float accuracy) {
    if (l->fp == NULL) return;
    fprintf(l->fp, "s:%d eval:%.6f\n", step, accuracy);
    fflush(l->fp);
}

static inline void logger_free(Logger *l) {
    if (l->fp != NULL) fclose(l->fp);
    l->fp = NULL;
}

#endif // LLMC_LOGGER_H
