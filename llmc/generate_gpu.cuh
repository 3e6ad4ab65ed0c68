/*
 * generate_gpu.cuh: text generation with a KV cache on the GPU, the twin of llmc/generate.h, for
 * rl.cu and the GPU trainer's samples. Include it after the GPU trainer's model code
 * (train_gpt2.cu): it reuses GPT2, its parameter table and its kernels (layernorm_forward,
 * fused_residual_layernorm_forward, matmul_forward with the GELU epilogue), in the same order and
 * with the same roundings to floatX as gpt2_forward, on N = the call's rows.
 *
 *   kvg_init(&kv, model, S, maxT)     allocate the cache for S slots of up to maxT positions
 *   kvg_reset(&kv, slot)              forget a slot's tokens
 *   kvg_forward(model, &kv, tokens, slots, n, all_logits, &m)
 *       n rows: row r is token tokens[r] of slot slots[r] at that slot's next position (rows of
 *       one slot in order). Returns host fp32 logits (m, Vp): every row if all_logits, else the
 *       last row of each slot in this call, in the order those rows appear.
 *   kvg_generate(model, &kv, ...)     prompts -> sampled continuations: the shared loop of
 *                                     llmc/gen_loop.h (the CPU's generate(), same arguments)
 *
 * The cache: k, v (L, S, maxT, C) floatX, heads contiguous in C as in the qkv activation. Each
 * pass embeds its rows at their own positions, and per layer appends the rows' keys and values
 * to the cache before the attention, so a row sees its slot's earlier positions and the earlier
 * rows of its own call. The attention over the cache is llmc/kv_attention.cuh (checked against
 * the CPU's by dev/cuda/kv_attention.cu).
 *
 * The prompt ("prefill") goes through this same pass with one row per prompt token (up to
 * KVG_ROWS rows per pass, longer calls in order, several prompts together), not through the
 * training forward: one code path for prompts and decode steps, any mix of prompt lengths in one
 * call, and no (B,T)-shaped training activations or T-shaped attention kernels (a prompt's
 * attention is a few thousand positions at most; its cost is the matmuls, which run on all the
 * rows at once). Decoding feeds one row per active sequence: B sequences share each weight read.
 *
 * Sampling stays on the host (llmc/sampler.h through llmc/gen_loop.h): the rows' logits are copied
 * back (bf16 builds: bf16, widened to fp32 on the host), so a seed gives the CPU's tokens whenever
 * the two sides' logits pick the same token. Logits agree with a full gpt2_forward to bf16
 * rounding (cuBLAS picks algorithms by N, and the attention sums in another order), checked on a
 * GPU by dev/test/kv_gpu_test.cu.
 */
#ifndef LLMC_GENERATE_GPU_CUH
#define LLMC_GENERATE_GPU_CUH

#include "cuda_common.h"
#include "gen_loop.h"
#include "kv_attention.cuh"

#define KVG_ROWS 256 // rows per pass at most (scratch is sized for this many)

// x (n,C) = wte[token] + wpe[pos] per row, rounded once (encoder_forward's sum, at any position)
__global__ void kvg_embed_kernel(floatX *x, const int *tokens, const int *pos, const floatX *wte, const floatX *wpe,
                                 int n, int C) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)n * C) return;
    int r = (int)(i / C), c = (int)(i % C);
    x[i] = from_float(to_float(wte[(size_t)tokens[r] * C + c]) + to_float(wpe[(size_t)pos[r] * C + c]));
}

// this layer's cache (S, maxT, C): row r's key and value (qkv columns C..3C) at (slot, pos)
__global__ void kvg_append_kernel(floatX *kc, floatX *vc, const floatX *qkv, const int *slots, const int *pos, int n,
                                  int C, int maxT) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)n * C) return;
    int r = (int)(i / C), c = (int)(i % C);
    size_t at = ((size_t)slots[r] * maxT + pos[r]) * C + c;
    kc[at] = qkv[(size_t)r * 3 * C + C + c];
    vc[at] = qkv[(size_t)r * 3 * C + 2 * C + c];
}

// sel (m,C) = rows want[0..m) of x
__global__ void kvg_gather_rows_kernel(floatX *sel, const floatX *x, const int *want, int m, int C) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)m * C) return;
    int j = (int)(i / C), c = (int)(i % C);
    sel[i] = x[(size_t)want[j] * C + c];
}

