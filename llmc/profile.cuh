/*
 * profile.cuh: where a training step's GPU time goes, per kernel class (the trainer's --profile 1).
 *
 *   profiler_init(p, ctx, enabled)      measures the two ceilings (below) when enabled
 *   prof_mark(p, class, flops, bytes, stream)
 *       records a CUDA event on the stream: the GPU time from this mark to the next one is the
 *       class's; flops / bytes are the useful work of the kernels up to the next mark (model
 *       FLOPs of matmuls and attention, bytes a memory-bound kernel must move at least).
 *       No-op when p is NULL or not enabled, so the hooks cost nothing in normal runs.
 *   profiler_step_end(p, stream)        closes the step: waits for its last event and adds the
 *       time between consecutive marks to the classes (the first step, cuBLAS and cuDNN warm-up,
 *       is not counted)
 *   profiler_print(p, steps_label)      the table: ms per step, % of the step, achieved rate and
 *       % of the class's ceiling
 *   profiler_free(p)
 *
 * Ceilings, measured on this GPU at start (not data-sheet numbers):
 *   GEMM   a 8192^3 GEMM of the build's precision through cuBLASLt (matmul_forward), TFLOP/s:
 *          for matmul, attention and classifier (whose FLOPs are matmul FLOPs)
 *   HBM    a device-to-device cudaMemcpy of 512 MiB, (read + write) GB/s: for the memory-bound
 *          classes (encoder, LayerNorm, GELU, memset, AdamW, grad norm)
 * "gaps" is GPU time between the end of the backward pass and the next kernel (the all-reduce of
 * several GPUs, host work, synchronisation): no ceiling.
 *
 * Events are recorded between kernels, so timing adds a few microseconds of host work per mark
 * (about 20 marks per layer per micro-step); the GPU time measured is the kernels' plus any idle
 * time the host causes, which the steps' wall times show too. A step with more than
 * PROF_MAX_EVENTS marks (d48 with gradient accumulation) is collected in pieces, each costing one
 * wait for the GPU.
 */
#ifndef LLMC_PROFILE_CUH
#define LLMC_PROFILE_CUH

#include <stdio.h>
#include <string.h>

#include "cuda_common.h"
#include "matmul.cuh"

typedef enum {
    PROF_ENCODER,
    PROF_LAYERNORM,  // LayerNorm forward/backward, with the residual add fused in
    PROF_MATMUL,     // the four matmuls of each layer (bias and GELU epilogues, --fuse_bwd's dbias/dgelu ones included)
    PROF_ATTENTION,
    PROF_GELU,       // GELU forward recomputed in the backward pass (-r >= 1)
    PROF_BIAS_GRAD,  // the separate dbias / GELU-backward passes over dout (none with --fuse_bwd 1: epilogues)
    PROF_CLASSIFIER, // tied LM head matmuls + fused softmax / cross-entropy
    PROF_MEMSET,     // zeroing gradient buffers
    PROF_ADAMW,
    PROF_GRAD_NORM,
    PROF_GAPS,       // after backward: communication, host, synchronisation
    PROF_NUM_CLASSES
} ProfClass;

typedef enum { CEIL_GEMM, CEIL_HBM, CEIL_NONE } ProfCeiling;

static const struct {
    const char *name;
    ProfCeiling ceiling;
} PROF_CLASSES[PROF_NUM_CLASSES] = {
    {"encoder", CEIL_HBM},     {"layernorm+residual", CEIL_HBM}, {"matmul", CEIL_GEMM}, {"attention", CEIL_GEMM},
    {"gelu", CEIL_HBM},        {"dbias+dgelu pass", CEIL_HBM}, {"classifier", CEIL_GEMM},        {"memset", CEIL_HBM},  {"adamw", CEIL_HBM},
    {"grad norm", CEIL_HBM},   {"gaps (comm/host)", CEIL_NONE},
};

#define PROF_MAX_EVENTS 8192

typedef struct {
    int enabled;
    cudaEvent_t events[PROF_MAX_EVENTS];
    unsigned char classes[PROF_MAX_EVENTS];
    int num_events, flushes;
    // the step being recorded
    double step_flops[PROF_NUM_CLASSES], step_bytes[PROF_NUM_CLASSES], step_ms[PROF_NUM_CLASSES], step_span_ms;
    double ms[PROF_NUM_CLASSES], flops[PROF_NUM_CLASSES], bytes[PROF_NUM_CLASSES];
    double span_ms; // first mark to step end, summed over the counted steps
    int steps_seen, steps_counted;
    double gemm_tflops, hbm_gbs;
} Profiler;

