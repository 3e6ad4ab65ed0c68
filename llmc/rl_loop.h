/*
 * rl_loop.h: the RL loop (GRPO with verifiable rewards, doc/rl.md), once for the CPU (rl.c) and
 * the GPU (rl.cu). A program describes its model by a few functions (RLModel: generate with the
 * KV cache, forward to per-token losses, the weighted backward, the AdamW update, checkpoints)
 * and calls rl_main; everything else is here: options, problems (llmc/tasks.h), sampling and
 * scoring, advantages (llmc/grpo.h), the loss's per-token weights (and the KL term), logging,
 * held-out evaluation, the --rollouts / --replay files, checkpoints and resume (-y 1).
 *
 * Each step takes P problems, samples K replies to each at temperature 1 over the whole
 * vocabulary, scores them (reward 0 or 1), sets each reply's advantage from its group and takes
 * one AdamW step on
 *     loss = (1 / N) sum over generated tokens t of [ A(t) * (-log p(t)) + beta * k3(t) ]
 * where N is the number of generated tokens of the step (all P*K replies, each reply's stop
 * token included: choosing to stop is an action too) and A(t) the advantage of t's reply. The
 * prompt's tokens weigh zero (targets -1, the fine-tuning mask). The optional KL penalty to the
 * starting model (--kl beta) uses the k3 estimator per token, k3 = exp(r) - r - 1 with
 * r = log p_ref(t) - log p(t) (>= 0, unbiased for KL(p || p_ref) on samples of p); its gradient
 * folds into the per-token weight: w(t) = A(t) + beta * (exp(r) - 1), and the weighted
 * cross-entropy backward does the rest. The samples come from the current weights and each
 * batch is used for one update, so no importance ratio or clipping is needed.
 *
 * Resume: a checkpoint (llmc/train_state.h: model file, state file with AdamW m, v and the step,
 * DONE marker) every --checkpoint_every steps and at the end; its "sample RNG" slot holds the
 * problem RNG, the only state the loop carries between steps (each reply's sampling RNG is a
 * function of seed, step and row; the starting model for --kl is -e again). -y 1 continues from
 * the newest one: main.log is cut back to that step, --rollouts is cut back to that step's end
 * and --replay skips the steps done, so a killed and resumed run equals an uninterrupted one.
 *
 * Include after the model code and define RL_PROGRAM (the program's name, for messages).
 */
#ifndef LLMC_RL_LOOP_H
#define LLMC_RL_LOOP_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adamw_settings.h"
#include "chat.h"
#include "gen_loop.h"
#include "gpt2.h"
#include "grpo.h"
#include "logger.h"
#include "tasks.h"
#include "tokenizer.h"
#include "train_state.h"
#include "utils.h"

// The model as the loop sees it. ctx is the program's; every function dies on error.
typedef struct {
    void *ctx;
    // gen_run's contract (llmc/gen_loop.h) on the policy's KV cache (slots 0..nb-1)
    long (*generate)(void *ctx, const int *const *prompts, const int *lens, int nb, const GenSettings *g,
                     uint64_t *rngs, int **out, int *out_len, int *finished);
    // Forward of a (B,T) batch with targets (-1: ignored) on the policy (ref = 0) or the frozen
    // starting model (ref = 1, only with --kl); returns the host per-token losses (B,T).
    const float *(*forward)(void *ctx, int ref, const int *inputs, const int *targets, int B, int T);
    // Accumulates into the grads the gradient of sum_i weights[i] * loss_i * dloss of the last
    // policy forward (the same inputs and targets).
    void (*backward)(void *ctx, const int *inputs, const int *targets, const float *weights, int B, int T, float dloss);
    void (*zero_grad)(void *ctx);
    float (*grad_norm)(void *ctx);
    // One AdamW step (t = step, 1-based), the gradient clipped by norm (the last grad_norm).
    void (*update)(void *ctx, const AdamWSettings *s, float lr, float norm, int t);
    // The checkpoint at `step` (llmc/train_state.h) with `rng` in the state, keeping the newest
    // `keep`; and loading the state of one (the model itself was built from its model file).
    void (*save)(void *ctx, const char *dir, int step, uint64_t rng, int keep);
    void (*load)(void *ctx, const char *dir, int step, uint64_t *rng);
} RLModel;

typedef struct {
    const char *model, *out_dir, *tokenizer, *tasks, *eval, *rollouts, *replay;
    int countdown, eval_countdown;
    int P, K, steps, max_new, scale_std, micro, eval_every, eval_samples;
    int resume, checkpoint_every, checkpoints_keep;
    float lr, kl, weight_decay, grad_clip;
    uint64_t seed;
} RLOptions;

