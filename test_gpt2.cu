/*
 * test_gpt2.cu: checks the GPU trainer against PyTorch, tensor by tensor, then checks that a
 * checkpoint and resume continue training bit for bit.
 *
 *   ./test_gpt2cu     -e DIR/model.bin -s DIR/debug_state.bin [-w 0|1] [-o SCRATCH_DIR] [-f 0|1]
 *   ./test_gpt2fp32cu -e DIR/model.bin -s DIR/debug_state.bin
 *
 * The debug state (written by train_gpt2.py, llmc/debug_state.h) holds one batch, PyTorch's
 * logits, loss and the gradients of all 16 parameter tensors (fp32, on the CPU), and the losses
 * of S AdamW steps on that batch. The checks, in order:
 *   1. the gradients with recompute -r 0 and -r 2 (the recompute paths run different kernels),
 *      then logits, loss and every gradient, tensor by tensor, at the default -r 1. A state with
 *      per-token loss weights (train_gpt2.py --weights 1) checks RL's loss sum(w * token loss) /
 *      (B*T) through gpt2_backward_weighted (its error relative to sum(|w| * token loss) / (B*T),
 *      the size of its terms: with weights of both signs the sum itself can be near 0);
 *   2. the losses of the S AdamW steps (learning rate etc. from the file);
 *   3. a checkpoint (model + optimizer + data-loader state, llmc/train_state.h) after the S steps,
 *      K more steps, then a fresh model resumed from the checkpoint runs the same K steps: losses,
 *      gradient norms and the final parameters must be bitwise identical.
 * -f 1 runs all of it with the trainer's step fusions (--fuse_bwd 1 --fuse_adamw 1), which must
 * meet the same tolerances. Exit status 0 only if every check passes.
 *
 * Tolerances. Every tensor is compared relative to its own scale, err = max|ours - ref| / max|ref|
 * (meaningful for entries that cancel to ~0, where an element-wise relative error is noise).
 *   FP32 build: both sides compute in fp32 (cuBLAS with CUBLAS_COMPUTE_32F, no TF32) and differ
 *     only in summation order, so errors are of order eps * sqrt(K) relative to the terms
 *     (eps = 1.2e-7, K up to 4C per dot product), compounded over the layers: the CPU trainer's
 *     test tolerances apply, with a little room for the flash attention's online softmax.
 *   BF16 build: parameters are rounded to bf16 (unit roundoff u = 2^-9 = 2e-3) and every
 *     activation and activation gradient is stored in bf16, so each stored tensor carries about u
 *     of relative error, and the residual stream adds ~2L such roundings as it passes the layers
 *     (a random walk: about sqrt(2L) u ~ 1e-2 at d12). Logits allow 25u; gradients, which pass
 *     every rounding twice, 50u on the worst element and 20u on the RMS error
 *     ||ours - ref|| / ||ref||; the loss, a mean of many tokens, 5u. An indexing or math bug
 *     gives errors of order 1 and fails all of these.
 *   Step losses: relative to the loss. AdamW divides by sqrt(v), so the noise of nearly-zero
 *     gradients moves parameters by up to lr per step either way: FP32 1e-4 (as the CPU test);
 *     BF16 the loss tolerance again, since the run starts from the rounded model.
 */
#define TESTING
#include "train_gpt2.cu"

#include <unistd.h>

#include "llmc/debug_state.h"

#if FLOATX_IS_FP32
#define TOL_LOGITS 5e-5
#define TOL_LOSS 1e-5
#define TOL_GRADS 3e-4
#define TOL_GRADS_RMS 3e-4
#define TOL_STEPS 1e-4
#else
#define TOL_LOGITS 5e-2
#define TOL_LOSS 1e-2
#define TOL_GRADS 1e-1
#define TOL_GRADS_RMS 4e-2
#define TOL_STEPS 1e-2
#endif
#define RESUME_STEPS 3 // K: steps run twice, before and after the reload

typedef struct {
    double err;     // max|ours - ref| / max|ref|
    double rms;     // ||ours - ref|| / ||ref||
    double max_ref, max_diff;
    size_t worst;   // index of the largest difference (row * cols + col)
} Comparison;

