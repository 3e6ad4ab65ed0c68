/*
 * rand.h: a port of PyTorch's CPU random generator, so that C initialises a model from a seed
 * with the same random stream as torch.Generator().manual_seed(seed) and normal_().
 *
 * Facts reproduced (PyTorch's CPUGeneratorImpl and its CPU distribution kernels):
 * - the engine is the 32-bit Mersenne Twister mt19937 seeded with the low 32 bits of the seed;
 * - a float uniform in [0,1) takes one 32-bit draw: (x & (2^24-1)) * 2^-24;
 * - a double uniform takes a 64-bit draw (first 32-bit draw in the high half) & (2^53-1), * 2^-53;
 * - normal_ on a contiguous float tensor of >= 16 elements first fills it with float uniforms,
 *   then applies Box-Muller to blocks of 16 (u1 = 1 - x[j], u2 = x[j+8] for j < 8); if the size
 *   is not a multiple of 16 the last 16 elements are redrawn and transformed again;
 * - normal_ on fewer than 16 elements draws double normals one by one (Box-Muller on two double
 *   uniforms, caching the second value for the next call).
 * The scalar path matches torch bit for bit. On x86 torch's >= 16 path runs an AVX2 Box-Muller
 * whose SIMD log/sin/cos differ from libm in the last bit, so about 1 value in 7 differs by
 * 1-2 ulp (measured: max 7.5e-9 at std 0.02); the random stream itself is identical.
 */
#ifndef LLMC_RAND_H
#define LLMC_RAND_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define MT_N 624
#define MT_M 397

typedef struct {
    uint32_t state[MT_N];
    int index;
    int has_next_normal;  // cached second Box-Muller value of the scalar path
    double next_normal;
} TorchRng;

static inline void torch_rng_seed(TorchRng *r, uint64_t seed) {
    r->state[0] = (uint32_t)(seed & 0xffffffffu);
    for (int i = 1; i < MT_N; i++) {
        r->state[i] = 1812433253u * (r->state[i - 1] ^ (r->state[i - 1] >> 30)) + (uint32_t)i;
    }
    r->index = MT_N;
    r->has_next_normal = 0;
    r->next_normal = 0.0;
}

static inline void torch_rng_twist(TorchRng *r) {
    for (int i = 0; i < MT_N; i++) {
        uint32_t y = (r->state[i] & 0x80000000u) | (r->state[(i + 1) % MT_N] & 0x7fffffffu);
        uint32_t v = r->state[(i + MT_M) % MT_N] ^ (y >> 1);
        if (y & 1u) v ^= 0x9908b0dfu;
        r->state[i] = v;
    }
    r->index = 0;
}

static inline uint32_t torch_rng_u32(TorchRng *r) {
    if (r->index >= MT_N) torch_rng_twist(r);
    uint32_t y = r->state[r->index++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

static inline uint64_t torch_rng_u64(TorchRng *r) {
    uint64_t hi = torch_rng_u32(r);
    uint64_t lo = torch_rng_u32(r);
    return (hi << 32) | lo;
}

static inline float torch_rng_uniform_float(TorchRng *r) {
    return (float)(torch_rng_u32(r) & ((1u << 24) - 1)) * (1.0f / (float)(1u << 24));
}

static inline double torch_rng_uniform_double(TorchRng *r) {
    return (double)(torch_rng_u64(r) & ((UINT64_C(1) << 53) - 1)) * (1.0 / (double)(UINT64_C(1) << 53));
}

// Box-Muller on 16 uniforms in place: the pairs are (x[j], x[j+8]).
static inline void torch_normal_fill_16(float *x, float mean, float std) {
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - x[j];  // (0, 1] so the log is finite
        float u2 = x[j + 8];
        float radius = sqrtf(-2.0f * logf(u1));
        float theta = 2.0f * (float)M_PI * u2;
        x[j] = radius * cosf(theta) * std + mean;
        x[j + 8] = radius * sinf(theta) * std + mean;
    }
}

static inline double torch_rng_normal_double(TorchRng *r, double mean, double std) {
    if (r->has_next_normal) {
        r->has_next_normal = 0;
        return r->next_normal * std + mean;
    }
    double u1 = torch_rng_uniform_double(r);
    double u2 = torch_rng_uniform_double(r);
    double radius = sqrt(-2.0 * log1p(-u2));
    double theta = 2.0 * M_PI * u1;
    r->next_normal = radius * sin(theta);
    r->has_next_normal = 1;
    return radius * cos(theta) * std + mean;
}

// Same values as `x.normal_(mean, std, generator=g)` on a contiguous float32 tensor of n elements.
// mean and std are doubles as in Python; the >= 16 path rounds them to float like torch does.
static inline void torch_rng_normal(TorchRng *r, float *x, size_t n, double mean, double std) {
    if (n < 16) {
        for (size_t i = 0; i < n; i++) x[i] = (float)torch_rng_normal_double(r, mean, std);
        return;
    }
    for (size_t i = 0; i < n; i++) x[i] = torch_rng_uniform_float(r);
    for (size_t i = 0; i + 16 <= n; i += 16) torch_normal_fill_16(x + i, (float)mean, (float)std);
    if (n % 16 != 0) {
        float *tail = x + n - 16;
        for (int i = 0; i < 16; i++) tail[i] = torch_rng_uniform_float(r);
        torch_normal_fill_16(tail, (float)mean, (float)std);
    }
}

// A small independent generator for sampling and shuffling (xorshift64*), not torch's.
static inline uint32_t random_u32(uint64_t *state) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (uint32_t)((*state * 0x2545F4914F6CDD1Dull) >> 32);
}

// Uniform float in [0, 1) from the 24 high bits of one draw.
static inline float random_f32(uint64_t *state) {
    return (float)(random_u32(state) >> 8) / 16777216.0f;
}

#endif // LLMC_RAND_H
