/*
 * matmul.cuh: nn.Linear forward/backward on cuBLASLt (CPU matmul_forward / matmul_backward).
 *
 *   matmul_forward(ctx, out (N,OC), inp (N,C), weight (OC,C), bias (OC) or NULL, N, C, OC, pre_gelu)
 *       out = inp @ weight^T + bias. If pre_gelu != NULL (N,OC): pre_gelu = inp @ weight^T + bias and
 *       out = gelu_tanh(pre_gelu), fused in the GEMM (GELU_AUX[_BIAS] epilogue).
 *   matmul_backward(ctx, dinp (N,C), dweight (OC,C), dbias (OC) or NULL, dout (N,OC), inp, weight,
 *                   dbias_scratch, N, C, OC, pre_gelu)
 *       if pre_gelu != NULL: dout *= gelu'(pre_gelu) IN PLACE first (dout is then the gradient of the
 *       pre-activation; done in the same pass that reduces dbias, so dout is read once for both);
 *       dinp += dout @ weight (beta = 1; skipped if dinp == NULL);
 *       dweight += dout^T @ inp (beta = 1; skipped if dweight == NULL);
 *       dbias += column sums of dout, deterministic (own kernel: per-chunk fp32 partials in
 *       dbias_scratch, then a fixed-order sum). All three ACCUMULATE.
 *   matmul_backward_scratch_bytes(N, OC): bytes of fp32 dbias_scratch (only used when dbias != NULL).
 *
 * Backward epilogues (the trainer's --fuse_bwd 1; matmul_backward above is the reference path):
 *   matmul_backward_fused(ctx, dinp, dweight, dbias, dout, inp, weight, dbias_scratch, N, C, OC, flags)
 *       matmul_backward without pre_gelu, where flags & MATMUL_DINP_OVERWRITE makes dinp = dout @ W
 *       (beta 0: the caller need not zero dinp first), and dbias comes out of the dweight GEMM's
 *       BGRADB epilogue (column sums of dout, fp32 or else floatX, into dbias_scratch, then added to dbias) instead
 *       of a separate pass over dout; the separate pass runs if cuBLASLt has no such algorithm.
 *   matmul_dinp_dgelu(ctx, dinp (N,C), dbias_in (C) or NULL, dout (N,OC), weight (OC,C), pre_gelu (N,C),
 *                     dbias_scratch, N, C, OC)
 *       dinp = (dout @ W) * gelu'(pre_gelu), OVERWRITTEN, and dbias_in += column sums of that dinp:
 *       the backward of a GELU'd linear layer's output fused into the next layer's dinp GEMM
 *       (DGELU_BGRAD epilogue, DGELU without dbias_in). Returns 1 when it ran; 0, with nothing
 *       done, in fp32 builds (whose GELU stays the IEEE kernel), when the aux layout does not fit
 *       (C % 8, 16-byte alignment) or cuBLASLt has no algorithm: the caller then takes the reference
 *       path (matmul_backward with pre_gelu). Differs from it in rounding only: gelu' multiplies
 *       the fp32 GEMM result before the single rounding to floatX, and the bias gradient sums the
 *       unrounded values.
 *   Each epilogue that falls back prints one note on stderr (once per kind), so a run shows whether
 *   the fusion happened.
 *
 * GEMMs: fp32 accumulation (CUBLAS_COMPUTE_32F; no TF32 in fp32 builds, so those are exact-fp32
 * GEMMs), bf16 or fp32 data per floatX, workspace from the CudaContext, run on ctx->stream.
 * Row-major (N,C) data is column-major (C,N) to cuBLAS, so out^T (OC x N) = W (C x OC)^T @ inp^T (C x N).
 * The heuristic is told each pointer's real alignment, so any size and offset is accepted; if no
 * algorithm supports an epilogue (e.g. GELU aux needs OC % 8 == 0), the plain GEMM runs and a small
 * kernel adds the bias / applies GELU (always so for GELU in fp32 builds). cuBLAS results are bitwise reproducible run to run on one GPU
 * model (same algorithm choice for the same shapes).
 */
