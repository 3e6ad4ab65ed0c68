/*
 * gpt2_bf16_test.c: the CPU trainer's bf16 mixed precision (--precision bf16) against PyTorch's
 * fp32 reference, tensor by tensor, as test_gpt2.cu checks the GPU trainer's bf16 build.
 *
 *   build/test/gpt2_bf16_test -e DIR/model.bin -s DIR/debug_state.bin
 *
 * The debug state (train_gpt2.py) holds one batch, PyTorch's fp32 logits, loss, the gradients of
 * all 16 parameter tensors and the losses of S AdamW steps. With the model in bf16 mode we
 * compare each, err = max|ours - ref| / max|ref| per tensor and rms = ||ours - ref|| / ||ref||.
 * The same model in fp32 mode is run too: the bf16 results must differ from it (by more than
 * fp32 rounding: the bf16 path really ran) yet stay within the bounds below.
 *
 * Bounds. bf16 keeps 8 significant bits: rounding to nearest has relative error at most
 * u = 2^-8 and about 2^-9.5 RMS over uniformly spread significands. In this path only matmul
 * inputs are rounded (weights, the activations entering a matmul, and the gradients entering
 * a backward matmul); everything else is fp32. One matmul output sum_k a_k b_k with both
 * factors rounded carries sum_k a_k b_k (da_k + db_k): independent errors, so relative to
 * the output's own scale about sqrt(2) * 2^-9.5 ~ u/2 RMS. The forward's residual stream adds
 * 2L + 1 such outputs (the logits included); a gradient sees the forward's errors, the backward
 * matmuls' roundings and its own: a random walk of ~6L terms of u/2. With a factor 2 of room:
 *   logits   worst element (relative to max|ref|)  2 * sqrt(2L + 1) * u
 *   grads    RMS per tensor  sqrt(6L) * u;  worst element  2 * sqrt(6L) * u
 *   loss, and each of the S AdamW step losses: u relative (a mean over many tokens; the steps
 *            here use the debug state's small learning rate on one batch)
 * At L = 4: logits 2.3e-2, grads 1.9e-2 RMS / 3.8e-2 worst. These stay below the GPU bf16
 * build's tolerances (test_gpt2.cu: 5e-2, 4e-2, 1e-1), whose path rounds every stored
 * activation and gradient too. A wrong index or a missing term gives errors of order 1; the
 * measured errors are printed next to the bounds.
 * Exit status 0 only if every check passes.
 */
#define TESTING
#include "train_gpt2.c"

#include "llmc/debug_state.h"

#define BF16_U 0.00390625 // 2^-8
#define TOL_LOSS BF16_U
#define TOL_STEPS BF16_U
// bf16 rounding of the weights alone moves gradients by ~1e-3 RMS; fp32 reordering by ~1e-6.
// Below this the bf16 path did not run.
#define MIN_BF16_EFFECT 1e-4

typedef struct {
    double err, rms;
} Cmp;

