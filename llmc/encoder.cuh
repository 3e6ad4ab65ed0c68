/*
 * encoder.cuh: token + position embedding (CPU encoder_forward / encoder_backward).
 *
 *   encoder_forward(out (B,T,C), inp (B,T) device ints, wte (Vp,C), wpe (maxT,C), B, T, C, stream)
 *       out[b,t,:] = wte[inp[b,t],:] + wpe[t,:]
 *   encoder_backward(dwte (Vp,C), dwpe (maxT,C), dout (B,T,C), inp (B,T) device, inp_cpu (B,T) host,
 *                    B, T, C, scratch, stream)
 *       dwte[inp[b,t],:] += dout[b,t,:];  dwpe[t,:] += sum_b dout[b,t,:]     (ACCUMULATES)
 *   encoder_backward_scratch_bytes(B, T, C): bytes of device scratch encoder_backward needs.
 *
 * Determinism without atomics: on the host, the N = B*T positions are bucket-sorted by token id
 * (counting sort, stable, so each bucket lists its positions in increasing order), and each
 * bucket is cut into work items of at most ENC_ITEM_POSITIONS positions. Kernel 1 has one block
 * row per item: every thread owns a vector of channels and sums that item's dout rows in the
 * fixed order in fp32. A bucket of one item adds its sum straight into dwte (it is the only writer
 * of that row); a bucket of several items writes fp32 partials to scratch, and kernel 2 sums those
 * in item order and adds the result into dwte once. Splitting big buckets (frequent tokens like
 * "," or end-of-text) keeps the work balanced. dwpe: one thread per (t, channel vector) sums over b
 * in order.
 *
 * Host cost: O(N + max token id) on the CPU plus one host-to-device copy of ~4*(2N) ints from a
 * temporary malloc'd (pageable) buffer; the copy may wait until the stream reaches it.
 * The device array `inp` is not needed by the backward (kept for the interface).
 * Vector (16-byte) path when C % (16/sizeof(floatX)) == 0 and all pointers are 16-byte aligned.
 */
#ifndef LLMC_ENCODER_CUH
#define LLMC_ENCODER_CUH

#include "cuda_common.h"
#include "utils.h"

#define ENC_ITEM_POSITIONS 32 // max dout rows one block sums for one token

// ----------------------------------------------------------------------------
// forward

// VEC elements per thread (x128::size or 1). Thread -> (row bt, channel chunk).
template <int VEC>
__global__ void encoder_forward_kernel(floatX *out, const int *inp, const floatX *wte, const floatX *wpe,
                                       int T, int C, size_t total_chunks) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total_chunks) return;
    const int chunks_per_row = C / VEC;
    size_t bt = idx / chunks_per_row;
    int c = (int)(idx % chunks_per_row) * VEC;
    int t = (int)(bt % T);
    int tok = inp[bt];
    const floatX *w = wte + (size_t)tok * C + c;
    const floatX *p = wpe + (size_t)t * C + c;
    floatX *o = out + bt * C + c;
    if (VEC == x128::size) {
        x128 a = load128(w);
        x128 b = load128(p);
        x128 r;
#pragma unroll
        for (int k = 0; k < x128::size; k++) r[k] = from_float(to_float(a[k]) + to_float(b[k]));
        store128(o, r);
    } else {
        for (int k = 0; k < VEC; k++) o[k] = from_float(to_float(w[k]) + to_float(p[k]));
    }
}

static void encoder_forward(floatX *out, const int *inp, const floatX *wte, const floatX *wpe, int B, int T,
                            int C, cudaStream_t stream) {
    const int block = 256;
    size_t N = (size_t)B * T;
    if (N == 0 || C == 0) return;
    if (C % x128::size == 0 && is_aligned16(out) && is_aligned16(wte) && is_aligned16(wpe)) {
        size_t total = N * (size_t)(C / x128::size);
        encoder_forward_kernel<x128::size><<<(unsigned)ceil_div_sz(total, block), block, 0, stream>>>(
            out, inp, wte, wpe, T, C, total);
    } else {
        size_t total = N * (size_t)C;
        encoder_forward_kernel<1><<<(unsigned)ceil_div_sz(total, block), block, 0, stream>>>(out, inp, wte, wpe,
                                                                                            T, C, total);
    }
    CUDA_CHECK_LAST();
}

// ----------------------------------------------------------------------------
// backward

// Scratch layout (all offsets in bytes, 16-byte aligned sections):
//   ints:     positions[N] (sorted by token, increasing within a token)
//             items[4 * max_items]  {token, first index into positions, count, slot or -1}
//             reduces[3 * max_reduces] {token, first slot, number of slots}
//   partials: float[max_slots][C]
// Bounds: every item holds >= 1 position, so max_items <= N; a bucket is split only when it
// holds > ENC_ITEM_POSITIONS positions, so max_reduces <= N / (ENC_ITEM_POSITIONS + 1) and
// slots <= sum over split buckets of (count/ITEM + 1) <= 2N / ITEM.
static size_t encoder_bwd_max_items(size_t N) { return N; }
static size_t encoder_bwd_max_reduces(size_t N) { return N / (ENC_ITEM_POSITIONS + 1) + 1; }
static size_t encoder_bwd_max_slots(size_t N) { return 2 * (N / ENC_ITEM_POSITIONS) + 2; }
static size_t encoder_bwd_int_bytes(size_t N) {
    size_t ints = N + 4 * encoder_bwd_max_items(N) + 3 * encoder_bwd_max_reduces(N);
    return ceil_div_sz(ints * sizeof(int), 16) * 16;
}