#ifndef LLMC_MATMUL_CUH
#define LLMC_MATMUL_CUH

#include "cuda_common.h"
#include "gelu.cuh"

#define MATMUL_DBIAS_MAX_CHUNKS 256 // row chunks of the dbias reduction (fixed: deterministic)
#define MATMUL_DBIAS_MIN_ROWS 64    // at least this many rows per chunk

#if FLOATX_IS_FP32
#define CUBLAS_FLOATX CUDA_R_32F
#else
#define CUBLAS_FLOATX CUDA_R_16BF
#endif

// Largest power of two (<= 256) dividing the address: what cuBLASLt may assume about alignment.
static inline uint32_t matmul_ptr_alignment(const void *p) {
    uintptr_t a = (uintptr_t)p;
    uint32_t al = 256;
    while (al > 1 && (a % al) != 0) al >>= 1;
    return al;
}

// D (m x n, ld m) = alpha op(A) op(B) + beta C, column-major, C == D. op(A) is m x k, op(B) is k x n;
// A is stored (transA ? k x m : m x k) with leading dimension lda, B likewise with ldb.
// epilogue may add bias (length m) and write aux (m x n, ld m). Returns 0 if cuBLASLt has no
// algorithm for this configuration (nothing was launched), 1 when launched.
// bias is of type bias_type (floatX or fp32: the bias gradient of the BGRAD epilogues); aux is
// written (GELU_AUX) or read (DGELU).
static int matmul_cublaslt_ex(const CudaContext *ctx, floatX *d, const floatX *a, const floatX *b, const void *bias,
                              cudaDataType_t bias_type, const void *aux, int m, int n, int k, int transA, int transB,
                              int lda, int ldb, float beta, cublasLtEpilogue_t epilogue) {
    cublasLtMatmulDesc_t desc;
    cublasCheck(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasCheck(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof(opA)));
    cublasCheck(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof(opB)));
    cublasCheck(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
    if (bias != NULL) {
        cublasCheck(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof(bias_type)));
        cublasCheck(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
    }
    if (aux != NULL) {
        int64_t ld_aux = m;
        cublasCheck(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof(aux)));
        cublasCheck(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld_aux, sizeof(ld_aux)));
    }
    cublasLtMatrixLayout_t la, lb, ld;
    cublasCheck(cublasLtMatrixLayoutCreate(&la, CUBLAS_FLOATX, transA ? k : m, transA ? m : k, lda));
    cublasCheck(cublasLtMatrixLayoutCreate(&lb, CUBLAS_FLOATX, transB ? n : k, transB ? k : n, ldb));
    cublasCheck(cublasLtMatrixLayoutCreate(&ld, CUBLAS_FLOATX, m, n, m));
    cublasLtMatmulPreference_t pref;
    cublasCheck(cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = ctx->workspace_size;
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    uint32_t alA = matmul_ptr_alignment(a), alB = matmul_ptr_alignment(b), alD = matmul_ptr_alignment(d);
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &alA, sizeof(alA)));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &alB, sizeof(alB)));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &alD, sizeof(alD)));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &alD, sizeof(alD)));
    cublasLtMatmulHeuristicResult_t heur;
    int found = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(ctx->lt, desc, la, lb, ld, ld, pref, 1, &heur, &found);
    int ok = st == CUBLAS_STATUS_SUCCESS && found > 0 && heur.state == CUBLAS_STATUS_SUCCESS;
    if (ok) {
        const float alpha = 1.0f;
        cublasCheck(cublasLtMatmul(ctx->lt, desc, &alpha, a, la, b, lb, &beta, d, ld, d, ld, &heur.algo, ctx->workspace,
                                   ctx->workspace_size, ctx->stream));
    }
    cublasCheck(cublasLtMatmulPreferenceDestroy(pref));
    cublasCheck(cublasLtMatrixLayoutDestroy(la));
    cublasCheck(cublasLtMatrixLayoutDestroy(lb));
    cublasCheck(cublasLtMatrixLayoutDestroy(ld));
    cublasCheck(cublasLtMatmulDescDestroy(desc));
    return ok;
}