static inline void rl_usage(void) {
    fprintf(stderr,
            "usage: %s -e MODEL -o DIR (--tasks FILE.jsonl | --countdown D) [options]\n"
            "       %s score FILE.jsonl     print the reward of each {\"task\",\"prompt\",\"answer\",\"reply\"} line\n"
            "  -e MODEL            chat checkpoint (V >= 50267, e.g. the fine-tuning demo's)\n"
            "  -o DIR              output directory: main.log, checkpoints (model_<steps>.bin is the result)\n"
            "  --tokenizer FILE    tokenizer with the chat markers (default gpt2_tokenizer.bin)\n"
            "  --tasks FILE        training problems, JSON lines {\"task\",\"prompt\",\"answer\"}\n"
            "  --countdown D       train on Countdown problems of difficulty D (1..5) instead\n"
            "  --eval FILE         held-out problems (JSON lines as --tasks)\n"
            "  --eval_countdown N  N held-out Countdown problems (with --countdown; default 64)\n"
            "  -P N                problems per step (default 8)\n"
            "  -K N                samples per problem (default 8)\n"
            "  -x N                steps (default 40)\n"
            "  -l LR               AdamW learning rate (default 1e-4)\n"
            "  -c WD               weight decay (default 0)\n"
            "  --grad_clip F       clip the gradient norm, 0 = off (default 1)\n"
            "  -n N                tokens per reply at most (default 24)\n"
            "  --std 0|1           divide advantages by the group's std (default 1)\n"
            "  --kl BETA           KL penalty to the starting model, k3 estimator (default 0)\n"
            "  --micro N           rows per forward/backward, 0 = all P*K (default 0)\n"
            "  --eval_every N      evaluate every N steps, 0 = before and after only (default 0)\n"
            "  --eval_samples N    samples per problem for pass@N (default 8)\n"
            "  --seed N            problems and sampling (default 1)\n"
            "  --rollouts FILE     write each step's tokens and rewards (binary, see doc/rl.md)\n"
            "  --replay FILE       train on the rollouts of such a file instead of sampling (parity checks)\n"
            "  --checkpoint_every N  also write a checkpoint every N steps (default 0: only at the end)\n"
            "  --checkpoints_keep N  keep the newest N checkpoints (default 3, 0 = all)\n"
            "  -y 0|1              resume from the newest checkpoint in -o (default 0)\n",
            RL_PROGRAM, RL_PROGRAM);
}

