/*
 * rl.cu: reinforcement learning with verifiable rewards (GRPO) on one GPU, for a chat model: rl.c's
 * program with the GPU trainer's model.
 *
 *   ./rlcu -e MODEL -o DIR (--tasks FILE.jsonl | --countdown D) [the options of rl, see --help]
 *
 * The loop is llmc/rl_loop.h, the same code rl.c runs (doc/rl.md): problems, sampling, rewards,
 * group advantages, the per-token weights with the KL term, logging, evaluation, rollout files,
 * checkpoints and resume. This file is the GPU model behind it:
 *   - generation: the GPU KV cache (llmc/generate_gpu.cuh) through the shared sampling loop
 *     (llmc/gen_loop.h), so a seed draws the CPU's tokens whenever the logits pick the same;
 *   - the loss: train_gpt2.cu's forward (FORWARD_LOSSES: per-token losses to the host, where the
 *     weights are made), then gpt2_backward_weighted (the fused classifier writes the dlogits
 *     scaled by each token's weight, then the usual backward);
 *   - AdamW, gradient norm and checkpoints of the GPU trainer (bf16 parameters with fp32 master
 *     weights in bf16 builds; the model file holds the bf16 parameters, the state file m, v and the
 *     master weights, llmc/train_state.h).
 * A bf16 run is not bit-equal to the CPU's (bf16 activations); resume is bit for bit on one GPU.
 * Every error is one line on stderr and exit status 1.
 */
#define TESTING
#include "train_gpt2.cu"

#define RL_PROGRAM "rlcu"
#include "llmc/rl_loop.h"

typedef struct {
    CudaContext cuda;
    GPT2 model, ref; // the policy and, with --kl, the frozen starting model
    KVCacheGPU kv;
    uint64_t seed;   // stochastic rounding of the bf16 parameters (a function of seed, step, tensor)
} RLGPU;

static long gpu_generate(void *p, const int *const *prompts, const int *lens, int nb, const GenSettings *g, uint64_t *rngs,
                         int **out, int *out_len, int *finished) {
    RLGPU *r = (RLGPU *)p;
    return kvg_generate(&r->model, &r->kv, prompts, lens, nb, g, rngs, out, out_len, finished, NULL, NULL);
}

static const float *gpu_forward(void *p, int ref, const int *inputs, const int *targets, int B, int T) {
    GPT2 *m = ref ? &((RLGPU *)p)->ref : &((RLGPU *)p)->model;
    gpt2_set_batch(m, inputs, targets, B, T);
    gpt2_forward(m, B, T, FORWARD_LOSSES, 0.0f);
    gpt2_mean_loss(m, B, T); // synchronises, the per-token losses in losses_host
    return m->losses_host;
}

// inputs and targets are on the device since the forward (the same batch)
static void gpu_backward(void *p, const int *inputs, const int *targets, const float *weights, int B, int T, float dloss) {
    gpt2_backward_weighted(&((RLGPU *)p)->model, weights, B, T, dloss);
}

static void gpu_zero_grad(void *p) { gpt2_zero_grad(&((RLGPU *)p)->model); }
static float gpu_grad_norm(void *p) { return gpt2_grad_norm(&((RLGPU *)p)->model); }

// the norm for clipping is the device's copy of the last gpt2_grad_norm
static void gpu_update(void *p, const AdamWSettings *s, float lr, float norm, int t) {
    RLGPU *r = (RLGPU *)p;
    gpt2_update(&r->model, s, lr, t, r->seed);
}

static void gpu_save(void *p, const char *dir, int step, uint64_t rng, int keep) {
    gpt2_save_checkpoint(&((RLGPU *)p)->model, dir, step, NULL, rng, keep, 0, 1);
}

static void gpu_load(void *p, const char *dir, int step, uint64_t *rng) {
    gpt2_load_state(&((RLGPU *)p)->model, dir, step, NULL, rng, 0, 1);
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "score") == 0) return rl_score_main(argc, argv);
    RLOptions o;
    rl_parse_options(&o, argc, argv);
    char path[4200];
    const char *load;
    int resumed_at = rl_prepare(&o, path, sizeof(path), &load);
    int device_count = 0;
    cudaCheck(cudaGetDeviceCount(&device_count));
    if (device_count < 1) die("no CUDA device found");
    static RLGPU r;
    cuda_context_init(&r.cuda, 0);
    r.seed = o.seed;
    gpt2_build(&r.model, &r.cuda, load, o.seed, 1, 0);
    const GPT2Config *c = &r.model.config;
    int S = o.P * o.K, micro = o.micro > 0 && o.micro < S ? o.micro : S;
    int slots = S > o.eval_samples ? S : o.eval_samples;
    gpt2_alloc_activations(&r.model, micro, c->max_seq_len, 1);
    if (o.kl > 0) { // the starting model, frozen: forward passes only
        gpt2_build(&r.ref, &r.cuda, o.model, o.seed, 0, 0);
        gpt2_alloc_activations(&r.ref, micro, c->max_seq_len, 1);
    }
    kvg_init(&r.kv, &r.model, slots, c->max_seq_len);
    printf("device %s, %s; KV cache %.0f MiB for %d sequences\n", r.cuda.props.name, FLOATX_NAME, mib(kvg_cache_bytes(&r.kv)),
           slots);
    RLModel m = {&r, gpu_generate, gpu_forward, gpu_backward, gpu_zero_grad, gpu_grad_norm, gpu_update, gpu_save, gpu_load};
    rl_run(&o, &m, c, resumed_at);
    kvg_free(&r.kv);
    if (o.kl > 0) gpt2_free(&r.ref);
    gpt2_free(&r.model);
    cuda_context_free(&r.cuda);
    return 0;
}
