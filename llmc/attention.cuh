/*
 * attention.cuh: causal multi-head self-attention, flash-attention style: the T x T score matrix is
 * never written to memory; the backward rebuilds probabilities from Q, K and the saved lse
 * (CPU attention_forward / attention_backward).
 *
 *   attention_forward(out (B,T,C), lse (B,NH,T) fp32, qkv (B,T,3C), B, T, C, NH, stream)
 *       qkv rows are [Q | K | V], each C wide with heads contiguous (head h = channels h*HS..h*HS+HS-1,
 *       HS = C/NH). out = softmax(Q K^T / sqrt(HS), causal) V per head, heads contiguous;
 *       lse = natural log-sum-exp of each scaled, causal score row.
 *   attention_backward(dqkv (B,T,3C), dout (B,T,C), qkv, out, lse, scratch, B, T, C, NH, stream)
 *       dqkv is OVERWRITTEN (not accumulated): every element is written exactly once.
 *       With p = exp(scale q.k - lse), dp = dout.v, D = dout.out:  ds = p (dp - D);
 *       dq = scale ds K;  dk = scale ds^T Q;  dv = p^T dout.
 *       Deterministic, no atomics: one kernel computes D per row, one computes dK,dV per key
 *       (block) looping over the query (blocks) that see it, one computes dQ per query (block)
 *       looping over its keys. Scores are recomputed in both of the last two.
 *   attention_backward_scratch_bytes(B, T, C, NH): fp32 scratch (D, B*NH*T floats).
 *
 * Paths (same results up to rounding, chosen per call):
 *   - tensor cores (bf16 builds, HS = 64 or 128, 16-byte aligned tensors, C % 8 == 0):
 *     mma.sync m16n8k16 bf16 x bf16 -> fp32, 64-row tiles, online softmax in registers.
 *   - general SIMT path (fp32 builds, any other HS, any T): fp32 CUDA-core math, one warp per
 *     query (key) row, 32 keys (queries) per step, lanes own output dims (chunks of 128 dims, so
 *     any HS works).
 *   - fast tensor-core kernels (-DATT_FAST=1; off until validated on a GPU, see ATT_FAST): the
 *     same tiles and math, with ldmatrix(.trans) fragment loads, cp.async double-buffered tiles,
 *     base-2 softmax, 2 m-tiles of 16 rows per warp (HS = 64 forward and dQ: 128-row tiles), a
 *     16-row chunked backward that skips causally empty chunks. See llmc/attention_fast.cuh.
 *   Define ATTENTION_FORCE_SIMT to always take the general path. ATT_PREFETCH_FWD(HS) /
 *   ATT_PREFETCH_BWD(HS) (macros, 0 or 1) choose whether the tensor-core kernels stage the next
 *   K/V (Q/dO) tile in registers while computing on the current one; defaults in the code.
 * All accumulation is fp32; T need not be a multiple of anything.
 */
#ifndef LLMC_ATTENTION_CUH
#define LLMC_ATTENTION_CUH

#include <math.h>

#include "cuda_common.h"

static size_t attention_backward_scratch_bytes(int B, int T, int C, int NH) {
    (void)C;
    return (size_t)B * NH * T * sizeof(float);
}

// One file per path (each opens with what it does); the dispatch below picks one per call.
#include "attention_simt.cuh"
#include "attention_tc.cuh"
#include "attention_fast.cuh"

// Whether the tensor-core path handles this call (see the header comment).
static int attention_use_tc(int C, int NH, const void *p0, const void *p1, const void *p2) {
#if FLOATX_IS_FP32 || defined(ATTENTION_FORCE_SIMT)
    (void)C; (void)NH; (void)p0; (void)p1; (void)p2;
    return 0;
#else
    const int HS = C / NH;
    return (HS == 64 || HS == 128) && C % 8 == 0 && is_aligned16(p0) && is_aligned16(p1) && is_aligned16(p2);
#endif
}

// ----------------------------------------------------------------------------
// Dispatch

static void attention_forward(floatX *out, float *lse, const floatX *qkv, int B, int T, int C, int NH,
                              cudaStream_t stream) {
    if ((size_t)B * T * C == 0) return;
#if !FLOATX_IS_FP32
    if (attention_use_tc(C, NH, out, qkv, qkv)) {
#if ATT_FAST
        if (C / NH == 64) attention_forward_fast<64>(out, lse, qkv, B, T, C, NH, stream);
        else attention_forward_fast<128>(out, lse, qkv, B, T, C, NH, stream);
#else
        if (C / NH == 64) attention_forward_tc<64>(out, lse, qkv, B, T, C, NH, stream);
        else attention_forward_tc<128>(out, lse, qkv, B, T, C, NH, stream);
#endif
        return;
    }
#endif
    attention_forward_simt(out, lse, qkv, B, T, C, NH, stream);
}

static void attention_backward(floatX *dqkv, const floatX *dout, const floatX *qkv, const floatX *out, const float *lse,
                               float *scratch, int B, int T, int C, int NH, cudaStream_t stream) {
    if ((size_t)B * T * C == 0) return;
    attention_backward_D(scratch, dout, out, B, T, C, NH, stream);
#if !FLOATX_IS_FP32
    if (attention_use_tc(C, NH, dqkv, dout, qkv)) {
#if ATT_FAST
        if (C / NH == 64) attention_backward_fast<64>(dqkv, dout, qkv, lse, scratch, B, T, C, NH, stream);
        else attention_backward_fast<128>(dqkv, dout, qkv, lse, scratch, B, T, C, NH, stream);
#else
        if (C / NH == 64) attention_backward_tc<64>(dqkv, dout, qkv, lse, scratch, B, T, C, NH, stream);
        else attention_backward_tc<128>(dqkv, dout, qkv, lse, scratch, B, T, C, NH, stream);
#endif
        return;
    }
#endif
    attention_backward_simt(dqkv, dout, qkv, lse, scratch, B, T, C, NH, stream);
}

#endif // LLMC_ATTENTION_CUH