static inline void rl_parse_options(RLOptions *o, int argc, char **argv) {
    memset(o, 0, sizeof(*o));
    o->tokenizer = "gpt2_tokenizer.bin";
    o->P = 8, o->K = 8, o->steps = 40, o->max_new = 24, o->scale_std = 1, o->eval_samples = 8;
    o->lr = 1e-4f, o->grad_clip = 1.0f, o->seed = 1, o->eval_countdown = 64, o->checkpoints_keep = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            rl_usage();
            exit(0);
        }
        if (i + 1 >= argc) die("flag %s needs a value (see %s --help)", a, RL_PROGRAM);
        const char *v = argv[++i];
        if (strcmp(a, "-e") == 0) o->model = v;
        else if (strcmp(a, "-o") == 0) o->out_dir = v;
        else if (strcmp(a, "--tokenizer") == 0) o->tokenizer = v;
        else if (strcmp(a, "--tasks") == 0) o->tasks = v;
        else if (strcmp(a, "--eval") == 0) o->eval = v;
        else if (strcmp(a, "--rollouts") == 0) o->rollouts = v;
        else if (strcmp(a, "--replay") == 0) o->replay = v;
        else if (strcmp(a, "--countdown") == 0) o->countdown = (int)parse_int_or_die(v, 1, 5, "--countdown");
        else if (strcmp(a, "--eval_countdown") == 0) o->eval_countdown = (int)parse_int_or_die(v, 1, 100000, "--eval_countdown");
        else if (strcmp(a, "-P") == 0) o->P = (int)parse_int_or_die(v, 1, 4096, "-P");
        else if (strcmp(a, "-K") == 0) o->K = (int)parse_int_or_die(v, 2, 4096, "-K (a group needs 2 samples)");
        else if (strcmp(a, "-x") == 0) o->steps = (int)parse_int_or_die(v, 0, 100000000, "-x");
        else if (strcmp(a, "-l") == 0) o->lr = (float)parse_float_or_die(v, 0, 1, "-l");
        else if (strcmp(a, "-c") == 0) o->weight_decay = (float)parse_float_or_die(v, 0, 1e4, "-c");
        else if (strcmp(a, "--grad_clip") == 0) o->grad_clip = (float)parse_float_or_die(v, 0, 1e9, "--grad_clip");
        else if (strcmp(a, "-n") == 0) o->max_new = (int)parse_int_or_die(v, 1, 1 << 20, "-n");
        else if (strcmp(a, "--std") == 0) o->scale_std = (int)parse_int_or_die(v, 0, 1, "--std");
        else if (strcmp(a, "--kl") == 0) o->kl = (float)parse_float_or_die(v, 0, 1e6, "--kl");
        else if (strcmp(a, "--micro") == 0) o->micro = (int)parse_int_or_die(v, 0, 1 << 20, "--micro");
        else if (strcmp(a, "--eval_every") == 0) o->eval_every = (int)parse_int_or_die(v, 0, 100000000, "--eval_every");
        else if (strcmp(a, "--eval_samples") == 0) o->eval_samples = (int)parse_int_or_die(v, 1, 4096, "--eval_samples");
        else if (strcmp(a, "--seed") == 0) o->seed = (uint64_t)parse_int_or_die(v, 0, INT64_MAX, "--seed");
        else if (strcmp(a, "-y") == 0) o->resume = (int)parse_int_or_die(v, 0, 1, "-y");
        else if (strcmp(a, "--checkpoint_every") == 0) o->checkpoint_every = (int)parse_int_or_die(v, 0, 100000000, "--checkpoint_every");
        else if (strcmp(a, "--checkpoints_keep") == 0) o->checkpoints_keep = (int)parse_int_or_die(v, 0, 1000000, "--checkpoints_keep");
        else die("unknown flag '%s' (see %s --help)", a, RL_PROGRAM);
    }
    if (o->model == NULL) die("flag -e: a model checkpoint is required (see %s --help)", RL_PROGRAM);
    if (o->out_dir == NULL) die("flag -o: an output directory is required (see %s --help)", RL_PROGRAM);
    if (o->replay && (o->tasks || o->countdown || o->eval || o->rollouts)) {
        die("flag --replay: trains on the file's rollouts; not with --tasks, --countdown, --eval or --rollouts");
    }
    if (!o->replay && (o->tasks == NULL) == (o->countdown == 0)) die("flags --tasks and --countdown: give exactly one (the training problems)");
    if (o->eval && o->countdown) die("flag --eval: with --countdown the held-out problems are drawn (--eval_countdown N)");
    if ((double)o->lr * o->weight_decay >= 1.0) die("flags -l and -c: learning rate * weight decay must be < 1");
}

static inline double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// A reply's text: its tokens decoded (special tokens by name), in a growing buffer.
static inline size_t decode_reply(const Tokenizer *tok, const int *ids, int n, char **buf, size_t *cap) {
    size_t len = 0;
    for (int t = 0; t < n; t++) {
        size_t nb;
        const unsigned char *b = tokenizer_decode(tok, (uint32_t)ids[t], &nb);
        if (!b) continue;
        if (len + nb + 1 > *cap) {
            *cap = (len + nb + 1) * 2;
            *buf = (char *)realloc(*buf, *cap);
            if (*buf == NULL) die("out of memory");
        }
        memcpy(*buf + len, b, nb);
        len += nb;
    }
    if (*buf == NULL) *buf = (char *)calloc_check(*cap = 16, 1);
    (*buf)[len] = '\0';
    return len;
}

// Everything a step needs: the prompts' tokens and the replies, for up to S = P*K sequences.
typedef struct {
    const GPT2Config *c;
    const Tokenizer *tok;
    const ChatTokens *ct;
    int S, max_new, maxT;
    ChatBuf cb;
    int **prompts, *lens, **out, *out_len, *done;
    uint64_t *rngs;
    char *text;
    size_t text_cap;
} Sampler;

static inline void sampler_init(Sampler *s, const GPT2Config *c, const Tokenizer *tok, const ChatTokens *ct, int S, int max_new) {
    memset(s, 0, sizeof(*s));
    s->c = c, s->tok = tok, s->ct = ct, s->S = S, s->max_new = max_new;
    s->maxT = c->max_seq_len;
    chatbuf_init(&s->cb);
    s->prompts = (int **)calloc_check((size_t)S, sizeof(int *));
    s->out = (int **)calloc_check((size_t)S, sizeof(int *));
    s->lens = (int *)calloc_check((size_t)S, sizeof(int));
    s->out_len = (int *)calloc_check((size_t)S, sizeof(int));
    s->done = (int *)calloc_check((size_t)S, sizeof(int));
    s->rngs = (uint64_t *)calloc_check((size_t)S, sizeof(uint64_t));
    for (int i = 0; i < S; i++) {
        s->prompts[i] = (int *)malloc_check((size_t)s->maxT * sizeof(int));
        s->out[i] = (int *)malloc_check(((size_t)max_new + 1) * sizeof(int)); // + the stop token
    }
}