static size_t encoder_backward_scratch_bytes(int B, int T, int C) {
    size_t N = (size_t)B * T;
    return encoder_bwd_int_bytes(N) + encoder_bwd_max_slots(N) * (size_t)C * sizeof(float);
}

// grid (num_items, channel blocks). Thread owns channels [c, c+VEC).
template <int VEC>
__global__ void encoder_backward_wte_kernel(floatX *dwte, float *partials, const floatX *dout,
                                            const int *positions, const int *items, int C) {
    int c = (blockIdx.y * blockDim.x + threadIdx.x) * VEC;
    if (c >= C) return;
    const int *it = items + 4 * (size_t)blockIdx.x;
    const int token = it[0], first = it[1], count = it[2], slot = it[3];
    float acc[VEC];
#pragma unroll
    for (int k = 0; k < VEC; k++) acc[k] = 0.0f;
    for (int p = 0; p < count; p++) {
        size_t row = (size_t)positions[first + p];
        const floatX *src = dout + row * C + c;
        if (VEC == x128::size) {
            x128 g = load128cs(src); // each dout row is read by exactly one item: stream it
#pragma unroll
            for (int k = 0; k < x128::size; k++) acc[k] += to_float(g[k]);
        } else {
#pragma unroll
            for (int k = 0; k < VEC; k++) acc[k] += to_float(src[k]);
        }
    }
    if (slot < 0) {
        floatX *dst = dwte + (size_t)token * C + c;
        if (VEC == x128::size) {
            x128 d = load128(dst);
#pragma unroll
            for (int k = 0; k < x128::size; k++) d[k] = from_float(to_float(d[k]) + acc[k]);
            store128(dst, d);
        } else {
#pragma unroll
            for (int k = 0; k < VEC; k++) dst[k] = from_float(to_float(dst[k]) + acc[k]);
        }
    } else {
        float *dst = partials + (size_t)slot * C + c;
#pragma unroll
        for (int k = 0; k < VEC; k++) dst[k] = acc[k];
    }
}

// grid (num_reduces, channel blocks): dwte[token, c] += sum over the bucket's slots in order.
__global__ void encoder_backward_reduce_kernel(floatX *dwte, const float *partials, const int *reduces, int C) {
    int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= C) return;
    const int *r = reduces + 3 * (size_t)blockIdx.x;
    const int token = r[0], first_slot = r[1], nslots = r[2];
    float acc = 0.0f;
    for (int s = 0; s < nslots; s++) acc += partials[(size_t)(first_slot + s) * C + c];
    floatX *dst = dwte + (size_t)token * C + c;
    *dst = from_float(to_float(*dst) + acc);
}

// Thread per (t, channel chunk): dwpe[t, c..] += sum_b dout[b, t, c..], b in order.
template <int VEC>
__global__ void encoder_backward_wpe_kernel(floatX *dwpe, const floatX *dout, int B, int T, int C) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int chunks_per_row = C / VEC;
    if (idx >= (size_t)T * chunks_per_row) return;
    int t = (int)(idx / chunks_per_row);
    int c = (int)(idx % chunks_per_row) * VEC;
    float acc[VEC];
#pragma unroll
    for (int k = 0; k < VEC; k++) acc[k] = 0.0f;
    for (int b = 0; b < B; b++) {
        const floatX *src = dout + ((size_t)b * T + t) * C + c;
        if (VEC == x128::size) {
            x128 g = load128(src);
#pragma unroll
            for (int k = 0; k < x128::size; k++) acc[k] += to_float(g[k]);
        } else {
#pragma unroll
            for (int k = 0; k < VEC; k++) acc[k] += to_float(src[k]);
        }
    }
    floatX *dst = dwpe + (size_t)t * C + c;
    if (VEC == x128::size) {
        x128 d = load128(dst);
#pragma unroll
        for (int k = 0; k < x128::size; k++) d[k] = from_float(to_float(d[k]) + acc[k]);
        store128(dst, d);
    } else {
#pragma unroll
        for (int k = 0; k < VEC; k++) dst[k] = from_float(to_float(dst[k]) + acc[k]);
    }
}