typedef struct {
    int L, C, NH, V, Vp;
    int num_slots, max_T;
    floatX *k, *v;      // (L, num_slots, max_T, C) device
    int *len;           // (num_slots) host: positions filled
    // one pass of up to KVG_ROWS rows
    void *memory;       // one device block for everything below
    int *d_idx;         // (4, KVG_ROWS) device: token, slot, position, wanted row
    int *h_idx;         // (4, KVG_ROWS) pinned staging of d_idx
    floatX *x, *ln, *qkv, *atty, *proj, *fch, *fch_gelu, *sel, *logits; // (rows, C | 3C | 4C | Vp)
    floatX *logits_h;   // (KVG_ROWS, Vp) pinned
    float *out;         // (out_rows, Vp) host fp32: the call's logits
    size_t out_rows;
    int *want;          // (want_cap) host flags: row wanted
    size_t want_cap;
    int *last;          // (num_slots) host: a call's last row of each slot
} KVCacheGPU;

// Device bytes of the key/value cache itself.
static inline size_t kvg_cache_bytes(const KVCacheGPU *kv) {
    return 2 * (size_t)kv->L * kv->num_slots * kv->max_T * kv->C * sizeof(floatX);
}

static inline void kvg_init(KVCacheGPU *kv, const GPT2 *model, int num_slots, int max_T) {
    memset(kv, 0, sizeof(*kv));
    const GPT2Config *c = &model->config;
    if (num_slots < 1) die("generation needs at least one sequence (got %d)", num_slots);
    if (max_T < 1 || max_T > c->max_seq_len) die("generation length %d is outside the model's context [1, %d]", max_T, c->max_seq_len);
    if (max_T > KV_ATT_MAX_T) die("generation length %d: the decode attention (llmc/kv_attention.cuh) keeps at most %d scores", max_T, KV_ATT_MAX_T);
    kv->L = c->num_layers, kv->C = c->channels, kv->NH = c->num_heads, kv->V = c->vocab_size, kv->Vp = c->padded_vocab_size;
    kv->num_slots = num_slots, kv->max_T = max_T;
    size_t cache = (size_t)kv->L * num_slots * max_T * kv->C * sizeof(floatX);
    size_t R = KVG_ROWS, C = (size_t)kv->C, X = sizeof(floatX);
    size_t sizes[12] = {cache, cache, 4 * R * sizeof(int), R * C * X, R * C * X, R * 3 * C * X, R * C * X, R * C * X,
                        R * 4 * C * X, R * 4 * C * X, R * C * X, R * (size_t)kv->Vp * X};
    size_t total = 0;
    for (int i = 0; i < 12; i++) total += round_up(sizes[i], 256);
    size_t free_bytes = 0, total_bytes = 0;
    cudaCheck(cudaMemGetInfo(&free_bytes, &total_bytes));
    if (total > free_bytes) {
        die("the KV cache for %d sequences of %d positions needs %.0f MiB, only %.0f MiB of GPU memory is free", num_slots,
            max_T, mib(total), mib(free_bytes));
    }
    cudaCheck(cudaMalloc(&kv->memory, total));
    char *p = (char *)kv->memory;
    void **ptrs[12] = {(void **)&kv->k, (void **)&kv->v, (void **)&kv->d_idx, (void **)&kv->x, (void **)&kv->ln,
                       (void **)&kv->qkv, (void **)&kv->atty, (void **)&kv->proj, (void **)&kv->fch,
                       (void **)&kv->fch_gelu, (void **)&kv->sel, (void **)&kv->logits};
    for (int i = 0; i < 12; i++) {
        *ptrs[i] = p;
        p += round_up(sizes[i], 256);
    }
    cudaCheck(cudaMallocHost((void **)&kv->h_idx, 4 * R * sizeof(int)));
    cudaCheck(cudaMallocHost((void **)&kv->logits_h, R * (size_t)kv->Vp * X));
    kv->len = (int *)calloc_check((size_t)num_slots, sizeof(int));
    kv->last = (int *)malloc_check((size_t)num_slots * sizeof(int));
}

static inline void kvg_free(KVCacheGPU *kv) {
    if (kv->memory == NULL) return;
    cudaCheck(cudaFree(kv->memory));
    cudaCheck(cudaFreeHost(kv->h_idx));
    cudaCheck(cudaFreeHost(kv->logits_h));
    free(kv->len);
    free(kv->out);
    free(kv->want);
    free(kv->last);
    memset(kv, 0, sizeof(*kv));
}