static inline void sampler_free(Sampler *s) {
    for (int i = 0; i < s->S; i++) {
        free(s->prompts[i]);
        free(s->out[i]);
    }
    free(s->prompts), free(s->out), free(s->lens), free(s->out_len), free(s->done), free(s->rngs), free(s->text);
    chatbuf_free(&s->cb);
}

// Sets sequence i's prompt to the chat rendering of a problem; dies if it leaves no room.
static inline void set_prompt(Sampler *s, int i, const TaskItem *it) {
    chatbuf_clear(&s->cb);
    chat_begin(&s->cb, s->ct);
    chat_append_turn(&s->cb, s->ct, s->tok, CHAT_USER, it->prompt, strlen(it->prompt));
    chat_append_reply_start(&s->cb, s->ct);
    if (s->cb.ids.len + 2 > (size_t)s->maxT) {
        die("problem \"%.60s\": prompt of %zu tokens leaves no room to reply in the context of %d", it->prompt,
            s->cb.ids.len, s->maxT);
    }
    for (size_t t = 0; t < s->cb.ids.len; t++) s->prompts[i][t] = (int)s->cb.ids.ids[t];
    s->lens[i] = (int)s->cb.ids.len;
}

// Generates replies for sequences 0..n-1; the row's tokens the model chose are out[i][0..len),
// where len = out_len + done (the stop token). Rewards into rewards[i] when not NULL.
static inline long sample(Sampler *s, RLModel *model, int n, float temperature, const TaskItem *const *items, float *rewards) {
    int stop[2] = {(int)s->ct->end[CHAT_ASSISTANT], (int)s->tok->eot_token};
    GenSettings g = {temperature, 0, 1.0f, s->max_new, stop, 2};
    long total = model->generate(model->ctx, (const int *const *)s->prompts, s->lens, n, &g, s->rngs, s->out, s->out_len,
                                 s->done);
    for (int i = 0; rewards && i < n; i++) {
        size_t len = decode_reply(s->tok, s->out[i], s->out_len[i], &s->text, &s->text_cap);
        rewards[i] = task_reward(items[i], s->text, len);
    }
    return total;
}

// Over the held-out problems: pass@1 greedy (pass1), pass@1 sampled (pass1s: the mean reward of
// k samples at temperature 1, the policy RL trains) and pass@k (at least one of the k right).
typedef struct { float pass1, pass1s, passk; } EvalResult;

static inline EvalResult evaluate(Sampler *s, RLModel *model, const TaskSet *ev, int k, uint64_t seed) {
    const TaskItem **items = (const TaskItem **)malloc_check((size_t)s->S * sizeof(TaskItem *));
    float *r = (float *)malloc_check((size_t)s->S * sizeof(float));
    double right1 = 0, rightk = 0, sampled = 0;
    int per = s->S / k; // problems per batch of sampled replies
    for (size_t i = 0; i < ev->count; i += (size_t)s->S) { // greedy, S problems at a time
        int n = ev->count - i < (size_t)s->S ? (int)(ev->count - i) : s->S;
        for (int j = 0; j < n; j++) {
            items[j] = &ev->items[i + j];
            set_prompt(s, j, items[j]);
        }
        sample(s, model, n, 0.0f, items, r);
        for (int j = 0; j < n; j++) right1 += r[j] == 1.0f;
    }
    for (size_t i = 0; i < ev->count; i += (size_t)per) {
        int n = ev->count - i < (size_t)per ? (int)(ev->count - i) : per;
        for (int j = 0; j < n * k; j++) {
            items[j] = &ev->items[i + j / k];
            set_prompt(s, j, items[j]);
            s->rngs[j] = seed * 0x9E3779B97F4A7C15ull + (i + (size_t)j / k) * 1000003ull + (uint64_t)(j % k) + 1;
        }
        sample(s, model, n * k, 1.0f, items, r);
        for (int j = 0; j < n; j++) {
            int any = 0;
            for (int q = 0; q < k; q++) any |= r[j * k + q] == 1.0f, sampled += r[j * k + q];
            rightk += any;
        }
    }
    EvalResult e = {(float)(right1 / ev->count), (float)(sampled / ((double)ev->count * k)), (float)(rightk / ev->count)};
    free(items);
    free(r);
    return e;
}

