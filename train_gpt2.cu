/*
 * train_gpt2.cu: GPT-2 training on one NVIDIA GPU, the twin of train_gpt2.c.
 *
 * Same command line (llmc/train_options.h), data order (llmc/dataloader.h), random init
 * (llmc/rand.h, bit for bit the CPU trainer's and PyTorch's), LR schedule, run log, checkpoints and
 * resume as the CPU trainer; the layers are the fused kernels of the llmc/ .cuh headers, which mirror the
 * CPU contract in doc/cpu_layers.md.
 *
 * Precision is chosen at build time:
 *   BF16 (default)     parameters, activations and gradients in bf16; fp32 master weights (-w 1)
 *                      and AdamW moments; every reduction accumulates in fp32. Writes version 5
 *                      (bf16) checkpoints.
 *   FP32 (-DENABLE_FP32) everything in fp32, for exact comparison with PyTorch. Writes version 3.
 * Either build reads both checkpoint versions.
 *
 * Memory: one contiguous buffer for the parameters (laid out by the table in llmc/gpt2.h, the
 * checkpoint layout), one for the gradients, one for the activations, sized once from the model
 * and B, T. Activation recompute (-r) trades compute for memory: -r 1 keeps one layer's GELU
 * output and recomputes it in backward; -r 2 also recomputes both LayerNorm outputs.
 *
 * Determinism: every kernel reduces in a fixed order (no float atomics) and stochastic rounding
 * is seeded from (--seed, step, tensor), so the same seed and data give bitwise identical losses.
 *
 * Read top to bottom: device peak table, the model (parameters, activations, forward, backward,
 * AdamW), checkpoints, evaluation and sampling, then the training loop. test_gpt2.cu includes this
 * file with TESTING defined to get everything but main.
 */
#include "llmc/utils.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmc/adamw_settings.h"
#include "llmc/dataloader.h"
#include "llmc/evaluate.h"
#include "llmc/gpt2.h"
#include "llmc/logger.h"
#include "llmc/rand.h"
#include "llmc/schedule.h"
#include "llmc/step_guard.h"
#include "llmc/timer.h"
#include "llmc/tokenizer.h"
#include "llmc/train_options.h"
#include "llmc/train_plan.h"
#include "llmc/train_state.h"

#include "llmc/cuda_common.h"
#include "llmc/encoder.cuh"
#include "llmc/layernorm.cuh"
#include "llmc/matmul.cuh"
#include "llmc/attention.cuh"
#include "llmc/cudnn_att.cuh"
#include "llmc/gelu.cuh"
#include "llmc/fused_classifier.cuh"
#include "llmc/global_norm.cuh"
#include "llmc/adamw.cuh"
#include "llmc/profile.cuh"
#include "llmc/dist_gpu.cuh"

// The checkpoint version this build writes: its own precision.
#if FLOATX_IS_FP32
#define CHECKPOINT_VERSION GPT2_CHECKPOINT_FP32
#else
#define CHECKPOINT_VERSION GPT2_CHECKPOINT_BF16
#endif

// ----------------------------------------------------------------------------
// Peak throughput, for MFU. Dense (no sparsity) tensor-core bf16 with fp32 accumulation, and
// plain fp32 (CUDA cores, no TF32), in TFLOP/s, from NVIDIA's data sheets. Names are matched as
// substrings of cudaDeviceProp.name in order, so the more specific name comes first.

typedef struct {
    const char *name;
    double bf16_tflops;
    double fp32_tflops;
} DevicePeak;

static const DevicePeak DEVICE_PEAKS[] = {
    {"H200 NVL", 835.0, 60.0},
    {"H200", 989.4, 66.9},        // H200 SXM
    {"GH200", 989.4, 66.9},
    {"H100 NVL", 835.0, 60.0},
    {"H100 PCIe", 756.0, 51.2},
    {"H100", 989.4, 66.9},        // H100 SXM ("NVIDIA H100 80GB HBM3")
    {"H800", 989.4, 66.9},
    {"A100", 312.0, 19.5},
    {"A800", 312.0, 19.5},
    {"L40S", 362.1, 91.6},
    {"L4", 121.0, 30.3},
    {"A10G", 70.0, 31.2},
    {"A10", 125.0, 31.2},
    {"RTX 4090", 165.2, 82.6},
    {"RTX 3090", 71.0, 35.6},
};

// Peak TFLOP/s of this build's precision on the device; falls back on the compute capability
// (9.0: H100 SXM, 8.0: A100) and returns 0 when unknown (MFU is then not printed).
static double device_peak_tflops(const cudaDeviceProp *p) {
    for (size_t i = 0; i < sizeof(DEVICE_PEAKS) / sizeof(DEVICE_PEAKS[0]); i++) {
        if (strstr(p->name, DEVICE_PEAKS[i].name) != NULL) {
            return FLOATX_IS_FP32 ? DEVICE_PEAKS[i].fp32_tflops : DEVICE_PEAKS[i].bf16_tflops;
        }
    }
    if (p->major == 9 && p->minor == 0) return FLOATX_IS_FP32 ? 66.9 : 989.4;
    if (p->major == 8 && p->minor == 0) return FLOATX_IS_FP32 ? 19.5 : 312.0;
    return 0.0;
}

// ----------------------------------------------------------------------------
// Host-side conversions between fp32 and floatX (round to nearest even, as torch's .to()).

static void floats_to_floatX(floatX *dst, const float *src, size_t n) {
#if FLOATX_IS_FP32
    memcpy(dst, src, n * sizeof(float));
#else
    for (size_t i = 0; i < n; i++) {
        __nv_bfloat16_raw raw;
        raw.x = float_to_bf16(src[i]);
        dst[i] = __nv_bfloat16(raw);
    }
#endif
}

static void floatX_to_floats(float *dst, const floatX *src, size_t n) {
#if FLOATX_IS_FP32
    memcpy(dst, src, n * sizeof(float));
#else
    for (size_t i = 0; i < n; i++) {
        __nv_bfloat16_raw raw = src[i];
        dst[i] = bf16_to_float(raw.x);
    }
#endif
}

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

// Copies between host and device in the order of `stream` and waits for it: the context's stream
// does not synchronise with the legacy default stream that plain cudaMemcpy/cudaMemset use.
static void copy_to_device(void *dst, const void *src, size_t bytes, cudaStream_t stream) {
    cudaCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
    cudaCheck(cudaStreamSynchronize(stream));
}
static void copy_to_host(void *dst, const void *src, size_t bytes, cudaStream_t stream) {
    cudaCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream));
    cudaCheck(cudaStreamSynchronize(stream));
}