static inline void kvg_reset(KVCacheGPU *kv, int slot) { kv->len[slot] = 0; }

// One pass over the n <= KVG_ROWS rows staged in d_idx; the logits of the m wanted rows land in
// logits_h (m, Vp). Mirrors gpt2_forward layer for layer.
static inline void kvg_pass(GPT2 *model, KVCacheGPU *kv, int n, int m) {
    const CudaContext *ctx = model->ctx;
    cudaStream_t stream = ctx->stream;
    int L = kv->L, C = kv->C, NH = kv->NH, Vp = kv->Vp, S = kv->num_slots, maxT = kv->max_T;
    const int *tokens = kv->d_idx, *slots = kv->d_idx + KVG_ROWS, *pos = kv->d_idx + 2 * KVG_ROWS;
    const int *want = kv->d_idx + 3 * KVG_ROWS;
    floatX *P = model->params;
    const int block = 256;
    int grid = (int)ceil_div_sz((size_t)n * C, block);
    kvg_embed_kernel<<<grid, block, 0, stream>>>(kv->x, tokens, pos, P + model->param_offsets[PARAM_WTE],
                                                 P + model->param_offsets[PARAM_WPE], n, C);
    CUDA_CHECK_LAST();
    layernorm_forward(kv->ln, NULL, NULL, kv->x, param_slice(model, P, PARAM_LN1W, 0), param_slice(model, P, PARAM_LN1B, 0), n,
                      C, stream);
    for (int l = 0; l < L; l++) {
        size_t layer = (size_t)l * S * maxT * C;
        matmul_forward(ctx, kv->qkv, kv->ln, param_slice(model, P, PARAM_QKVW, l), param_slice(model, P, PARAM_QKVB, l), n, C,
                       3 * C, NULL);
        kvg_append_kernel<<<grid, block, 0, stream>>>(kv->k + layer, kv->v + layer, kv->qkv, slots, pos, n, C, maxT);
        CUDA_CHECK_LAST();
        kv_attention_forward(kv->atty, kv->qkv, kv->k + layer, kv->v + layer, slots, pos, n, C, NH, maxT, stream);
        matmul_forward(ctx, kv->proj, kv->atty, param_slice(model, P, PARAM_ATTPROJW, l),
                       param_slice(model, P, PARAM_ATTPROJB, l), n, C, C, NULL);
        fused_residual_layernorm_forward(kv->x, kv->ln, NULL, NULL, kv->x, kv->proj, param_slice(model, P, PARAM_LN2W, l),
                                         param_slice(model, P, PARAM_LN2B, l), n, C, stream);
        matmul_forward(ctx, kv->fch_gelu, kv->ln, param_slice(model, P, PARAM_FCW, l), param_slice(model, P, PARAM_FCB, l), n, C,
                       4 * C, kv->fch);
        matmul_forward(ctx, kv->proj, kv->fch_gelu, param_slice(model, P, PARAM_FCPROJW, l),
                       param_slice(model, P, PARAM_FCPROJB, l), n, 4 * C, C, NULL);
        const floatX *w = l + 1 < L ? param_slice(model, P, PARAM_LN1W, l + 1) : P + model->param_offsets[PARAM_LNFW];
        const floatX *b = l + 1 < L ? param_slice(model, P, PARAM_LN1B, l + 1) : P + model->param_offsets[PARAM_LNFB];
        fused_residual_layernorm_forward(kv->x, kv->ln, NULL, NULL, kv->x, kv->proj, w, b, n, C, stream);
    }
    if (m == 0) return;
    kvg_gather_rows_kernel<<<(int)ceil_div_sz((size_t)m * C, block), block, 0, stream>>>(kv->sel, kv->ln, want, m, C);
    CUDA_CHECK_LAST();
    matmul_forward(ctx, kv->logits, kv->sel, P + model->param_offsets[PARAM_WTE], NULL, m, C, Vp, NULL); // tied head
    copy_to_host(kv->logits_h, kv->logits, (size_t)m * Vp * sizeof(floatX), stream);
}

