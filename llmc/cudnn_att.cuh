/*
 * cudnn_att.cuh: causal self-attention through cuDNN's fused flash-attention engines (USE_CUDNN=1
 * builds), with the contract of llmc/attention.cuh, so either can serve any call:
 *
 *   int cudnn_attention_forward(out (B,T,C), lse (B,NH,T) fp32, qkv (B,T,3C), B, T, C, NH, stream)
 *       out = softmax(Q K^T / sqrt(HS), causal) V per head; lse = natural log-sum-exp of each
 *       scaled causal score row (cuDNN's softmax "stats": max + log(sum exp(s - max))).
 *   int cudnn_attention_backward(dqkv (B,T,3C), dout (B,T,C), qkv, out, lse, B, T, C, NH, stream)
 *       dqkv OVERWRITTEN with dQ | dK | dV, every element written.
 *   Both return 1 when cuDNN did the work, 0 when the caller must use its own kernels: builds
 *   without USE_CUDNN, fp32 builds (the fused engines are fp16/bf16 only), head sizes other than a
 *   multiple of 8 up to 128, tensors not 16-byte aligned, or a new shape when the cache is full.
 *   void cudnn_attention_free(void): destroys the graphs, the handle and the workspace.
 *
 * The tensors are read and written in place, no copies: Q, K, V are strided views of qkv
 * (dims B, NH, T, HS; strides 3CT, HS, 3C, 1; K at +C, V at +2C), out / dout / dQ..dV likewise
 * with C or 3C rows, lse is (B, NH, T, 1) contiguous.
 *
 * The graphs are the operation pattern cuDNN's flash-attention engines recognise, built with the
 * backend C API (cudnnBackend*; no frontend library):
 *   forward:  S = Q K^T (fp32) * scale; row >= col ? S : -inf; M = max_row S; E = exp(S - M);
 *             Z = sum_row E; stats = M + log Z; P = E / Z (bf16); O = P V.
 *   backward: D = sum_d(dO * O) * 1; S as above; P = exp(S - stats); dV = P^T dO;
 *             dS = (dO V^T * 1 - D) * P * scale; dK = dS^T Q; dQ = dS K.
 *   (The "* 1" are the dropout-mask slots of the pattern, kept as the engines expect them; D is a
 *   real fp32 tensor, (B,NH,T), placed in the workspace after cuDNN's part.) The pattern and its
 *   tensor types follow the lowering of cuDNN frontend 1.12's SDPA nodes (the documented
 *   supported-graph form); only the facts were taken, not code.
 * dQ is written directly by its matmul (no fp32 accumulator tensor), which selects cuDNN's
 * deterministic dP-workspace implementation; engines whose numerical notes say NONDETERMINISTIC
 * are skipped when a deterministic one exists.
 *
 * One graph per (direction, B, T, NH, HS), built on first use and cached (CUDNN_ATT_MAX_GRAPHS;
 * building takes seconds: the engines compile their kernels at run time). One workspace, grown
 * only when a new graph needs more. A graph for which cuDNN has no engine stops the program with a
 * one-line error naming the shape; each graph built prints one line on stderr ("cuDNN attention:
 * forward graph for B=.. T=.."), so a log shows where cuDNN did the work. State is per process
 * (one GPU per process), on the stream of each call. dev/test/cudnn_graph_test.cu has cuDNN
 * validate the graphs and offer engines for them on an H200 and an A100 without a GPU.
 */
#ifndef LLMC_CUDNN_ATT_CUH
#define LLMC_CUDNN_ATT_CUH

#include "cuda_common.h"

#if defined(USE_CUDNN) && !FLOATX_IS_FP32

#include <cudnn.h>
#include <math.h>
#include <string.h>

#define CUDNN_ATT_MAX_GRAPHS 8
#define CUDNN_ATT_MAX_DESCS 192 // descriptors one graph keeps alive (the backward uses ~95)

