/*
 * train_options.h: the command line of both trainers, driven by one table.
 *
 * TRAIN_FLAGS lists every flag with its type, range, default and help text; the parser, the
 * defaults and --help are all generated from it, so they cannot drift apart. Flags use llm.c's
 * train_gpt2cu letters and meanings ("-b 4"); newer settings have long names ("--seed 1").
 * Every flag takes exactly one value.
 */
#ifndef LLMC_TRAIN_OPTIONS_H
#define LLMC_TRAIN_OPTIONS_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utils.h"

typedef struct {
    // data
    const char *train_data_pattern;
    const char *val_data_pattern;
    const char *hellaswag_path;
    int shuffle;
    // model and outputs
    const char *load_filename;   // checkpoint path or model descriptor (d12, L3:C48:H3:V97:T64, ...)
    const char *tokenizer_path;
    const char *output_log_dir;
    int checkpoint_every;
    int checkpoints_keep;
    int resume;
    int checkpoint_initial;
    // batch
    int B;
    int T;
    long total_batch_size;
    int max_steps;
    int overfit_single_batch;
    // optimizer and schedule
    float learning_rate;
    int warmup_iterations;
    float final_learning_rate_frac;
    const char *lr_schedule;
    float weight_decay;
    float beta1;
    float beta2;
    float eps;
    float grad_clip;
    long seed;
    // numerical faults
    int max_skips;
    float skip_loss_z;
    float skip_norm_z;
    // evaluation and sampling
    int val_loss_every;
    int val_max_steps;
    int hellaswag_eval;
    int hellaswag_limit;
    int sample_every;
    int gen_T;
    float temperature;
    int top_k;
    // GPU only
    int recompute;
    int zero_stage;
    float dist_timeout;
    int use_master_weights;
    // chat fine-tuning (doc/chat.md)
    int chat_vocab;
    float top_p;
    // GPU only: profile and memory
    int profile;
    int memory_table;
    // GPU only: data parallel (doc/distributed.md)
    const char *dist_backend;
    const char *dist_rendezvous;
    // GPU only: step fusions (doc/gpu_perf_notes.md, "Step fusions")
    int fuse_bwd;
    int fuse_adamw;
    int cuda_graph;
    // CPU only: matmul precision (the GPU trainer's is chosen at build time, make PRECISION=)
    const char *precision;
} TrainOptions;

typedef enum { OPT_INT, OPT_LONG, OPT_FLOAT, OPT_STRING } OptType;
typedef enum { FOR_BOTH, FOR_GPU, FOR_CPU } OptScope;

typedef struct {
    const char *flag;
    OptType type;
    size_t offset;        // offsetof(TrainOptions, field)
    const char *def;      // default, parsed like a command-line value (NULL: no value)
    double lo, hi;        // inclusive range for numbers
    const char *choices;  // for strings: "a|b|c" or NULL for any
    OptScope scope;
    const char *help;
} TrainFlag;

