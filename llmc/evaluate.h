/*
 * evaluate.h: what the trainers do with a model besides training it: val loss, HellaSwag
 * accuracy and text samples, written once for both. A trainer describes its model by two
 * functions (EvalModel) and, with several processes, how to sum a number over them.
 */
#ifndef LLMC_EVALUATE_H
#define LLMC_EVALUATE_H

#include <stdint.h>
#include <stdio.h>

#include "dataloader.h"
#include "logger.h"
#include "sampler.h"
#include "timer.h"
#include "tokenizer.h"

typedef struct {
    void *model;
    // Forward of a (B,T) batch with targets; returns the mean loss and points *losses at the
    // (B,T) per-token losses on the host.
    float (*forward_loss)(void *model, const int *inputs, const int *targets, int B, int T, const float **losses);
    // Forward of tokens[0..n) with B = 1; returns the host logits (V) of the last position.
    const float *(*last_logits)(void *model, const int *tokens, int n);
    // Sum of v over all processes (NULL: one process).
    double (*sum)(const void *procs, double v);
    const void *procs;
    int num_processes;
} EvalModel;

static inline double eval_sum(const EvalModel *m, double v) { return m->sum ? m->sum(m->procs, v) : v; }

// Mean loss over up to max_batches val batches per process (all if max_batches < 0), from the
// start of val; every process has the same number of batches (llmc/dataloader.h).
static inline float evaluate_val(const EvalModel *m, DataLoader *val, int max_batches, int B, int T) {
    dataloader_reset(val);
    size_t n = dataloader_num_batches(val);
    if (max_batches >= 0 && (size_t)max_batches < n) n = (size_t)max_batches;
    double sum = 0.0;
    const float *losses;
    for (size_t i = 0; i < n; i++) {
        dataloader_next_batch(val);
        sum += m->forward_loss(m->model, val->inputs, val->targets, B, T, &losses);
    }
    sum = eval_sum(m, sum);
    return n > 0 ? (float)(sum / ((double)n * m->num_processes)) : -1.0f;
}

// HellaSwag accuracy normalized by length (as llm.c and nanoGPT report it): of each example's 4
// completions the one with the lowest mean loss over its own tokens wins. limit > 0 scores only
// the first `limit` examples (split over processes). progress != 0 prints a line with the rate
// and ETA about every 10 seconds (on this process). Returns the accuracy; *examples gets the count.
static inline float evaluate_hellaswag(const EvalModel *m, EvalLoader *eval, int B, int T, long limit, int progress,
                                       long *examples) {
    evalloader_reset(eval);
    size_t batches = evalloader_num_batches(eval);
    long quota = -1; // this process's share of the limit
    if (limit > 0) {
        long P = eval->num_processes, r = eval->process_rank;
        quota = limit / P + (r < limit % P ? 1 : 0);
    }
    long correct = 0, total = 0;
    double start = now_seconds(), last_print = start;
    const float *losses;
    for (size_t i = 0; i < batches && (quota < 0 || total < quota); i++) {
        evalloader_next_batch(eval);
        m->forward_loss(m->model, eval->inputs, eval->targets, B, T, &losses);
        EvalLoader scored = *eval; // the examples of this batch that fall within the quota
        if (quota >= 0 && (long)scored.batch_examples > quota - total) scored.batch_examples = (size_t)(quota - total);
        correct += evalloader_stat_losses(&scored, losses);
        total += (long)scored.batch_examples;
        double now = now_seconds();
        if (progress && (now - last_print >= 10.0 || i + 1 == batches)) {
            long goal = quota >= 0 && (size_t)quota < eval->rank_examples ? quota : (long)eval->rank_examples;
            double rate = total / (now - start);
            char eta[32];
            format_duration(eta, sizeof(eta), rate > 0 ? (goal - total) / rate : 0.0);
            printf("HellaSwag: %ld/%ld examples, acc_norm %.4f, %.1f examples/s, ETA %s\n", total, goal,
                   total > 0 ? (double)correct / total : 0.0, rate, eta);
            fflush(stdout);
            last_print = now;
        }
    }
    double all_correct = eval_sum(m, (double)correct), all_total = eval_sum(m, (double)total);
    *examples = (long)all_total;
    return all_total > 0 ? (float)(all_correct / all_total) : 0.0f;
}

// Prints gen_T sampled tokens continuing an end-of-text token, decoded when a tokenizer is
// loaded (a token it cannot decode is printed as <id>), sliding a T-token window once past the
// context; copies the text to `also` when not NULL. gen holds gen_T + 1 ints, scratch V floats.
static inline void print_sample(const EvalModel *m, const Tokenizer *tok, int have_tok, int V, int T, int gen_T,
                                float temperature, int top_k, float top_p, uint64_t *rng, int *gen, float *scratch,
                                FILE *also) {
    int *idx = top_p < 1.0f ? (int *)malloc_check((size_t)V * sizeof(int)) : NULL; // nucleus sort
    int eot = have_tok ? (int)tok->eot_token : V - 1;
    gen[0] = eot < V ? eot : 0;
    int len = 1;
    printf("generating:\n---\n");
    for (int i = 0; i < gen_T; i++) {
        int start = len > T ? len - T : 0;
        const float *logits = m->last_logits(m->model, gen + start, len - start);
        int next = sample_token_p(logits, V, temperature, top_k, top_p, rng, scratch, idx);
        gen[len++] = next;
        size_t nbytes = 0;
        const unsigned char *bytes = have_tok && (size_t)next < tok->vocab_size ? tokenizer_decode(tok, (uint32_t)next, &nbytes) : NULL;
        char id[24];
        if (bytes == NULL) {
            nbytes = (size_t)snprintf(id, sizeof(id), have_tok ? "<%d>" : "%d ", next);
            bytes = (const unsigned char *)id;
        }
        fwrite(bytes, 1, nbytes, stdout);
        if (also) fwrite(bytes, 1, nbytes, also);
        fflush(stdout);
    }
    free(idx);
    printf("\n---\n");
    if (also) {
        fputs("\n---\n", also);
        fflush(also);
    }
}

// The evaluations of one step: val loss (val may be NULL) and HellaSwag (hellaswag may be
// NULL), printed when `print` (process 0) and logged at `step`. progress: see evaluate_hellaswag.
static inline void evaluate_and_log(const EvalModel *m, DataLoader *val, int val_max_batches, EvalLoader *hellaswag,
                                    long hellaswag_limit, int B, int T, int step, int print, int progress,
                                    Logger *logger) {
    if (val != NULL) {
        float val_loss = evaluate_val(m, val, val_max_batches, B, T);
        if (print) printf("val loss %.6f\n", val_loss);
        logger_log_val(logger, step, val_loss);
    }
    if (hellaswag != NULL) {
        long examples = 0;
        float acc = evaluate_hellaswag(m, hellaswag, B, T, hellaswag_limit, progress && print, &examples);
        if (print) printf("HellaSwag: %.4f (acc_norm over %ld examples)\n", acc, examples);
        logger_log_eval(logger, step, acc);
    }
    if (print) fflush(stdout);
}

#endif // LLMC_EVALUATE_H