static inline void log_eval(FILE *log, int step, const EvalResult *e, int k, const char *when) {
    fprintf(log, "s:%d eval:%.6f pass%d:%.6f pass1s:%.6f\n", step, e->pass1, k, e->passk, e->pass1s);
    fflush(log);
    printf("held-out: pass@1 %.3f greedy, %.3f sampled | pass@%d %.3f (%s)\n", e->pass1, e->pass1s, k, e->passk, when);
}

// ---- `rl score FILE`: the reward of given replies (tests check that C and Python agree) ------
static inline int rl_score_main(int argc, char **argv) {
    if (argc != 3) die("usage: %s score FILE.jsonl (lines {\"task\",\"prompt\",\"answer\",\"reply\"})", RL_PROGRAM);
    static const char *const keys[4] = {"task", "prompt", "answer", "reply"};
    FILE *fp = fopen_check(argv[2], "rb");
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, fp)) > 0) {
        lineno++;
        size_t n = (size_t)got;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        if (n == 0) continue;
        char *v[4];
        TaskItem it;
        if (!json_line_fields(line, n, keys, 4, v)) die("%s:%zu: expected {\"task\",\"prompt\",\"answer\",\"reply\"}", argv[2], lineno);
        if (!task_from_strings(&it, v[0], v[1], v[2])) die("%s:%zu: not a Countdown prompt", argv[2], lineno);
        printf("%g\n", (double)task_reward(&it, v[3], strlen(v[3])));
        free(v[0]), free(v[1]), free(v[2]), free(v[3]);
    }
    free(line);
    fclose_check(fp, argv[2]);
    return 0;
}

// One step of a --rollouts file into the sampler's rows (prompt, reply, no stop flag: the reply
// length counts the stop token) and rewards; dies naming the file on anything malformed.
static inline void read_rollouts(FILE *fp, const char *path, int step, Sampler *s, int S, const GPT2Config *c, float *rewards) {
    int32_t h[2];
    if (fread(h, sizeof(int32_t), 2, fp) != 2) die("%s: ends before step %d (fewer steps than -x?)", path, step);
    if (h[0] != step || h[1] != S) die("%s: step %d holds step %d with %d rows; expected %d rows (P*K)", path, step, h[0], h[1], S);
    for (int i = 0; i < S; i++) {
        int32_t n[2];
        fread_check(n, sizeof(int32_t), 2, fp, path);
        if (n[0] < 1 || n[1] < 1 || n[0] + n[1] > s->maxT + 1 || n[1] > s->max_new + 1) {
            die("%s: step %d row %d: prompt %d and reply %d tokens (need >= 1 each, together <= %d, reply <= -n + 1)",
                path, step, i, n[0], n[1], s->maxT + 1);
        }
        fread_check(&rewards[i], sizeof(float), 1, fp, path);
        if (!(rewards[i] >= 0.0f && rewards[i] <= 1.0f)) die("%s: step %d row %d: reward %g outside [0, 1]", path, step, i, (double)rewards[i]);
        fread_check(s->prompts[i], sizeof(int32_t), (size_t)n[0], fp, path);
        fread_check(s->out[i], sizeof(int32_t), (size_t)n[1], fp, path);
        for (int t = 0; t < n[0] + n[1]; t++) {
            int tok = t < n[0] ? s->prompts[i][t] : s->out[i][t - n[0]];
            if (tok < 0 || tok >= c->vocab_size) die("%s: step %d row %d: token %d outside [0, %d)", path, step, i, tok, c->vocab_size);
        }
        s->lens[i] = n[0];
        s->out_len[i] = n[1];
        s->done[i] = 0;
    }
}

// The output directory, before the model is built: returns the step to resume from (-1: a
// fresh run) and sets *load to the model file to build (the -e model, or the checkpoint's).
// A fresh run is refused where checkpoints of an earlier run are (as the trainers do).
static inline int rl_prepare(const RLOptions *o, char *path, size_t size, const char **load) {
    train_state_prepare_dir(o->out_dir, o->resume);
    int resumed_at = o->resume ? train_state_latest(o->out_dir) : -1;
    *load = o->model;
    if (resumed_at > o->steps) die("flag -x: %s holds a checkpoint at step %d, past -x %d", o->out_dir, resumed_at, o->steps);
    if (resumed_at >= 0) {
        train_state_check_layout(o->out_dir, resumed_at, 1, 0);
        train_state_path(path, size, o->out_dir, CKPT_MODEL, resumed_at, 0);
        *load = path;
    } else if (o->resume) {
        printf("-y 1: %s holds no checkpoint, starting fresh\n", o->out_dir);
    }
    return resumed_at;
}