static double mib(size_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

// ----------------------------------------------------------------------------
// The model

// Activations of one forward pass, sized for max_B x max_T. Per-layer tensors hold L slices of
// layer_stride elements each (padded so every slice starts 256-byte aligned); a forward with a
// smaller B or T uses the start of each slice. With recompute, the marked tensors hold a single
// slice that every layer overwrites and the backward pass recomputes.
typedef struct {
    floatX *encoded;   // (B,T,C) token + position embedding, the residual stream into layer 0
    floatX *ln1;       // (L,B,T,C), one slice with -r 2
    float *ln1_mean;   // (L,B,T)
    float *ln1_rstd;   // (L,B,T)
    floatX *qkv;       // (L,B,T,3C) rows [Q | K | V]
    floatX *atty;      // (L,B,T,C) attention output, before the projection
    float *att_lse;    // (L,B,NH,T) log-sum-exp of each scaled score row
    floatX *residual2; // (L,B,T,C) residual stream after the attention branch
    floatX *ln2;       // (L,B,T,C), one slice with -r 2
    float *ln2_mean;   // (L,B,T)
    float *ln2_rstd;   // (L,B,T)
    floatX *fch;       // (L,B,T,4C) MLP hidden layer before GELU
    floatX *fch_gelu;  // (L,B,T,4C), one slice with -r >= 1
    floatX *residual3; // (L,B,T,C) residual stream after the MLP branch (layer output)
    floatX *lnf;       // (B,T,C) final LayerNorm output
    float *lnf_mean;   // (B,T)
    float *lnf_rstd;   // (B,T)
    floatX *proj_out;  // (B,T,C) output of a residual projection before it is added
    floatX *logits;    // (B,T,Vp); the classifier overwrites it with dlogits when training
    float *losses;     // (B,T) per-token cross-entropy
    // backward
    floatX *dresidual; // (B,T,C) gradient of the residual stream, flowing down the layers
    floatX *dbuf_c;    // (B,T,C) gradient of lnf, ln2, atty or ln1 (one at a time)
    floatX *dbuf_4c;   // (B,T,4C) gradient of fch_gelu (then of fch in place), later dqkv
    void *scratch;     // kernel workspace: the largest any backward kernel or the norm needs
    int *inputs;       // (B,T) token ids
    int *targets;      // (B,T) next-token ids
    float *weights;    // (B,T) per-token loss weights of gpt2_backward_weighted (RL), fp32
} Activations;

// Per-layer strides (elements) of the activation tensors.
typedef struct {
    size_t x_c;     // one (B,T,C) slice of floatX
    size_t x_3c;    // (B,T,3C)
    size_t x_4c;    // (B,T,4C)
    size_t f_bt;    // (B,T) of float
    size_t f_nhbt;  // (B,NH,T) of float
} LayerStrides;

// --cuda_graph 1: one micro-step's forward and backward through the layers (all but the encoder
// backward, whose bucket sort runs on the host) captured once and replayed. What the capture
// bakes in from the host: pointers (fixed: every buffer is allocated once), B and T, and the
// loss gradient dloss, which depends on the counted targets; a micro-step with other values
// re-captures (and updates the instantiated graph in place when it can).
typedef struct {
    cudaGraphExec_t exec;
    int valid;
    int B, T, counted;
    float dloss;
    long captures, replays;
} StepGraph;

typedef struct {
    GPT2Config config;
    size_t param_offsets[NUM_PARAMETER_TENSORS];
    size_t param_sizes[NUM_PARAMETER_TENSORS];
    size_t num_parameters;
    floatX *params;   // (num_alloc) device, checkpoint layout (zeros past num_parameters)
    floatX *grads;    // (num_alloc) device
    float *master;    // (opt_count) device fp32 master weights, or NULL (fp32 builds, -w 0)
    float *m, *v;     // (opt_count) device AdamW moments
    // what this rank's optimizer updates: all parameters, or its ZeRO-1 shard (master, m and v
    // then hold only [opt_offset, opt_offset + opt_count); params and grads are padded to
    // num_alloc elements, see llmc/dist_gpu.cuh)
    size_t opt_offset, opt_count, num_alloc;
    int zero_stage;
    // called after layer l's gradients are final in the last micro-step's backward pass (the
    // data-parallel all-reduce of that layer starts there), or NULL
    void (*layer_done)(void *arg, int l);
    void *layer_done_arg;
    float *norm_sq;   // (1) device: squared global gradient norm of the last update
    // activations
    int max_B, max_T, recompute;
    LayerStrides strides;
    Activations acts;
    void *acts_memory;
    size_t acts_bytes;
    // host side
    int *staging;              // (2,B,T) pinned: the batch on its way to the device
    cudaEvent_t staging_free;  // recorded after the copy out of staging
    float *losses_host;        // (B,T) pinned, for evaluation
    int num_counted;           // targets of the last gpt2_set_batch that are not -1 (ignored)
    CudaContext *ctx;
    Profiler *prof;            // --profile 1: GPU time per kernel class (llmc/profile.cuh), else NULL
    // step fusions (doc/gpu_perf_notes.md "Step fusions"); all 0 is the reference path
    int fuse_bwd;              // --fuse_bwd 1: backward GEMM epilogues (DGELU+BGRAD, BGRADB), no zeroing
    int fuse_adamw;            // --fuse_adamw 1: one AdamW launch over all tensors
    const int *update_skip;    // device int or NULL: the update skips itself when set (see adamw.cuh)
    StepGraph graph;           // --cuda_graph 1: the captured micro-step (gpt2_micro_step)
} GPT2;

// Layer l's slice of parameter tensor i in `base` (params or grads).
static floatX *param_slice(const GPT2 *model, floatX *base, int i, int l) {
    size_t per_layer = gpt2_param_rows(&model->config, i) * gpt2_param_cols(&model->config, i);
    return base + model->param_offsets[i] + (size_t)l * per_layer;
}

// The activation tensors of layer l, with the recompute sharing resolved.
typedef struct {
    const floatX *residual; // (B,T,C) layer input: encoded, or residual3 of layer l-1
    floatX *ln1;            // (B,T,C)
    float *ln1_mean, *ln1_rstd; // (B,T)
    floatX *qkv;            // (B,T,3C)
    floatX *atty;           // (B,T,C)
    float *att_lse;         // (B,NH,T)
    floatX *residual2;      // (B,T,C)
    floatX *ln2;            // (B,T,C)
    float *ln2_mean, *ln2_rstd; // (B,T)
    floatX *fch;            // (B,T,4C)
    floatX *fch_gelu;       // (B,T,4C)
    floatX *residual3;      // (B,T,C)
} LayerActs;

static LayerActs layer_acts(const GPT2 *model, int l) {
    const Activations *a = &model->acts;
    const LayerStrides *s = &model->strides;
    size_t L = (size_t)l;
    int r = model->recompute;
    LayerActs la;
    la.residual = l == 0 ? a->encoded : a->residual3 + (L - 1) * s->x_c;
    la.ln1 = a->ln1 + (r >= 2 ? 0 : L * s->x_c);
    la.ln1_mean = a->ln1_mean + L * s->f_bt;
    la.ln1_rstd = a->ln1_rstd + L * s->f_bt;
    la.qkv = a->qkv + L * s->x_3c;
    la.atty = a->atty + L * s->x_c;
    la.att_lse = a->att_lse + L * s->f_nhbt;
    la.residual2 = a->residual2 + L * s->x_c;
    la.ln2 = a->ln2 + (r >= 2 ? 0 : L * s->x_c);
    la.ln2_mean = a->ln2_mean + L * s->f_bt;
    la.ln2_rstd = a->ln2_rstd + L * s->f_bt;
    la.fch = a->fch + L * s->x_4c;
    la.fch_gelu = a->fch_gelu + (r >= 1 ? 0 : L * s->x_4c);
    la.residual3 = a->residual3 + L * s->x_c;
    return la;
}

static void gpt2_init_common(GPT2 *model, CudaContext *ctx) {
    model->ctx = ctx;
    model->num_parameters = gpt2_param_offsets(&model->config, model->param_offsets);
    gpt2_param_sizes(&model->config, model->param_sizes);
}

// Allocates the parameters, gradients and optimizer state on the device and uploads `host`
// (num_parameters fp32 values in checkpoint layout): params rounded to floatX, master weights
// (if kept) exact. AdamW moments start at zero.
static void gpt2_upload_params(GPT2 *model, const float *host, int use_master_weights) {
    size_t n = model->num_parameters;
    cudaStream_t stream = model->ctx->stream;
    cudaCheck(cudaMalloc((void **)&model->params, n * sizeof(floatX)));
    cudaCheck(cudaMalloc((void **)&model->grads, n * sizeof(floatX)));
    cudaCheck(cudaMalloc((void **)&model->m, n * sizeof(float)));
    cudaCheck(cudaMalloc((void **)&model->v, n * sizeof(float)));
    cudaCheck(cudaMalloc((void **)&model->norm_sq, sizeof(float)));
    cudaCheck(cudaMemsetAsync(model->grads, 0, n * sizeof(floatX), stream));
    cudaCheck(cudaMemsetAsync(model->m, 0, n * sizeof(float), stream));
    cudaCheck(cudaMemsetAsync(model->v, 0, n * sizeof(float), stream));
    cudaCheck(cudaMemsetAsync(model->norm_sq, 0, sizeof(float), stream));
    model->opt_offset = 0;
    model->opt_count = model->num_alloc = n;
    model->master = NULL;
    if (use_master_weights && !FLOATX_IS_FP32) {
        cudaCheck(cudaMalloc((void **)&model->master, n * sizeof(float)));
        copy_to_device(model->master, host, n * sizeof(float), stream);
    }
    floatX *tmp = (floatX *)malloc_check(n * sizeof(floatX));
    floats_to_floatX(tmp, host, n);
    copy_to_device(model->params, tmp, n * sizeof(floatX), stream);
    free(tmp);
}

// Loads a version 3 or 5 checkpoint into host fp32 (caller frees) and sets the config.
static float *gpt2_read_checkpoint(GPT2 *model, const char *path) {
    FILE *fp = fopen_check(path, "rb");
    int version = gpt2_read_checkpoint_header(fp, path, &model->config);
    size_t sizes[NUM_PARAMETER_TENSORS];
    size_t n = gpt2_param_sizes(&model->config, sizes);
    float *host = (float *)malloc_check(n * sizeof(float));
    gpt2_read_checkpoint_params(fp, path, version, host, n);
    fclose_check(fp, path);
    return host;
}

// Builds the model from a checkpoint path or a descriptor ("d12", "L3:C48:H3:V97:T64", ...);
// chat_vocab > 0 grows the vocabulary to it first (llmc/gpt2.h gpt2_grow_vocab, as the CPU).
static void gpt2_build(GPT2 *model, CudaContext *ctx, const char *load, uint64_t seed, int use_master_weights,
                       int chat_vocab) {
    memset(model, 0, sizeof(*model));
    float *host;
    if (gpt2_config_from_descriptor(&model->config, load)) {
        host = (float *)malloc_check(gpt2_param_sizes(&model->config, model->param_sizes) * sizeof(float));
        gpt2_init_random(&model->config, host, seed); // the same init as train_gpt2.py and train_gpt2.c
    } else {
        host = gpt2_read_checkpoint(model, load);
    }
    if (chat_vocab > 0) {
        size_t offsets[NUM_PARAMETER_TENSORS];
        gpt2_param_offsets(&model->config, offsets);
        gpt2_grow_vocab(&model->config, host + offsets[PARAM_WTE], chat_vocab);
    }
    gpt2_init_common(model, ctx);
    gpt2_upload_params(model, host, use_master_weights);
    free(host);
}

// Kernel workspace needed for batches up to B x T (every kernel runs on one stream, so one
// buffer serves them all in turn).
static size_t gpt2_scratch_bytes(const GPT2Config *c, int B, int T) {
    int C = c->channels, NH = c->num_heads, N = B * T;
    size_t need = encoder_backward_scratch_bytes(B, T, C);
    size_t ln = layernorm_backward_scratch_bytes(N, C);
    size_t att = attention_backward_scratch_bytes(B, T, C, NH);
    size_t norm = global_norm_scratch_floats() * sizeof(float);
    // matmul_backward's dbias partial sums; the widest biased layer is fc (4C outputs), the
    // classifier has no bias
    size_t mm = matmul_backward_scratch_bytes(N, 4 * C);
    if (ln > need) need = ln;
    if (att > need) need = att;
    if (norm > need) need = norm;
    if (mm > need) need = mm;
    return need;
}

#define MAX_ACT_SLOTS 32

typedef struct {
    void **ptr;
    size_t bytes;
} ActSlot;

// Lists every activation buffer with its size for batches up to B x T and recompute level r.
// With model == NULL only the sizes are filled (to find the largest B that fits).
static int activation_slots(GPT2 *model, const GPT2Config *c, int B, int T, int r, ActSlot *slots,
                            LayerStrides *s) {
    size_t L = (size_t)c->num_layers, C = (size_t)c->channels, NH = (size_t)c->num_heads;
    size_t BT = (size_t)B * T, Vp = (size_t)c->padded_vocab_size;
    size_t X = sizeof(floatX), F = sizeof(float);
    // pad per-layer slices to 128 elements so each one starts 256-byte aligned
    s->x_c = round_up(BT * C, 128);
    s->x_3c = round_up(BT * 3 * C, 128);
    s->x_4c = round_up(BT * 4 * C, 128);
    s->f_bt = round_up(BT, 64);
    s->f_nhbt = round_up(NH * BT, 64);
    Activations dummy;
    Activations *a = model ? &model->acts : &dummy;
    int n = 0;
#define SLOT(field, nbytes) do { slots[n].ptr = (void **)&a->field; slots[n].bytes = (nbytes); n++; } while (0)
    SLOT(encoded, BT * C * X);
    SLOT(ln1, (r >= 2 ? 1 : L) * s->x_c * X);
    SLOT(ln1_mean, L * s->f_bt * F);
    SLOT(ln1_rstd, L * s->f_bt * F);
    SLOT(qkv, L * s->x_3c * X);
    SLOT(atty, L * s->x_c * X);
    SLOT(att_lse, L * s->f_nhbt * F);
    SLOT(residual2, L * s->x_c * X);
    SLOT(ln2, (r >= 2 ? 1 : L) * s->x_c * X);
    SLOT(ln2_mean, L * s->f_bt * F);
    SLOT(ln2_rstd, L * s->f_bt * F);
    SLOT(fch, L * s->x_4c * X);
    SLOT(fch_gelu, (r >= 1 ? 1 : L) * s->x_4c * X);
    SLOT(residual3, L * s->x_c * X);
    SLOT(lnf, BT * C * X);
    SLOT(lnf_mean, BT * F);
    SLOT(lnf_rstd, BT * F);
    SLOT(proj_out, BT * C * X);
    SLOT(logits, BT * Vp * X);
    SLOT(losses, BT * F);
    SLOT(dresidual, BT * C * X);
    SLOT(dbuf_c, BT * C * X);
    SLOT(dbuf_4c, BT * 4 * C * X);
    SLOT(scratch, gpt2_scratch_bytes(c, B, T));
    SLOT(inputs, BT * sizeof(int));
    SLOT(targets, BT * sizeof(int));
    SLOT(weights, BT * F);
#undef SLOT
    return n;
}

// Device bytes of the activations for B x T (each buffer 256-byte aligned).
static size_t activation_bytes(const GPT2Config *c, int B, int T, int r) {
    ActSlot slots[MAX_ACT_SLOTS];
    memset(slots, 0, sizeof(slots));
    LayerStrides s;
    int n = activation_slots(NULL, c, B, T, r, slots, &s);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += round_up(slots[i].bytes, 256);
    return total;
}

// Largest micro-batch B (at this T and recompute level) whose activations fit in `avail` bytes
// and whose tensors stay within the kernels' int indexing; 0 if none.
static int largest_batch_that_fits(const GPT2Config *c, int T, int r, size_t avail) {
    size_t max_b = (size_t)INT_MAX / ((size_t)T * 4 * c->channels);
    if (max_b > (1 << 20)) max_b = 1 << 20;
    if (max_b < 1 || activation_bytes(c, 1, T, r) > avail) return 0;
    size_t lo = 1, hi = 2; // lo fits; find an hi that does not
    while (hi <= max_b && activation_bytes(c, (int)hi, T, r) <= avail) { lo = hi; hi *= 2; }
    if (hi > max_b + 1) hi = max_b + 1;
    while (hi - lo > 1) { // activation_bytes grows with B
        size_t mid = lo + (hi - lo) / 2;
        if (activation_bytes(c, (int)mid, T, r) <= avail) lo = mid; else hi = mid;
    }
    return (int)lo;
}

// Allocates activations for batches up to B x T once (the training loop never allocates).
static void gpt2_alloc_activations(GPT2 *model, int B, int T, int recompute) {
    const GPT2Config *c = &model->config;
    if (T > c->max_seq_len) die("sequence length %d exceeds the model's max_seq_len %d", T, c->max_seq_len);
    if ((size_t)B * T * 4 * c->channels > (size_t)INT_MAX) {
        die("B*T*4C = %zu exceeds the kernels' int indexing (2^31-1); lower -b or -t", (size_t)B * T * 4 * c->channels);
    }
    model->max_B = B;
    model->max_T = T;
    model->recompute = recompute;
    ActSlot slots[MAX_ACT_SLOTS];
    memset(slots, 0, sizeof(slots));
    int n = activation_slots(model, c, B, T, recompute, slots, &model->strides);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += round_up(slots[i].bytes, 256);
    size_t free_bytes = 0, total_bytes = 0;
    cudaCheck(cudaMemGetInfo(&free_bytes, &total_bytes));
    if (total > free_bytes) {
        int fit = largest_batch_that_fits(c, T, recompute, free_bytes);
        die("activations for B=%d T=%d (-r %d) need %.0f MiB, only %.0f MiB of GPU memory is free; "
            "the largest B that fits is %d (or raise -r)", B, T, recompute, mib(total), mib(free_bytes), fit);
    }
    cudaCheck(cudaMalloc(&model->acts_memory, total));
    char *p = (char *)model->acts_memory;
    for (int i = 0; i < n; i++) {
        *slots[i].ptr = p;
        p += round_up(slots[i].bytes, 256);
    }
    model->acts_bytes = total;
    size_t BT = (size_t)B * T;
    cudaCheck(cudaMallocHost((void **)&model->staging, 2 * BT * sizeof(int)));
    cudaCheck(cudaMallocHost((void **)&model->losses_host, BT * sizeof(float)));
    cudaCheck(cudaEventCreateWithFlags(&model->staging_free, cudaEventDisableTiming));
}

static void gpt2_free(GPT2 *model) {
    cudaCheck(cudaStreamSynchronize(model->ctx->stream));
    if (model->graph.valid) cudaCheck(cudaGraphExecDestroy(model->graph.exec));
    cudnn_attention_free();
    cudaCheck(cudaFree(model->params));
    cudaCheck(cudaFree(model->grads));
    cudaCheck(cudaFree(model->m));
    cudaCheck(cudaFree(model->v));
    cudaCheck(cudaFree(model->norm_sq));
    if (model->master) cudaCheck(cudaFree(model->master));
    if (model->acts_memory) {
        cudaCheck(cudaFree(model->acts_memory));
        cudaCheck(cudaFreeHost(model->staging));
        cudaCheck(cudaFreeHost(model->losses_host));
        cudaCheck(cudaEventDestroy(model->staging_free));
    }
    memset(model, 0, sizeof(*model));
}

// Copies a batch (B,T) of inputs and (optionally) targets to the device, after checking every
// token id (an id outside the vocabulary would read outside wte on the GPU). Asynchronous: the
// copy goes through a pinned staging buffer that is reused once the previous copy has left it.
static void gpt2_set_batch(GPT2 *model, const int *inputs, const int *targets, int B, int T) {
    if ((size_t)B * T > (size_t)model->max_B * model->max_T || T > model->max_T) {
        die("batch B=%d T=%d exceeds the allocated B=%d T=%d", B, T, model->max_B, model->max_T);
    }
    int V = model->config.vocab_size;
    size_t BT = (size_t)B * T;
    for (size_t i = 0; i < BT; i++) {
        if (inputs[i] < 0 || inputs[i] >= V) die("input token %d at position %zu is outside the vocabulary [0, %d)", inputs[i], i, V);
        if (targets && (targets[i] < -1 || targets[i] >= V)) die("target token %d at position %zu is outside the vocabulary [0, %d) (or -1: ignored)", targets[i], i, V);
    }
    if (targets) {  // targets of -1 are ignored (loss masks): the mean runs over the others
        int counted = 0;
        for (size_t i = 0; i < BT; i++) counted += targets[i] >= 0;
        model->num_counted = counted;
    }
    cudaStream_t stream = model->ctx->stream;
    cudaCheck(cudaEventSynchronize(model->staging_free));
    size_t cap = (size_t)model->max_B * model->max_T;
    memcpy(model->staging, inputs, BT * sizeof(int));
    cudaCheck(cudaMemcpyAsync(model->acts.inputs, model->staging, BT * sizeof(int), cudaMemcpyHostToDevice, stream));
    if (targets) {
        memcpy(model->staging + cap, targets, BT * sizeof(int));
        cudaCheck(cudaMemcpyAsync(model->acts.targets, model->staging + cap, BT * sizeof(int), cudaMemcpyHostToDevice, stream));
    }
    cudaCheck(cudaEventRecord(model->staging_free, stream));
}

typedef enum {
    FORWARD_LOGITS, // logits only (sampling)
    FORWARD_LOSSES, // logits and per-token losses (evaluation)
    FORWARD_TRAIN,  // losses, and logits replaced by dlogits for gpt2_backward
} ForwardMode;

// --profile: PROF(class, flops, bytes) marks the start of a kernel class's work in the step's
// timeline (llmc/profile.cuh); flops / bytes are the useful work up to the next mark.
#define PROF(cls, flops, bytes) prof_mark(prof, (cls), (flops), (bytes), stream)

// Forward pass on the batch of the last gpt2_set_batch. dloss (FORWARD_TRAIN only) is the
// gradient of the step's loss with respect to each token's loss: 1 / (B*T*grad_accum_steps);
// with ignored targets (-1) it is rescaled by B*T / counted, so each micro-batch contributes the
// mean over its counted targets (as train_gpt2.c and train_gpt2.py).
static void gpt2_forward(GPT2 *model, int B, int T, ForwardMode mode, float dloss) {
    const GPT2Config *c = &model->config;
    const CudaContext *ctx = model->ctx;
    cudaStream_t stream = ctx->stream;
    int L = c->num_layers, C = c->channels, NH = c->num_heads, V = c->vocab_size, Vp = c->padded_vocab_size;
    int N = B * T;
    Activations *a = &model->acts;
    floatX *P = model->params;
    Profiler *prof = mode == FORWARD_TRAIN ? model->prof : NULL; // evaluation is not profiled
    const double X = sizeof(floatX), NC = (double)N * C, att_flops = 2.0 * B * (double)T * (T + 1) * C;

    PROF(PROF_ENCODER, 0, 3 * NC * X);
    encoder_forward(a->encoded, a->inputs, P + model->param_offsets[PARAM_WTE], P + model->param_offsets[PARAM_WPE], B, T, C, stream);
    LayerActs first = layer_acts(model, 0);
    PROF(PROF_LAYERNORM, 0, 2 * NC * X);
    layernorm_forward(first.ln1, first.ln1_mean, first.ln1_rstd, a->encoded, param_slice(model, P, PARAM_LN1W, 0),
                      param_slice(model, P, PARAM_LN1B, 0), N, C, stream);
    for (int l = 0; l < L; l++) {
        LayerActs la = layer_acts(model, l);
        // attention branch: residual2 = residual + attproj(attention(qkv(ln1)))
        PROF(PROF_MATMUL, 2 * NC * 3 * C, 0);
        matmul_forward(ctx, la.qkv, la.ln1, param_slice(model, P, PARAM_QKVW, l), param_slice(model, P, PARAM_QKVB, l), N, C, 3 * C, NULL);
        PROF(PROF_ATTENTION, att_flops, 0);
        // USE_CUDNN builds: cuDNN, except for sampling, whose one-row passes of every length would
        // each build a graph
        if (mode == FORWARD_LOGITS || !cudnn_attention_forward(la.atty, la.att_lse, la.qkv, B, T, C, NH, stream))
            attention_forward(la.atty, la.att_lse, la.qkv, B, T, C, NH, stream);
        PROF(PROF_MATMUL, 2 * NC * C, 0);
        matmul_forward(ctx, a->proj_out, la.atty, param_slice(model, P, PARAM_ATTPROJW, l), param_slice(model, P, PARAM_ATTPROJB, l), N, C, C, NULL);
        PROF(PROF_LAYERNORM, 0, 4 * NC * X);
        fused_residual_layernorm_forward(la.residual2, la.ln2, la.ln2_mean, la.ln2_rstd, la.residual, a->proj_out,
                                         param_slice(model, P, PARAM_LN2W, l), param_slice(model, P, PARAM_LN2B, l), N, C, stream);
        // MLP branch: residual3 = residual2 + fcproj(gelu(fc(ln2))); fc's epilogue applies GELU
        PROF(PROF_MATMUL, 2 * NC * 8 * C, 0); // fc and fcproj
        matmul_forward(ctx, la.fch_gelu, la.ln2, param_slice(model, P, PARAM_FCW, l), param_slice(model, P, PARAM_FCB, l), N, C, 4 * C, la.fch);
        matmul_forward(ctx, a->proj_out, la.fch_gelu, param_slice(model, P, PARAM_FCPROJW, l), param_slice(model, P, PARAM_FCPROJB, l), N, 4 * C, C, NULL);
        // the residual add fused with the next LayerNorm: ln1 of layer l+1, or lnf after the last
        PROF(PROF_LAYERNORM, 0, 4 * NC * X);
        if (l + 1 < L) {
            LayerActs next = layer_acts(model, l + 1);
            fused_residual_layernorm_forward(la.residual3, next.ln1, next.ln1_mean, next.ln1_rstd, la.residual2, a->proj_out,
                                             param_slice(model, P, PARAM_LN1W, l + 1), param_slice(model, P, PARAM_LN1B, l + 1), N, C, stream);
        } else {
            fused_residual_layernorm_forward(la.residual3, a->lnf, a->lnf_mean, a->lnf_rstd, la.residual2, a->proj_out,
                                             P + model->param_offsets[PARAM_LNFW], P + model->param_offsets[PARAM_LNFB], N, C, stream);
        }
    }
    PROF(PROF_CLASSIFIER, 2 * NC * Vp, 0);
    matmul_forward(ctx, a->logits, a->lnf, P + model->param_offsets[PARAM_WTE], NULL, N, C, Vp, NULL); // tied head
    if (mode != FORWARD_LOGITS) {
        if (model->num_counted < N) dloss = model->num_counted > 0 ? (float)((double)dloss * N / model->num_counted) : 0.0f;
        fused_classifier(a->logits, a->losses, a->targets, NULL, dloss, N, V, Vp, mode == FORWARD_TRAIN, stream);
    }
}

// Backward pass of the last FORWARD_TRAIN forward, accumulating (+=) into model->grads: the
// classifier and the layers here, the embeddings in gpt2_backward_encoder (gpt2_backward: both).
static void gpt2_backward_layers(GPT2 *model, int B, int T) {
    const GPT2Config *c = &model->config;
    const CudaContext *ctx = model->ctx;
    cudaStream_t stream = ctx->stream;
    int L = c->num_layers, C = c->channels, NH = c->num_heads, Vp = c->padded_vocab_size;
    int N = B * T;
    size_t NC = (size_t)N * C;
    Activations *a = &model->acts;
    floatX *P = model->params, *G = model->grads;
    float *scratch = (float *)a->scratch;
    floatX *dln = a->dbuf_c, *datty = a->dbuf_c;       // one (B,T,C) buffer, used in turn
    floatX *dfch = a->dbuf_4c, *dqkv = a->dbuf_4c;     // one (B,T,4C) buffer, used in turn
    Profiler *prof = model->prof;
    const double X = sizeof(floatX), nc = (double)NC, att_flops = 2.5 * 2.0 * B * (double)T * (T + 1) * C;

    // classifier: logits hold dlogits (B,T,Vp) since the forward pass
    PROF(PROF_MEMSET, 0, nc * X);
    cudaCheck(cudaMemsetAsync(dln, 0, NC * sizeof(floatX), stream));
    PROF(PROF_CLASSIFIER, 4 * nc * Vp, 0);
    matmul_backward(ctx, dln, G + model->param_offsets[PARAM_WTE], NULL, a->logits, a->lnf, P + model->param_offsets[PARAM_WTE],
                    scratch, N, C, Vp, NULL);
    PROF(PROF_MEMSET, 0, nc * X);
    cudaCheck(cudaMemsetAsync(a->dresidual, 0, NC * sizeof(floatX), stream));
    LayerActs last = layer_acts(model, L - 1);
    PROF(PROF_LAYERNORM, 0, 4 * nc * X);
    layernorm_backward(a->dresidual, G + model->param_offsets[PARAM_LNFW], G + model->param_offsets[PARAM_LNFB], scratch, dln,
                       last.residual3, P + model->param_offsets[PARAM_LNFW], a->lnf_mean, a->lnf_rstd, N, C, stream);

    // dresidual holds the gradient of layer l's output; each branch adds into it in place,
    // leaving the gradient of the layer's input (out = in + branches).
    for (int l = L - 1; l >= 0; l--) {
        LayerActs la = layer_acts(model, l);
        // MLP branch
        if (model->recompute >= 1) {
            PROF(PROF_GELU, 0, 8 * nc * X);
            gelu_forward(la.fch_gelu, la.fch, NC * 4, stream);
        }
        if (model->fuse_bwd) {
            // --fuse_bwd: fcproj's dinp GEMM applies gelu'(fch) and reduces fc's dbias in its
            // epilogue (else the reference's dbias pass does both); every dinp is overwritten, so
            // nothing is zeroed first
            PROF(PROF_MATMUL, 4 * nc * 4 * C + 4 * nc * 4 * C, 0); // fcproj and fc
            int dgelu_done = matmul_dinp_dgelu(ctx, dfch, param_slice(model, G, PARAM_FCB, l), a->dresidual,
                                               param_slice(model, P, PARAM_FCPROJW, l), la.fch, scratch, N, 4 * C, C);
            matmul_backward_fused(ctx, dgelu_done ? NULL : dfch, param_slice(model, G, PARAM_FCPROJW, l),
                                  param_slice(model, G, PARAM_FCPROJB, l), a->dresidual, la.fch_gelu,
                                  param_slice(model, P, PARAM_FCPROJW, l), scratch, N, 4 * C, C, MATMUL_DINP_OVERWRITE);
            if (!dgelu_done) { // no DGELU epilogue here: the reference's pass
                PROF(PROF_BIAS_GRAD, 0, 3 * 4 * nc * X);
                matmul_dbias(param_slice(model, G, PARAM_FCB, l), scratch, dfch, la.fch, N, 4 * C, stream);
            }
            if (model->recompute >= 2) {
                PROF(PROF_LAYERNORM, 0, 2 * nc * X);
                layernorm_forward(la.ln2, la.ln2_mean, la.ln2_rstd, la.residual2, param_slice(model, P, PARAM_LN2W, l),
                                  param_slice(model, P, PARAM_LN2B, l), N, C, stream);
            }
            PROF(PROF_MATMUL, 0, 0); // fc (its FLOPs were counted with fcproj's)
            matmul_backward_fused(ctx, dln, param_slice(model, G, PARAM_FCW, l), NULL, dfch, la.ln2,
                                  param_slice(model, P, PARAM_FCW, l), scratch, N, C, 4 * C, MATMUL_DINP_OVERWRITE);
        } else {
        // the dbias (and GELU backward) passes are matmul_backward's first step, done here ahead of
        // it so that --profile times them apart from the GEMMs (the same kernels, the same order)
        PROF(PROF_MEMSET, 0, 4 * nc * X);
        cudaCheck(cudaMemsetAsync(dfch, 0, NC * 4 * sizeof(floatX), stream));
        PROF(PROF_BIAS_GRAD, 0, nc * X);
        matmul_dbias(param_slice(model, G, PARAM_FCPROJB, l), scratch, a->dresidual, NULL, N, C, stream);
        PROF(PROF_MATMUL, 4 * nc * 4 * C, 0);
        matmul_backward(ctx, dfch, param_slice(model, G, PARAM_FCPROJW, l), NULL, a->dresidual,
                        la.fch_gelu, param_slice(model, P, PARAM_FCPROJW, l), scratch, N, 4 * C, C, NULL);
        if (model->recompute >= 2) {
            PROF(PROF_LAYERNORM, 0, 2 * nc * X);
            layernorm_forward(la.ln2, la.ln2_mean, la.ln2_rstd, la.residual2, param_slice(model, P, PARAM_LN2W, l),
                              param_slice(model, P, PARAM_LN2B, l), N, C, stream);
        }
        PROF(PROF_MEMSET, 0, nc * X);
        cudaCheck(cudaMemsetAsync(dln, 0, NC * sizeof(floatX), stream));
        // pre_gelu = fch: dfch is first multiplied by gelu'(fch) in place, in fc's dbias pass
        PROF(PROF_BIAS_GRAD, 0, 3 * 4 * nc * X);
        matmul_dbias(param_slice(model, G, PARAM_FCB, l), scratch, dfch, la.fch, N, 4 * C, stream);
        PROF(PROF_MATMUL, 4 * nc * 4 * C, 0);
        matmul_backward(ctx, dln, param_slice(model, G, PARAM_FCW, l), NULL, dfch, la.ln2,
                        param_slice(model, P, PARAM_FCW, l), scratch, N, C, 4 * C, NULL);
        }
        PROF(PROF_LAYERNORM, 0, 4 * nc * X);
        layernorm_backward(a->dresidual, param_slice(model, G, PARAM_LN2W, l), param_slice(model, G, PARAM_LN2B, l), scratch, dln,
                           la.residual2, param_slice(model, P, PARAM_LN2W, l), la.ln2_mean, la.ln2_rstd, N, C, stream);
        // attention branch
        if (model->fuse_bwd) {
            PROF(PROF_MATMUL, 4 * nc * C, 0);
            matmul_backward_fused(ctx, datty, param_slice(model, G, PARAM_ATTPROJW, l), param_slice(model, G, PARAM_ATTPROJB, l),
                                  a->dresidual, la.atty, param_slice(model, P, PARAM_ATTPROJW, l), scratch, N, C, C,
                                  MATMUL_DINP_OVERWRITE);
        } else {
        PROF(PROF_MEMSET, 0, nc * X);
        cudaCheck(cudaMemsetAsync(datty, 0, NC * sizeof(floatX), stream));
        PROF(PROF_BIAS_GRAD, 0, nc * X);
        matmul_dbias(param_slice(model, G, PARAM_ATTPROJB, l), scratch, a->dresidual, NULL, N, C, stream);
        PROF(PROF_MATMUL, 4 * nc * C, 0);
        matmul_backward(ctx, datty, param_slice(model, G, PARAM_ATTPROJW, l), NULL, a->dresidual,
                        la.atty, param_slice(model, P, PARAM_ATTPROJW, l), scratch, N, C, C, NULL);
        }
        PROF(PROF_ATTENTION, att_flops, 0);
        if (!cudnn_attention_backward(dqkv, datty, la.qkv, la.atty, la.att_lse, B, T, C, NH, stream)) // USE_CUDNN builds
            attention_backward(dqkv, datty, la.qkv, la.atty, la.att_lse, scratch, B, T, C, NH, stream); // dqkv overwritten
        if (model->recompute >= 2) {
            PROF(PROF_LAYERNORM, 0, 2 * nc * X);
            layernorm_forward(la.ln1, la.ln1_mean, la.ln1_rstd, la.residual, param_slice(model, P, PARAM_LN1W, l),
                              param_slice(model, P, PARAM_LN1B, l), N, C, stream);
        }
        if (model->fuse_bwd) {
            PROF(PROF_MATMUL, 4 * nc * 3 * C, 0);
            matmul_backward_fused(ctx, dln, param_slice(model, G, PARAM_QKVW, l), param_slice(model, G, PARAM_QKVB, l), dqkv,
                                  la.ln1, param_slice(model, P, PARAM_QKVW, l), scratch, N, C, 3 * C, MATMUL_DINP_OVERWRITE);
        } else {
        PROF(PROF_MEMSET, 0, nc * X);
        cudaCheck(cudaMemsetAsync(dln, 0, NC * sizeof(floatX), stream));
        PROF(PROF_BIAS_GRAD, 0, 3 * nc * X);
        matmul_dbias(param_slice(model, G, PARAM_QKVB, l), scratch, dqkv, NULL, N, 3 * C, stream);
        PROF(PROF_MATMUL, 4 * nc * 3 * C, 0);
        matmul_backward(ctx, dln, param_slice(model, G, PARAM_QKVW, l), NULL, dqkv, la.ln1,
                        param_slice(model, P, PARAM_QKVW, l), scratch, N, C, 3 * C, NULL);
        }
        PROF(PROF_LAYERNORM, 0, 4 * nc * X);
        layernorm_backward(a->dresidual, param_slice(model, G, PARAM_LN1W, l), param_slice(model, G, PARAM_LN1B, l), scratch, dln,
                           la.residual, param_slice(model, P, PARAM_LN1W, l), la.ln1_mean, la.ln1_rstd, N, C, stream);
        if (model->layer_done) model->layer_done(model->layer_done_arg, l);
    }
}

// The embeddings' backward, from dresidual (the gradient of the layers' input). Not in the CUDA
// graph: it sorts the batch's tokens on the host (llmc/encoder.cuh).
static void gpt2_backward_encoder(GPT2 *model, int B, int T) {
    cudaStream_t stream = model->ctx->stream;
    int C = model->config.channels;
    Activations *a = &model->acts;
    floatX *G = model->grads;
    Profiler *prof = model->prof;
    // the staging buffer still holds this batch's inputs (the next gpt2_set_batch comes later)
    PROF(PROF_ENCODER, 0, 3.0 * B * T * C * sizeof(floatX));
    encoder_backward(G + model->param_offsets[PARAM_WTE], G + model->param_offsets[PARAM_WPE], a->dresidual, a->inputs,
                     model->staging, B, T, C, a->scratch, stream);
    PROF(PROF_GAPS, 0, 0); // until the next kernel: the all-reduce of several GPUs, host work
}

static void gpt2_backward(GPT2 *model, int B, int T) {
    gpt2_backward_layers(model, B, T);
    gpt2_backward_encoder(model, B, T);
}

// One training micro-step on the batch of the last gpt2_set_batch: forward (FORWARD_TRAIN) and
// backward, eagerly or (use_graph) through the captured graph, re-captured when B, T, dloss or
// the counted targets change (see StepGraph). Capture refuses (an error naming the call) any
// host synchronisation or allocation inside, so the eager path must have run once before
// (cuBLASLt, cuDNN and kernel attributes warmed up).
static void gpt2_micro_step(GPT2 *model, int B, int T, float dloss, int use_graph) {
    if (!use_graph) {
        gpt2_forward(model, B, T, FORWARD_TRAIN, dloss);
        gpt2_backward(model, B, T);
        return;
    }
    StepGraph *g = &model->graph;
    cudaStream_t stream = model->ctx->stream;
    if (!g->valid || g->B != B || g->T != T || g->counted != model->num_counted || g->dloss != dloss) {
        cudaGraph_t graph;
        cudaCheck(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
        gpt2_forward(model, B, T, FORWARD_TRAIN, dloss);
        gpt2_backward_layers(model, B, T);
        cudaCheck(cudaStreamEndCapture(stream, &graph));
        if (g->valid) { // same kernels, other parameters: update in place, else instantiate anew
            cudaGraphExecUpdateResultInfo info;
            if (cudaGraphExecUpdate(g->exec, graph, &info) != cudaSuccess) {
                (void)cudaGetLastError(); // the failed update is not an error of ours
                cudaCheck(cudaGraphExecDestroy(g->exec));
                g->valid = 0;
            }
        }
        if (!g->valid) cudaCheck(cudaGraphInstantiate(&g->exec, graph, 0));
        cudaCheck(cudaGraphDestroy(graph));
        g->valid = 1;
        g->B = B;
        g->T = T;
        g->counted = model->num_counted;
        g->dloss = dloss;
        g->captures++;
    }
    cudaCheck(cudaGraphLaunch(g->exec, stream));
    g->replays++;
    gpt2_backward_encoder(model, B, T);
}

// RL's loss, sum_i weights[i] * loss_i * dloss (train_gpt2.c gpt2_backward_weighted, the same
// rule): after a FORWARD_LOSSES forward (the logits are intact, and the caller has the per-token
// losses it builds the weights from), the classifier runs again on the logits to write the
// weighted dlogits, then the usual backward accumulates into the grads. weights (B,T) on the
// host, any sign; rows with target -1 get a zero gradient whatever their weight; no rescaling by
// the counted targets (the weights and dloss carry the normalization).
// (Used by rl.cu and test_gpt2.cu, which include this file; the trainer itself has no weights.)
__attribute__((unused)) static void gpt2_backward_weighted(GPT2 *model, const float *weights, int B, int T, float dloss) {
    const GPT2Config *c = &model->config;
    size_t BT = (size_t)B * T;
    for (size_t i = 0; i < BT; i++) {
        if (!isfinite(weights[i])) die("loss weight %zu is not finite (%g)", i, (double)weights[i]);
    }
    copy_to_device(model->acts.weights, weights, BT * sizeof(float), model->ctx->stream);
    fused_classifier(model->acts.logits, NULL, model->acts.targets, model->acts.weights, dloss, (int)BT, c->vocab_size,
                     c->padded_vocab_size, 1, model->ctx->stream);
    gpt2_backward(model, B, T);
}

static void gpt2_zero_grad(GPT2 *model) {
    prof_mark(model->prof, PROF_MEMSET, 0, (double)model->num_parameters * sizeof(floatX), model->ctx->stream);
    cudaCheck(cudaMemsetAsync(model->grads, 0, model->num_parameters * sizeof(floatX), model->ctx->stream));
}

// Seed of the stochastic rounding of tensor i at step t: a splitmix64 mix of (seed, t, i), so a
// resumed run rounds exactly like an uninterrupted one.
static unsigned int rounding_seed(uint64_t seed, int t, int i) {
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + (uint64_t)t * 0xBF58476D1CE4E5B9ull + (uint64_t)i * 0x94D049BB133111EBull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (unsigned int)(z & 0xffffffffu);
}

// The global gradient norm (synchronises). Computed on the device into model->norm_sq, where
// gpt2_update reads it for clipping: the driver looks at the norm first (llmc/step_guard.h).
static float gpt2_grad_norm(GPT2 *model) {
    cudaStream_t stream = model->ctx->stream;
    Profiler *prof = model->prof;
    const double nparams = (double)model->num_parameters;
    PROF(PROF_GRAD_NORM, 0, nparams * sizeof(floatX));
    global_norm_squared(model->norm_sq, model->grads, model->num_parameters, (float *)model->acts.scratch, 0, stream);
    float norm_sq = 0.0f;
    cudaCheck(cudaMemcpyAsync(&norm_sq, model->norm_sq, sizeof(float), cudaMemcpyDeviceToHost, stream));
    cudaCheck(cudaStreamSynchronize(stream));
    return sqrtf(norm_sq);
}

// The same without waiting: the squared norm goes to model->norm_sq and, once the stream gets
// there, to *norm_sq_host (pinned). For the update queued behind it without a host round trip.
static void gpt2_grad_norm_async(GPT2 *model, float *norm_sq_host) {
    cudaStream_t stream = model->ctx->stream;
    Profiler *prof = model->prof;
    PROF(PROF_GRAD_NORM, 0, (double)model->num_parameters * sizeof(floatX));
    global_norm_squared(model->norm_sq, model->grads, model->num_parameters, (float *)model->acts.scratch, 0, stream);
    cudaCheck(cudaMemcpyAsync(norm_sq_host, model->norm_sq, sizeof(float), cudaMemcpyDeviceToHost, stream));
}

// Global-norm clipping (torch.nn.utils.clip_grad_norm_, with the norm of the last
// gpt2_grad_norm) and AdamW at learning rate lr, on the device. Walks the parameter table;
// weight decay where the table says so. t is the 1-based step.
static void gpt2_update(GPT2 *model, const AdamWSettings *s, float lr, int t, uint64_t seed) {
    cudaStream_t stream = model->ctx->stream;
    Profiler *prof = model->prof;
    // AdamW reads the gradient and m, v, and the master weights (or params), and writes them and params
    PROF(PROF_ADAMW, 0, (double)model->opt_count * (2 * sizeof(floatX) + 4 * sizeof(float) + (model->master ? 2 * sizeof(float) : sizeof(floatX))));
    // this rank's range (all, or its ZeRO-1 shard, which may start and end inside tensors), as the CPU
    size_t lo = model->opt_offset, hi = lo + model->opt_count;
    AdamWTable table; // --fuse_adamw: the same pieces, one launch (bitwise the same update)
    table.count = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        size_t start = model->param_offsets[i], end = start + model->param_sizes[i];
        size_t a = start > lo ? start : lo, b = end < hi ? end : hi;
        if (a >= b) continue;
        float wd = GPT2_PARAMS[i].weight_decay ? s->weight_decay : 0.0f;
        if (model->fuse_adamw) {
            AdamWPiece pc = {a - lo, b - lo, wd, rounding_seed(seed, t, i)};
            table.piece[table.count++] = pc;
            continue;
        }
        // a tensor cut by a shard boundary rounds its piece with indices from the piece's start:
        // other bf16 roundings than -z 0 (within bf16 noise; the fp32 master weights are the same)
        adamw_update(model->params + a, model->master ? model->master + (a - lo) : NULL, model->grads + a,
                     model->m + (a - lo), model->v + (a - lo), b - a, lr, s->beta1, s->beta2, t, s->eps, wd,
                     model->norm_sq, s->grad_clip, 1.0f, rounding_seed(seed, t, i), model->ctx->stream);
    }
    if (model->fuse_adamw) {
        adamw_update_multi(model->params + lo, model->master, model->grads + lo, model->m, model->v, &table, lr, s->beta1,
                           s->beta2, t, s->eps, model->norm_sq, s->grad_clip, 1.0f, model->update_skip, stream);
    }
    PROF(PROF_GAPS, 0, 0);
}
#undef PROF

// Mean of the per-token losses of the last forward with targets (synchronises). Summed on the
// host in a fixed order, in double.
static float gpt2_mean_loss(GPT2 *model, int B, int T) {
    size_t BT = (size_t)B * T;
    cudaCheck(cudaMemcpyAsync(model->losses_host, model->acts.losses, BT * sizeof(float), cudaMemcpyDeviceToHost, model->ctx->stream));
    cudaCheck(cudaStreamSynchronize(model->ctx->stream));
    double sum = 0.0;
    for (size_t i = 0; i < BT; i++) sum += model->losses_host[i];
    return model->num_counted > 0 ? (float)(sum / (double)model->num_counted) : 0.0f;
}

// Copies n device floatX values to host fp32, after the work queued on `stream`.
static void download_floatX(float *dst, const floatX *src, size_t n, cudaStream_t stream) {
    floatX *tmp = (floatX *)malloc_check(n * sizeof(floatX));
    copy_to_host(tmp, src, n * sizeof(floatX), stream);
    floatX_to_floats(dst, tmp, n);
    free(tmp);
}

// Parameters as fp32 on the host: the master weights when kept (and asked for), else the
// floatX params converted exactly.
static void gpt2_download_params(GPT2 *model, float *dst, int from_master) {
    if (from_master && model->master && model->opt_count == model->num_parameters) { // not a ZeRO shard
        copy_to_host(dst, model->master, model->num_parameters * sizeof(float), model->ctx->stream);
    } else {
        download_floatX(dst, model->params, model->num_parameters, model->ctx->stream);
    }
}

// Refuses a run whose parameters, gradients, optimizer state and activations would not fit in the
// GPU's free memory, before allocating, naming the largest B that would fit.
static void check_device_memory(const GPT2Config *c, int B, int T, int recompute, int use_master_weights) {
    size_t sizes[NUM_PARAMETER_TENSORS];
    size_t n = gpt2_param_sizes(c, sizes);
    size_t state = n * (2 * sizeof(floatX) + 2 * sizeof(float)) + (use_master_weights && !FLOATX_IS_FP32 ? n * sizeof(float) : 0);
    size_t need = state + activation_bytes(c, B, T, recompute), free_bytes = 0, total_bytes = 0;
    cudaCheck(cudaMemGetInfo(&free_bytes, &total_bytes));
    if (need <= free_bytes) return;
    int fit = state < free_bytes ? largest_batch_that_fits(c, T, recompute, free_bytes - state) : 0;
    die("flag -b: training needs %.0f MiB of GPU memory at B=%d T=%d (-r %d) but %.0f MiB are free; the largest B that "
        "fits is %d%s", mib(need), B, T, recompute, mib(free_bytes), fit, fit == 0 ? " (none: try a smaller -t or model)" : "");
}

// Prints the device memory used by the model state and activations, and the largest B that
// would fit in the GPU's memory at this T (with the state already allocated).
static void gpt2_print_memory(GPT2 *model, int T) {
    size_t n = model->num_alloc, k = model->opt_count; // k < n: a ZeRO-1 shard of the optimizer state
    size_t state = n * 2 * sizeof(floatX) + k * 2 * sizeof(float) + (model->master ? k * sizeof(float) : 0);
    size_t free_bytes = 0, total_bytes = 0;
    cudaCheck(cudaMemGetInfo(&free_bytes, &total_bytes));
    // the activations' memory would be free again without them
    int fit = largest_batch_that_fits(&model->config, T, model->recompute, free_bytes + model->acts_bytes);
    printf("| memory                | params %.0f MiB, grads %.0f MiB, AdamW m+v %.0f MiB, master %.0f MiB\n", mib(n * sizeof(floatX)),
           mib(n * sizeof(floatX)), mib(2 * k * sizeof(float)), model->master ? mib(k * sizeof(float)) : 0.0);
    printf("| activations           | %.0f MiB for B=%d T=%d (-r %d); model total %.0f MiB\n", mib(model->acts_bytes), model->max_B,
           model->max_T, model->recompute, mib(state + model->acts_bytes));
    printf("| GPU memory            | %.0f MiB free of %.0f MiB; largest B that fits at T=%d: %d\n", mib(free_bytes),
           mib(total_bytes), T, fit);
}

// --memory_table: for each GPT-2 size at sequence length T, the device memory of the model state
// (parameters, gradients, AdamW m and v, fp32 master weights in bf16 builds with -w 1) and of the
// activations per sequence, and the largest micro-batch -b whose state and activations fit in the
// memory free on this GPU now, at -r 0, 1 and 2. Not counted: cuDNN's attention workspace
// (USE_CUDNN builds; about B*NH*T^2*2 bytes for its deterministic backward) and the CUDA context.
static void print_memory_table(const cudaDeviceProp *props, int T, int use_master_weights) {
    static const char *SIZES[] = {"d12", "d24", "d36", "d48"};
    size_t free_bytes = 0, total_bytes = 0;
    cudaCheck(cudaMemGetInfo(&free_bytes, &total_bytes));
    int master = use_master_weights && !FLOATX_IS_FP32;
    printf("memory on %s: %.0f MiB free of %.0f MiB; %s%s, T=%d\n", props->name, mib(free_bytes), mib(total_bytes),
           FLOATX_NAME, master ? " with fp32 master weights" : "", T);
    printf("| model | parameters | state MiB | activations MiB per sequence (-r 0 / 1 / 2) | largest -b (-r 0 / 1 / 2) |\n");
    printf("|-------|------------|-----------|----------------------------------------------|---------------------------|\n");
    for (size_t i = 0; i < sizeof(SIZES) / sizeof(SIZES[0]); i++) {
        GPT2Config c;
        memset(&c, 0, sizeof(c)); // (GCC cannot see that every descriptor here is valid)
        gpt2_config_from_descriptor(&c, SIZES[i]);
        if (T > c.max_seq_len) {
            printf("| %s | T=%d exceeds its max_seq_len %d |\n", SIZES[i], T, c.max_seq_len);
            continue;
        }
        size_t sizes[NUM_PARAMETER_TENSORS];
        size_t n = gpt2_param_sizes(&c, sizes);
        size_t state = n * (2 * sizeof(floatX) + 2 * sizeof(float) + (master ? sizeof(float) : 0));
        size_t avail = free_bytes > state ? free_bytes - state : 0;
        double per_seq[3];
        int fit[3];
        for (int r = 0; r < 3; r++) {
            // per sequence: the growth from B=1 to B=2 (B=1 also holds the fixed scratch)
            per_seq[r] = mib(activation_bytes(&c, 2, T, r) - activation_bytes(&c, 1, T, r));
            fit[r] = largest_batch_that_fits(&c, T, r, avail);
        }
        printf("| %s | %.0fM | %.0f | %.1f / %.1f / %.1f | %d / %d / %d |\n", SIZES[i], (double)n / 1e6, mib(state),
               per_seq[0], per_seq[1], per_seq[2], fit[0], fit[1], fit[2]);
    }
    fflush(stdout);
}

// ----------------------------------------------------------------------------
// Data parallel. llmc/dist.h says who this process is (mpirun/srun, or RANK/WORLD_SIZE); each
// rank takes every P-th batch (llmc/dataloader.h), and llmc/dist_gpu.cuh moves the gradients and
// parameters between the ranks' GPUs (NCCL, or MPI through host memory when ranks share a GPU).
//   -z 0  gradients all-reduced; every rank runs the whole AdamW update. With NCCL, each layer's
//         gradients are all-reduced as soon as the last micro-step's backward pass has finished
//         that layer, on the collectives' stream, while the layers below are still computed.
//   -z 1  (ZeRO-1) gradients reduce-scattered after the backward pass; each rank keeps the fp32
//         master weights and AdamW m, v of its shard only and updates its shard of the bf16
//         parameters, which are then all-gathered. The gradient norm is global: the shards' sums
//         of squares are summed over the ranks.

// ZeRO-1: this rank's optimizer keeps [offset, offset + count) of the flat parameters. params and
// grads grow to `padded` elements (zeros past num_parameters, never written: the collectives move
// equal shards); m, v and the master weights shrink to the shard. Called right after gpt2_build.
static void gpt2_shard_optimizer(GPT2 *model, size_t padded, size_t offset, size_t count) {
    size_t n = model->num_parameters;
    cudaStream_t stream = model->ctx->stream;
    floatX *params, *grads;
    float *m, *v, *master = NULL;
    cudaCheck(cudaMalloc((void **)&params, padded * sizeof(floatX)));
    cudaCheck(cudaMalloc((void **)&grads, padded * sizeof(floatX)));
    cudaCheck(cudaMalloc((void **)&m, (count ? count : 1) * sizeof(float)));
    cudaCheck(cudaMalloc((void **)&v, (count ? count : 1) * sizeof(float)));
    cudaCheck(cudaMemsetAsync(params, 0, padded * sizeof(floatX), stream));
    cudaCheck(cudaMemsetAsync(grads, 0, padded * sizeof(floatX), stream));
    cudaCheck(cudaMemsetAsync(m, 0, (count ? count : 1) * sizeof(float), stream));
    cudaCheck(cudaMemsetAsync(v, 0, (count ? count : 1) * sizeof(float), stream));
    cudaCheck(cudaMemcpyAsync(params, model->params, n * sizeof(floatX), cudaMemcpyDeviceToDevice, stream));
    if (model->master) {
        cudaCheck(cudaMalloc((void **)&master, (count ? count : 1) * sizeof(float)));
        if (count) cudaCheck(cudaMemcpyAsync(master, model->master + offset, count * sizeof(float), cudaMemcpyDeviceToDevice, stream));
    }
    cudaCheck(cudaStreamSynchronize(stream));
    cudaCheck(cudaFree(model->params));
    cudaCheck(cudaFree(model->grads));
    cudaCheck(cudaFree(model->m));
    cudaCheck(cudaFree(model->v));
    if (model->master) cudaCheck(cudaFree(model->master));
    model->params = params;
    model->grads = grads;
    model->m = m;
    model->v = v;
    model->master = master;
    model->opt_offset = offset;
    model->opt_count = count;
    model->num_alloc = padded;
    model->zero_stage = 1;
}

typedef struct {
    GPT2 *model;
    DistGPU *comm;
    size_t shard; // ZeRO-1: elements per rank of the padded flat buffers
} DataParallel;

// The tensors that hold one slice per layer (all but wte, wpe, lnf): what layer_done reduces.
static int per_layer_tensor(int i) { return GPT2_PARAMS[i].per_layer; }

// gpt2_backward's hook (-z 0, NCCL): layer l's gradients, one grouped all-reduce of its slices,
// on the collectives' stream after the backward work queued so far.
static void all_reduce_layer(void *arg, int l) {
    DataParallel *dp = (DataParallel *)arg;
    GPT2 *model = dp->model;
    dist_gpu_start(dp->comm, model->ctx->stream);
    dist_gpu_group_begin(dp->comm);
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        if (!per_layer_tensor(i)) continue;
        size_t per_layer = gpt2_param_rows(&model->config, i) * gpt2_param_cols(&model->config, i);
        dist_gpu_allreduce(dp->comm, param_slice(model, model->grads, i, l), per_layer, "gradient all-reduce");
    }
    dist_gpu_group_end(dp->comm);
}