#define OPT_FIELD(f) offsetof(TrainOptions, f)
static const TrainFlag TRAIN_FLAGS[] = {
    // flag            type        field                              default  lo  hi  choices  scope  help
    {"-i", OPT_STRING, OPT_FIELD(train_data_pattern), "data/tinyshakespeare/tiny_shakespeare_train.bin", 0, 0, NULL, FOR_BOTH, "train token shards (glob pattern)"},
    {"-j", OPT_STRING, OPT_FIELD(val_data_pattern), "data/tinyshakespeare/tiny_shakespeare_val.bin", 0, 0, NULL, FOR_BOTH, "val token shards (glob pattern; \"\" for none)"},
    {"-e", OPT_STRING, OPT_FIELD(load_filename), "d12", 0, 0, NULL, FOR_BOTH, "checkpoint to load (.bin, version 3 or 5) or model to create: d6 d12 d24 d36 d48 or L<n>:C<n>:H<n>[:V<n>][:T<n>]"},
    {"-o", OPT_STRING, OPT_FIELD(output_log_dir), "", 0, 0, NULL, FOR_BOTH, "output directory for main.log and checkpoints (\"\" for none)"},
    {"-n", OPT_INT, OPT_FIELD(checkpoint_every), "0", 0, 1e9, NULL, FOR_BOTH, "write a checkpoint every n steps (0: only at the end if -o is set)"},
    {"-nk", OPT_INT, OPT_FIELD(checkpoints_keep), "3", 0, 1e9, NULL, FOR_BOTH, "keep only the newest n checkpoints of this run (0: keep all)"},
    {"-y", OPT_INT, OPT_FIELD(resume), "0", 0, 1, NULL, FOR_BOTH, "resume from the newest complete checkpoint in -o (none there: start fresh, and say so)"},
    {"--checkpoint_initial", OPT_INT, OPT_FIELD(checkpoint_initial), "0", 0, 1, NULL, FOR_BOTH, "also write a checkpoint of the initial model (step 0) before training"},
    {"-b", OPT_INT, OPT_FIELD(B), "4", 1, 1e6, NULL, FOR_BOTH, "micro-batch size B (sequences per forward pass)"},
    {"-t", OPT_INT, OPT_FIELD(T), "256", 1, 1 << 20, NULL, FOR_BOTH, "sequence length T (at most the model's max_seq_len)"},
    {"-d", OPT_LONG, OPT_FIELD(total_batch_size), "-1", -1, 1e12, NULL, FOR_BOTH, "total batch size in tokens per step, a multiple of B*T (-1: B*T, no accumulation)"},
    {"-x", OPT_INT, OPT_FIELD(max_steps), "-1", -1, 1e9, NULL, FOR_BOTH, "number of optimizer steps (-1: one epoch of the train data; 0: evaluate the -e checkpoint only, write nothing)"},
    {"-a", OPT_INT, OPT_FIELD(overfit_single_batch), "0", 0, 1, NULL, FOR_BOTH, "train on the first batch only (debugging)"},
    {"-l", OPT_FLOAT, OPT_FIELD(learning_rate), "3e-4", 0, 10, NULL, FOR_BOTH, "peak learning rate"},
    {"-u", OPT_INT, OPT_FIELD(warmup_iterations), "0", 0, 1e9, NULL, FOR_BOTH, "linear warmup steps"},
    {"-q", OPT_FLOAT, OPT_FIELD(final_learning_rate_frac), "1.0", 0, 1, NULL, FOR_BOTH, "final learning rate as a fraction of the peak"},
    {"-k", OPT_STRING, OPT_FIELD(lr_schedule), "cosine", 0, 0, "cosine|linear|constant", FOR_BOTH, "learning rate decay after warmup"},
    {"-c", OPT_FLOAT, OPT_FIELD(weight_decay), "0.0", 0, 10, NULL, FOR_BOTH, "AdamW weight decay (2-D tensors only)"},
    {"--beta1", OPT_FLOAT, OPT_FIELD(beta1), "0.9", 0, 0.999999, NULL, FOR_BOTH, "AdamW beta1"},
    {"--beta2", OPT_FLOAT, OPT_FIELD(beta2), "0.95", 0, 0.999999, NULL, FOR_BOTH, "AdamW beta2"},
    {"--eps", OPT_FLOAT, OPT_FIELD(eps), "1e-8", 1e-30, 1, NULL, FOR_BOTH, "AdamW epsilon (> 0: with 0 a parameter whose gradient is 0 becomes 0/0 = NaN)"},
    {"--grad_clip", OPT_FLOAT, OPT_FIELD(grad_clip), "1.0", 0, 1e9, NULL, FOR_BOTH, "clip the global gradient norm to this (0: off)"},
    {"--seed", OPT_LONG, OPT_FIELD(seed), "42", 0, 4294967295.0, NULL, FOR_BOTH, "seed of the random init (as torch.manual_seed), data shuffling and sampling"},
    {"--max_skips", OPT_INT, OPT_FIELD(max_skips), "5", 1, 1e9, NULL, FOR_BOTH, "stop after this many consecutive skipped steps (non-finite loss or norm, or outliers)"},
    {"-sl", OPT_FLOAT, OPT_FIELD(skip_loss_z), "0", 0, 1e9, NULL, FOR_BOTH, "skip the update when the loss is more than this many standard deviations above its recent mean (0: off)"},
    {"-sg", OPT_FLOAT, OPT_FIELD(skip_norm_z), "0", 0, 1e9, NULL, FOR_BOTH, "skip the update when the grad norm is more than this many standard deviations above its recent mean (0: off)"},
    {"--shuffle", OPT_INT, OPT_FIELD(shuffle), "0", 0, 1, NULL, FOR_BOTH, "shuffle shards and windows every epoch"},
    {"-v", OPT_INT, OPT_FIELD(val_loss_every), "20", 0, 1e9, NULL, FOR_BOTH, "val loss every n steps and at the end (0: never)"},
    {"-m", OPT_INT, OPT_FIELD(val_max_steps), "20", -1, 1e9, NULL, FOR_BOTH, "val batches per evaluation, >= 1 (-1: all)"},
    {"-h", OPT_INT, OPT_FIELD(hellaswag_eval), "0", 0, 1, NULL, FOR_BOTH, "HellaSwag accuracy (normalized by length) at each evaluation (file: --hellaswag)"},
    {"--hellaswag", OPT_STRING, OPT_FIELD(hellaswag_path), "data/hellaswag/hellaswag_val.bin", 0, 0, NULL, FOR_BOTH, "HellaSwag eval file (make hellaswag writes it here)"},
    {"--hellaswag_limit", OPT_INT, OPT_FIELD(hellaswag_limit), "0", 0, 1e9, NULL, FOR_BOTH, "evaluate only the first n HellaSwag examples (0: all)"},
    {"-s", OPT_INT, OPT_FIELD(sample_every), "20", 0, 1e9, NULL, FOR_BOTH, "print a text sample every n steps (0: never)"},
    {"-g", OPT_INT, OPT_FIELD(gen_T), "64", 1, 1 << 20, NULL, FOR_BOTH, "tokens per sample"},
    {"--temperature", OPT_FLOAT, OPT_FIELD(temperature), "1.0", 0, 100, NULL, FOR_BOTH, "sampling temperature (0: greedy)"},
    {"--top_k", OPT_INT, OPT_FIELD(top_k), "0", 0, 1 << 20, NULL, FOR_BOTH, "sample from the k most likely tokens (0: all)"},
    {"--tokenizer", OPT_STRING, OPT_FIELD(tokenizer_path), "gpt2_tokenizer.bin", 0, 0, NULL, FOR_BOTH, "tokenizer file for decoding samples (token ids are printed without it)"},
    {"-r", OPT_INT, OPT_FIELD(recompute), "1", 0, 2, NULL, FOR_GPU, "activation recompute: 0 none, 1 GELU, 2 GELU and LayerNorm"},
    {"-z", OPT_INT, OPT_FIELD(zero_stage), "0", 0, 1, NULL, FOR_BOTH, "ZeRO stage with several processes: 0 all-reduce gradients; 1 reduce-scatter them, each rank updates its shard of the parameters and AdamW state, then all-gather"},
    {"--dist_timeout", OPT_FLOAT, OPT_FIELD(dist_timeout), "600", 1, 1e6, NULL, FOR_BOTH, "seconds a process waits for the others in a collective before the run stops with an error"},
    {"-w", OPT_INT, OPT_FIELD(use_master_weights), "1", 0, 1, NULL, FOR_GPU, "keep fp32 master weights (bf16 builds)"},
    // chat fine-tuning and sampling (doc/chat.md)
    {"--chat_vocab", OPT_INT, OPT_FIELD(chat_vocab), "0", 0, 1 << 20, NULL, FOR_BOTH, "grow the vocabulary to this many tokens (50267: GPT-2 + the chat markers), new rows initialized as doc/chat.md says (0: keep)"},
    {"--top_p", OPT_FLOAT, OPT_FIELD(top_p), "1.0", 0, 1, NULL, FOR_BOTH, "sample from the smallest set of tokens whose probability reaches p (1: all)"},
    {"--profile", OPT_INT, OPT_FIELD(profile), "0", 0, 1, NULL, FOR_GPU, "GPU time per kernel class per step (CUDA events), as a table at the end"},
    {"--memory_table", OPT_INT, OPT_FIELD(memory_table), "0", 0, 1, NULL, FOR_GPU, "print the memory and largest -b of d12..d48 at this -t on this GPU (-r 0/1/2), then exit"},
    {"--dist_backend", OPT_STRING, OPT_FIELD(dist_backend), "auto", 0, 0, "auto|nccl|mpi", FOR_GPU, "collectives of several ranks: nccl (one GPU per rank), mpi (host-staged, ranks may share a GPU), auto (mpi when ranks share a GPU)"},
    {"--dist_rendezvous", OPT_STRING, OPT_FIELD(dist_rendezvous), "", 0, 0, NULL, FOR_GPU, "ranks started from RANK/WORLD_SIZE without MPI: a new file path on a file system all share, through which NCCL joins"},
    {"--fuse_bwd", OPT_INT, OPT_FIELD(fuse_bwd), "0", 0, 1, NULL, FOR_GPU, "backward GEMM epilogues: GELU gradient and bias gradients inside cuBLASLt, no zeroing of the buffers they overwrite"},
    {"--fuse_adamw", OPT_INT, OPT_FIELD(fuse_adamw), "0", 0, 1, NULL, FOR_GPU, "AdamW over all tensors in one launch; on one GPU without -sl/-sg it is queued without waiting for the norm"},
    {"--cuda_graph", OPT_INT, OPT_FIELD(cuda_graph), "0", 0, 1, NULL, FOR_GPU, "replay each micro-step's forward and backward as one captured CUDA graph (one GPU, no --profile)"},
    {"--precision", OPT_STRING, OPT_FIELD(precision), "fp32", 0, 0, "fp32|bf16", FOR_CPU, "matmul precision: fp32, or bf16 (weights and activations rounded to bf16 in the matmuls; fp32 master weights, AdamW state, accumulation and checkpoints)"},
};
#undef OPT_FIELD
#define NUM_TRAIN_FLAGS (sizeof(TRAIN_FLAGS) / sizeof(TRAIN_FLAGS[0]))

