/*
 * test_gpt2.c: checks the CPU trainer against PyTorch, tensor by tensor.
 *
 *   ./test_gpt2 -e DIR/model.bin -s DIR/debug_state.bin
 *
 * The debug state (written by train_gpt2.py) holds one batch, PyTorch's logits, loss and the
 * gradients of all 16 parameter tensors, and the losses of S AdamW steps on that batch. We
 * recompute each and compare. A state with per-token weights (train_gpt2.py --weights 1) checks
 * the weighted loss sum(w * token loss) / (B*T) and gpt2_backward_weighted (RL's loss).
 *
 * Tolerances. Both sides compute in fp32 but sum in different orders, so each result carries
 * rounding error of order eps * sqrt(K) relative to the magnitude of its terms (eps = 1.2e-7,
 * K up to 4C terms per dot product, compounded over the layers). We therefore compare every
 * tensor relative to its own scale: err = max|ours - ref| / max|ref|, which stays meaningful
 * for entries that cancel to ~0 (where an element-wise relative error would be noise).
  *   logits: err <= 1e-5      loss: |diff| / loss <= 1e-5
 *   grads:  err <= 1e-4 per tensor (backward adds another pass of rounding and cancellation)
 *   steps:  |diff| / loss <= 5e-5 for each of the S losses (AdamW divides by sqrt(v), which
 *           amplifies the rounding noise of gradients that are nearly zero)
 * These are far tighter than llm.c's absolute 2e-2, and a single wrong index fails them by
 * orders of magnitude.
 */
#define TESTING
#include "train_gpt2.c"

#include "llmc/debug_state.h"

#define TOL_LOGITS 1e-5
#define TOL_LOSS 1e-5
#define TOL_GRADS 1e-4
#define TOL_STEPS 5e-5

// Compares n values (with strides, to skip padding) relative to the reference's scale.
static int check_tensor(const char *name, const float *ours, const float *ref, size_t rows, size_t cols,
                        size_t ours_stride, size_t ref_stride, double tol) {
    double max_ref = 0.0, max_diff = 0.0;
    size_t worst = 0;
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < cols; c++) {
            double a = ours[r * ours_stride + c], b = ref[r * ref_stride + c];
            if (fabs(b) > max_ref) max_ref = fabs(b);
            double d = fabs(a - b);
            if (!(d <= max_diff)) {  // also catches NaN
                max_diff = d;
                worst = r * cols + c;
            }
        }
    }
    double err = max_ref > 0.0 ? max_diff / max_ref : max_diff;
    int ok = err <= tol;
    printf("%-4s %-10s max|ref| %.3e  max|diff| %.3e  rel %.3e  (tol %.0e)%s\n", ok ? "OK" : "FAIL", name, max_ref,
           max_diff, err, tol, ok ? "" : "  <-- worst element shown below");
    if (!ok) {
        size_t r = worst / cols, c = worst % cols;
        printf("     element [%zu,%zu]: ours %.9g ref %.9g\n", r, c, ours[r * ours_stride + c], ref[r * ref_stride + c]);
    }
    return ok;
}

// sum(w * token loss) / (B*T) of the last forward (ignored targets have loss 0)
static float weighted_loss(const GPT2 *model, const float *w, size_t BT) {
    double sum = 0.0;
    for (size_t i = 0; i < BT; i++) sum += (double)w[i] * model->acts.losses[i];
    return (float)(sum / (double)BT);
}