// Whether gradients are reduced layer by layer inside the backward pass (see all_reduce_layer):
// -z 0 over NCCL with several ranks. The MPI backend blocks the host, which would stall the
// backward pass's launches, so it reduces everything at once afterwards.
static int overlaps_backward(const DataParallel *dp) {
    return dp->model->zero_stage == 0 && dp->comm->backend == DIST_BACKEND_NCCL && dp->comm->d->world > 1;
}

// After the last micro-step's backward pass: the gradients summed over the ranks (all of them, or
// this rank's shard under ZeRO-1), and the global gradient norm, which is returned (synchronises)
// and left in model->norm_sq for gpt2_update's clipping.
static float reduce_gradients(DataParallel *dp) {
    GPT2 *model = dp->model;
    DistGPU *g = dp->comm;
    cudaStream_t stream = model->ctx->stream;
    Profiler *prof = model->prof;
    if (g->backend == DIST_BACKEND_LOCAL) return gpt2_grad_norm(model);
    dist_gpu_start(g, stream);
    if (model->zero_stage == 1) {
        dist_gpu_reduce_scatter(g, model->grads, dp->shard, "gradient reduce-scatter");
        dist_gpu_finish(g, stream, "gradient reduce-scatter");
        // this shard's sum of squares, then its sum over the ranks, on the device
        prof_mark(prof, PROF_GRAD_NORM, 0, (double)model->opt_count * sizeof(floatX), stream);
        global_norm_squared(model->norm_sq, model->grads + model->opt_offset, model->opt_count,
                            (float *)model->acts.scratch, 0, stream);
        prof_mark(prof, PROF_GAPS, 0, 0, stream);
        dist_gpu_start(g, stream);
        dist_gpu_sum_device_float(g, model->norm_sq, "gradient norm");
        dist_gpu_finish(g, stream, "gradient norm");
        float norm_sq = 0.0f;
        cudaCheck(cudaMemcpyAsync(&norm_sq, model->norm_sq, sizeof(float), cudaMemcpyDeviceToHost, stream));
        cudaCheck(cudaStreamSynchronize(stream));
        return sqrtf(norm_sq);
    }
    if (overlaps_backward(dp)) { // the layers went during the backward pass: wte, wpe, lnf remain
        dist_gpu_group_begin(g);
        for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
            if (per_layer_tensor(i)) continue;
            dist_gpu_allreduce(g, model->grads + model->param_offsets[i], model->param_sizes[i], "gradient all-reduce");
        }
        dist_gpu_group_end(g);
    } else {
        dist_gpu_allreduce(g, model->grads, model->num_parameters, "gradient all-reduce");
    }
    dist_gpu_finish(g, stream, "gradient all-reduce");
    return gpt2_grad_norm(model);
}