static float prof_time_ms(cudaStream_t s, int reps, void (*fn)(void *), void *arg) {
    cudaEvent_t e0, e1;
    cudaCheck(cudaEventCreate(&e0));
    cudaCheck(cudaEventCreate(&e1));
    fn(arg); // warm-up (cuBLASLt picks its algorithm)
    cudaCheck(cudaEventRecord(e0, s));
    for (int i = 0; i < reps; i++) fn(arg);
    cudaCheck(cudaEventRecord(e1, s));
    cudaCheck(cudaEventSynchronize(e1));
    float ms = 0.0f;
    cudaCheck(cudaEventElapsedTime(&ms, e0, e1));
    cudaCheck(cudaEventDestroy(e0));
    cudaCheck(cudaEventDestroy(e1));
    return ms / reps;
}

typedef struct { const CudaContext *ctx; floatX *a, *b, *c; int n; void *src, *dst; size_t bytes; } ProfCeilingArgs;
static void prof_gemm(void *p) {
    ProfCeilingArgs *a = (ProfCeilingArgs *)p;
    matmul_forward(a->ctx, a->c, a->a, a->b, NULL, a->n, a->n, a->n, NULL);
}
static void prof_copy(void *p) {
    ProfCeilingArgs *a = (ProfCeilingArgs *)p;
    cudaCheck(cudaMemcpyAsync(a->dst, a->src, a->bytes, cudaMemcpyDeviceToDevice, a->ctx->stream));
}

static void profiler_init(Profiler *p, const CudaContext *ctx, int enabled) {
    memset(p, 0, sizeof(*p));
    p->enabled = enabled;
    if (!enabled) return;
    for (int i = 0; i < PROF_MAX_EVENTS; i++) cudaCheck(cudaEventCreate(&p->events[i]));
    ProfCeilingArgs a;
    memset(&a, 0, sizeof(a));
    a.ctx = ctx;
    a.n = 8192;
    size_t nn = (size_t)a.n * a.n;
    cudaCheck(cudaMalloc((void **)&a.a, nn * sizeof(floatX)));
    cudaCheck(cudaMalloc((void **)&a.b, nn * sizeof(floatX)));
    cudaCheck(cudaMalloc((void **)&a.c, nn * sizeof(floatX)));
    // the values do not change the speed, but NaN-free inputs keep the check honest
    cudaCheck(cudaMemsetAsync(a.a, 0, nn * sizeof(floatX), ctx->stream));
    cudaCheck(cudaMemsetAsync(a.b, 0, nn * sizeof(floatX), ctx->stream));
    float ms = prof_time_ms(ctx->stream, 5, prof_gemm, &a);
    p->gemm_tflops = 2.0 * (double)a.n * a.n * a.n / (ms * 1e-3) / 1e12;
    cudaCheck(cudaFree(a.a));
    cudaCheck(cudaFree(a.b));
    cudaCheck(cudaFree(a.c));
    a.bytes = (size_t)512 << 20;
    cudaCheck(cudaMalloc(&a.src, a.bytes));
    cudaCheck(cudaMalloc(&a.dst, a.bytes));
    cudaCheck(cudaMemsetAsync(a.src, 0, a.bytes, ctx->stream));
    ms = prof_time_ms(ctx->stream, 10, prof_copy, &a);
    p->hbm_gbs = 2.0 * (double)a.bytes / (ms * 1e-3) / 1e9;
    cudaCheck(cudaFree(a.src));
    cudaCheck(cudaFree(a.dst));
}

static void profiler_free(Profiler *p) {
    if (!p->enabled) return;
    for (int i = 0; i < PROF_MAX_EVENTS; i++) cudaCheck(cudaEventDestroy(p->events[i]));
    p->enabled = 0;
}

// Adds the time between the recorded events (all but the last, which stays as the open mark) to
// the step's classes: waits for the GPU to reach the last one.
static void prof_flush(Profiler *p) {
    int last = p->num_events - 1;
    cudaCheck(cudaEventSynchronize(p->events[last]));
    for (int i = 0; i < last; i++) {
        float ms = 0.0f;
        cudaCheck(cudaEventElapsedTime(&ms, p->events[i], p->events[i + 1]));
        p->step_ms[p->classes[i]] += ms;
        p->step_span_ms += ms;
    }
    cudaEvent_t e = p->events[0];
    p->events[0] = p->events[last];
    p->events[last] = e;
    p->classes[0] = p->classes[last];
    p->num_events = 1;
}