static int matmul_cublaslt(const CudaContext *ctx, floatX *d, const floatX *a, const floatX *b, const floatX *bias,
                           floatX *aux, int m, int n, int k, int transA, int transB, int lda, int ldb, float beta,
                           cublasLtEpilogue_t epilogue) {
    return matmul_cublaslt_ex(ctx, d, a, b, bias, CUBLAS_FLOATX, aux, m, n, k, transA, transB, lda, ldb, beta, epilogue);
}

static void matmul_cublaslt_or_die(const CudaContext *ctx, floatX *d, const floatX *a, const floatX *b, int m, int n,
                                   int k, int transA, int transB, int lda, int ldb, float beta, const char *what) {
    if (!matmul_cublaslt(ctx, d, a, b, NULL, NULL, m, n, k, transA, transB, lda, ldb, beta, CUBLASLT_EPILOGUE_DEFAULT)) {
        fflush(stdout);
        fprintf(stderr, "error: CUDA cuBLASLt has no algorithm for %s (m=%d n=%d k=%d) at %s:%d\n", what, m, n, k,
                __FILE__, __LINE__);
        exit(1);
    }
}

// Fallback epilogue: pre = pre + bias[col] (bias may be NULL); if out != pre, out = gelu(pre).
// pre, out are (N, OC) row-major.
__global__ void matmul_bias_gelu_kernel(floatX *out, floatX *pre, const floatX *bias, size_t total, int OC) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    float x = to_float(pre[i]);
    if (bias != NULL) x += to_float(bias[i % OC]);
    floatX xr = from_float(x);
    pre[i] = xr;
    if (out != pre) out[i] = from_float(gelu_fwd_f(to_float(xr)));
}

static void matmul_forward(const CudaContext *ctx, floatX *out, const floatX *inp, const floatX *weight,
                           const floatX *bias, int N, int C, int OC, floatX *pre_gelu) {
    if (N <= 0 || OC <= 0) return;
    // column-major: out^T (OC x N) = op(W) (OC x C) @ inp^T (C x N); W stored C x OC (ld C) -> transA;
    // inp stored C x N (ld C) -> no trans.
    cublasLtEpilogue_t epi;
    if (pre_gelu != NULL) {
        epi = bias != NULL ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX;
    } else {
        epi = bias != NULL ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    }
    // the GELU aux matrix needs ld (= OC) % 8 == 0 and a 16-byte aligned pointer. fp32 builds (the
    // exact-testing configuration) apply GELU with our own IEEE-math kernel instead of the
    // epilogue, whose internal GELU evaluation is not specified bit for bit.
    int try_fused = epi == CUBLASLT_EPILOGUE_DEFAULT || pre_gelu == NULL ||
                    (!FLOATX_IS_FP32 && OC % 8 == 0 && is_aligned16(pre_gelu));
    if (try_fused && matmul_cublaslt(ctx, out, weight, inp, bias, pre_gelu, OC, N, C, 1, 0, C, C, 0.0f, epi)) return;
    if (epi == CUBLASLT_EPILOGUE_DEFAULT) {
        matmul_cublaslt_or_die(ctx, out, weight, inp, OC, N, C, 1, 0, C, C, 0.0f, "matmul_forward");
        return;
    }
    // unfused: plain GEMM into pre (pre_gelu, or out when there is no GELU), then bias / GELU
    floatX *pre = pre_gelu != NULL ? pre_gelu : out;
    matmul_cublaslt_or_die(ctx, pre, weight, inp, OC, N, C, 1, 0, C, C, 0.0f, "matmul_forward");
    size_t total = (size_t)N * OC;
    const int block = 256;
    matmul_bias_gelu_kernel<<<(unsigned)ceil_div_sz(total, block), block, 0, ctx->stream>>>(out, pre, bias, total, OC);
    CUDA_CHECK_LAST();
}

// ----------------------------------------------------------------------------
// dbias (and the in-place GELU backward) without atomics