// ZeRO-1, after gpt2_update: every rank's updated shard of the parameters to every rank.
static void gather_parameters(DataParallel *dp) {
    GPT2 *model = dp->model;
    if (model->zero_stage != 1 || dp->comm->backend == DIST_BACKEND_LOCAL) return;
    dist_gpu_start(dp->comm, model->ctx->stream);
    dist_gpu_allgather(dp->comm, model->params, dp->shard, "parameter all-gather");
    dist_gpu_finish(dp->comm, model->ctx->stream, "parameter all-gather");
}

// ----------------------------------------------------------------------------
// Checkpoints (llmc/train_state.h, shared with the CPU trainer)

// Writes this process's part of the checkpoint at `step` (llmc/train_state.h): the model in this
// build's precision (the device's floatX values, converted to fp32 exactly on the way), m, v and
// the master weights.
static void gpt2_save_checkpoint(GPT2 *model, const char *dir, int step, const DataLoader *train, uint64_t sample_rng,
                                 int keep, int rank, int num_processes) {
    // The model file holds the bf16 parameters (the same on every rank after the all-gather), as a
    // single-GPU run writes them; the fp32 master weights go to the state files, each rank its
    // shard under ZeRO-1, so resume restores them exactly without gathering 4 bytes per parameter.
    size_t n = model->num_parameters, k = model->opt_count;
    float *params = rank == 0 ? (float *)malloc_check(n * sizeof(float)) : NULL;
    float *m = (float *)malloc_check(k * sizeof(float));
    float *v = (float *)malloc_check(k * sizeof(float));
    float *master = model->master ? (float *)malloc_check(k * sizeof(float)) : NULL;
    cudaStream_t stream = model->ctx->stream;
    if (params) gpt2_download_params(model, params, 0);
    copy_to_host(m, model->m, k * sizeof(float), stream);
    copy_to_host(v, model->v, k * sizeof(float), stream);
    if (master) copy_to_host(master, model->master, k * sizeof(float), stream);
    train_state_save(dir, step, &model->config, params, CHECKPOINT_VERSION, m, v, master, n, model->opt_offset, k,
                     model->zero_stage, train, sample_rng, rank, num_processes, keep);
    free(params);
    free(m);
    free(v);
    free(master);
}

