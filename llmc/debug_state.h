/*
 * debug_state.h: reader for the reference activations and gradients written by train_gpt2.py.
 *
 * Version 2 is llm.c's file; version 3 (ours) adds the optimizer settings and the losses of S
 * AdamW steps on the same batch, so any model configuration can be tested:
 *   int32 header[256]: [0] 20240327 [1] version [2] B [3] T
 *                      version 3 only: [4] V [5] Vp [6] S, [7..12] float32 bit patterns of
 *                      learning rate, beta1, beta2, eps, weight decay, grad clip (0 = off)
 *   inputs int32 (B,T); targets int32 (B,T); logits float32 (B,T,V); loss float32;
 *   grads float32 of all 16 tensors in checkpoint order (wte's padded to (Vp,C));
 *   version 3 only: losses float32 (S), losses[s] = forward loss after s updates.
 *   version 3, [13] = 1: some targets are -1 (ignored, as PyTorch's ignore_index): the loss and
 *   grads are those of the mean over the other targets (a loss-masked batch); 0: none are.
 *   version 3, [14] = 1: per-token loss weights float32 (B,T) follow the losses; the loss is
 *   sum(weight * token loss) / (B*T) (gpt2_backward_weighted); 0 (older files): no weights.
 */
#ifndef LLMC_DEBUG_STATE_H
#define LLMC_DEBUG_STATE_H

#include "gpt2.h"
#include "utils.h"

#define DEBUG_STATE_MAGIC 20240327

typedef struct {
    int B, T, V, num_steps;
    int masked;     // targets may be -1 (ignored)
    float learning_rate, beta1, beta2, eps, weight_decay, grad_clip;
    int *inputs;    // (B,T)
    int *targets;   // (B,T)
    float *logits;  // (B,T,V)
    float loss;
    float *grads;   // (num_parameters) in checkpoint layout
    float *losses;  // (num_steps)
    float *weights; // (B,T) per-token loss weights, or NULL
} DebugState;

static inline float debug_state_float_slot(int32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

// Reads a debug state made for the model `c`; dies naming the file if it does not match.
static inline void debug_state_read(DebugState *d, const char *path, const GPT2Config *c) {
    FILE *fp = fopen_check(path, "rb");
    long long size = file_size_check(fp, path);
    int32_t h[LLMC_HEADER_INTS];
    read_header_check(fp, h, path);
    if (h[0] != DEBUG_STATE_MAGIC) die("%s: not a debug state file (magic %d, expected %d)", path, h[0], DEBUG_STATE_MAGIC);
    if (h[1] != 2 && h[1] != 3) die("%s: unsupported debug state version %d (expected 2 or 3)", path, h[1]);
    d->B = h[2];
    d->T = h[3];
    if (d->B < 1 || d->T < 1 || d->B > (1 << 20) || d->T > c->max_seq_len) {
        die("%s: bad batch shape B=%d T=%d (T must be in [1, %d])", path, d->B, d->T, c->max_seq_len);
    }
    d->V = c->vocab_size;
    d->num_steps = 0;
    d->masked = 0;
    d->learning_rate = 1e-4f; d->beta1 = 0.9f; d->beta2 = 0.999f; d->eps = 1e-8f;
    d->weight_decay = 0.0f; d->grad_clip = 0.0f;  // llm.c's version 2 test settings
    if (h[1] == 3) {
        if (h[4] != c->vocab_size || h[5] != c->padded_vocab_size) {
            die("%s: made for V=%d Vp=%d but the model has V=%d Vp=%d", path, h[4], h[5], c->vocab_size, c->padded_vocab_size);
        }
        if (h[6] < 0 || h[6] > 100000) die("%s: bad step count %d", path, h[6]);
        d->num_steps = h[6];
        d->learning_rate = debug_state_float_slot(h[7]);
        d->beta1 = debug_state_float_slot(h[8]);
        d->beta2 = debug_state_float_slot(h[9]);
        d->eps = debug_state_float_slot(h[10]);
        d->weight_decay = debug_state_float_slot(h[11]);
        d->grad_clip = debug_state_float_slot(h[12]);
        if (h[13] != 0 && h[13] != 1) die("%s: bad masked flag %d in slot 13 (0 or 1)", path, h[13]);
        d->masked = h[13];
        if (h[14] != 0 && h[14] != 1) die("%s: bad weights flag %d in slot 14 (0 or 1)", path, h[14]);
    }
    int weighted = h[1] == 3 && h[14] == 1;
    size_t BT = (size_t)d->B * (size_t)d->T;
    size_t sizes[NUM_PARAMETER_TENSORS];
    size_t num_parameters = gpt2_param_sizes(c, sizes);
    long long expected = 1024 + 4 * (long long)(2 * BT + BT * (size_t)d->V + 1 + num_parameters + (size_t)d->num_steps +
                                         (weighted ? BT : 0));
    if (size != expected) {
        die("%s: file is %lld bytes, expected %lld for B=%d T=%d and this model%s", path, size, expected, d->B, d->T,
            size < expected ? " (truncated?)" : " (made for another model?)");
    }
    d->inputs = (int *)malloc_check(BT * sizeof(int));
    d->targets = (int *)malloc_check(BT * sizeof(int));
    d->logits = (float *)malloc_check(BT * (size_t)d->V * sizeof(float));
    d->grads = (float *)malloc_check(num_parameters * sizeof(float));
    d->losses = (float *)malloc_check(((size_t)d->num_steps + 1) * sizeof(float));
    fread_check(d->inputs, sizeof(int), BT, fp, path);
    fread_check(d->targets, sizeof(int), BT, fp, path);
    fread_check(d->logits, sizeof(float), BT * (size_t)d->V, fp, path);
    fread_check(&d->loss, sizeof(float), 1, fp, path);
    fread_check(d->grads, sizeof(float), num_parameters, fp, path);
    fread_check(d->losses, sizeof(float), (size_t)d->num_steps, fp, path);
    d->weights = NULL;
    if (weighted) {
        d->weights = (float *)malloc_check(BT * sizeof(float));
        fread_check(d->weights, sizeof(float), BT, fp, path);
        for (size_t i = 0; i < BT; i++) {
            if (!isfinite(d->weights[i])) die("%s: weight %zu is not finite (%g)", path, i, (double)d->weights[i]);
        }
    }
    fclose_check(fp, path);
    for (size_t i = 0; i < BT; i++) {
        int lo = d->masked ? -1 : 0;
        if (d->inputs[i] < 0 || d->inputs[i] >= c->vocab_size || d->targets[i] < lo || d->targets[i] >= c->vocab_size) {
            die("%s: token id out of range [0, %d) at position %zu", path, c->vocab_size, i);
        }
    }
    // a non-finite reference would make every comparison fail (or, for NaN, pass) for no reason
    for (size_t i = 0; i < BT * (size_t)d->V; i++) {
        if (!isfinite(d->logits[i])) die("%s: logits hold a non-finite value (%g at element %zu)", path, (double)d->logits[i], i);
    }
    if (!isfinite(d->loss)) die("%s: the loss is not finite (%g)", path, (double)d->loss);
    gpt2_check_finite(c, d->grads, path, "gradient of");
    for (int s = 0; s < d->num_steps; s++) {
        if (!isfinite(d->losses[s])) die("%s: the loss after %d steps is not finite (%g)", path, s, (double)d->losses[s]);
    }
}

static inline void debug_state_free(DebugState *d) {
    free(d->inputs);
    free(d->targets);
    free(d->logits);
    free(d->grads);
    free(d->losses);
    free(d->weights);
}

#endif // LLMC_DEBUG_STATE_H
