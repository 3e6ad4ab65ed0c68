/*
 * train_plan.h: what one run will do, worked out from the flags before anything big is
 * allocated, shared by both trainers: the batch arithmetic (micro-batches, gradient
 * accumulation, tokens per step), the checks that involve several flags at once, the number
 * of steps, and which steps evaluate, sample and write checkpoints.
 *
 * Every size is computed in 64-bit integers and checked before it is narrowed, so no flag
 * value can wrap an int (a huge -d is an error, not zero micro-steps).
 */
#ifndef LLMC_TRAIN_PLAN_H
#define LLMC_TRAIN_PLAN_H

#include <limits.h>
#include <stdio.h>

#include "dist.h"
#include "gpt2.h"
#include "train_options.h"
#include "train_state.h"
#include "utils.h"

typedef struct {
    int B, T, num_processes;
    long long tokens_per_micro; // B * T * processes: tokens in one forward/backward over all processes
    long long total_batch;      // tokens per optimizer step
    int grad_accum;             // micro-steps per optimizer step
    int max_steps;              // optimizer steps of the run; 0 in evaluation-only mode
    int eval_only;              // -x 0: evaluate the checkpoint given with -e, write nothing
    int have_val;               // val shards given (-j) and used
} TrainPlan;

// Checks that need no model or data: flag combinations and the batch arithmetic.
static inline void train_plan_init(TrainPlan *p, const TrainOptions *o, int num_processes) {
    memset(p, 0, sizeof(*p));
    p->B = o->B;
    p->T = o->T;
    p->num_processes = num_processes;
    p->eval_only = o->max_steps == 0;
    p->tokens_per_micro = (long long)o->B * o->T * num_processes; // < 2^61: B <= 1e6, T <= 2^20
    if (o->total_batch_size == 0) die("flag -d: the total batch must be positive (or -1 for B*T)");
    p->total_batch = o->total_batch_size < 0 ? p->tokens_per_micro : (long long)o->total_batch_size;
    if (p->total_batch % p->tokens_per_micro != 0) {
        die("flag -d: total batch %lld is not a multiple of B*T*processes = %d*%d*%d = %lld", p->total_batch, o->B, o->T,
            num_processes, p->tokens_per_micro);
    }
    long long accum = p->total_batch / p->tokens_per_micro;
    if (accum > INT_MAX) die("flag -d: %lld micro-steps per step is too many (at most %d)", accum, INT_MAX);
    p->grad_accum = (int)accum;
    if (o->val_max_steps == 0) die("flag -m: val batches per evaluation must be >= 1 (or -1 for all)");
    if (o->hellaswag_limit > 0 && !o->hellaswag_eval) die("flag --hellaswag_limit: needs -h 1");
    if (o->checkpoint_every > 0 && o->output_log_dir[0] == '\0') die("flag -n: checkpoints need an output directory (-o)");
    if (o->checkpoint_initial && o->output_log_dir[0] == '\0') die("flag --checkpoint_initial: needs an output directory (-o)");
    if (o->resume && o->output_log_dir[0] == '\0') die("flag -y: resuming needs an output directory (-o)");
    p->have_val = o->val_data_pattern[0] != '\0';
    if (p->eval_only) {
        GPT2Config described;
        if (gpt2_config_from_descriptor(&described, o->load_filename)) {
            die("flag -x 0 evaluates a checkpoint: give one with -e (got the model descriptor '%s')", o->load_filename);
        }
        if (o->output_log_dir[0] != '\0') die("flag -o: evaluation only (-x 0) writes nothing; drop -o");
        if (o->resume) die("flag -y: evaluation only (-x 0) does not resume; drop -y");
        if (o->checkpoint_initial) die("flag --checkpoint_initial: evaluation only (-x 0) writes nothing");
        if (!p->have_val && !o->hellaswag_eval) die("flag -x 0: nothing to evaluate: give val shards (-j) or -h 1");
    } else {
        p->have_val = p->have_val && o->val_loss_every > 0;
        if (o->hellaswag_eval && o->val_loss_every == 0) {
            die("flag -h: HellaSwag runs at each evaluation, but -v 0 turns evaluations off (set -v > 0)");
        }
    }
    if (o->hellaswag_eval && o->B % 4 != 0) die("flag -h: HellaSwag needs B (-b) to be a multiple of 4 (got %d)", o->B);
}

// Checks against the model: -t fits the position table.
static inline void train_plan_check_model(const TrainPlan *p, const GPT2Config *c) {
    if (p->T > c->max_seq_len) die("flag -t: %d exceeds the model's max_seq_len %d", p->T, c->max_seq_len);
}

// Sets max_steps from -x, or one epoch of the train data (train_batches micro-batches per process).
static inline void train_plan_set_steps(TrainPlan *p, const TrainOptions *o, size_t train_batches) {
    if (p->eval_only) return;
    if (o->max_steps > 0) {
        p->max_steps = o->max_steps;
        return;
    }
    size_t steps = train_batches / (size_t)p->grad_accum;
    if (steps < 1) die("flag -x: the train data holds fewer than one step of %lld tokens", p->total_batch);
    p->max_steps = steps > (size_t)INT_MAX ? INT_MAX : (int)steps;
}