// Loads this process's state of the checkpoint at `step` onto a model built from that
// checkpoint's model file (gpt2_build): m, v and the master weights (kept from the model file when
// the state has none, e.g. a checkpoint of an fp32 run), the loader position and the sampler RNG.
// A build without master weights takes a state's master weights as its parameters, as the CPU does.
static void gpt2_load_state(GPT2 *model, const char *dir, int step, DataLoader *train, uint64_t *sample_rng, int rank,
                            int num_processes) {
    // this rank's range: all, or its ZeRO-1 shard (the caller all-gathers params after a load that
    // replaced the shard's params from master weights)
    size_t n = model->num_parameters, k = model->opt_count, off = model->opt_offset;
    float *m = (float *)malloc_check(k * sizeof(float));
    float *v = (float *)malloc_check(k * sizeof(float));
    float *master = (float *)malloc_check(k * sizeof(float));
    int has_master = train_state_load(dir, step, &model->config, m, v, master, n, off, k, model->zero_stage, train,
                                      sample_rng, rank, num_processes);
    cudaStream_t stream = model->ctx->stream;
    copy_to_device(model->m, m, k * sizeof(float), stream);
    copy_to_device(model->v, v, k * sizeof(float), stream);
    if (has_master && model->master) {
        copy_to_device(model->master, master, k * sizeof(float), stream);
    } else if (has_master) {
        floatX *tmp = (floatX *)malloc_check(k * sizeof(floatX));
        floats_to_floatX(tmp, master, k);
        copy_to_device(model->params + off, tmp, k * sizeof(floatX), stream);
        free(tmp);
    }
    free(m);
    free(v);
    free(master);
}