static inline int choice_ok(const char *choices, const char *v) {
    size_t n = strlen(v);
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

static inline void train_flag_set(TrainOptions *o, const TrainFlag *f, const char *value) {
    char *base = (char *)o + f->offset;
    char what[64];
    snprintf(what, sizeof(what), "flag %s", f->flag);
    switch (f->type) {
    case OPT_INT: *(int *)base = (int)parse_int_or_die(value, (long long)f->lo, (long long)f->hi, what); break;
    case OPT_LONG: *(long *)base = (long)parse_int_or_die(value, (long long)f->lo, (long long)f->hi, what); break;
    case OPT_FLOAT: *(float *)base = (float)parse_float_or_die(value, f->lo, f->hi, what); break;
    case OPT_STRING:
        if (f->choices && !choice_ok(f->choices, value)) die("%s: '%s' is not one of %s", what, value, f->choices);
        *(const char **)base = value;
        break;
    }
}

static inline void train_options_usage(FILE *out, const char *prog, int is_gpu) {
    fprintf(out, "usage: %s [flags]   (every flag takes one value)\n\n", prog);
    for (size_t i = 0; i < NUM_TRAIN_FLAGS; i++) {
        const TrainFlag *f = &TRAIN_FLAGS[i];
        if ((f->scope == FOR_GPU && !is_gpu) || (f->scope == FOR_CPU && is_gpu)) continue;
        fprintf(out, "  %-20s %s", f->flag, f->help);
        if (f->choices) fprintf(out, " (%s)", f->choices);
        fprintf(out, " [default: %s]\n", f->def[0] ? f->def : "\"\"");
    }
}

// Fills o from the defaults and argv; prints --help and exits 0; dies on any unknown flag,
// missing value, value out of range, or a flag of the other trainer (GPU-only to the CPU one, or
// CPU-only to the GPU one).
static inline void train_options_parse(TrainOptions *o, int argc, char **argv, int is_gpu) {
    memset(o, 0, sizeof(*o));
    for (size_t i = 0; i < NUM_TRAIN_FLAGS; i++) train_flag_set(o, &TRAIN_FLAGS[i], TRAIN_FLAGS[i].def);
    for (int a = 1; a < argc; a++) {
        // "--help", or a bare "-h" at the end (-h with a value keeps llm.c's HellaSwag meaning)
        if (strcmp(argv[a], "--help") == 0 || (strcmp(argv[a], "-h") == 0 && a + 1 == argc)) {
            train_options_usage(stdout, argv[0], is_gpu);
            exit(0);
        }
        const TrainFlag *f = NULL;
        for (size_t i = 0; i < NUM_TRAIN_FLAGS; i++) {
            if (strcmp(argv[a], TRAIN_FLAGS[i].flag) == 0) f = &TRAIN_FLAGS[i];
        }
        if (f == NULL) die("unknown flag '%s' (see %s --help)", argv[a], argv[0]);
        if (f->scope == FOR_GPU && !is_gpu) die("flag %s applies to the GPU trainer only", f->flag);
        if (f->scope == FOR_CPU && is_gpu) {
            die("flag %s applies to the CPU trainer only (the GPU trainer's precision is chosen at build time: make PRECISION=BF16 or FP32)", f->flag);
        }
        if (a + 1 >= argc) die("flag %s needs a value", f->flag);
        train_flag_set(o, f, argv[++a]);
    }
}

// Prints every setting, one per line, for the run's log.
static inline void train_options_print(const TrainOptions *o, int is_gpu) {
    for (size_t i = 0; i < NUM_TRAIN_FLAGS; i++) {
        const TrainFlag *f = &TRAIN_FLAGS[i];
        if ((f->scope == FOR_GPU && !is_gpu) || (f->scope == FOR_CPU && is_gpu)) continue;
        const char *base = (const char *)o + f->offset;
        printf("| %-21s | ", f->flag);
        switch (f->type) {
        case OPT_INT: printf("%d\n", *(const int *)base); break;
        case OPT_LONG: printf("%ld\n", *(const long *)base); break;
        case OPT_FLOAT: printf("%g\n", *(const float *)base); break;
        case OPT_STRING: printf("%s\n", (*(const char *const *)base)[0] ? *(const char *const *)base : "\"\""); break;
        }
    }
}

#endif // LLMC_TRAIN_OPTIONS_H