static inline void prof_mark(Profiler *p, ProfClass c, double flops, double bytes, cudaStream_t stream) {
    if (p == NULL || !p->enabled) return;
    p->step_flops[c] += flops;
    p->step_bytes[c] += bytes;
    // long steps (many layers, gradient accumulation): collect what is recorded so far (one wait
    // for the GPU), keeping a slot free for profiler_step_end's closing event
    if (p->num_events == PROF_MAX_EVENTS - 1) {
        prof_flush(p);
        p->flushes++;
    }
    cudaCheck(cudaEventRecord(p->events[p->num_events], stream));
    p->classes[p->num_events++] = (unsigned char)c;
}

static void profiler_step_end(Profiler *p, cudaStream_t stream) {
    if (p == NULL || !p->enabled || p->num_events == 0) return;
    cudaCheck(cudaEventRecord(p->events[p->num_events++], stream)); // the closing mark
    prof_flush(p);
    if (p->steps_seen++ > 0) { // the first step warms up cuBLAS / cuDNN and the caches
        for (int c = 0; c < PROF_NUM_CLASSES; c++) {
            p->ms[c] += p->step_ms[c];
            p->flops[c] += p->step_flops[c];
            p->bytes[c] += p->step_bytes[c];
        }
        p->span_ms += p->step_span_ms;
        p->steps_counted++;
    }
    memset(p->step_flops, 0, sizeof(p->step_flops));
    memset(p->step_bytes, 0, sizeof(p->step_bytes));
    memset(p->step_ms, 0, sizeof(p->step_ms));
    p->step_span_ms = 0.0;
    p->num_events = 0;
}

// The table, one row per class with time, on stdout.
static void profiler_print(const Profiler *p) {
    if (!p->enabled) return;
    int k = p->steps_counted;
    printf("profile: GPU time per step by kernel class, mean of %d steps after the first (CUDA events)\n", k);
    printf("ceilings on this GPU: GEMM %.1f TFLOP/s (8192^3 %s cuBLASLt), HBM %.0f GB/s (512 MiB device copy, read+write)\n",
           p->gemm_tflops, FLOATX_NAME, p->hbm_gbs);
    if (k == 0) {
        printf("profile: no step after the first was timed (run at least 2 steps)\n");
        return;
    }
    if (p->flushes) printf("profile: %d waits for the GPU mid-step to reuse the %d events (long steps)\n", p->flushes, PROF_MAX_EVENTS);
    printf("| %-20s | %9s | %7s | %16s | %10s |\n", "class", "ms/step", "% step", "achieved", "% ceiling");
    printf("|----------------------|-----------|---------|------------------|------------|\n");
    double sum = 0.0;
    for (int c = 0; c < PROF_NUM_CLASSES; c++) {
        double ms = p->ms[c] / k;
        sum += ms;
        if (ms == 0.0 && p->flops[c] == 0.0 && p->bytes[c] == 0.0) continue;
        char achieved[32] = "-", ceil[16] = "-";
        double sec = p->ms[c] * 1e-3;
        if (PROF_CLASSES[c].ceiling == CEIL_GEMM && sec > 0 && p->flops[c] > 0) {
            double tf = p->flops[c] / sec / 1e12;
            snprintf(achieved, sizeof(achieved), "%.1f TFLOP/s", tf);
            snprintf(ceil, sizeof(ceil), "%.0f%%", 100.0 * tf / p->gemm_tflops);
        } else if (PROF_CLASSES[c].ceiling == CEIL_HBM && sec > 0 && p->bytes[c] > 0) {
            double gbs = p->bytes[c] / sec / 1e9;
            snprintf(achieved, sizeof(achieved), "%.0f GB/s", gbs);
            snprintf(ceil, sizeof(ceil), "%.0f%%", 100.0 * gbs / p->hbm_gbs);
        }
        printf("| %-20s | %9.3f | %6.1f%% | %16s | %10s |\n", PROF_CLASSES[c].name, ms, 100.0 * ms / (p->span_ms / k),
               achieved, ceil);
    }
    printf("| %-20s | %9.3f | %6.1f%% | %16s | %10s |\n", "step (GPU span)", p->span_ms / k, 100.0 * sum / (p->span_ms / k),
           "", "");
    fflush(stdout);
}

#endif // LLMC_PROFILE_CUH