// ----------------------------------------------------------------------------
// The model as llmc/evaluate.h sees it: per-token losses and the last logits row come back to
// the host, where evaluation and sampling (llmc/sampler.h) run as in the CPU trainer. Samples
// decode through the GPU KV cache (llmc/generate_gpu.cuh, what rl.cu generates with), as the CPU
// trainer's do through llmc/generate.h: a call whose tokens extend what the cache holds by one
// feeds only that token; any other call (a new sample; the window sliding past the context)
// starts the cache over, so keys computed with older weights are never reused.
#include "llmc/generate_gpu.cuh"

typedef struct {
    GPT2 *model;
    KVCacheGPU kv; // one slot: allocated before the activations when the run samples
    int *held;     // (max_seq_len) the tokens the cache holds
} EvalBuffers;

static float forward_loss(void *ctx, const int *inputs, const int *targets, int B, int T, const float **losses) {
    GPT2 *model = ((EvalBuffers *)ctx)->model;
    gpt2_set_batch(model, inputs, targets, B, T);
    gpt2_forward(model, B, T, FORWARD_LOSSES, 0.0f);
    float loss = gpt2_mean_loss(model, B, T); // copies the per-token losses to losses_host
    *losses = model->losses_host;
    return loss;
}

// The samples' KV cache: one sequence of the model's whole context.
static void eval_buffers_init(EvalBuffers *e) {
    int maxT = e->model->config.max_seq_len;
    kvg_init(&e->kv, e->model, 1, maxT);
    e->held = (int *)malloc_check((size_t)maxT * sizeof(int));
}