static void cudnn_att_check_(cudnnStatus_t st, const char *what, const char *file, int line) {
    if (st != CUDNN_STATUS_SUCCESS) {
        char detail[256];
        cudnnGetLastErrorString(detail, sizeof(detail));
        for (char *p = detail; *p; p++) if (*p == '\n') *p = ' ';
        fflush(stdout);
        fprintf(stderr, "error: cuDNN %s (%s) at %s:%d%s%s\n", cudnnGetErrorString(st), what, file, line,
                detail[0] ? ": " : "", detail);
        exit(1);
    }
}
#define cudnnCheck(x) cudnn_att_check_((x), #x, __FILE__, __LINE__)

typedef struct {
    int backward, B, T, NH, HS;
    cudnnBackendDescriptor_t plan;
    int64_t workspace_bytes; // cuDNN's, rounded up to 256 bytes
    size_t extra_bytes;      // ours after it: D (B,NH,T) fp32 of the backward
    cudnnBackendDescriptor_t descs[CUDNN_ATT_MAX_DESCS]; // everything the plan was built from
    int num_descs;
} CudnnAttGraph;

static struct {
    cudnnHandle_t handle;
    CudnnAttGraph graphs[CUDNN_ATT_MAX_GRAPHS];
    int num_graphs;
    void *workspace;
    size_t workspace_bytes;
} cudnn_att;

// Unique ids of the tensors bound at execution (virtual tensors are numbered from 100).
enum { CATT_Q = 1, CATT_K, CATT_V, CATT_O, CATT_STATS, CATT_SCALE, CATT_DO, CATT_DQ, CATT_DK, CATT_DV, CATT_MASKED,
       CATT_ONE, CATT_DSUM };

typedef struct {
    CudnnAttGraph *g;
    int64_t next_uid;
    cudnnBackendDescriptor_t ops[CUDNN_ATT_MAX_DESCS];
    int num_ops;
} CattBuild;

static cudnnBackendDescriptor_t catt_new(CattBuild *b, cudnnBackendDescriptorType_t type) {
    if (b->g->num_descs == CUDNN_ATT_MAX_DESCS) { fprintf(stderr, "error: cudnn_att.cuh: CUDNN_ATT_MAX_DESCS too small\n"); exit(1); }
    cudnnBackendDescriptor_t d;
    cudnnCheck(cudnnBackendCreateDescriptor(type, &d));
    b->g->descs[b->g->num_descs++] = d;
    return d;
}

static void catt_set(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
                     int64_t count, const void *value) {
    cudnnCheck(cudnnBackendSetAttribute(d, name, type, count, value));
}

// A 4-d tensor. uid 0 = a new virtual (intermediate) tensor; by_value = a host scalar.
static cudnnBackendDescriptor_t catt_tensor(CattBuild *b, int64_t uid, cudnnDataType_t type, int64_t d0, int64_t d1,
                                            int64_t d2, int64_t d3, int64_t s0, int64_t s1, int64_t s2, int64_t s3,
                                            int by_value) {
    cudnnBackendDescriptor_t t = catt_new(b, CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    const int64_t dims[4] = {d0, d1, d2, d3}, strides[4] = {s0, s1, s2, s3};
    const int64_t alignment = 16;
    const bool is_virtual = uid == 0, is_by_value = by_value != 0;
    if (uid == 0) uid = b->next_uid++;
    catt_set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
    catt_set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims);
    catt_set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides);
    catt_set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    catt_set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment);
    catt_set(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual);
    if (is_by_value) catt_set(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &is_by_value);
    cudnnCheck(cudnnBackendFinalize(t));
    return t;
}

static cudnnBackendDescriptor_t catt_scalar(CattBuild *b, int64_t uid) {
    return catt_tensor(b, uid, CUDNN_DATA_FLOAT, 1, 1, 1, 1, 1, 1, 1, 1, 1);
}