static int matmul_dbias_chunks(int N) {
    int chunks = ceil_div(N, MATMUL_DBIAS_MIN_ROWS);
    return chunks < MATMUL_DBIAS_MAX_CHUNKS ? chunks : MATMUL_DBIAS_MAX_CHUNKS;
}

static size_t matmul_backward_scratch_bytes(int N, int OC) {
    return (size_t)matmul_dbias_chunks(N) * (size_t)OC * sizeof(float);
}

#define DBIAS_WARPS 8
// grid (column groups of 32*VEC columns, row chunks), block 32 x DBIAS_WARPS. Lane owns columns
// [c, c+VEC) of the group; warp w sums rows r0+w, r0+w+8, ... of the chunk; the 8 warp sums
// are added in warp order and written to partials[chunk][c]. With pre_gelu, each dout element
// is first replaced by dout * gelu'(pre_gelu) (rounded), and the rounded value is summed, so
// dbias is exactly the column sum of the dout the GEMMs then read.
template <int VEC>
__global__ void __launch_bounds__(32 * DBIAS_WARPS)
    matmul_dbias_partial_kernel(float *partials, floatX *dout, const floatX *pre_gelu, int N, int OC, int rows_per_chunk) {
    __shared__ float sh[DBIAS_WARPS][32 * VEC];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int c = (blockIdx.x * 32 + lane) * VEC;
    const int r0 = blockIdx.y * rows_per_chunk;
    const int r1 = min(N, r0 + rows_per_chunk);
    float acc[VEC];
#pragma unroll
    for (int k = 0; k < VEC; k++) acc[k] = 0.0f;
    if (c < OC) {
        for (int r = r0 + warp; r < r1; r += DBIAS_WARPS) {
            floatX *p = dout + (size_t)r * OC + c;
            if (VEC == x128::size) {
                x128 g = load128(p);
                if (pre_gelu != NULL) {
                    x128 x = load128cs(pre_gelu + (size_t)r * OC + c);
#pragma unroll
                    for (int k = 0; k < VEC; k++) g[k] = from_float(to_float(g[k]) * gelu_grad_f(to_float(x[k])));
                    store128(p, g);
                }
#pragma unroll
                for (int k = 0; k < VEC; k++) acc[k] += to_float(g[k]);
            } else {
                floatX g = *p;
                if (pre_gelu != NULL) {
                    g = from_float(to_float(g) * gelu_grad_f(to_float(pre_gelu[(size_t)r * OC + c])));
                    *p = g;
                }
                acc[0] += to_float(g);
            }
        }
    }
#pragma unroll
    for (int k = 0; k < VEC; k++) sh[warp][lane * VEC + k] = acc[k];
    __syncthreads();
    // first 32*VEC threads (or all, looping) sum the warps in order for one column each
    for (int j = threadIdx.x; j < 32 * VEC; j += blockDim.x) {
        int col = blockIdx.x * 32 * VEC + j;
        if (col < OC) {
            float s = 0.0f;
#pragma unroll
            for (int w = 0; w < DBIAS_WARPS; w++) s += sh[w][j];
            partials[(size_t)blockIdx.y * OC + col] = s;
        }
    }
}

__global__ void matmul_dbias_final_kernel(floatX *dbias, const float *partials, int chunks, int OC) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= OC) return;
    float s = 0.0f;
    for (int j = 0; j < chunks; j++) s += partials[(size_t)j * OC + c];
    dbias[c] = from_float(to_float(dbias[c]) + s);
}