static const float *last_logits(void *ctx, const int *tokens, int n) {
    EvalBuffers *e = (EvalBuffers *)ctx;
    GPT2 *model = e->model;
    int slot = 0, m;
    if (e->kv.memory == NULL) eval_buffers_init(e);
    int have = e->kv.len[0];
    const float *logits;
    if (n == have + 1 && memcmp(tokens, e->held, (size_t)have * sizeof(int)) == 0) {
        logits = kvg_forward(model, &e->kv, tokens + have, &slot, 1, 0, &m);
    } else {
        kvg_reset(&e->kv, 0);
        int *slots = (int *)calloc_check((size_t)n, sizeof(int));
        logits = kvg_forward(model, &e->kv, tokens, slots, n, 0, &m); // one row: the last
        free(slots);
    }
    memcpy(e->held, tokens, (size_t)n * sizeof(int));
    return logits;
}

static void eval_buffers_free(EvalBuffers *e) {
    kvg_free(&e->kv);
    free(e->held);
    e->held = NULL;
}

static double sum_over_processes(const void *comm, double v) {
    dist_gpu_sum_doubles((DistGPU *)comm, &v, 1, "evaluation");
    return v;
}

// The step's loss with a loss mask: each micro-batch's mean over its counted targets, averaged
// over micro-steps and processes (what the gradients are of; train_gpt2.c prints the same).
static float masked_step_loss(DistGPU *comm, const float *step_losses, const int *counted, int grad_accum, size_t BT,
                              int world) {
    double sum = 0.0;
    for (int m = 0; m < grad_accum; m++) {
        double s = 0.0;
        for (size_t i = 0; i < BT; i++) s += step_losses[(size_t)m * BT + i];
        if (counted[m] > 0) sum += s / counted[m];
    }
    dist_gpu_sum_doubles(comm, &sum, 1, "loss");
    return (float)(sum / ((double)grad_accum * world));
}

// ----------------------------------------------------------------------------
// Training loop
#ifndef TESTING

// Writes a checkpoint from every process: the others' states first, then (after a barrier)
// process 0's model, state and DONE marker, so DONE never exists before all the states.
static void save_checkpoint(GPT2 *model, const char *dir, int step, const DataLoader *train, uint64_t sample_rng, int keep,
                            DistGPU *comm) {
    const Dist *d = comm->d;
    if (d->rank != 0) gpt2_save_checkpoint(model, dir, step, train, sample_rng, keep, d->rank, d->world);
    dist_gpu_barrier(comm, "writing the checkpoint");
    if (d->rank == 0) gpt2_save_checkpoint(model, dir, step, train, sample_rng, keep, 0, d->world);
    dist_gpu_barrier(comm, "writing the checkpoint");
}

