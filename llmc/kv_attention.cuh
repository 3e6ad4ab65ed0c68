/*
 * kv_attention.cuh: attention of new rows over a KV cache, for generation (llmc/generate_gpu.cuh;
 * the CPU's is kv_attention_forward in llmc/generate.h, the same contract).
 *
 *   kv_attention_forward(out (n,C), qkv (n,3C), k (S,maxT,C), v (S,maxT,C), slots (n), pos (n),
 *                        n, C, NH, maxT, stream)
 *       for each row r and head h (HS = C/NH channels): with q = qkv[r, h*HS .. +HS] and the keys
 *       and values of slot slots[r] at positions t = 0..pos[r] (the row's own position included:
 *       the caller appends the row's key and value first),
 *         s_t = q . k_t / sqrt(HS),  p = softmax(s),  out[r, h*HS .. +HS] = sum_t p_t v_t.
 *       fp32 math, out rounded to floatX once. pos[r] < maxT <= KV_ATT_MAX_T. slots and pos are
 *       device arrays.
 *
 * One block of KV_ATT_THREADS per (row, head). Scores: a warp per position, lanes over the head's
 * channels, kept in shared memory (maxT floats: the KV_ATT_MAX_T limit). Softmax with block
 * reductions in a fixed order. Output: threads over channels; when a head is narrower than the
 * block, groups of HS threads take every G-th position and their partial sums are added in group
 * order. Deterministic (no atomics). Decoding reads each cached key and value once per (row, head):
 * memory-bound, like the rest of a decode step.
 */
#ifndef LLMC_KV_ATTENTION_CUH
#define LLMC_KV_ATTENTION_CUH

#include <math.h>

#include "cuda_common.h"

#define KV_ATT_THREADS 128  // threads of an attention block (one row, one head)
#define KV_ATT_MAX_T 12000  // positions whose scores (and the 640 bytes of static shared memory) fit 48 KiB

// One block per (row, head): scores q . k_t / sqrt(HS) over t = 0..pos (a warp per position,
// lanes over the head's channels), softmax, then out = sum_t p_t v_t (threads over channels, the
// positions split between groups of threads and the groups' partial sums added in a fixed
// order). Dynamic shared memory: maxT floats of scores.
__global__ void __launch_bounds__(KV_ATT_THREADS)
    kv_attention_kernel(floatX *out, const floatX *qkv, const floatX *kc, const floatX *vc, const int *slots,
                        const int *pos, int C, int NH, int maxT, float scale) {
    extern __shared__ float score[];
    __shared__ float red[32];
    __shared__ float part[KV_ATT_THREADS];
    const int r = blockIdx.x / NH, h = blockIdx.x % NH, HS = C / NH, p = pos[r];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    const floatX *q = qkv + (size_t)r * 3 * C + (size_t)h * HS;
    const size_t base = (size_t)slots[r] * maxT * C + (size_t)h * HS;
    const floatX *K = kc + base, *V = vc + base;
    for (int t = warp; t <= p; t += nwarps) {
        const floatX *kt = K + (size_t)t * C;
        float s = 0.0f;
        for (int d = lane; d < HS; d += 32) s += to_float(q[d]) * to_float(kt[d]);
        s = warp_reduce_sum(s);
        if (lane == 0) score[t] = s * scale;
    }
    __syncthreads();
    float m = -INFINITY;
    for (int t = threadIdx.x; t <= p; t += blockDim.x) m = fmaxf(m, score[t]);
    m = warp_reduce_max(m);
    if (lane == 0) red[warp] = m;
    __syncthreads();
    m = red[0];
    for (int w = 1; w < nwarps; w++) m = fmaxf(m, red[w]);
    __syncthreads(); // red is reused below
    float sum = 0.0f;
    for (int t = threadIdx.x; t <= p; t += blockDim.x) {
        float e = fast_expf(score[t] - m);
        score[t] = e;
        sum += e;
    }
    sum = block_reduce_sum(sum, red); // synchronises: every score is final
    const float inv = 1.0f / sum;
    floatX *y = out + (size_t)r * C + (size_t)h * HS;
    if (HS > (int)blockDim.x) { // wide heads: each thread owns channels, all positions
        for (int d = threadIdx.x; d < HS; d += blockDim.x) {
            float acc = 0.0f;
            for (int t = 0; t <= p; t++) acc += score[t] * to_float(V[(size_t)t * C + d]);
            y[d] = from_float(acc * inv);
        }
        return;
    }
    const int G = blockDim.x / HS, g = threadIdx.x / HS, d = threadIdx.x % HS;
    float acc = 0.0f;
    if (g < G) {
        for (int t = g; t <= p; t += G) acc += score[t] * to_float(V[(size_t)t * C + d]);
        part[g * HS + d] = acc;
    }
    __syncthreads();
    if (threadIdx.x < HS) {
        float s = 0.0f;
        for (int k = 0; k < G; k++) s += part[k * HS + threadIdx.x];
        y[threadIdx.x] = from_float(s * inv);
    }
}

static void kv_attention_forward(floatX *out, const floatX *qkv, const floatX *k, const floatX *v, const int *slots,
                                 const int *pos, int n, int C, int NH, int maxT, cudaStream_t stream) {
    if (n <= 0) return;
    if (maxT > KV_ATT_MAX_T) die("kv_attention_forward: maxT %d exceeds %d", maxT, KV_ATT_MAX_T);
    float scale = 1.0f / sqrtf((float)(C / NH));
    kv_attention_kernel<<<n * NH, KV_ATT_THREADS, (size_t)maxT * sizeof(float), stream>>>(out, qkv, k, v, slots, pos, C, NH,
                                                                                          maxT, scale);
    CUDA_CHECK_LAST();
}

#endif // LLMC_KV_ATTENTION_CUH