// Compares rows x cols values (strided, to skip padding) relative to the reference's scale.
static Comparison compare(const float *ours, const float *ref, size_t rows, size_t cols, size_t ours_stride, size_t ref_stride) {
    Comparison r;
    memset(&r, 0, sizeof(r));
    double sum_d2 = 0.0, sum_r2 = 0.0;
    for (size_t i = 0; i < rows; i++) {
        for (size_t j = 0; j < cols; j++) {
            double a = ours[i * ours_stride + j], b = ref[i * ref_stride + j];
            double d = fabs(a - b);
            if (fabs(b) > r.max_ref) r.max_ref = fabs(b);
            if (!(d <= r.max_diff)) { // also catches NaN
                r.max_diff = d;
                r.worst = i * cols + j;
            }
            sum_d2 += d * d;
            sum_r2 += b * b;
        }
    }
    r.err = r.max_ref > 0.0 ? r.max_diff / r.max_ref : r.max_diff;
    r.rms = sum_r2 > 0.0 ? sqrt(sum_d2 / sum_r2) : sqrt(sum_d2);
    if (r.max_diff != r.max_diff) r.err = r.rms = NAN;
    return r;
}

// Prints one line (and the worst element on failure); returns 1 if within tolerance.
static int report(const char *name, Comparison r, double tol, double tol_rms, const float *ours, const float *ref, size_t cols,
                  size_t ours_stride, size_t ref_stride) {
    int ok = r.err <= tol && r.rms <= tol_rms;
    printf("%-4s %-10s max|ref| %.3e  max|diff| %.3e  rel %.3e (tol %.0e)  rms %.3e (tol %.0e)\n", ok ? "OK" : "FAIL", name,
           r.max_ref, r.max_diff, r.err, tol, r.rms, tol_rms);
    if (!ok) {
        size_t i = r.worst / cols, j = r.worst % cols;
        printf("     element [%zu,%zu]: ours %.9g ref %.9g\n", i, j, ours[i * ours_stride + j], ref[i * ref_stride + j]);
    }
    return ok;
}

// sum(w * token loss) / (B*T) of the last forward, and in *scale sum(|w| * token loss) / (B*T):
// the size of the terms, which the loss's rounding error is relative to (the weighted sum itself
// can cancel to near 0 with weights of both signs).
static float weighted_loss(GPT2 *model, const float *w, int B, int T, double *scale) {
    size_t BT = (size_t)B * T;
    gpt2_mean_loss(model, B, T); // copies the per-token losses to losses_host
    double sum = 0.0, mag = 0.0;
    for (size_t i = 0; i < BT; i++) {
        sum += (double)w[i] * model->losses_host[i];
        mag += fabs((double)w[i]) * model->losses_host[i];
    }
    *scale = mag / (double)BT;
    return (float)(sum / (double)BT);
}

// Forward (with targets) and backward on the batch; grads are zeroed first. Returns the loss.
// With weights (a debug state of train_gpt2.py --weights 1): RL's weighted loss through
// gpt2_backward_weighted, as rl.cu trains; *scale is then the size of its terms (else the loss).
static float forward_backward(GPT2 *model, int B, int T, const float *weights, double *scale) {
    if (weights != NULL) {
        gpt2_forward(model, B, T, FORWARD_LOSSES, 0.0f);
        float loss = weighted_loss(model, weights, B, T, scale);
        gpt2_zero_grad(model);
        gpt2_backward_weighted(model, weights, B, T, 1.0f / (float)((size_t)B * T));
        return loss;
    }
    gpt2_forward(model, B, T, FORWARD_TRAIN, 1.0f / (float)((size_t)B * T));
    float loss = gpt2_mean_loss(model, B, T);
    gpt2_zero_grad(model);
    gpt2_backward(model, B, T);
    *scale = fabs(loss);
    return loss;
}