int main(int argc, char **argv) {
    // Processes (llmc/dist.h): one unless started by mpirun/srun or with RANK/WORLD_SIZE (built
    // with USE_MPI=1). Every rank runs this program on its part of each batch; rank 0 alone prints,
    // logs and writes the model. Errors every rank meets alike (flags, shared files) are reported by
    // rank 0 alone, as in the CPU trainer.
    Dist dist;
    dist_init(&dist, &argc, &argv, 600.0);
    llmc_die_rank = dist.rank;
    llmc_die_quiet = dist.rank > 0;
    int is_rank0 = dist.rank == 0; // the process that prints, logs and samples
    uint64_t args_hash = DIST_HASH_INIT;
    for (int i = 1; i < argc; i++) args_hash = dist_hash(args_hash, argv[i], strlen(argv[i]) + 1);
    if (dist.use_mpi) dist_check_same(&dist, args_hash, "flags"); // else once NCCL has joined, below
    if (dist.rank > 0 && freopen("/dev/null", "w", stdout) == NULL) die("cannot silence stdout of rank %d", dist.rank);
    TrainOptions o;
    train_options_parse(&o, argc, argv, 1);
    dist.timeout_s = o.dist_timeout;
    int B = o.B, T = o.T, P = dist.world;
    TrainPlan plan;
    train_plan_init(&plan, &o, P);
    AdamWSettings adamw = adamw_settings_from_options(&o);
    const char *dir = o.output_log_dir;

    // one GPU per rank on its node; more ranks than GPUs share them (the MPI backend)
    int device_count = 0;
    cudaCheck(cudaGetDeviceCount(&device_count));
    if (device_count < 1) die("no CUDA device found");
    double shared = dist.local_rank >= device_count ? 1.0 : 0.0;
    if (dist.use_mpi) dist_allreduce_sum_double(&dist, &shared, 1, "counting the GPUs");
    char why[512];
    int backend = dist_gpu_pick_backend(o.dist_backend, P, dist.use_mpi, DIST_HAVE_NCCL, shared > 0.0, why, sizeof(why));
    if (backend < 0) die("%s", why);
    CudaContext ctx;
    cuda_context_init(&ctx, dist.local_rank % device_count);
    static DistGPU comm; // large (event arrays): not on the stack
    dist_gpu_init(&comm, &dist, (DistBackend)backend, o.dist_rendezvous);
    if (!dist.use_mpi) dist_gpu_check_same(&comm, args_hash, "flags");
    cudaStream_t stream = ctx.stream;

    // a resumed run takes the model (shape included) from its newest checkpoint
    int resumed_at = -1;
    char resume_path[4200];
    const char *load = o.load_filename;
    if (dir[0] != '\0') {
        if (is_rank0) train_state_prepare_dir(dir, o.resume);
        dist_gpu_barrier(&comm, "preparing the output directory");
        if (o.resume) resumed_at = train_state_latest(dir);
        if (resumed_at >= 0 && is_rank0) train_state_check_layout(dir, resumed_at, P, o.zero_stage);
        dist_gpu_barrier(&comm, "checking the checkpoint");
        if (resumed_at >= 0) {
            train_state_path(resume_path, sizeof(resume_path), dir, CKPT_MODEL, resumed_at, 0);
            load = resume_path;
        } else if (o.resume && is_rank0) {
            printf("-y 1: %s holds no checkpoint, starting fresh\n", dir);
        }
    }
    GPT2Config config;
    gpt2_config_of(load, &config);
    train_plan_check_model(&plan, &config);
    if (o.memory_table) { // a report, no training
        if (is_rank0) print_memory_table(&ctx.props, o.T, o.use_master_weights);
        dist_gpu_free(&comm);
        cuda_context_free(&ctx);
        dist_finalize(&dist);
        return 0;
    }

    check_device_memory(&config, B, T, o.recompute, o.use_master_weights);
    GPT2 model;
    gpt2_build(&model, &ctx, load, (uint64_t)o.seed, o.use_master_weights, o.chat_vocab);
    const GPT2Config *c = &model.config;
    size_t n_params = model.num_parameters;
    DataParallel dp = {&model, &comm, 0};
    if (o.zero_stage == 1) { // ZeRO-1 (llmc/dist_gpu.cuh's layout): this rank's optimizer keeps one shard
        size_t padded, offset, count;
        dist_gpu_layout(n_params, P, &dp.shard, &padded);
        dist_gpu_shard(n_params, P, dist.rank, &offset, &count);
        gpt2_shard_optimizer(&model, padded, offset, count);
    }
    dist_gpu_reserve(&comm, model.num_alloc); // MPI backend: host staging of the flat buffers

    DataLoader train, val;
    if (!plan.eval_only) {
        dataloader_init(&train, o.train_data_pattern, (size_t)B, (size_t)T, dist.rank, P, o.shuffle, (uint64_t)o.seed);
        train_plan_set_steps(&plan, &o, dataloader_num_batches(&train));
        train_plan_check_resume(&plan, resumed_at);
    }
    if (plan.have_val) dataloader_init(&val, o.val_data_pattern, (size_t)B, (size_t)T, dist.rank, P, 0, (uint64_t)o.seed);
    EvalLoader hellaswag;
    if (o.hellaswag_eval) evalloader_init(&hellaswag, o.hellaswag_path, (size_t)B, (size_t)T, dist.rank, P);
    if (P > 1) { // the same model and data on every rank (files on a shared file system can differ per node)
        floatX *host = (floatX *)malloc_check(n_params * sizeof(floatX));
        copy_to_host(host, model.params, n_params * sizeof(floatX), stream);
        uint64_t same = train_plan_fingerprint(host, n_params * sizeof(floatX), plan.eval_only ? NULL : &train);
        free(host);
        dist_gpu_check_same(&comm, same, "model or data");
    }
    llmc_die_quiet = 0; // from here on each rank reads its own files: every rank speaks for itself
    uint64_t sample_rng = train_plan_sample_seed(&o);
    if (resumed_at >= 0) {
        gpt2_load_state(&model, dir, resumed_at, &train, &sample_rng, dist.rank, P);
        gather_parameters(&dp); // ZeRO-1 without master weights: the shards' params came from the states
        if (is_rank0) printf("resumed from step %d in %s (model and shape from %s)\n", resumed_at, dir, load);
    }
    Tokenizer tokenizer;
    int have_tok = tokenizer_try_init(&tokenizer, o.tokenizer_path);

    // --profile: kernel-class times (llmc/profile.cuh), hooks in forward/backward/update; its
    // ceiling measurements borrow ~1.4 GB, returned before the activations are sized
    static Profiler profiler;
    profiler_init(&profiler, &ctx, o.profile);
    model.prof = o.profile ? &profiler : NULL;
    // step fusions (doc/gpu_perf_notes.md): off by default until a GPU run shows each pays
    if (o.cuda_graph && o.profile) die("flag --cuda_graph: cannot be combined with --profile 1 (its events time kernels one by one)");
    if (o.cuda_graph && P > 1) die("flag --cuda_graph: one process only (the all-reduce hooks of %d processes run on the host)", P);
    model.fuse_bwd = o.fuse_bwd;
    model.fuse_adamw = o.fuse_adamw;
    // the samples' KV cache before the activations: what it takes shows in their memory check
    // instead of failing at the first sample
    EvalBuffers eb;
    memset(&eb, 0, sizeof(eb));
    eb.model = &model;
    if (is_rank0 && o.sample_every > 0 && !plan.eval_only) eval_buffers_init(&eb);
    gpt2_alloc_activations(&model, B, T, o.recompute);
    double peak_tflops = device_peak_tflops(&ctx.props);
    if (is_rank0) {
        train_plan_print_head(&o, 1, c, model.num_parameters);
        printf("| %-21s | %s (compute %d.%d), peak %s %.1f TFLOP/s%s\n", "device", ctx.props.name, ctx.props.major,
               ctx.props.minor, FLOATX_NAME, peak_tflops, peak_tflops > 0 ? "" : " (unknown: no MFU)");
        printf("| %-21s | %d, collectives: %s\n", "processes", P, DIST_BACKEND_NAMES[comm.backend]);
        printf("| %-21s | %s%s\n", "precision", FLOATX_NAME, model.master ? " with fp32 master weights" : "");
        printf("| %-21s | backward epilogues %s, AdamW %s, CUDA graph %s\n", "fusions", o.fuse_bwd ? "on" : "off",
               o.fuse_adamw ? "one launch" : "per tensor", o.cuda_graph ? "on" : "off");
        printf("| %-21s | %s\n", "attention", CUDNN_ATT_ENABLED ? "cuDNN flash attention (USE_CUDNN; own kernels where it does not apply)"
                                                                : "own kernels (llmc/attention.cuh)");
        train_plan_print(&plan, plan.eval_only ? 0 : dataloader_num_batches(&train));
        gpt2_print_memory(&model, T);
        dist_print_plan(&dist, n_params, o.zero_stage, (int)sizeof(floatX), (int)sizeof(floatX), model.master ? 4 : 0);
        printf(TABLE_RULE);
        fflush(stdout);
    }

    EvalModel em = {&eb, forward_loss, last_logits, P > 1 ? sum_over_processes : NULL, &comm, P};
    Logger logger;
    if (plan.eval_only) {
        logger_init(&logger, "", -1);
        evaluate_and_log(&em, plan.have_val ? &val : NULL, o.val_max_steps, o.hellaswag_eval ? &hellaswag : NULL,
                         o.hellaswag_limit, B, T, 0, is_rank0, 1, &logger);
    } else {
        LRSchedule schedule;
        lr_schedule_init(&schedule, o.lr_schedule, o.learning_rate, o.warmup_iterations, plan.max_steps,
                         o.final_learning_rate_frac);
        logger_init(&logger, is_rank0 ? dir : "", resumed_at);
        StepGuard guard;
        step_guard_init(&guard, o.skip_loss_z, o.skip_norm_z, o.max_skips);
        StepTimer timer;
        step_timer_init(&timer);
        size_t BT = (size_t)B * T;
        int *gen = (int *)malloc_check(((size_t)o.gen_T + 1) * sizeof(int));
        float *sample_scratch = (float *)malloc_check((size_t)c->vocab_size * sizeof(float));
        float *step_losses; // (grad_accum, B, T) pinned: this process's per-token losses of a step
        cudaCheck(cudaMallocHost((void **)&step_losses, (size_t)plan.grad_accum * BT * sizeof(float)));
        int *step_counted = (int *)malloc_check((size_t)plan.grad_accum * sizeof(int)); // counted targets per micro-step
        double flops_per_token = gpt2_flops_per_token(c, T);
        // --fuse_adamw on one GPU without the outlier tests: the update is queued right behind the
        // norm and skips itself on the device when a loss or the norm is not finite (the step guard's
        // only test then), so the step has no host round trip in the middle
        int deferred = model.fuse_adamw && P == 1 && o.skip_loss_z == 0 && o.skip_norm_z == 0;
        int *update_skip = NULL;  // device: set when a loss of this step is not finite
        float *norm_sq_host;      // pinned: the squared norm, read after the step's one wait
        cudaCheck(cudaMalloc((void **)&update_skip, sizeof(int)));
        cudaCheck(cudaMallocHost((void **)&norm_sq_host, sizeof(float)));
        model.update_skip = deferred ? update_skip : NULL;
        int first_step = resumed_at < 0 ? 0 : resumed_at; // eager: warms up what the graph capture needs

        for (int step = resumed_at < 0 ? 0 : resumed_at; step <= plan.max_steps; step++) {
            if (train_plan_evaluates(&plan, &o, step, resumed_at)) {
                evaluate_and_log(&em, plan.have_val ? &val : NULL, o.val_max_steps, o.hellaswag_eval ? &hellaswag : NULL,
                                 o.hellaswag_limit, B, T, step, is_rank0, 0, &logger);
            }
            if (is_rank0 && train_plan_samples(&plan, &o, step, resumed_at)) {
                print_sample(&em, &tokenizer, have_tok, c->vocab_size, model.max_T, o.gen_T, o.temperature, o.top_k, o.top_p,
                             &sample_rng, gen, sample_scratch, logger_sample_file(&logger, step));
            }
            if (train_plan_checkpoints(&plan, &o, step, resumed_at) && step_guard_clean(&guard)) {
                save_checkpoint(&model, dir, step, &train, sample_rng, o.checkpoints_keep, &comm);
            }
            if (step == plan.max_steps) break;

            // Where the host waits in a step (everything else is queued asynchronously: the batch's
            // copy in, the losses' copy out to pinned memory, the encoder backward's bucket upload):
            //  1. gpt2_set_batch, for the previous micro-step's copy out of the pinned staging buffer:
            //     keeps the host at most a micro-step ahead; the GPU does not wait for it;
            //  2. reduce_gradients reads the norm (copy + synchronise): the step guard decides on the
            //     host whether to update; not so when `deferred` (above);
            //  3. the end of the step: the step time includes the update, and loss and norm are read.
            double t0 = now_seconds();
            gpt2_zero_grad(&model);
            if (deferred) cudaCheck(cudaMemsetAsync(update_skip, 0, sizeof(int), stream));
            for (int micro = 0; micro < plan.grad_accum; micro++) {
                if (!(o.overfit_single_batch && step > 0)) dataloader_next_batch(&train);
                gpt2_set_batch(&model, train.inputs, train.targets, B, T);
                step_counted[micro] = model.num_counted;
                // the last micro-step's backward pass hands each finished layer to the all-reduce
                int last = micro == plan.grad_accum - 1 && overlaps_backward(&dp);
                model.layer_done = last ? all_reduce_layer : NULL;
                model.layer_done_arg = &dp;
                gpt2_micro_step(&model, B, T, 1.0f / (float)plan.total_batch, o.cuda_graph && step > first_step);
                model.layer_done = NULL;
                cudaCheck(cudaMemcpyAsync(step_losses + (size_t)micro * BT, model.acts.losses, BT * sizeof(float),
                                          cudaMemcpyDeviceToHost, stream));
                if (deferred) adamw_flag_nonfinite(update_skip, model.acts.losses, BT, stream);
            }
            // the gradients summed over the ranks (every rank's were scaled by 1 / the whole step's
            // tokens, so the sum is the gradient of the global mean loss) and the global norm
            float lr = lr_schedule_get(&schedule, step);
            float norm;
            if (deferred) { // norm, update (skipped on the device when not finite), one wait
                gpt2_grad_norm_async(&model, norm_sq_host);
                gpt2_update(&model, &adamw, lr, step + 1, (uint64_t)o.seed);
                cudaCheck(cudaStreamSynchronize(stream));
                norm = sqrtf(*norm_sq_host);
            } else {
                norm = reduce_gradients(&dp); // synchronises: the losses are on the host too
            }
            double loss_sum = 0.0;              // fixed order, so the printed loss is deterministic
            for (size_t i = 0; i < (size_t)plan.grad_accum * BT; i++) loss_sum += step_losses[i];
            dist_gpu_sum_doubles(&comm, &loss_sum, 1, "loss");
            float loss = (float)(loss_sum / (double)plan.total_batch);
            if (train.masked) loss = masked_step_loss(&comm, step_losses, step_counted, plan.grad_accum, BT, dist.world);
            char skipped[128]; // loss and norm are the same on every process, and so is this decision
            // (deferred: the device made the same decision already, from the same losses and norm)
            if (step_guard_accept(&guard, loss, norm, skipped, sizeof(skipped)) && !deferred) {
                gpt2_update(&model, &adamw, lr, step + 1, (uint64_t)o.seed);
                gather_parameters(&dp);                   // ZeRO-1: every rank's updated shard
                cudaCheck(cudaStreamSynchronize(stream)); // the step's time includes the update
            }
            profiler_step_end(model.prof, stream); // --profile: the step's work is all queued
            dist_gpu_step_end(&comm);
            double dt = now_seconds() - t0;
            step_timer_add(&timer, dt);
            double tok_s = (double)plan.total_batch / dt;
            char eta[32], mfu[32];
            step_timer_eta(&timer, plan.max_steps - step - 1, eta, sizeof(eta));
            // MFU per GPU: the step's FLOPs are spread over P of them
            if (peak_tflops > 0) snprintf(mfu, sizeof(mfu), "%.1f%%", 100.0 * tok_s * flops_per_token / (P * peak_tflops * 1e12));
            else snprintf(mfu, sizeof(mfu), "n/a");
            if (is_rank0) {
                printf("step %5d/%d | loss %.6f | norm %.4f | lr %.2e | %.1f ms | %.0f tok/s | MFU %s | ETA %s\n", step + 1,
                       plan.max_steps, loss, norm, lr, dt * 1e3, tok_s, mfu, eta);
            }
            step_guard_log(&guard, &logger, step + 1, skipped, loss, lr, norm, is_rank0);
        }
        if (timer.count > 0 && is_rank0) {
            double avg = step_timer_mean(&timer);
            printf("average step time: %.1f ms, %.0f tok/s (steps after the first)\n", avg * 1e3, (double)plan.total_batch / avg);
        }
        if (guard.total > 0 && is_rank0) printf("%ld step(s) skipped (see main.log)\n", guard.total);
        if (is_rank0) dist_gpu_print_stats(&comm);
        if (is_rank0) train_plan_print_next(&o, argv[0], plan.max_steps);
        if (o.cuda_graph && is_rank0) {
            printf("CUDA graph: %ld capture(s), %ld replay(s) of the micro-step\n", model.graph.captures, model.graph.replays);
        }
        cudaCheck(cudaFree(update_skip));
        cudaCheck(cudaFreeHost(norm_sq_host));
        cudaCheck(cudaFreeHost(step_losses));
        free(step_counted);
        free(gen);
        free(sample_scratch);
    }

    if (is_rank0) profiler_print(&profiler);
    profiler_free(&profiler);
    logger_free(&logger);
    eval_buffers_free(&eb);
    if (have_tok) tokenizer_free(&tokenizer);
    if (o.hellaswag_eval) evalloader_free(&hellaswag);
    if (plan.have_val) dataloader_free(&val);
    if (!plan.eval_only) dataloader_free(&train);
    gpt2_free(&model);
    dist_gpu_free(&comm);
    cuda_context_free(&ctx);
    dist_finalize(&dist);
    return 0;
}
#endif // TESTING