static void matmul_dbias(floatX *dbias, float *scratch, floatX *dout, const floatX *pre_gelu, int N, int OC,
                         cudaStream_t stream) {
    const int chunks = matmul_dbias_chunks(N);
    const int rows_per_chunk = ceil_div(N, chunks);
    const bool vec = OC % x128::size == 0 && is_aligned16(dout) && (pre_gelu == NULL || is_aligned16(pre_gelu));
    if (vec) {
        dim3 grid((unsigned)ceil_div(OC, 32 * x128::size), (unsigned)chunks);
        matmul_dbias_partial_kernel<x128::size><<<grid, 32 * DBIAS_WARPS, 0, stream>>>(scratch, dout, pre_gelu, N, OC,
                                                                                      rows_per_chunk);
    } else {
        dim3 grid((unsigned)ceil_div(OC, 32), (unsigned)chunks);
        matmul_dbias_partial_kernel<1><<<grid, 32 * DBIAS_WARPS, 0, stream>>>(scratch, dout, pre_gelu, N, OC,
                                                                             rows_per_chunk);
    }
    CUDA_CHECK_LAST();
    const int block = 256;
    matmul_dbias_final_kernel<<<ceil_div(OC, block), block, 0, stream>>>(dbias, scratch, chunks, OC);
    CUDA_CHECK_LAST();
}

static void matmul_backward(const CudaContext *ctx, floatX *dinp, floatX *dweight, floatX *dbias, floatX *dout,
                            const floatX *inp, const floatX *weight, float *dbias_scratch, int N, int C, int OC,
                            const floatX *pre_gelu) {
    if (N <= 0 || OC <= 0 || C <= 0) return;
    // 1. dout *= gelu'(pre_gelu) in place, fused with the dbias reduction when there is a bias
    if (dbias != NULL) {
        matmul_dbias(dbias, dbias_scratch, dout, pre_gelu, N, OC, ctx->stream);
    } else if (pre_gelu != NULL) {
        gelu_backward_inplace(dout, pre_gelu, (size_t)N * OC, ctx->stream);
    }
    // 2. dinp (N,C) += dout (N,OC) @ W (OC,C). Column-major: dinp^T (C x N) = W' (C x OC) @ dout^T (OC x N),
    //    W stored C x OC ld C (no trans), dout stored OC x N ld OC (no trans).
    if (dinp != NULL) {
        matmul_cublaslt_or_die(ctx, dinp, weight, dout, C, N, OC, 0, 0, C, OC, 1.0f, "matmul_backward dinp");
    }
    // 3. dweight (OC,C) += dout^T @ inp (N,C). Column-major: dweight^T (C x OC) = inp^T (C x N) @ dout (N x OC),
    //    inp stored C x N ld C (no trans), dout stored OC x N ld OC (trans).
    if (dweight != NULL) {
        matmul_cublaslt_or_die(ctx, dweight, inp, dout, C, OC, N, 0, 1, C, OC, 1.0f, "matmul_backward dweight");
    }
}

// ----------------------------------------------------------------------------
// Backward epilogues (--fuse_bwd 1)

#define MATMUL_DINP_OVERWRITE 1

// dbias (OC) += g (OC, fp32 or floatX): the BGRAD epilogues write their sums, the trainer accumulates.
__global__ void matmul_add_dbias_kernel(floatX *dbias, const void *g, int g_is_f32, int OC) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= OC) return;
    float v = g_is_f32 ? ((const float *)g)[c] : to_float(((const floatX *)g)[c]);
    dbias[c] = from_float(to_float(dbias[c]) + v);
}

// A GEMM whose BGRAD epilogue writes the bias gradient into scratch: fp32 if cuBLASLt offers an
// algorithm for it (the header documents only Dtype for bias vectors, some versions take fp32),
// else floatX. Then dbias += it. Returns 0 (nothing launched) when neither type has an algorithm.
static int matmul_cublaslt_bgrad(const CudaContext *ctx, floatX *d, const floatX *a, const floatX *b, const floatX *aux,
                                 floatX *dbias, void *scratch, int bias_len, int m, int n, int k, int transA,
                                 int transB, int lda, int ldb, float beta, cublasLtEpilogue_t epi) {
    int f32 = 1;
    int ok = matmul_cublaslt_ex(ctx, d, a, b, scratch, CUDA_R_32F, aux, m, n, k, transA, transB, lda, ldb, beta, epi);
    if (!ok) {
        f32 = 0;
        ok = matmul_cublaslt_ex(ctx, d, a, b, scratch, CUBLAS_FLOATX, aux, m, n, k, transA, transB, lda, ldb, beta, epi);
    }
    if (!ok) return 0;
    const int block = 256;
    matmul_add_dbias_kernel<<<ceil_div(bias_len, block), block, 0, ctx->stream>>>(dbias, scratch, f32, bias_len);
    CUDA_CHECK_LAST();
    return 1;
}