static void usage(const char *prog) {
    printf("usage: %s -e model.bin -s debug_state.bin\n", prog);
    exit(0);
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *state_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) usage(argv[0]);
        if (i + 1 >= argc) die("flag %s needs a value (see %s --help)", argv[i], argv[0]);
        if (strcmp(argv[i], "-e") == 0) model_path = argv[++i];
        else if (strcmp(argv[i], "-s") == 0) state_path = argv[++i];
        else die("unknown flag '%s' (expected -e model.bin -s debug_state.bin)", argv[i]);
    }
    if (model_path == NULL || state_path == NULL) {
        die("%s is missing (usage: %s -e model.bin -s debug_state.bin)", model_path == NULL ? "-e" : "-s", argv[0]);
    }

    GPT2 model;
    gpt2_build_from_checkpoint(&model, model_path);
    const GPT2Config *c = &model.config;
    DebugState ref;
    debug_state_read(&ref, state_path, c);
    int B = ref.B, T = ref.T, V = c->vocab_size, Vp = c->padded_vocab_size;
    printf("model L=%d NH=%d C=%d V=%d Vp=%d maxT=%d, batch B=%d T=%d, %d stored steps%s\n", c->num_layers,
           c->num_heads, c->channels, V, Vp, c->max_seq_len, B, T, ref.num_steps,
           ref.weights ? ", per-token loss weights" : "");
    gpt2_alloc_activations(&model, B, T);

    int ok = 1;
    size_t BT = (size_t)B * T;
    gpt2_forward(&model, ref.inputs, ref.targets, B, T);
    if (ref.weights) model.mean_loss = weighted_loss(&model, ref.weights, BT);
    ok &= check_tensor("logits", model.acts.logits, ref.logits, BT, (size_t)V, (size_t)Vp, (size_t)V, TOL_LOGITS);
    // relative, except for a batch whose targets are all ignored (loss 0): absolute
    double loss_err = fabs(model.mean_loss - ref.loss) / (ref.loss != 0.0f ? fabs(ref.loss) : 1.0);
    int loss_ok = loss_err <= TOL_LOSS;
    printf("%-4s loss       ours %.7f ref %.7f  rel %.3e  (tol %.0e)\n", loss_ok ? "OK" : "FAIL", model.mean_loss, ref.loss,
           loss_err, TOL_LOSS);
    ok &= loss_ok;

    gpt2_zero_grad(&model);
    gpt2_backward_weighted(&model, ref.inputs, ref.targets, ref.weights, B, T, 1.0f / (float)BT);
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        size_t off = model.param_offsets[i], n = gpt2_param_numel(c, i);
        ok &= check_tensor(GPT2_PARAMS[i].name, model.grads + off, ref.grads + off, 1, n, n, n, TOL_GRADS);
    }

    // S AdamW steps on the same batch: the step s loss is the forward after s updates.
    AdamWSettings s = {ref.beta1, ref.beta2, ref.eps, ref.weight_decay, ref.grad_clip};
    if (ref.num_steps > 0) {
        printf("AdamW lr %g betas (%g, %g) eps %g weight decay %g grad clip %g\n", ref.learning_rate, s.beta1, s.beta2,
               s.eps, s.weight_decay, s.grad_clip);
    }
    for (int step = 0; step < ref.num_steps; step++) {
        if (step > 0) {
            gpt2_forward(&model, ref.inputs, ref.targets, B, T);
            if (ref.weights) model.mean_loss = weighted_loss(&model, ref.weights, BT);
            gpt2_zero_grad(&model);
            gpt2_backward_weighted(&model, ref.inputs, ref.targets, ref.weights, B, T, 1.0f / (float)BT);
        }
        float expected = ref.losses[step];
        double err = fabs(model.mean_loss - expected) / (expected != 0.0f ? fabs(expected) : 1.0);
        int step_ok = err <= TOL_STEPS;
        ok &= step_ok;
        float norm = gpt2_grad_norm(&model);
        gpt2_update(&model, &s, ref.learning_rate, norm, step + 1);
        printf("%-4s step %2d   loss ours %.7f ref %.7f  rel %.3e  (tol %.0e)  grad norm %.5f\n",
               step_ok ? "OK" : "FAIL", step, model.mean_loss, expected, err, TOL_STEPS, norm);
    }

    printf(ok ? "overall okay\n" : "overall FAILED\n");
    debug_state_free(&ref);
    gpt2_free(&model);
    return ok ? 0 : 1;
}