// A virtual tensor shaped like a (B, NH, rows, cols) score matrix, or (B, NH, rows, 1) row stats.
typedef struct { int64_t B, NH, T, HS; } CattShape;
static cudnnBackendDescriptor_t catt_scores(CattBuild *b, const CattShape *s, cudnnDataType_t type) {
    return catt_tensor(b, 0, type, s->B, s->NH, s->T, s->T, s->NH * s->T * s->T, s->T * s->T, s->T, 1, 0);
}
static cudnnBackendDescriptor_t catt_scores_t(CattBuild *b, const CattShape *s, cudnnDataType_t type) { // transposed view
    return catt_tensor(b, 0, type, s->B, s->NH, s->T, s->T, s->NH * s->T * s->T, s->T * s->T, 1, s->T, 0);
}
static cudnnBackendDescriptor_t catt_rows(CattBuild *b, const CattShape *s) {
    return catt_tensor(b, 0, CUDNN_DATA_FLOAT, s->B, s->NH, s->T, 1, s->NH * s->T, s->T, 1, 1, 0);
}

static void catt_add_op(CattBuild *b, cudnnBackendDescriptor_t op) {
    cudnnCheck(cudnnBackendFinalize(op));
    b->ops[b->num_ops++] = op;
}

// y = mode(x, x2, t) elementwise; x2 / t may be NULL; axis for GEN_INDEX.
static cudnnBackendDescriptor_t catt_pointwise(CattBuild *b, cudnnPointwiseMode_t mode, cudnnDataType_t math,
                                               cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t x2,
                                               cudnnBackendDescriptor_t t, cudnnBackendDescriptor_t y, int64_t axis) {
    cudnnBackendDescriptor_t pw = catt_new(b, CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    catt_set(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
    catt_set(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &math);
    if (mode == CUDNN_POINTWISE_GEN_INDEX) catt_set(pw, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, 1, &axis);
    cudnnCheck(cudnnBackendFinalize(pw));
    cudnnBackendDescriptor_t op = catt_new(b, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    catt_set(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw);
    catt_set(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    if (x2) catt_set(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x2);
    if (t) catt_set(op, CUDNN_ATTR_OPERATION_POINTWISE_TDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t);
    catt_set(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
    catt_add_op(b, op);
    return y;
}

// c = a b (batched over the first two dims), fp32 accumulation.
static cudnnBackendDescriptor_t catt_matmul(CattBuild *b, cudnnBackendDescriptor_t a, cudnnBackendDescriptor_t bb,
                                            cudnnBackendDescriptor_t c) {
    cudnnBackendDescriptor_t mm = catt_new(b, CUDNN_BACKEND_MATMUL_DESCRIPTOR);
    cudnnDataType_t comp = CUDNN_DATA_FLOAT;
    catt_set(mm, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp);
    cudnnCheck(cudnnBackendFinalize(mm));
    cudnnBackendDescriptor_t op = catt_new(b, CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
    catt_set(op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a);
    catt_set(op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &bb);
    catt_set(op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &c);
    catt_set(op, CUDNN_ATTR_OPERATION_MATMUL_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &mm);
    catt_add_op(b, op);
    return c;
}

// y = reduce(x) over the dims where y has extent 1.
static cudnnBackendDescriptor_t catt_reduce(CattBuild *b, cudnnReduceTensorOp_t red, cudnnBackendDescriptor_t x,
                                            cudnnBackendDescriptor_t y) {
    cudnnBackendDescriptor_t rd = catt_new(b, CUDNN_BACKEND_REDUCTION_DESCRIPTOR);
    cudnnDataType_t comp = CUDNN_DATA_FLOAT;
    catt_set(rd, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &red);
    catt_set(rd, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp);
    cudnnCheck(cudnnBackendFinalize(rd));
    cudnnBackendDescriptor_t op = catt_new(b, CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR);
    catt_set(op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    catt_set(op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
    catt_set(op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &rd);
    catt_add_op(b, op);
    return y;
}

// y = x seen with other dims/strides (the transposes the matmuls need).
static cudnnBackendDescriptor_t catt_reshape(CattBuild *b, cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t y) {
    cudnnBackendDescriptor_t op = catt_new(b, CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR);
    catt_set(op, CUDNN_ATTR_OPERATION_RESHAPE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    catt_set(op, CUDNN_ATTR_OPERATION_RESHAPE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
    catt_add_op(b, op);
    return y;
}

// S = causal_mask(scale * Q K^T) in fp32: the score prologue both directions share.
static cudnnBackendDescriptor_t catt_masked_scores(CattBuild *b, const CattShape *s, cudnnBackendDescriptor_t q,
                                                   cudnnBackendDescriptor_t kt, cudnnBackendDescriptor_t scale,
                                                   cudnnBackendDescriptor_t masked) {
    cudnnBackendDescriptor_t S = catt_matmul(b, q, kt, catt_scores(b, s, CUDNN_DATA_FLOAT));
    S = catt_pointwise(b, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, S, scale, NULL, catt_scores(b, s, CUDNN_DATA_FLOAT), 0);
    cudnnBackendDescriptor_t row = catt_pointwise(b, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_FLOAT, S, NULL, NULL,
                                                  catt_scores(b, s, CUDNN_DATA_INT32), 2);
    cudnnBackendDescriptor_t col = catt_pointwise(b, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_FLOAT, S, NULL, NULL,
                                                  catt_scores(b, s, CUDNN_DATA_INT32), 3);
    cudnnBackendDescriptor_t keep = catt_pointwise(b, CUDNN_POINTWISE_CMP_GE, CUDNN_DATA_BOOLEAN, row, col, NULL,
                                                   catt_scores(b, s, CUDNN_DATA_BOOLEAN), 0);
    return catt_pointwise(b, CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT, S, masked, keep,
                          catt_scores(b, s, CUDNN_DATA_FLOAT), 0);
}

// Q, K^T, V (or V^T), rows of qkv (dims B, NH, T, HS).
static cudnnBackendDescriptor_t catt_qkv_rows(CattBuild *b, int64_t uid, const CattShape *s) {
    const int64_t C = s->NH * s->HS;
    return catt_tensor(b, uid, CUDNN_DATA_BFLOAT16, s->B, s->NH, s->T, s->HS, 3 * C * s->T, s->HS, 3 * C, 1, 0);
}
static cudnnBackendDescriptor_t catt_qkv_cols(CattBuild *b, int64_t uid, const CattShape *s) { // transposed: (.., HS, T)
    const int64_t C = s->NH * s->HS;
    return catt_tensor(b, uid, CUDNN_DATA_BFLOAT16, s->B, s->NH, s->HS, s->T, 3 * C * s->T, s->HS, 1, 3 * C, 0);
}
static cudnnBackendDescriptor_t catt_out_rows(CattBuild *b, int64_t uid, const CattShape *s) { // (B,T,C) rows
    const int64_t C = s->NH * s->HS;
    return catt_tensor(b, uid, CUDNN_DATA_BFLOAT16, s->B, s->NH, s->T, s->HS, C * s->T, s->HS, C, 1, 0);
}

static void catt_build_forward(CattBuild *b, const CattShape *s) {
    cudnnBackendDescriptor_t q = catt_qkv_rows(b, CATT_Q, s), kt = catt_qkv_cols(b, CATT_K, s),
                             v = catt_qkv_rows(b, CATT_V, s), o = catt_out_rows(b, CATT_O, s);
    cudnnBackendDescriptor_t stats = catt_tensor(b, CATT_STATS, CUDNN_DATA_FLOAT, s->B, s->NH, s->T, 1, s->NH * s->T, s->T, 1, 1, 0);
    cudnnBackendDescriptor_t S = catt_masked_scores(b, s, q, kt, catt_scalar(b, CATT_SCALE), catt_scalar(b, CATT_MASKED));
    // softmax with stats
    cudnnBackendDescriptor_t M = catt_reduce(b, CUDNN_REDUCE_TENSOR_MAX, S, catt_rows(b, s));
    cudnnBackendDescriptor_t E = catt_pointwise(b, CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, S, M, NULL, catt_scores(b, s, CUDNN_DATA_FLOAT), 0);
    E = catt_pointwise(b, CUDNN_POINTWISE_EXP, CUDNN_DATA_FLOAT, E, NULL, NULL, catt_scores(b, s, CUDNN_DATA_FLOAT), 0);
    cudnnBackendDescriptor_t Z = catt_reduce(b, CUDNN_REDUCE_TENSOR_ADD, E, catt_rows(b, s));
    cudnnBackendDescriptor_t logZ = catt_pointwise(b, CUDNN_POINTWISE_LOG, CUDNN_DATA_FLOAT, Z, NULL, NULL, catt_rows(b, s), 0);
    catt_pointwise(b, CUDNN_POINTWISE_ADD, CUDNN_DATA_FLOAT, M, logZ, NULL, stats, 0);
    cudnnBackendDescriptor_t P = catt_pointwise(b, CUDNN_POINTWISE_DIV, CUDNN_DATA_FLOAT, E, Z, NULL, catt_scores(b, s, CUDNN_DATA_BFLOAT16), 0);
    catt_matmul(b, P, v, o);
}

static void catt_build_backward(CattBuild *b, const CattShape *s) {
    const int64_t C = s->NH * s->HS;
    cudnnBackendDescriptor_t q = catt_qkv_rows(b, CATT_Q, s), kt = catt_qkv_cols(b, CATT_K, s),
                             vt = catt_qkv_cols(b, CATT_V, s), o = catt_out_rows(b, CATT_O, s),
                             dO = catt_out_rows(b, CATT_DO, s), dq = catt_qkv_rows(b, CATT_DQ, s),
                             dk = catt_qkv_rows(b, CATT_DK, s), dv = catt_qkv_rows(b, CATT_DV, s);
    cudnnBackendDescriptor_t stats = catt_tensor(b, CATT_STATS, CUDNN_DATA_FLOAT, s->B, s->NH, s->T, 1, s->NH * s->T, s->T, 1, 1, 0);
    cudnnBackendDescriptor_t scale = catt_scalar(b, CATT_SCALE), one = catt_scalar(b, CATT_ONE);
    // D = rowsum(dO * O), a real tensor (in our workspace, after cuDNN's)
    cudnnBackendDescriptor_t dOO = catt_pointwise(b, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, dO, o, NULL,
        catt_tensor(b, 0, CUDNN_DATA_FLOAT, s->B, s->NH, s->T, s->HS, s->NH * s->T * s->HS, s->T * s->HS, C, 1, 0), 0);
    cudnnBackendDescriptor_t D = catt_reduce(b, CUDNN_REDUCE_TENSOR_ADD, dOO, catt_rows(b, s));
    D = catt_pointwise(b, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, D, one, NULL,
        catt_tensor(b, CATT_DSUM, CUDNN_DATA_FLOAT, s->B, s->NH, s->T, 1, s->NH * s->T, s->T, 1, 1, 0), 0);
    // P = exp(S - stats)
    cudnnBackendDescriptor_t S = catt_masked_scores(b, s, q, kt, scale, catt_scalar(b, CATT_MASKED));
    S = catt_pointwise(b, CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, S, stats, NULL, catt_scores(b, s, CUDNN_DATA_FLOAT), 0);
    cudnnBackendDescriptor_t P = catt_pointwise(b, CUDNN_POINTWISE_EXP, CUDNN_DATA_FLOAT, S, NULL, NULL, catt_scores(b, s, CUDNN_DATA_FLOAT), 0);
    // dV = P^T dO
    cudnnBackendDescriptor_t Pt = catt_reshape(b, P, catt_scores_t(b, s, CUDNN_DATA_BFLOAT16));
    catt_matmul(b, Pt, dO, dv);
    // dS = (dO V^T - D) * P * scale
    cudnnBackendDescriptor_t dP = catt_matmul(b, dO, vt, catt_scores(b, s, CUDNN_DATA_FLOAT));
    dP = catt_pointwise(b, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, dP, one, NULL, catt_scores(b, s, CUDNN_DATA_FLOAT), 0);
    dP = catt_pointwise(b, CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, dP, D, NULL, catt_scores(b, s, CUDNN_DATA_FLOAT), 0);
    dP = catt_pointwise(b, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, dP, P, NULL, catt_scores(b, s, CUDNN_DATA_FLOAT), 0);
    cudnnBackendDescriptor_t dS = catt_pointwise(b, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, dP, scale, NULL, catt_scores(b, s, CUDNN_DATA_FLOAT), 0);
    // dK = dS^T Q
    cudnnBackendDescriptor_t dSt = catt_reshape(b, dS, catt_scores_t(b, s, CUDNN_DATA_BFLOAT16));
    catt_matmul(b, dSt, q, dk);
    // dQ = dS K (K seen back from K^T)
    cudnnBackendDescriptor_t k = catt_reshape(b, kt,
        catt_tensor(b, 0, CUDNN_DATA_FLOAT, s->B, s->NH, s->T, s->HS, 3 * C * s->T, s->HS, 3 * C, 1, 0));
    catt_matmul(b, dS, k, dq);
}

// Whether an engine config's engine carries the NONDETERMINISTIC numerical note.
static int catt_nondeterministic(cudnnBackendDescriptor_t cfg) {
    cudnnBackendDescriptor_t engine;
    cudnnCheck(cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &engine));
    int64_t n = 0;
    cudnnCheck(cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &engine));
    cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    int64_t count = 0;
    int nondet = 0;
    if (cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                 CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &count, notes) == CUDNN_STATUS_SUCCESS) {
        for (int64_t i = 0; i < count; i++) nondet |= notes[i] == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC;
    }
    cudnnBackendDestroyDescriptor(engine);
    return nondet;
}

// The operation graph of one direction and shape, its descriptors kept in g; returns the status
// of finalizing it (cuDNN checks the operations, shapes and types here; no GPU needed when
// handle is NULL, from cuDNN 9.8 on: dev/test/cudnn_graph_test.cu does that).
static cudnnStatus_t cudnn_att_operation_graph(CudnnAttGraph *g, int backward, int B, int T, int NH, int HS,
                                               cudnnHandle_t handle, cudnnBackendDescriptor_t *graph) {
    memset(g, 0, sizeof(*g));
    g->backward = backward; g->B = B; g->T = T; g->NH = NH; g->HS = HS;
    CattBuild b;
    memset(&b, 0, sizeof(b));
    b.g = g;
    b.next_uid = 100;
    const CattShape s = {B, NH, T, HS};
    if (backward) catt_build_backward(&b, &s);
    else catt_build_forward(&b, &s);
    *graph = catt_new(&b, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    catt_set(*graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, b.num_ops, b.ops);
    if (handle) catt_set(*graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
    return cudnnBackendFinalize(*graph);
}

static void cudnn_att_destroy(CudnnAttGraph *g) {
    for (int j = g->num_descs - 1; j >= 0; j--) cudnnBackendDestroyDescriptor(g->descs[j]);
    g->num_descs = 0;
}

// Builds (once) and returns the plan for this direction and shape; NULL if the cache is full.
static CudnnAttGraph *cudnn_att_graph(int backward, int B, int T, int NH, int HS) {
    for (int i = 0; i < cudnn_att.num_graphs; i++) {
        CudnnAttGraph *g = &cudnn_att.graphs[i];
        if (g->backward == backward && g->B == B && g->T == T && g->NH == NH && g->HS == HS) return g;
    }
    if (cudnn_att.num_graphs == CUDNN_ATT_MAX_GRAPHS) return NULL;
    if (cudnn_att.handle == NULL) cudnnCheck(cudnnCreate(&cudnn_att.handle));
    CudnnAttGraph *g = &cudnn_att.graphs[cudnn_att.num_graphs];
    cudnnBackendDescriptor_t graph;
    cudnnStatus_t st = cudnn_att_operation_graph(g, backward, B, T, NH, HS, cudnn_att.handle, &graph);
    const char *dir = backward ? "backward" : "forward";
    CattBuild b; // the heuristics and plans are kept with the graph's descriptors
    memset(&b, 0, sizeof(b));
    b.g = g;
    if (st != CUDNN_STATUS_SUCCESS) {
        char detail[256];
        cudnnGetLastErrorString(detail, sizeof(detail));
        for (char *p = detail; *p; p++) if (*p == '\n') *p = ' ';
        fflush(stdout);
        fprintf(stderr, "error: cuDNN rejected the attention %s graph (B=%d T=%d NH=%d HS=%d): %s %s\n", dir, B, T, NH,
                HS, cudnnGetErrorString(st), detail);
        exit(1);
    }
    cudnnBackendDescriptor_t heur = catt_new(&b, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
    catt_set(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph);
    catt_set(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
    cudnnCheck(cudnnBackendFinalize(heur));
    int64_t num_cfgs = 0;
    cudnnCheck(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &num_cfgs, NULL));
    if (num_cfgs > 16) num_cfgs = 16;
    cudnnBackendDescriptor_t cfgs[16];
    for (int64_t i = 0; i < num_cfgs; i++) cfgs[i] = catt_new(&b, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    int64_t got = 0;
    if (num_cfgs > 0) {
        cudnnCheck(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, num_cfgs,
                                            &got, cfgs));
    }
    // the first config (heuristics order) that finalizes, deterministic ones first
    cudnnBackendDescriptor_t plan = NULL;
    int plan_nondet = 0;
    for (int pass = 0; pass < 2 && plan == NULL; pass++) {
        for (int64_t i = 0; i < got && plan == NULL; i++) {
            int nondet = catt_nondeterministic(cfgs[i]);
            if (nondet != pass) continue;
            cudnnBackendDescriptor_t p;
            cudnnCheck(cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &p));
            catt_set(p, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &cudnn_att.handle);
            catt_set(p, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfgs[i]);
            if (cudnnBackendFinalize(p) == CUDNN_STATUS_SUCCESS) {
                plan = p;
                plan_nondet = nondet;
            } else {
                cudnnBackendDestroyDescriptor(p);
            }
        }
    }
    if (plan == NULL) {
        fflush(stdout);
        fprintf(stderr, "error: cuDNN %d.%d has no engine for the attention %s graph (B=%d T=%d NH=%d HS=%d, %lld "
                "candidates); build without USE_CUDNN\n", (int)(cudnnGetVersion() / 10000), (int)(cudnnGetVersion() / 100 % 100),
                dir, B, T, NH, HS, (long long)got);
        exit(1);
    }
    if (plan_nondet) {
        fprintf(stderr, "note: cuDNN attention %s (B=%d T=%d NH=%d HS=%d): only nondeterministic engines; runs may "
                "not repeat bit for bit\n", dir, B, T, NH, HS);
    }
    g->descs[g->num_descs++] = plan;
    g->plan = plan;
    int64_t n = 0;
    cudnnCheck(cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n,
                                        &g->workspace_bytes));
    g->workspace_bytes = (g->workspace_bytes + 255) / 256 * 256;
    g->extra_bytes = backward ? (size_t)B * NH * T * sizeof(float) : 0;
    size_t need = (size_t)g->workspace_bytes + g->extra_bytes;
    if (need > cudnn_att.workspace_bytes) {
        // only when a new shape needs more; cudaFree waits for the work that may still use it
        if (cudnn_att.workspace) cudaCheck(cudaFree(cudnn_att.workspace));
        cudaCheck(cudaMalloc(&cudnn_att.workspace, need));
        cudnn_att.workspace_bytes = need;
    }
    cudnn_att.num_graphs++;
    // one line per graph: a run's log shows that (and where) cuDNN did the work
    fprintf(stderr, "cuDNN attention: %s graph for B=%d T=%d NH=%d HS=%d, workspace %.1f MiB%s\n", dir, B, T, NH, HS,
            (double)(g->workspace_bytes + g->extra_bytes) / (1024.0 * 1024.0), plan_nondet ? " (nondeterministic)" : "");
    return g;
}

static void cudnn_att_execute(CudnnAttGraph *g, int n, const int64_t *uids, void **ptrs, cudaStream_t stream) {
    cudnnCheck(cudnnSetStream(cudnn_att.handle, stream));
    cudnnBackendDescriptor_t pack;
    cudnnCheck(cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack));
    catt_set(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n, uids);
    catt_set(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n, ptrs);
    catt_set(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &cudnn_att.workspace);
    cudnnCheck(cudnnBackendFinalize(pack));
    cudnnCheck(cudnnBackendExecute(cudnn_att.handle, g->plan, pack));
    cudnnCheck(cudnnBackendDestroyDescriptor(pack));
}

// Shapes and layouts the graphs are written for (else the caller's own kernels).
// The masked scores' value: -inf from cuDNN 9.10 on, the lowest float before (what the engines of
// each version expect; both give probability 0).
static float cudnn_att_masked_value(void) { return cudnnGetVersion() >= 91000 ? -INFINITY : -3.402823466e38f; }

static int cudnn_att_applies(int C, int NH, const void *a, const void *b, const void *c) {
    if (NH <= 0 || C % NH != 0) return 0;
    const int HS = C / NH;
    return HS % 8 == 0 && HS <= 128 && is_aligned16(a) && is_aligned16(b) && is_aligned16(c);
}

static int cudnn_attention_forward(floatX *out, float *lse, const floatX *qkv, int B, int T, int C, int NH,
                                   cudaStream_t stream) {
    if ((size_t)B * T * C == 0 || !cudnn_att_applies(C, NH, out, qkv, lse)) return 0;
    CudnnAttGraph *g = cudnn_att_graph(0, B, T, NH, C / NH);
    if (g == NULL) return 0;
    float scale = 1.0f / sqrtf((float)(C / NH)), masked = cudnn_att_masked_value();
    const int64_t uids[] = {CATT_Q, CATT_K, CATT_V, CATT_O, CATT_STATS, CATT_SCALE, CATT_MASKED};
    void *ptrs[] = {(void *)qkv, (void *)(qkv + C), (void *)(qkv + 2 * C), out, lse, &scale, &masked};
    cudnn_att_execute(g, 7, uids, ptrs, stream);
    return 1;
}

static int cudnn_attention_backward(floatX *dqkv, const floatX *dout, const floatX *qkv, const floatX *out,
                                    const float *lse, int B, int T, int C, int NH, cudaStream_t stream) {
    if ((size_t)B * T * C == 0 || !cudnn_att_applies(C, NH, dqkv, dout, qkv) || !is_aligned16(out) || !is_aligned16(lse)) {
        return 0;
    }
    CudnnAttGraph *g = cudnn_att_graph(1, B, T, NH, C / NH);
    if (g == NULL) return 0;
    float scale = 1.0f / sqrtf((float)(C / NH)), masked = cudnn_att_masked_value(), one = 1.0f;
    const int64_t uids[] = {CATT_Q, CATT_K, CATT_V, CATT_O, CATT_DO, CATT_STATS, CATT_DQ, CATT_DK, CATT_DV,
                            CATT_SCALE, CATT_MASKED, CATT_ONE, CATT_DSUM};
    void *ptrs[] = {(void *)qkv, (void *)(qkv + C), (void *)(qkv + 2 * C), (void *)out, (void *)dout, (void *)lse,
                    dqkv, dqkv + C, dqkv + 2 * C, &scale, &masked, &one,
                    (char *)cudnn_att.workspace + g->workspace_bytes};
    cudnn_att_execute(g, 13, uids, ptrs, stream);
    return 1;
}

static void cudnn_attention_free(void) {
    for (int i = 0; i < cudnn_att.num_graphs; i++) cudnn_att_destroy(&cudnn_att.graphs[i]);
    if (cudnn_att.workspace) cudaCheck(cudaFree(cudnn_att.workspace));
    if (cudnn_att.handle) cudnnCheck(cudnnDestroy(cudnn_att.handle));
    memset(&cudnn_att, 0, sizeof(cudnn_att));
}

#define CUDNN_ATT_ENABLED 1
#else // no cuDNN: every call is left to llmc/attention.cuh

static inline int cudnn_attention_forward(floatX *out, float *lse, const floatX *qkv, int B, int T, int C, int NH,
                                          cudaStream_t stream) {
    (void)out; (void)lse; (void)qkv; (void)B; (void)T; (void)C; (void)NH; (void)stream;
    return 0;
}
static inline int cudnn_attention_backward(floatX *dqkv, const floatX *dout, const floatX *qkv, const floatX *out,
                                           const float *lse, int B, int T, int C, int NH, cudaStream_t stream) {
    (void)dqkv; (void)dout; (void)qkv; (void)out; (void)lse; (void)B; (void)T; (void)C; (void)NH; (void)stream;
    return 0;
}
static inline void cudnn_attention_free(void) {}
#define CUDNN_ATT_ENABLED 0
#endif

#endif // LLMC_CUDNN_ATT_CUH
