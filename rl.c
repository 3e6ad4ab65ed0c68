/*
 * rl: reinforcement learning with verifiable rewards (GRPO) on the CPU, for a chat model.
 *
 *   ./rl -e MODEL -o DIR (--tasks FILE.jsonl | --countdown D) [--eval FILE.jsonl | --eval_countdown N]
 *        [-P 8] [-K 8] [-x 40] [-l 1e-4] [-n 24] [--std 1] [--kl 0] [--micro 0] [--seed 1] ...
 *   ./rl score FILE.jsonl [--countdown 1]     rewards of {"prompt","answer","reply"} lines (tests)
 *
 * The loop itself is llmc/rl_loop.h, shared with the GPU's rl.cu; this file is the CPU model:
 * generation through llmc/generate.h's KV cache, the CPU trainer's forward, weighted backward
 * (gpt2_backward_weighted) and AdamW, checkpoints in llmc/train_state.h's format (fp32).
 *
 * Each step samples K replies to each of P problems at temperature 1, rewards them, sets
 * advantages per group and takes one AdamW step on the advantage-weighted log-likelihood of the
 * generated tokens, with an optional k3 KL penalty to the starting model (the formulas:
 * llmc/rl_loop.h and doc/rl.md). Held-out pass@1 (greedy and sampled) and pass@8 before, every
 * --eval_every steps, and after.
 * Logs DIR/main.log (doc/rl.md "Log") and writes DIR/model_<steps>.bin at the end, as the last
 * checkpoint; --checkpoint_every N writes more, and -y 1 resumes the newest (bit for bit).
 * --rollouts FILE writes every step's sampled tokens and rewards (for the PyTorch parity check,
 * dev/rl_ref.py). Every error is one line on stderr and exit status 1.
 */
#define TESTING
#include "train_gpt2.c"

#include "llmc/generate.h"

#define RL_PROGRAM "rl"
#include "llmc/rl_loop.h"

typedef struct {
    GPT2 model, ref; // the policy and, with --kl, the frozen starting model
    KVCache kv;
} RLCPU;

static long cpu_generate(void *p, const int *const *prompts, const int *lens, int nb, const GenSettings *g, uint64_t *rngs,
                         int **out, int *out_len, int *finished) {
    RLCPU *r = (RLCPU *)p;
    return generate(&r->model, &r->kv, prompts, lens, nb, g, rngs, out, out_len, finished, NULL, NULL);
}

static const float *cpu_forward(void *p, int ref, const int *inputs, const int *targets, int B, int T) {
    GPT2 *m = ref ? &((RLCPU *)p)->ref : &((RLCPU *)p)->model;
    gpt2_forward(m, inputs, targets, B, T);
    return m->acts.losses;
}

static void cpu_backward(void *p, const int *inputs, const int *targets, const float *weights, int B, int T, float dloss) {
    gpt2_backward_weighted(&((RLCPU *)p)->model, inputs, targets, weights, B, T, dloss);
}

static void cpu_zero_grad(void *p) { gpt2_zero_grad(&((RLCPU *)p)->model); }
static float cpu_grad_norm(void *p) { return gpt2_grad_norm(&((RLCPU *)p)->model); }

static void cpu_update(void *p, const AdamWSettings *s, float lr, float norm, int t) {
    gpt2_update(&((RLCPU *)p)->model, s, lr, norm, t);
}

static void cpu_save(void *p, const char *dir, int step, uint64_t rng, int keep) {
    GPT2 *m = &((RLCPU *)p)->model;
    train_state_save(dir, step, &m->config, m->params, GPT2_CHECKPOINT_FP32, m->m, m->v, NULL, m->num_parameters, 0,
                     m->num_parameters, 0, NULL, rng, 0, 1, keep);
}

static void cpu_load(void *p, const char *dir, int step, uint64_t *rng) {
    GPT2 *m = &((RLCPU *)p)->model;
    // the params came from the checkpoint's model file (fp32); a GPU run's master weights replace them
    train_state_load(dir, step, &m->config, m->m, m->v, m->params, m->num_parameters, 0, m->num_parameters, 0, NULL, rng, 0, 1);
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "score") == 0) return rl_score_main(argc, argv);
    RLOptions o;
    rl_parse_options(&o, argc, argv);
    char path[4200];
    const char *load;
    int resumed_at = rl_prepare(&o, path, sizeof(path), &load);
    static RLCPU r;
    gpt2_build_from_checkpoint(&r.model, load);
    const GPT2Config *c = &r.model.config;
    int S = o.P * o.K, micro = o.micro > 0 && o.micro < S ? o.micro : S;
    int slots = S > o.eval_samples ? S : o.eval_samples;
    gpt2_alloc_activations(&r.model, micro, c->max_seq_len);
    if (o.kl > 0) { // the starting model, frozen: forward passes only
        gpt2_build_from_checkpoint(&r.ref, o.model);
        gpt2_alloc_activations(&r.ref, micro, c->max_seq_len);
    }
    kv_init(&r.kv, &r.model, slots, c->max_seq_len);
    RLModel m = {&r, cpu_generate, cpu_forward, cpu_backward, cpu_zero_grad, cpu_grad_norm, cpu_update, cpu_save, cpu_load};
    rl_run(&o, &m, c, resumed_at);
    kv_free(&r.kv);
    if (o.kl > 0) gpt2_free(&r.ref);
    gpt2_free(&r.model);
    return 0;
}