// A resumed run must have steps left: -x counts from the start of the run, not from the resume.
static inline void train_plan_check_resume(const TrainPlan *p, int resumed_at) {
    if (resumed_at > p->max_steps) {
        die("flag -x: this run already reached step %d, beyond -x %d; give a larger -x to train further", resumed_at,
            p->max_steps);
    }
}

// Evaluations (val loss, HellaSwag) run before step `step` every -v steps and after the last one.
// A resumed run skips its first step's: they ran before the checkpoint was written.
static inline int train_plan_evaluates(const TrainPlan *p, const TrainOptions *o, int step, int resumed_at) {
    if (step == resumed_at) return 0;
    return o->val_loss_every > 0 && (step % o->val_loss_every == 0 || step == p->max_steps);
}

// Samples are printed every -s steps (not at step 0) and at the end; skipped like evaluations.
static inline int train_plan_samples(const TrainPlan *p, const TrainOptions *o, int step, int resumed_at) {
    if (step == resumed_at || step == 0) return 0;
    return o->sample_every > 0 && (step % o->sample_every == 0 || step == p->max_steps);
}

// Checkpoints are written every -n steps and at the end (when -o is set), and at step 0 with
// --checkpoint_initial 1; never at the step a run resumed from (it exists).
static inline int train_plan_checkpoints(const TrainPlan *p, const TrainOptions *o, int step, int resumed_at) {
    if (o->output_log_dir[0] == '\0' || step == resumed_at) return 0;
    if (step == 0) return o->checkpoint_initial;
    return (o->checkpoint_every > 0 && step % o->checkpoint_every == 0) || step == p->max_steps;
}

// The batch lines of the config table.
static inline void train_plan_print(const TrainPlan *p, size_t train_batches) {
    printf("| %-21s | %zu micro-batches of B*T per epoch%s\n", "train data", train_batches,
           p->num_processes > 1 ? " and process" : "");
    printf("| %-21s | %d micro-steps of %lld tokens = %lld tokens per step\n", "grad accumulation", p->grad_accum,
           p->tokens_per_micro, p->total_batch);
    if (p->eval_only) printf("| %-21s | evaluation only (-x 0): nothing is trained or written\n", "steps");
    else printf("| %-21s | %d\n", "steps", p->max_steps);
}

#define TABLE_RULE "+-----------------------+----------------------------------------------------\n"

// The top of the config table: every flag, then the model.
static inline void train_plan_print_head(const TrainOptions *o, int is_gpu, const GPT2Config *c, size_t num_parameters) {
    printf(TABLE_RULE);
    train_options_print(o, is_gpu);
    printf(TABLE_RULE);
    printf("| %-21s | L=%d NH=%d C=%d V=%d Vp=%d maxT=%d\n", "model", c->num_layers, c->num_heads, c->channels,
           c->vocab_size, c->padded_vocab_size, c->max_seq_len);
    printf("| %-21s | %zu\n", "parameters", num_parameters);
}

// What every rank must agree on before training (llmc/dist.h dist_check_same): the model's bytes
// as this trainer holds them, and the train data's shape (files on a shared file system can
// differ from node to node). train is NULL in evaluation-only mode.
static inline uint64_t train_plan_fingerprint(const void *params, size_t bytes, const DataLoader *train) {
    uint64_t h = dist_hash(DIST_HASH_INIT, params, bytes);
    if (train != NULL) {
        size_t sizes[3] = {train->num_shards, train->num_tokens, train->num_windows};
        h = dist_hash(h, sizes, sizeof(sizes));
    }
    return h;
}

// The sampler's random stream at the start of a run (the state files carry it after that).
static inline uint64_t train_plan_sample_seed(const TrainOptions *o) {
    return (uint64_t)o->seed * 0x9E3779B97F4A7C15ull + 1;
}

// What to do after a run that wrote its last checkpoint at `step` into -o.
static inline void train_plan_print_next(const TrainOptions *o, const char *prog, int step) {
    const char *dir = o->output_log_dir;
    if (dir[0] == '\0') return;
    printf("\nnext:\n");
    printf("  plot the losses:   dev/plot_run.sh %s          (writes %s/loss.png)\n", dir, dir);
    printf("  read the samples:  less %s/samples.txt\n", dir);
    printf("  train further:     %s -o %s -y 1 -x <more steps than %d> (and the same data flags)\n", prog, dir, step);
    char model[4200];
    train_state_path(model, sizeof(model), dir, CKPT_MODEL, step, 0);
    printf("  sample:            ./chat -e %s --raw -p \"Once upon a time\" -n 100\n", model);
    printf("  evaluate:          %s -e %s -x 0 -h 1\n", prog, model);
}

#endif // LLMC_TRAIN_PLAN_H
