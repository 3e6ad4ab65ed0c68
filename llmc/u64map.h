/*
 * u64map.h: an open-addressing hash map from 64-bit keys to 32-bit counts (linear probing,
 * power-of-two capacity, grows at 1/2 load). Keys are hashes already, so they are used as they
 * are; key 0 marks an empty slot, so a key of 0 is stored as 1.
 *
 *   U64Map m = {0};  uint32_t c = u64map_add(&m, key);   // count after adding (1: first time)
 *   u64map_get(&m, key);  u64map_clear(&m);  u64map_free(&m);
 *   u64map_reset(&m, n);   // empty, sized for n keys: no growing while they are added
 *   u64map_add_slot(&m, key, &slot);  ... m.counts[slot]   // the count later, without a lookup
 */
#ifndef LLMC_U64MAP_H
#define LLMC_U64MAP_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utils.h"

typedef struct {
    uint64_t *keys;
    uint32_t *counts;
    size_t cap, n;
    size_t alloc; // slots allocated (>= cap: u64map_reset may use a smaller table in them)
} U64Map;

static inline size_t u64map_slot_(const U64Map *m, uint64_t key) {
    size_t mask = m->cap - 1;
    size_t i = (size_t)(key ^ (key >> 29)) & mask;
    while (m->keys[i] != 0 && m->keys[i] != key) {
        i = (i + 1) & mask;
    }
    return i;
}

static inline void u64map_grow_(U64Map *m) {
    size_t old_cap = m->cap;
    uint64_t *old_keys = m->keys;
    uint32_t *old_counts = m->counts;
    m->cap = old_cap ? old_cap * 2 : 1024;
    m->keys = (uint64_t *)calloc_check(m->cap, sizeof(uint64_t));
    m->counts = (uint32_t *)calloc_check(m->cap, sizeof(uint32_t));
    m->alloc = m->cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old_keys[i]) {
            size_t j = u64map_slot_(m, old_keys[i]);
            m->keys[j] = old_keys[i];
            m->counts[j] = old_counts[i];
        }
    }
    free(old_keys);
    free(old_counts);
}

// Adds one to key's count; returns the count, and in *slot where it is kept: m->counts[*slot]
// stays the key's count until the map grows (never, for keys up to what u64map_reset sized it for).
static inline uint32_t u64map_add_slot(U64Map *m, uint64_t key, size_t *slot) {
    key = key ? key : 1;
    if ((m->n + 1) * 2 > m->cap) {
        u64map_grow_(m);
    }
    size_t i = u64map_slot_(m, key);
    if (m->keys[i] == 0) {
        m->keys[i] = key;
        m->n++;
    }
    *slot = i;
    return ++m->counts[i];
}

static inline uint32_t u64map_add(U64Map *m, uint64_t key) {
    size_t slot;
    return u64map_add_slot(m, key, &slot);
}

static inline uint32_t u64map_get(const U64Map *m, uint64_t key) {
    key = key ? key : 1;
    if (m->cap == 0) {
        return 0;
    }
    size_t i = u64map_slot_(m, key);
    return m->keys[i] ? m->counts[i] : 0;
}

static inline void u64map_clear(U64Map *m) {
    if (m->cap > 4096 && m->n * 8 < m->cap) {
        // sized by a far bigger key set: clearing all of it for a small one costs more than
        // growing again (the per-page maps of quality.h after a huge page)
        free(m->keys);
        free(m->counts);
        memset(m, 0, sizeof(*m));
    } else if (m->n) {
        memset(m->keys, 0, m->cap * sizeof(uint64_t));
        memset(m->counts, 0, m->cap * sizeof(uint32_t));
        m->n = 0;
    }
}

// Empties the map and sizes its table for `expected` keys (load <= 1/2, so nothing grows while
// they are added; a power of two, at least 1024). Only that table is cleared: the per-page maps
// of quality.h hold a few hundred lines one moment and every word of a long page the next, and
// clearing (or freeing and faulting in) the largest table each time costs more than the counting.
// Allocations far beyond the need are given back, so one huge page does not pin its table.
static inline void u64map_reset(U64Map *m, size_t expected) {
    size_t cap = 1024;
    while (cap < 2 * (expected + 1)) {
        cap *= 2;
    }
    if (cap > m->alloc || (m->alloc > 8 * cap && m->alloc > ((size_t)1 << 20))) {
        free(m->keys);
        free(m->counts);
        m->keys = (uint64_t *)calloc_check(cap, sizeof(uint64_t));
        m->counts = (uint32_t *)calloc_check(cap, sizeof(uint32_t));
        m->alloc = cap;
    } else {
        memset(m->keys, 0, cap * sizeof(uint64_t));
        memset(m->counts, 0, cap * sizeof(uint32_t));
    }
    m->cap = cap;
    m->n = 0;
}

static inline void u64map_free(U64Map *m) {
    free(m->keys);
    free(m->counts);
    memset(m, 0, sizeof(*m));
}

static inline size_t u64map_bytes(const U64Map *m) { return m->alloc * (sizeof(uint64_t) + sizeof(uint32_t)); }

// MurmurHash3's 64-bit finalizer: every input bit reaches every output bit.
static inline uint64_t hash_fmix64_(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

// 64-bit hash of bytes (FNV-1a folded through a murmur finalizer): fast, well mixed.
static inline uint64_t hash_bytes(const void *p, size_t n, uint64_t seed) {
    const unsigned char *s = (const unsigned char *)p;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ s[i]) * 0x100000001b3ULL;
    }
    return hash_fmix64_(h);
}

// 64-bit hash of bytes, 8 at a time: for equality tests only (duplicate lines, paragraphs and
// n-grams in quality.h), where it is several times faster than hash_bytes on long lines. Its
// values differ from hash_bytes': keys that are stored or define MinHash's permutations keep
// hash_bytes, so no decision depends on which of the two a count used.
static inline uint64_t hash_bytes_fast(const void *p, size_t n, uint64_t seed) {
    const unsigned char *s = (const unsigned char *)p;
    uint64_t h = seed ^ (0x9e3779b97f4a7c15ULL * (n + 1)); // the length too: "a" and "a\0" differ
    for (; n >= 8; s += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ULL; // a bijection per block: two blocks collide only by chance
        h ^= h >> 31;
    }
    if (n) { // 1..7 bytes, read without a memcpy call (most words end here)
        uint64_t w;
        if (n >= 4) { // two overlapping 4-byte reads cover every byte; n tells them apart
            uint32_t lo, hi;
            memcpy(&lo, s, 4);
            memcpy(&hi, s + n - 4, 4);
            w = (uint64_t)lo | (uint64_t)hi << 32;
        } else { // first, middle, last byte: all of them when n <= 3
            w = (uint64_t)s[0] | (uint64_t)s[n / 2] << 8 | (uint64_t)s[n - 1] << 16;
        }
        h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
    }
    return hash_fmix64_(h);
}

static inline uint64_t hash_mix(uint64_t a, uint64_t b) {
    uint64_t h = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

#endif
