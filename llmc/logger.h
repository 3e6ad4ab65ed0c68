/*
 * logger.h: the run's text outputs in the output directory, written by process 0.
 *   main.log     one line per event (doc/formats.md "Run log"): "s:<step> trl:<train loss>
 *                lr:<lr> norm:<norm>", "s:<step> tel:<val loss>", "s:<step> eval:<accuracy>",
 *                and "s:<step> skip:<reason> loss:<loss> norm:<norm>" for a skipped update.
 *   samples.txt  each sample under a line "s:<step> sample".
 * Lines are flushed as written so a killed run keeps its log. A resumed run first cuts both
 * files back to the step it resumes from (a killed run may have logged steps after its last
 * checkpoint), so the log of a resumed run equals an uninterrupted run's.
 */
#ifndef LLMC_LOGGER_H
#define LLMC_LOGGER_H

#include <stdio.h>
#include <stdlib.h>

#include "utils.h"

typedef struct {
    FILE *fp;      // main.log; NULL when no output directory was given
    FILE *samples; // samples.txt; NULL likewise
} Logger;

// Rewrites path (atomically) keeping the lines up to the first that starts "s:<n>" with n > step;
// lines that do not start so belong to the last "s:" line before them.
static inline void logger_cut_file(const char *path, int step) {
    FILE *in = fopen(path, "rb");
    if (in == NULL) return;
    char tmp[4200];
    tmp_path_for(tmp, sizeof(tmp), path);
    FILE *out = fopen_check(tmp, "wb");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, in)) > 0) {
        int s;
        if (sscanf(line, "s:%d", &s) == 1 && s > step) break;
        fwrite_check(line, 1, (size_t)len, out, tmp);
    }
    free(line);
    fclose(in);
    commit_file(out, tmp, path);
}

static inline FILE *logger_open(const char *dir, const char *name, int resumed_at) {
    char path[4200];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path)) die("output directory path too long: %s", dir);
    if (resumed_at >= 0) logger_cut_file(path, resumed_at);
    return fopen_check(path, resumed_at >= 0 ? "a" : "w");
}

// Starts new files, or (resumed_at >= 0) continues them from step resumed_at.
static inline void logger_init(Logger *l, const char *dir, int resumed_at) {
    l->fp = l->samples = NULL;
    if (dir == NULL || dir[0] == '\0') return;
    l->fp = logger_open(dir, "main.log", resumed_at);
    l->samples = logger_open(dir, "samples.txt", resumed_at);
}

static inline void logger_log_train(Logger *l, int step, float loss, float lr, float norm) {
    if (l->fp == NULL) return;
    fprintf(l->fp, "s:%d trl:%.6f lr:%.6e norm:%.4f\n", step, loss, lr, norm);
    fflush(l->fp);
}

static inline void logger_log_skip(Logger *l, int step, const char *why, float loss, float norm) {
    if (l->fp == NULL) return;
    fprintf(l->fp, "s:%d skip:\"%s\" loss:%g norm:%g\n", step, why, (double)loss, (double)norm);
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

// The file a sample at `step` is copied to (NULL: none), its header line written.
static inline FILE *logger_sample_file(Logger *l, int step) {
    if (l->samples == NULL) return NULL;
    fprintf(l->samples, "s:%d sample\n", step);
    return l->samples;
}

static inline void logger_free(Logger *l) {
    if (l->fp != NULL) fclose(l->fp);
    if (l->samples != NULL) fclose(l->samples);
    l->fp = l->samples = NULL;
}

#endif // LLMC_LOGGER_H