// Compares all 16 gradients with the reference; prints every tensor if verbose, else one line.
static int check_grads(GPT2 *model, const DebugState *ref, float *grads, int verbose, const char *label) {
    const GPT2Config *c = &model->config;
    download_floatX(grads, model->grads, model->num_parameters, model->ctx->stream);
    int ok = 1;
    double worst = 0.0, worst_rms = 0.0;
    const char *worst_name = "";
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        size_t off = model->param_offsets[i], n = gpt2_param_numel(c, i);
        Comparison r = compare(grads + off, ref->grads + off, 1, n, n, n);
        if (verbose) {
            ok &= report(GPT2_PARAMS[i].name, r, TOL_GRADS, TOL_GRADS_RMS, grads + off, ref->grads + off, n, n, n);
        } else {
            ok &= r.err <= TOL_GRADS && r.rms <= TOL_GRADS_RMS;
        }
        if (!(r.err <= worst)) { worst = r.err; worst_name = GPT2_PARAMS[i].name; }
        if (!(r.rms <= worst_rms)) worst_rms = r.rms;
    }
    if (!verbose) {
        printf("%-4s %s: all gradients, worst rel %.3e (%s, tol %.0e), worst rms %.3e (tol %.0e)\n", ok ? "OK" : "FAIL", label,
               worst, worst_name, TOL_GRADS, worst_rms, TOL_GRADS_RMS);
    }
    return ok;
}

static void free_activations(GPT2 *model) {
    cudaCheck(cudaStreamSynchronize(model->ctx->stream));
    cudaCheck(cudaFree(model->acts_memory));
    cudaCheck(cudaFreeHost(model->staging));
    cudaCheck(cudaFreeHost(model->losses_host));
    cudaCheck(cudaEventDestroy(model->staging_free));
    model->acts_memory = NULL;
}

// One training step on the loader's next batch, as the trainer runs it. Returns the loss and
// stores the gradient norm.
static float train_step(GPT2 *model, DataLoader *loader, const AdamWSettings *s, float lr, int t, uint64_t seed,
                        float *norm) {
    int B = (int)loader->B, T = (int)loader->T;
    dataloader_next_batch(loader);
    gpt2_set_batch(model, loader->inputs, loader->targets, B, T);
    double scale;
    float loss = forward_backward(model, B, T, NULL, &scale);
    *norm = gpt2_grad_norm(model);
    gpt2_update(model, s, lr, t, seed);
    return loss;
}