// The held-out results before training, from a resumed run's main.log ("s:0 eval:" line);
// returns 0 if there is none.
static inline int rl_read_before(const char *dir, int k, EvalResult *e) {
    char path[4200], line[512];
    snprintf(path, sizeof(path), "%s/main.log", dir);
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) return 0;
    int found = 0, kk;
    while (!found && fgets(line, sizeof(line), fp)) {
        found = sscanf(line, "s:0 eval:%f pass%d:%f pass1s:%f", &e->pass1, &kk, &e->passk, &e->pass1s) == 4 && kk == k;
    }
    fclose(fp);
    return found;
}

// Moves a --rollouts (or --replay) file past the rows of steps 1..steps, reading them; with
// cut, the file is then truncated there (a resumed run rewrites what its killed run wrote after
// the checkpoint).
static inline void rl_skip_rollouts(FILE *fp, const char *path, int steps, Sampler *s, int S, const GPT2Config *c,
                                    float *rewards, int cut) {
    for (int step = 1; step <= steps; step++) read_rollouts(fp, path, step, s, S, c, rewards);
    if (!cut) return;
    long at = ftell(fp);
    if (at < 0 || fflush(fp) != 0 || ftruncate(fileno(fp), (off_t)at) != 0 || fseek(fp, at, SEEK_SET) != 0) {
        die("%s: cannot cut it back to step %d", path, steps);
    }
}