static inline const float *kvg_forward(GPT2 *model, KVCacheGPU *kv, const int *tokens, const int *slots, int n, int all_logits,
                                int *num_rows) {
    int S = kv->num_slots, V = kv->V, Vp = kv->Vp;
    if ((size_t)n > kv->want_cap) {
        free(kv->want);
        kv->want_cap = (size_t)n;
        kv->want = (int *)malloc_check(kv->want_cap * sizeof(int));
    }
    int m = 0;
    for (int r = 0; r < n; r++) {
        if (slots[r] < 0 || slots[r] >= S) die("generation slot %d outside [0, %d)", slots[r], S);
        if (tokens[r] < 0 || tokens[r] >= V) die("token %d is outside the model's vocabulary [0, %d)", tokens[r], V);
        kv->last[slots[r]] = r;
    }
    for (int r = 0; r < n; r++) {
        kv->want[r] = all_logits || kv->last[slots[r]] == r;
        m += kv->want[r];
    }
    if ((size_t)m > kv->out_rows) {
        free(kv->out);
        kv->out_rows = (size_t)m;
        kv->out = (float *)malloc_check(kv->out_rows * Vp * sizeof(float));
    }
    int done = 0;
    for (int r0 = 0; r0 < n; r0 += KVG_ROWS) { // passes in order: a slot's rows stay in order
        int nr = n - r0 < KVG_ROWS ? n - r0 : KVG_ROWS, mw = 0;
        int *h = kv->h_idx;
        for (int j = 0; j < nr; j++) {
            int r = r0 + j, s = slots[r];
            if (kv->len[s] >= kv->max_T) die("context full: sequence %d already holds %d tokens (the limit)", s, kv->max_T);
            h[j] = tokens[r];
            h[KVG_ROWS + j] = s;
            h[2 * KVG_ROWS + j] = kv->len[s]++;
            if (kv->want[r]) h[3 * KVG_ROWS + mw++] = j;
        }
        // h_idx is free again: the previous pass ended with a synchronising copy
        copy_to_device(kv->d_idx, h, 4 * KVG_ROWS * sizeof(int), model->ctx->stream);
        kvg_pass(model, kv, nr, mw);
        floatX_to_floats(kv->out + (size_t)done * Vp, kv->logits_h, (size_t)mw * Vp);
        done += mw;
    }
    *num_rows = m;
    return kv->out;
}

// ----------------------------------------------------------------------------
// generation: the shared loop (llmc/gen_loop.h) over this cache

typedef struct {
    GPT2 *model;
    KVCacheGPU *kv;
    int *tokens, *slots; // (sum of the prompt lengths) the prompts as one call
} KVGenGPU_;

static inline const float *kvg_gen_prefill_(void *p, const int *const *prompts, const int *lens, int nb, size_t *stride) {
    KVGenGPU_ *g = (KVGenGPU_ *)p;
    size_t total = 0;
    for (int i = 0; i < nb; i++) total += (size_t)lens[i];
    g->tokens = (int *)malloc_check(total * sizeof(int));
    g->slots = (int *)malloc_check(total * sizeof(int));
    size_t at = 0;
    for (int i = 0; i < nb; i++) { // all prompts in one call: the last row of slot i is row i of the logits
        kvg_reset(g->kv, i);
        for (int t = 0; t < lens[i]; t++, at++) g->tokens[at] = prompts[i][t], g->slots[at] = i;
    }
    int m;
    const float *logits = kvg_forward(g->model, g->kv, g->tokens, g->slots, (int)total, 0, &m);
    *stride = (size_t)g->kv->Vp;
    return logits;
}

static inline const float *kvg_gen_decode_(void *p, const int *tokens, const int *slots, int n, size_t *stride) {
    KVGenGPU_ *g = (KVGenGPU_ *)p;
    int m;
    const float *logits = kvg_forward(g->model, g->kv, tokens, slots, n, 0, &m);
    *stride = (size_t)g->kv->Vp;
    return logits;
}

// Generates continuations of nb prompts in slots 0..nb-1 of kv (reset first): gen_run's contract
// (llmc/gen_loop.h), the arguments of the CPU's generate().
static inline long kvg_generate(GPT2 *model, KVCacheGPU *kv, const int *const *prompts, const int *lens, int nb,
                         const GenSettings *g, uint64_t *rngs, int **out, int *out_len, int *finished, GenCallback cb,
                         void *user) {
    KVGenGPU_ ctx = {model, kv, NULL, NULL};
    GenModel m = {&ctx, kv->V, kv->num_slots, kv->max_T, kvg_gen_prefill_, kvg_gen_decode_};
    long total = gen_run(&m, prompts, lens, nb, g, rngs, out, out_len, finished, cb, user);
    free(ctx.tokens);
    free(ctx.slots);
    return total;
}

#endif // LLMC_GENERATE_GPU_CUH