static void usage(const char *prog) {
    fprintf(stderr, "usage: %s -e model.bin -s debug_state.bin [-w 0|1 master weights] [-o scratch_dir] [-f 0|1 step fusions]\n", prog);
    exit(1);
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *state_path = NULL, *out_dir = NULL;
    int use_master = 1, fuse = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) usage(argv[0]);
        if (i + 1 >= argc) die("flag %s needs a value (see %s --help)", argv[i], argv[0]);
        if (strcmp(argv[i], "-e") == 0) model_path = argv[++i];
        else if (strcmp(argv[i], "-s") == 0) state_path = argv[++i];
        else if (strcmp(argv[i], "-o") == 0) out_dir = argv[++i];
        else if (strcmp(argv[i], "-w") == 0) use_master = (int)parse_int_or_die(argv[++i], 0, 1, "flag -w");
        else if (strcmp(argv[i], "-f") == 0) fuse = (int)parse_int_or_die(argv[++i], 0, 1, "flag -f");
        else die("unknown flag '%s' (expected -e model.bin -s debug_state.bin [-w 0|1] [-o dir] [-f 0|1])", argv[i]);
    }
    if (model_path == NULL || state_path == NULL) usage(argv[0]);

    CudaContext ctx;
    cuda_context_init(&ctx, 0);
    const uint64_t seed = 42;
    GPT2 model;
    gpt2_build(&model, &ctx, model_path, seed, use_master, 0);
    model.fuse_bwd = model.fuse_adamw = fuse;
    const GPT2Config *c = &model.config;
    DebugState ref;
    debug_state_read(&ref, state_path, c);
    int B = ref.B, T = ref.T, V = c->vocab_size, Vp = c->padded_vocab_size;
    size_t BT = (size_t)B * T;
    printf("device %s, precision %s%s%s\n", ctx.props.name, FLOATX_NAME, model.master ? " (fp32 master weights)" : "",
           fuse ? ", step fusions on (-f 1)" : "");
    printf("model L=%d NH=%d C=%d V=%d Vp=%d maxT=%d, batch B=%d T=%d, %d stored steps%s\n", c->num_layers, c->num_heads,
           c->channels, V, Vp, c->max_seq_len, B, T, ref.num_steps, ref.weights ? ", per-token loss weights" : "");
    float *grads = (float *)malloc_check(model.num_parameters * sizeof(float));
    int ok = 1;

    // 1. the recompute levels other than the default: gradients only
    int levels[2] = {0, 2};
    for (int k = 0; k < 2; k++) {
        gpt2_alloc_activations(&model, B, T, levels[k]);
        gpt2_set_batch(&model, ref.inputs, ref.targets, B, T);
        double scale;
        forward_backward(&model, B, T, ref.weights, &scale);
        char label[32];
        snprintf(label, sizeof(label), "recompute -r %d", levels[k]);
        ok &= check_grads(&model, &ref, grads, 0, label);
        free_activations(&model);
    }

    // 1. (continued) logits, loss and gradients at -r 1, tensor by tensor
    gpt2_alloc_activations(&model, B, T, 1);
    gpt2_set_batch(&model, ref.inputs, ref.targets, B, T);
    gpt2_forward(&model, B, T, FORWARD_LOSSES, 0.0f);
    float *logits = (float *)malloc_check(BT * (size_t)Vp * sizeof(float));
    download_floatX(logits, model.acts.logits, BT * (size_t)Vp, ctx.stream);
    Comparison lc = compare(logits, ref.logits, BT, (size_t)V, (size_t)Vp, (size_t)V);
    ok &= report("logits", lc, TOL_LOGITS, INFINITY, logits, ref.logits, (size_t)V, (size_t)Vp, (size_t)V);
    free(logits);
    double scale;
    float loss = forward_backward(&model, B, T, ref.weights, &scale);
    // relative to the loss, or with weights to the size of its terms; absolute if all are ignored
    double loss_err = fabs(loss - ref.loss) / (scale > 0.0 ? scale : 1.0);
    int loss_ok = loss_err <= TOL_LOSS;
    printf("%-4s loss       ours %.7f ref %.7f  rel %.3e  (tol %.0e)\n", loss_ok ? "OK" : "FAIL", loss, ref.loss, loss_err, TOL_LOSS);
    ok &= loss_ok;
    ok &= check_grads(&model, &ref, grads, 1, "");

    // 2. S AdamW steps on the batch: the step s loss is the forward after s updates
    AdamWSettings s = {ref.beta1, ref.beta2, ref.eps, ref.weight_decay, ref.grad_clip};
    float lr = ref.learning_rate;
    if (ref.num_steps > 0) {
        printf("AdamW lr %g betas (%g, %g) eps %g weight decay %g grad clip %g\n", lr, s.beta1, s.beta2, s.eps,
               s.weight_decay, s.grad_clip);
    }
    for (int step = 0; step < ref.num_steps; step++) {
        if (step > 0) {
            gpt2_set_batch(&model, ref.inputs, ref.targets, B, T);
            loss = forward_backward(&model, B, T, ref.weights, &scale);
        }
        float expected = ref.losses[step];
        double err = fabs(loss - expected) / (scale > 0.0 ? scale : 1.0);
        int step_ok = err <= TOL_STEPS;
        ok &= step_ok;
        float norm = gpt2_grad_norm(&model);
        gpt2_update(&model, &s, lr, step + 1, seed);
        printf("%-4s step %2d   loss ours %.7f ref %.7f  rel %.3e  (tol %.0e)  grad norm %.5f\n", step_ok ? "OK" : "FAIL", step,
               loss, expected, err, TOL_STEPS, norm);
    }

    // 3. checkpoint, K steps, resume into a fresh model, the same K steps: bitwise equal.
    // The data comes through the real loader from a one-window shard of the debug batch.
    char dir[4096];
    int made_dir = 0;
    if (out_dir != NULL) {
        snprintf(dir, sizeof(dir), "%s", out_dir);
        make_dir_check(dir);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/test_gpt2cu_XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        if (mkdtemp(dir) == NULL) die("cannot create a scratch directory under %s: %s", tmp && tmp[0] ? tmp : "/tmp", strerror(errno));
        made_dir = 1;
    }
    int contiguous = 1; // the batch is one window of B*T+1 tokens (as train_gpt2.py makes it)
    for (size_t i = 0; i + 1 < BT; i++) contiguous &= ref.targets[i] == ref.inputs[i + 1];
    if (!contiguous) {
        printf("SKIP resume: the debug batch is not one contiguous token window\n");
    } else {
        char shard[4200];
        snprintf(shard, sizeof(shard), "%s/batch.bin", dir);
        uint32_t *tokens = (uint32_t *)malloc_check((BT + 1) * sizeof(uint32_t));
        for (size_t i = 0; i < BT; i++) tokens[i] = (uint32_t)ref.inputs[i];
        tokens[BT] = (uint32_t)ref.targets[BT - 1];
        static ShardWriterFile writer; // llmc/shard.h (static: it holds a 64 KiB buffer)
        shard_writer_open(&writer, shard, 0);
        shard_writer_append(&writer, tokens, NULL, BT + 1);
        shard_writer_close(&writer);
        free(tokens);

        int S = ref.num_steps;
        uint64_t rng_saved = 0x123456789abcdefull;
        DataLoader loader;
        dataloader_init(&loader, shard, (size_t)B, (size_t)T, 0, 1, 0, seed);
        gpt2_save_checkpoint(&model, dir, S, &loader, rng_saved, 0, 0, 1);
        float first[RESUME_STEPS], first_norm[RESUME_STEPS], second[RESUME_STEPS], second_norm[RESUME_STEPS];
        for (int k = 0; k < RESUME_STEPS; k++) first[k] = train_step(&model, &loader, &s, lr, S + k + 1, seed, &first_norm[k]);
        int batch_ok = memcmp(loader.inputs, ref.inputs, BT * sizeof(int)) == 0 &&
                       memcmp(loader.targets, ref.targets, BT * sizeof(int)) == 0;
        // both the floatX parameters and (when kept) the master weights: (n) each
        size_t n = model.num_parameters;
        float *params_first = (float *)malloc_check(2 * n * sizeof(float));
        gpt2_download_params(&model, params_first, 0);
        gpt2_download_params(&model, params_first + n, 1);
        dataloader_free(&loader);

        GPT2 resumed;
        char path[4200];
        train_state_path(path, sizeof(path), dir, CKPT_MODEL, S, 0);
        gpt2_build(&resumed, &ctx, path, seed, use_master, 0);
        resumed.fuse_bwd = resumed.fuse_adamw = fuse;
        gpt2_alloc_activations(&resumed, B, T, 1);
        dataloader_init(&loader, shard, (size_t)B, (size_t)T, 0, 1, 0, seed);
        uint64_t rng_loaded = 0;
        int step = train_state_latest(dir);
        gpt2_load_state(&resumed, dir, step, &loader, &rng_loaded, 0, 1);
        for (int k = 0; k < RESUME_STEPS; k++) second[k] = train_step(&resumed, &loader, &s, lr, S + k + 1, seed, &second_norm[k]);
        float *params_second = (float *)malloc_check(2 * n * sizeof(float));
        gpt2_download_params(&resumed, params_second, 0);
        gpt2_download_params(&resumed, params_second + n, 1);
        dataloader_free(&loader);

        int same = step == S && rng_loaded == rng_saved && batch_ok;
        for (int k = 0; k < RESUME_STEPS; k++) {
            int eq = memcmp(&first[k], &second[k], sizeof(float)) == 0 && memcmp(&first_norm[k], &second_norm[k], sizeof(float)) == 0;
            printf("%-4s resume step %d: loss %.9g / %.9g, norm %.9g / %.9g (before / after the reload)\n", eq ? "OK" : "FAIL",
                   S + k, first[k], second[k], first_norm[k], second_norm[k]);
            same &= eq;
        }
        int params_same = memcmp(params_first, params_second, 2 * n * sizeof(float)) == 0;
        printf("%-4s resume: step %d (want %d), sampler RNG %s, loader batch %s, parameters after %d steps %s\n",
               same && params_same ? "OK" : "FAIL", step, S, rng_loaded == rng_saved ? "restored" : "WRONG",
               batch_ok ? "matches" : "DIFFERS", RESUME_STEPS, params_same ? "bitwise equal" : "DIFFER");
        ok &= same && params_same;
        free(params_first);
        free(params_second);
        gpt2_free(&resumed);

        if (made_dir) { // remove what this test wrote
            const CheckpointFile kinds[] = {CKPT_MODEL, CKPT_STATE, CKPT_DONE};
            for (int k = 0; k < 3; k++) {
                train_state_path(path, sizeof(path), dir, kinds[k], S, 0);
                remove(path);
            }
            remove(shard);
        }
    }
    if (made_dir) rmdir(dir);

    printf(ok ? "overall okay\n" : "overall FAILED\n");
    free(grads);
    debug_state_free(&ref);
    gpt2_free(&model);
    cuda_context_free(&ctx);
    return ok ? 0 : 1;
}