static void matmul_epilogue_note(int *noted, const char *what, int m, int n, int k) {
    if (*noted) return;
    *noted = 1;
    fprintf(stderr, "note: cuBLASLt has no algorithm for the %s epilogue (m=%d n=%d k=%d): separate kernels instead\n",
            what, m, n, k);
}

static void matmul_backward_fused(const CudaContext *ctx, floatX *dinp, floatX *dweight, floatX *dbias, floatX *dout,
                                  const floatX *inp, const floatX *weight, float *dbias_scratch, int N, int C, int OC,
                                  int flags) {
    static int noted_bgradb = 0;
    if (N <= 0 || OC <= 0 || C <= 0) return;
    // dinp: as matmul_backward, beta 0 when the caller lets it be overwritten
    if (dinp != NULL) {
        float beta = (flags & MATMUL_DINP_OVERWRITE) ? 0.0f : 1.0f;
        matmul_cublaslt_or_die(ctx, dinp, weight, dout, C, N, OC, 0, 0, C, OC, beta, "matmul_backward dinp");
    }
    // dweight^T (C x OC) += inp^T (C x N) @ op(dout) (N x OC), dout stored OC x N (trans): BGRADB
    // reduces op(B) over k = N, i.e. the column sums of dout, one per output channel
    int bias_done = 0;
    if (dweight != NULL && dbias != NULL) {
        bias_done = matmul_cublaslt_bgrad(ctx, dweight, inp, dout, NULL, dbias, dbias_scratch, OC, C, OC, N, 0, 1, C, OC,
                                          1.0f, CUBLASLT_EPILOGUE_BGRADB);
        if (!bias_done) matmul_epilogue_note(&noted_bgradb, "BGRADB (dbias in the dweight GEMM)", C, OC, N);
    }
    if (dbias != NULL && !bias_done) matmul_dbias(dbias, dbias_scratch, dout, NULL, N, OC, ctx->stream);
    if (dweight != NULL && !bias_done) {
        matmul_cublaslt_or_die(ctx, dweight, inp, dout, C, OC, N, 0, 1, C, OC, 1.0f, "matmul_backward dweight");
    }
}

static int matmul_dinp_dgelu(const CudaContext *ctx, floatX *dinp, floatX *dbias_in, const floatX *dout,
                             const floatX *weight, const floatX *pre_gelu, float *dbias_scratch, int N, int C, int OC) {
    static int noted_dgelu = 0;
    if (FLOATX_IS_FP32 || N <= 0 || C <= 0 || OC <= 0) return 0;
    if (C % 8 != 0 || !is_aligned16(pre_gelu)) return 0; // the aux matrix's layout rules, as GELU_AUX
    // column-major: dinp^T (C x N) = W (C x OC) @ dout^T (OC x N); aux = pre_gelu^T (C x N, ld C);
    // BGRAD reduces D over its columns (the N rows of dinp): C sums
    int ok = dbias_in != NULL
                 ? matmul_cublaslt_bgrad(ctx, dinp, weight, dout, pre_gelu, dbias_in, dbias_scratch, C, C, N, OC, 0, 0, C,
                                         OC, 0.0f, CUBLASLT_EPILOGUE_DGELU_BGRAD)
                 : matmul_cublaslt_ex(ctx, dinp, weight, dout, NULL, CUBLAS_FLOATX, pre_gelu, C, N, OC, 0, 0, C, OC, 0.0f,
                                      CUBLASLT_EPILOGUE_DGELU);
    if (!ok) matmul_epilogue_note(&noted_dgelu, dbias_in != NULL ? "DGELU_BGRAD" : "DGELU", C, N, OC);
    return ok;
}

#endif // LLMC_MATMUL_CUH