// The run: resumed_at from rl_prepare (the model was built from *load, the KL reference from
// o->model); the program frees its model afterwards.
static inline void rl_run(const RLOptions *o, RLModel *model, const GPT2Config *c, int resumed_at) {
    Tokenizer tok;
    tokenizer_init(&tok, o->tokenizer);
    if (!tok.can_encode) die("%s: this tokenizer cannot encode (no merges); build one with `make gpt2_tokenizer.bin`", o->tokenizer);
    ChatTokens ct;
    const char *missing = NULL;
    if (!chat_tokens_init(&ct, &tok, &missing)) die("%s: has no chat markers (%s missing)", o->tokenizer, missing);
    if ((int)ct.vocab_size > c->vocab_size) {
        die("%s: vocabulary %d has no rows for the chat markers (needs %u: fine-tune with --chat_vocab first)", o->model,
            c->vocab_size, ct.vocab_size);
    }
    // problems
    TaskSet train, ev;
    memset(&train, 0, sizeof(train));
    memset(&ev, 0, sizeof(ev));
    uint64_t prng = o->seed * 0x9E3779B97F4A7C15ull + 12345; // problems (xorshift: never 0)
    if (o->tasks) tasks_read_jsonl(&train, o->tasks);
    if (o->eval) tasks_read_jsonl(&ev, o->eval);
    if (o->countdown) {
        uint64_t erng = 0xC0FFEEull; // held-out Countdown problems: the same for every seed
        for (int i = 0; i < o->eval_countdown; i++) countdown_make(tasks_push_(&ev), o->countdown, &erng);
    }
    int P = o->P, K = o->K, S = P * K, maxT = c->max_seq_len;
    int micro = o->micro > 0 && o->micro < S ? o->micro : S;
    if (o->max_new + 2 > maxT) die("flag -n: %d tokens per reply do not fit the model's context of %d", o->max_new, maxT);
    int eval_k = o->eval_samples, slots = S > eval_k ? S : eval_k;
    Sampler smp;
    sampler_init(&smp, c, &tok, &ct, slots, o->max_new);
    const TaskItem **items = (const TaskItem **)malloc_check((size_t)S * sizeof(TaskItem *));
    TaskItem *cd = (TaskItem *)calloc_check((size_t)P, sizeof(TaskItem));
    float *rewards = (float *)malloc_check((size_t)S * sizeof(float)), *adv = (float *)malloc_check((size_t)S * sizeof(float));
    int *inputs = (int *)malloc_check((size_t)micro * maxT * sizeof(int)), *targets = (int *)malloc_check((size_t)micro * maxT * sizeof(int));
    float *weights = (float *)malloc_check((size_t)micro * maxT * sizeof(float));
    AdamWSettings adamw = {0.9f, 0.95f, 1e-8f, o->weight_decay, o->grad_clip};

    // the files: main.log and --rollouts continue from the checkpoint, --replay skips its steps
    EvalResult before = {0, 0, 0}, e;
    int have_before = resumed_at >= 0 && rl_read_before(o->out_dir, eval_k, &before);
    FILE *log = logger_open(o->out_dir, "main.log", resumed_at);
    FILE *roll = NULL, *replay = o->replay ? fopen_check(o->replay, "rb") : NULL;
    if (o->rollouts) {
        roll = fopen_check(o->rollouts, resumed_at > 0 ? "r+b" : "wb");
        if (resumed_at > 0) rl_skip_rollouts(roll, o->rollouts, resumed_at, &smp, S, c, rewards, 1);
    }
    if (replay && resumed_at > 0) rl_skip_rollouts(replay, o->replay, resumed_at, &smp, S, c, rewards, 0);
    if (resumed_at >= 0) {
        model->load(model->ctx, o->out_dir, resumed_at, &prng);
        printf("resumed from step %d in %s\n", resumed_at, o->out_dir);
    }
    printf("%s: %s (L=%d C=%d V=%d, context %d), %zu training problems%s, %zu held-out; P=%d K=%d, %d steps, lr %g, "
           "kl %g, std %d\n", RL_PROGRAM, o->model, c->num_layers, c->channels, c->vocab_size, maxT, train.count,
           o->countdown ? " (Countdown, drawn each step)" : "", ev.count, P, K, o->steps, (double)o->lr, (double)o->kl,
           o->scale_std);
    if (ev.count && resumed_at < 0) {
        before = evaluate(&smp, model, &ev, eval_k, o->seed);
        have_before = 1;
        log_eval(log, 0, &before, eval_k, "before");
    }
    int first = resumed_at < 0 ? 1 : resumed_at + 1;
    double t_start = seconds();
    for (int step = first; step <= o->steps; step++) {
        // 1. problems and K samples of each
        double t0 = seconds();
        for (int g = 0; g < P && !o->replay; g++) {
            const TaskItem *it;
            if (o->countdown) {
                if (cd[g].task) free(cd[g].task), free(cd[g].prompt), free(cd[g].answer);
                countdown_make(&cd[g], o->countdown, &prng);
                it = &cd[g];
            } else {
                it = &train.items[random_u32(&prng) % (uint32_t)train.count];
            }
            for (int j = 0; j < K; j++) {
                int i = g * K + j;
                items[i] = it;
                set_prompt(&smp, i, it);
                smp.rngs[i] = (o->seed + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)step * 0x100000001B3ull + (uint64_t)i + 1);
                if (smp.rngs[i] == 0) smp.rngs[i] = 1;
            }
        }
        if (o->replay) read_rollouts(replay, o->replay, step, &smp, S, c, rewards);
        else sample(&smp, model, S, 1.0f, items, rewards);
        double t1 = seconds();
        // 2. advantages per group, batch statistics
        grpo_advantages(rewards, adv, P, K, o->scale_std, 1e-4f);
        long ntok = 0;
        double mean_r = 0, right = 0, groups_any = 0;
        for (int i = 0; i < S; i++) {
            ntok += smp.out_len[i] + smp.done[i];
            mean_r += rewards[i];
            right += rewards[i] == 1.0f;
        }
        for (int g = 0; g < P; g++) {
            int any = 0;
            for (int j = 0; j < K; j++) any |= rewards[g * K + j] == 1.0f;
            groups_any += any;
        }
        if (roll) { // step, S, then per row: prompt length, reply length (stop included), reward, tokens
            int32_t hdr[2] = {step, S};
            fwrite_check(hdr, sizeof(int32_t), 2, roll, o->rollouts);
            for (int i = 0; i < S; i++) {
                int32_t h[2] = {smp.lens[i], smp.out_len[i] + smp.done[i]};
                fwrite_check(h, sizeof(int32_t), 2, roll, o->rollouts);
                fwrite_check(&rewards[i], sizeof(float), 1, roll, o->rollouts);
                fwrite_check(smp.prompts[i], sizeof(int32_t), (size_t)smp.lens[i], roll, o->rollouts);
                fwrite_check(smp.out[i], sizeof(int32_t), (size_t)h[1], roll, o->rollouts);
            }
            fflush(roll);
        }
        // 3. the loss over the generated tokens, in micro-batches of rows, and one AdamW step
        model->zero_grad(model->ctx);
        double loss = 0, nll = 0, kl = 0;
        float dloss = ntok > 0 ? 1.0f / (float)ntok : 0.0f;
        for (int r0 = 0; r0 < S && ntok > 0; r0 += micro) {
            int B = S - r0 < micro ? S - r0 : micro, T = 1;
            for (int b = 0; b < B; b++) {
                int len = smp.lens[r0 + b] + smp.out_len[r0 + b] + smp.done[r0 + b];
                if (len - 1 > T) T = len - 1;
            }
            for (int b = 0; b < B; b++) { // row: prompt + reply; targets only on the reply
                int i = r0 + b, np = smp.lens[i], nr = smp.out_len[i] + smp.done[i];
                for (int t = 0; t < T; t++) {
                    int pos = t + 1; // the target's position in prompt + reply
                    inputs[b * T + t] = t < np ? smp.prompts[i][t] : t - np < nr ? smp.out[i][t - np] : (int)tok.eot_token;
                    int in_reply = pos >= np && pos - np < nr;
                    targets[b * T + t] = in_reply ? smp.out[i][pos - np] : -1;
                    weights[b * T + t] = in_reply ? adv[i] : 0.0f;
                }
            }
            const float *losses = model->forward(model->ctx, 0, inputs, targets, B, T);
            const float *ref_losses = o->kl > 0 ? model->forward(model->ctx, 1, inputs, targets, B, T) : NULL;
            for (int q = 0; q < B * T; q++) {
                if (targets[q] < 0) continue;
                double ce = losses[q];
                double k3 = 0;
                if (o->kl > 0) {
                    double rlog = ce - ref_losses[q]; // log p_ref - log p
                    k3 = exp(rlog) - rlog - 1;
                    weights[q] += o->kl * (float)(exp(rlog) - 1);
                }
                loss += adv[r0 + q / T] * ce + o->kl * k3;
                nll += ce;
                kl += k3;
            }
            model->backward(model->ctx, inputs, targets, weights, B, T, dloss);
        }
        float norm = model->grad_norm(model->ctx);
        if (!isfinite(norm)) die("step %d: the gradient norm is not finite (%g)", step, (double)norm);
        model->update(model->ctx, &adamw, o->lr, norm, step);
        double t2 = seconds();
        double n = ntok > 0 ? (double)ntok : 1.0;
        fprintf(log, "s:%d rew:%.6f pass1:%.6f passk:%.6f len:%.2f loss:%.6f nll:%.6f kl:%.6f norm:%.4f t_sample:%.3f t_train:%.3f\n",
                step, mean_r / S, right / S, groups_any / P, (double)ntok / S, loss / n, nll / n, kl / n, norm, t1 - t0, t2 - t1);
        fflush(log);
        double done_frac = (double)(step - first + 1) / (o->steps - first + 1), el = t2 - t_start;
        printf("step %4d/%d | reward %.3f pass@1 %.3f pass@%d %.3f | reply %.1f tok | loss %+.5f nll %.4f kl %.5f | "
               "sample %.2fs train %.2fs | ETA %.0fs\n", step, o->steps, mean_r / S, right / S, K, groups_any / P,
               (double)ntok / S, loss / n, nll / n, kl / n, t1 - t0, t2 - t1, el / done_frac - el);
        fflush(stdout);
        if (ev.count && o->eval_every > 0 && step % o->eval_every == 0 && step < o->steps) {
            e = evaluate(&smp, model, &ev, eval_k, o->seed);
            log_eval(log, step, &e, eval_k, "during");
        }
        // after the step's log lines: a resume cuts main.log back to exactly this step
        if (o->checkpoint_every > 0 && step % o->checkpoint_every == 0 && step < o->steps) {
            model->save(model->ctx, o->out_dir, step, prng, o->checkpoints_keep);
        }
    }
    if (resumed_at == o->steps) {
        printf("%s: the checkpoint at step %d is the run's last; nothing to do\n", RL_PROGRAM, o->steps);
    } else {
        if (ev.count) {
            e = evaluate(&smp, model, &ev, eval_k, o->seed);
            log_eval(log, o->steps, &e, eval_k, "after");
            if (have_before) {
                printf("pass@1 before %.3f after %.3f (sampled at temperature 1, mean of %d); greedy pass@1 before %.3f after "
                       "%.3f; pass@%d before %.3f after %.3f\n", before.pass1s, e.pass1s, eval_k, before.pass1, e.pass1, eval_k,
                       before.passk, e.passk);
            }
        }
        model->save(model->ctx, o->out_dir, o->steps, prng, o->checkpoints_keep);
    }
    fclose_check(log, "main.log");
    if (roll) fclose_check(roll, o->rollouts);
    if (replay) fclose_check(replay, o->replay);
    for (int g = 0; g < P; g++) free(cd[g].task), free(cd[g].prompt), free(cd[g].answer);
    free(cd), free(items), free(rewards), free(adv), free(inputs), free(targets), free(weights);
    sampler_free(&smp);
    tasks_free(&train);
    tasks_free(&ev);
    tokenizer_free(&tok);
}

#endif // LLMC_RL_LOOP_H