static void encoder_backward(floatX *dwte, floatX *dwpe, const floatX *dout, const int *inp, const int *inp_cpu,
                             int B, int T, int C, void *scratch, cudaStream_t stream) {
    (void)inp;
    const size_t N = (size_t)B * T;
    if (N == 0 || C == 0) return;
    const int vec_ok = C % x128::size == 0 && is_aligned16(dwte) && is_aligned16(dwpe) && is_aligned16(dout);

    // dwpe (independent of the bucketing)
    {
        const int block = 256;
        if (vec_ok) {
            size_t total = (size_t)T * (C / x128::size);
            encoder_backward_wpe_kernel<x128::size><<<(unsigned)ceil_div_sz(total, block), block, 0, stream>>>(
                dwpe, dout, B, T, C);
        } else {
            size_t total = (size_t)T * C;
            encoder_backward_wpe_kernel<1><<<(unsigned)ceil_div_sz(total, block), block, 0, stream>>>(dwpe, dout, B,
                                                                                                     T, C);
        }
        CUDA_CHECK_LAST();
    }

    // host: counting sort of positions by token id
    int max_tok = 0;
    for (size_t i = 0; i < N; i++) {
        if (inp_cpu[i] < 0) die("encoder_backward: negative token id %d at position %zu", inp_cpu[i], i);
        if (inp_cpu[i] > max_tok) max_tok = inp_cpu[i];
    }
    const size_t nbuckets = (size_t)max_tok + 1;
    size_t int_bytes = encoder_bwd_int_bytes(N);
    int *host = (int *)malloc_check(int_bytes);
    int *positions = host;
    int *items = positions + N;
    int *reduces = items + 4 * encoder_bwd_max_items(N);
    int *start = (int *)calloc_check(nbuckets + 1, sizeof(int)); // start[tok] after the prefix sum
    for (size_t i = 0; i < N; i++) start[inp_cpu[i] + 1]++;
    for (size_t k = 0; k < nbuckets; k++) start[k + 1] += start[k];
    {
        int *fill = (int *)malloc_check(nbuckets * sizeof(int));
        memcpy(fill, start, nbuckets * sizeof(int));
        for (size_t i = 0; i < N; i++) positions[fill[inp_cpu[i]]++] = (int)i; // stable: i increasing
        free(fill);
    }
    int num_items = 0, num_reduces = 0, num_slots = 0;
    for (size_t tok = 0; tok < nbuckets; tok++) {
        int first = start[tok], count = start[tok + 1] - start[tok];
        if (count == 0) continue;
        if (count <= ENC_ITEM_POSITIONS) {
            int *it = items + 4 * (size_t)num_items++;
            it[0] = (int)tok; it[1] = first; it[2] = count; it[3] = -1;
            continue;
        }
        int *r = reduces + 3 * (size_t)num_reduces++;
        r[0] = (int)tok; r[1] = num_slots; r[2] = 0;
        for (int off = 0; off < count; off += ENC_ITEM_POSITIONS) {
            int n = count - off < ENC_ITEM_POSITIONS ? count - off : ENC_ITEM_POSITIONS;
            int *it = items + 4 * (size_t)num_items++;
            it[0] = (int)tok; it[1] = first + off; it[2] = n; it[3] = num_slots++;
            r[2]++;
        }
    }
    free(start);
    if ((size_t)num_slots > encoder_bwd_max_slots(N) || (size_t)num_reduces > encoder_bwd_max_reduces(N)) {
        die("encoder_backward: internal error, bucket bounds exceeded");
    }
    // Copy only the used parts; the pageable source is staged by the driver before the call
    // returns, so freeing it right after is safe.
    int *dev = (int *)scratch;
    float *partials = (float *)((char *)scratch + int_bytes);
    cudaCheck(cudaMemcpyAsync(dev, host, (N + 4 * (size_t)num_items) * sizeof(int), cudaMemcpyHostToDevice, stream));
    int *dev_reduces = dev + N + 4 * encoder_bwd_max_items(N);
    if (num_reduces > 0) {
        cudaCheck(cudaMemcpyAsync(dev_reduces, reduces, 3 * (size_t)num_reduces * sizeof(int),
                                  cudaMemcpyHostToDevice, stream));
    }
    free(host);

    const int vec = vec_ok ? x128::size : 1;
    const int cchunks = C / vec; // channel chunks per row
    const int block = cchunks >= 256 ? 256 : ceil_div(cchunks, 32) * 32;
    dim3 grid((unsigned)num_items, (unsigned)ceil_div(cchunks, block));
    if (vec_ok) {
        encoder_backward_wte_kernel<x128::size><<<grid, block, 0, stream>>>(dwte, partials, dout, dev, dev + N, C);
    } else {
        encoder_backward_wte_kernel<1><<<grid, block, 0, stream>>>(dwte, partials, dout, dev, dev + N, C);
    }
    CUDA_CHECK_LAST();
    if (num_reduces > 0) {
        const int rblock = C >= 256 ? 256 : ceil_div(C, 32) * 32;
        dim3 rgrid((unsigned)num_reduces, (unsigned)ceil_div(C, rblock));
        encoder_backward_reduce_kernel<<<rgrid, rblock, 0, stream>>>(dwte, partials, dev_reduces, C);
        CUDA_CHECK_LAST();
    }
}

#endif // LLMC_ENCODER_CUH
