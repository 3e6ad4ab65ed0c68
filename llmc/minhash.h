/*
 * minhash.h: document deduplication, exact and near, as FineWeb does it.
 *
 * Exact: a 64-bit hash of the text normalized (ASCII lower-cased, punctuation dropped,
 * whitespace runs collapsed), so pages differing only in case or spacing collide.
 * Near: MinHash over word 5-grams of the normalized words, 112 hash functions, banded for
 * locality-sensitive hashing into 14 bands of 8: two documents whose 5-gram sets have Jaccard
 * similarity s share at least one band with probability 1 - (1 - s^8)^14 (0.5 at s ~ 0.72,
 * 0.98 at s = 0.85). The hash family is h_j(x) = a_j*x + b_j mod 2^32 (a_j odd: a permutation
 * of 32-bit values) over a well-mixed 32-bit shingle hash; 32-bit lanes let the compiler do the
 * 112 functions in SIMD registers, and 8 rows of 32 bits keep band collisions at chance ~2^-256.
 *
 * Signatures are computed per document (any thread); the index is consulted and updated in input
 * order by one thread, so the first document of a cluster is the one kept, the same in every
 * run. A dropped near-duplicate still adds its bands, so a chain A~B~C is one cluster (as
 * FineWeb's clustering), not two.
 */
#ifndef LLMC_MINHASH_H
#define LLMC_MINHASH_H

#include <stdint.h>

#include "buf.h"
#include "u64map.h"
#include "words.h"

#define MINHASH_NGRAM 5
#define MINHASH_BANDS 14
#define MINHASH_ROWS 8
#define MINHASH_PERM (MINHASH_BANDS * MINHASH_ROWS)

typedef struct {
    uint64_t exact;                     // hash of the normalized text
    uint64_t band[MINHASH_BANDS];       // one key per band
} DedupKeys;

typedef struct {
    uint32_t a[MINHASH_PERM], b[MINHASH_PERM];
} MinHasher;

typedef struct {
    U64Map exact, bands;
} DedupIndex;

static inline uint64_t splitmix64_(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void minhash_init(MinHasher *mh, uint64_t seed) {
    for (int i = 0; i < MINHASH_PERM; i++) {
        mh->a[i] = (uint32_t)splitmix64_(&seed) | 1u;
        mh->b[i] = (uint32_t)splitmix64_(&seed);
    }
}

// Normalized text: ASCII letters lower-cased, ASCII punctuation dropped, one space between words.
static inline void dedup_normalize(const char *s, size_t n, Buf *out) {
    buf_clear(out);
    buf_reserve(out, n);
    int space = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            space = out->len > 0;
            continue;
        }
        if (c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
            continue; // punctuation
        }
        if (space) {
            out->data[out->len++] = ' ';
            space = 0;
        }
        out->data[out->len++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    out->data[out->len] = '\0';
}

// Keys of one document. `norm` and `w` are scratch.
static inline void dedup_keys(const MinHasher *mh, const char *text, size_t n, Buf *norm, Words *w, DedupKeys *k) {
    dedup_normalize(text, n, norm);
    k->exact = hash_bytes(norm->data, norm->len, 0x6a09e667f3bcc908ULL);
    words_split(norm->data, norm->len, w);
    uint32_t sig[MINHASH_PERM];
    for (int i = 0; i < MINHASH_PERM; i++) {
        sig[i] = UINT32_MAX;
    }
    size_t shingles = w->n >= MINHASH_NGRAM ? w->n - MINHASH_NGRAM + 1 : (w->n ? 1 : 0);
    for (size_t i = 0; i < shingles; i++) {
        size_t last = i + MINHASH_NGRAM <= w->n ? i + MINHASH_NGRAM - 1 : w->n - 1;
        const char *a = norm->data + w->off[i];
        size_t len = w->off[last] + w->len[last] - w->off[i];
        uint32_t x = (uint32_t)(hash_bytes(a, len, 0) >> 32);
        for (int j = 0; j < MINHASH_PERM; j++) { // vectorizes: 8 lanes of mul, add, min
            uint32_t v = mh->a[j] * x + mh->b[j];
            sig[j] = v < sig[j] ? v : sig[j];
        }
    }
    for (int b = 0; b < MINHASH_BANDS; b++) {
        uint64_t h = hash_mix(0x1234567ULL + (uint64_t)b, shingles ? 0 : 1);
        for (int r = 0; r < MINHASH_ROWS; r++) {
            h = hash_mix(h, sig[b * MINHASH_ROWS + r]);
        }
        k->band[b] = h;
    }
}

// 1 if an exactly equal document was seen before (the text's hash is added either way).
static inline int dedup_exact_seen(DedupIndex *d, const DedupKeys *k) { return u64map_add(&d->exact, k->exact) > 1; }

// 1 if a document sharing a band was seen before; the bands are added either way.
static inline int dedup_near_seen(DedupIndex *d, const DedupKeys *k) {
    int seen = 0;
    for (int b = 0; b < MINHASH_BANDS; b++) {
        seen |= u64map_add(&d->bands, k->band[b]) > 1;
    }
    return seen;
}

static inline size_t dedup_index_bytes(const DedupIndex *d) {
    return u64map_bytes(&d->exact) + u64map_bytes(&d->bands);
}

static inline void dedup_free(DedupIndex *d) {
    u64map_free(&d->exact);
    u64map_free(&d->bands);
}

#endif