// ours (rows, cols with stride so) against ref (stride sr)
static Cmp compare(const float *ours, const float *ref, size_t rows, size_t cols, size_t so, size_t sr) {
    double max_ref = 0.0, max_diff = 0.0, sq_diff = 0.0, sq_ref = 0.0;
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < cols; c++) {
            double a = ours[r * so + c], b = ref[r * sr + c], d = fabs(a - b);
            if (fabs(b) > max_ref) max_ref = fabs(b);
            if (!(d <= max_diff)) max_diff = isnan(d) ? INFINITY : d;
            sq_diff += d * d;
            sq_ref += b * b;
        }
    }
    Cmp c = {max_ref > 0.0 ? max_diff / max_ref : max_diff, sq_ref > 0.0 ? sqrt(sq_diff / sq_ref) : sqrt(sq_diff)};
    return c;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *state_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) die("flag %s needs a value (usage: %s -e model.bin -s debug_state.bin)", argv[i], argv[0]);
        if (strcmp(argv[i], "-e") == 0) model_path = argv[++i];
        else if (strcmp(argv[i], "-s") == 0) state_path = argv[++i];
        else die("unknown flag '%s' (expected -e model.bin -s debug_state.bin)", argv[i]);
    }
    if (model_path == NULL || state_path == NULL) die("usage: %s -e model.bin -s debug_state.bin", argv[0]);

    GPT2 model, fp32;
    gpt2_build_from_checkpoint(&model, model_path);
    gpt2_build_from_checkpoint(&fp32, model_path);
    gpt2_set_bf16(&model, 1);
    const GPT2Config *c = &model.config;
    DebugState ref;
    debug_state_read(&ref, state_path, c);
    if (ref.weights) die("%s: per-token weights are not checked here (test_gpt2 does)", state_path);
    int B = ref.B, T = ref.T, V = c->vocab_size, Vp = c->padded_vocab_size;
    size_t BT = (size_t)B * T;
    printf("model L=%d NH=%d C=%d V=%d, batch B=%d T=%d, %d steps; bf16 matmul kernel: %s\n", c->num_layers,
           c->num_heads, c->channels, V, B, T, ref.num_steps, bf16mm_best()->name);
    gpt2_alloc_activations(&model, B, T);
    gpt2_alloc_activations(&fp32, B, T);

    double L = c->num_layers;
    double TOL_LOGITS = 2.0 * sqrt(2.0 * L + 1.0) * BF16_U;
    double TOL_GRADS_RMS = sqrt(6.0 * L) * BF16_U, TOL_GRADS = 2.0 * TOL_GRADS_RMS;
    int ok = 1;
    gpt2_forward(&model, ref.inputs, ref.targets, B, T);
    gpt2_forward(&fp32, ref.inputs, ref.targets, B, T);
    Cmp lg = compare(model.acts.logits, ref.logits, BT, (size_t)V, (size_t)Vp, (size_t)V);
    ok &= lg.err <= TOL_LOGITS;
    printf("%-4s logits     rel %.3e (tol %.1e)  rms %.3e\n", lg.err <= TOL_LOGITS ? "OK" : "FAIL", lg.err, TOL_LOGITS,
           lg.rms);
    double loss_err = fabs(model.mean_loss - ref.loss) / fabs(ref.loss);
    ok &= loss_err <= TOL_LOSS;
    printf("%-4s loss       bf16 %.7f fp32 %.7f ref %.7f  rel %.3e (tol %.1e)\n", loss_err <= TOL_LOSS ? "OK" : "FAIL",
           model.mean_loss, fp32.mean_loss, ref.loss, loss_err, TOL_LOSS);

    gpt2_zero_grad(&model);
    gpt2_backward(&model, ref.inputs, ref.targets, B, T, 1.0f / (float)BT);
    gpt2_zero_grad(&fp32);
    gpt2_backward(&fp32, ref.inputs, ref.targets, B, T, 1.0f / (float)BT);
    double worst_err = 0.0, worst_rms = 0.0, effect = 0.0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        size_t off = model.param_offsets[i], n = gpt2_param_numel(c, i);
        Cmp g = compare(model.grads + off, ref.grads + off, 1, n, n, n);
        Cmp e = compare(model.grads + off, fp32.grads + off, 1, n, n, n); // bf16 against our own fp32
        int t_ok = g.err <= TOL_GRADS && g.rms <= TOL_GRADS_RMS;
        ok &= t_ok;
        printf("%-4s %-10s rel %.3e (tol %.1e)  rms %.3e (tol %.1e)  [bf16 vs fp32 rms %.3e]\n", t_ok ? "OK" : "FAIL",
               GPT2_PARAMS[i].name, g.err, TOL_GRADS, g.rms, TOL_GRADS_RMS, e.rms);
        if (g.err > worst_err) worst_err = g.err;
        if (g.rms > worst_rms) worst_rms = g.rms;
        if (e.rms > effect) effect = e.rms;
    }
    int ran = effect >= MIN_BF16_EFFECT;
    ok &= ran;
    printf("%-4s gradients: worst rel %.3e, worst rms %.3e; bf16 differs from fp32 by up to %.3e rms (>= %.0e: the "
           "bf16 path ran)\n",
           ran ? "OK" : "FAIL", worst_err, worst_rms, effect, MIN_BF16_EFFECT);

    // S AdamW steps on the batch, the bf16 copy refreshed after each update
    AdamWSettings s = {ref.beta1, ref.beta2, ref.eps, ref.weight_decay, ref.grad_clip};
    for (int step = 0; step < ref.num_steps; step++) {
        if (step > 0) {
            gpt2_forward(&model, ref.inputs, ref.targets, B, T);
            gpt2_zero_grad(&model);
            gpt2_backward(&model, ref.inputs, ref.targets, B, T, 1.0f / (float)BT);
        }
        double err = fabs(model.mean_loss - ref.losses[step]) / fabs(ref.losses[step]);
        ok &= err <= TOL_STEPS;
        float norm = gpt2_grad_norm(&model);
        gpt2_update(&model, &s, ref.learning_rate, norm, step + 1);
        gpt2_sync_bf16(&model);
        printf("%-4s step %2d   loss bf16 %.7f ref %.7f  rel %.3e (tol %.1e)\n", err <= TOL_STEPS ? "OK" : "FAIL", step,
               model.mean_loss, ref.losses[step], err, TOL_STEPS);
    }
    printf(ok ? "overall okay\n" : "overall FAILED\n");
    debug_state_free(&ref);
    gpt2_free(&model);
    gpt2_free(&fp32);
    return ok ? 0 : 1;
}
