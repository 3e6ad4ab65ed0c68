/*
 * tokenizer.h: GPT-2's byte-level BPE tokenizer: load, decode, encode.
 *
 * File (gpt2_tokenizer.bin, little-endian; see doc/formats.md "Tokenizer"):
 *   header: 256 x uint32
 *     [0] magic 20240328  [1] version (1, 2 or 3)  [2] vocab_size  [3] end-of-text id
 *     version 3 only: [4] n_merges  [5] payload bytes after the header  [6] FNV-1a 32 of the payload
 *     version 2 extended (the default file): [8] 20251203 (extension magic)  [9] n_merges
 *       [10] n_special  [11] payload bytes after the header  [12] FNV-1a 32 of the payload
 *   payload, all versions: for each token id in order, one byte length n (1..255) then n bytes
 *   payload, version 3 and extended, after that: n_merges x (uint32 left id, uint32 right id), in
 *     rank order: merge r joins two adjacent parts into the token whose bytes are bytes(left) ++
 *     bytes(right), and r is that token's rank (lower merges first).
 *   payload, extended only, last: n_special entries (one byte length, then the name's bytes):
 *     the special tokens with ids vocab_size, vocab_size+1, ... (the chat markers, llmc/chat.h).
 * llm.c reads the extended file as its own version 2: it reads the header and the decode table
 * and never looks further. Plain versions 1 and 2 are llm.c's decode-only files (version 1 has no
 * [3]; its end-of-text is 50256): they load with can_encode = 0 and no special tokens.
 *
 * Encoding follows OpenAI's tiktoken exactly:
 *   1. With TOKENIZER_ALLOW_SPECIAL, each "<|endoftext|>" (and each special token's name) in the
 *      text becomes that token and the text between them is encoded separately; without it those
 *      strings are ordinary text.
 *   2. Pre-tokenization with GPT-2's pattern
 *        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *      (leftmost-first alternation, case-sensitive contractions, ASCII apostrophe and space only),
 *      hand-coded below over the classes in unicode_tables.h (Unicode 15.0).
 *      \s is Unicode White_Space, as in tiktoken's Rust regex and GPT-2's encoder.py; js-tiktoken
 *      (JavaScript RegExp) differs on two code points, U+0085 (not \s in JS) and U+FEFF (\s in
 *      JS): tokenizer_set_js_whitespace() switches to its meaning.
 *   3. Each piece: if its bytes are a token, that token; otherwise start from single bytes and
 *      repeatedly join the adjacent pair whose concatenation has the lowest rank (leftmost on ties).
 * Invalid UTF-8 never fails: each byte that is not part of a well-formed UTF-8 sequence (bad
 * lead byte, truncated sequence, overlong form, surrogate, > U+10FFFF) counts as one character
 * of class "other" (the class of U+FFFD, which tiktoken and js-tiktoken substitute for it), so
 * pieces split where they would after that substitution, but the original bytes are encoded:
 * decode(encode(x)) == x for every byte string x.
 *
 * Header-only; all functions static inline. Compiles as C11 and as C++ (nvcc).
 */
#ifndef LLMC_TOKENIZER_H
#define LLMC_TOKENIZER_H

#include "utils.h" // first: it sets the feature macros for the system headers

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unicode_tables.h"

#define TOKENIZER_MAGIC 20240328
#define TOKENIZER_EXT_MAGIC 20251203 // header[8]: a version 2 file with merges and special tokens
#define TOKENIZER_ALLOW_SPECIAL 1 // encode flag: "<|endoftext|>" in the text -> eot_token
#define TOKENIZER_NONE 0xFFFFFFFFu

typedef struct {
    uint64_t key;  // (left id << 32) | right id; TOKENIZER_PAIR_EMPTY if the slot is free
    uint32_t rank; // rank of the merged token (lower joins first)
    uint32_t id;   // merged token id
} TokenizerPair;
#define TOKENIZER_PAIR_EMPTY 0xFFFFFFFFFFFFFFFFull

typedef struct {
    uint64_t head; // the token's first 8 bytes, zero-padded (so short tokens compare in one step)
    uint32_t id1;  // token id + 1; 0 marks a free slot
    uint32_t len;  // the token's length in bytes
} TokenizerSlot;

typedef struct {
    uint32_t vocab_size; // ordinary tokens (GPT-2: 50257); the special tokens follow them
    uint32_t eot_token;
    int can_encode; // 1 if the file had merges (version 3 or extended version 2)
    int version;    // header[1]
    int extended;   // 1 for a version 2 file with the extension (merges and special tokens)
    uint32_t n_merges;
    uint32_t n_special;   // special tokens, ids vocab_size .. vocab_size + n_special - 1
    unsigned char *bytes; // all token bytes back to back
    uint32_t *offsets;    // (vocab_size + n_special + 1): token i is bytes[offsets[i] .. offsets[i+1])
    // encoder tables (only when can_encode)
    uint32_t byte_token[256]; // token of each single byte
    TokenizerPair *pairs;     // (pair_mask + 1) open-addressing table: adjacent pair -> merge
    uint64_t pair_mask;
    TokenizerSlot *lookup; // (lookup_mask + 1) open-addressing table: token bytes -> id
    uint64_t lookup_mask;
    unsigned ws_bit; // UCLASS_WS (tiktoken) or UCLASS_WS_JS (js-tiktoken)
    uint64_t stamp;  // hash of the file's contents: tells TokenBuf caches which tokenizer they hold
} Tokenizer;

// Cache of recent pieces that needed merging (real text repeats its words), per TokenBuf.
#define TOKENIZER_CACHE_SLOTS 8192 // power of two
#define TOKENIZER_CACHE_KEY 24     // longest piece cached, bytes
#define TOKENIZER_CACHE_IDS 12     // most tokens a cached piece may have
typedef struct {
    uint64_t hash;
    uint8_t key_len; // 0: empty slot
    uint8_t n_ids;
    unsigned char key[TOKENIZER_CACHE_KEY];
    uint32_t ids[TOKENIZER_CACHE_IDS];
} TokenizerCacheEntry;

// Growing output array of token ids plus the scratch space encoding needs. One per thread.
typedef struct {
    uint32_t *ids; // (len) the tokens appended so far
    size_t len;
    size_t cap;
    uint32_t *scratch; // BPE work arrays
    size_t scratch_cap;
    TokenizerCacheEntry *cache; // (TOKENIZER_CACHE_SLOTS), allocated on first use
    uint64_t cache_stamp;       // Tokenizer.stamp of the cached ids (0: none)
    unsigned cache_ws;          // and its whitespace flavor
} TokenBuf;

static inline void tokenbuf_init(TokenBuf *b) { memset(b, 0, sizeof(*b)); }

static inline void tokenbuf_free(TokenBuf *b) {
    free(b->ids);
    free(b->scratch);
    free(b->cache);
    memset(b, 0, sizeof(*b));
}

static inline void tokenbuf_reserve(TokenBuf *b, size_t extra) {
    if (b->len + extra <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + extra) {
        cap *= 2;
    }
    uint32_t *ids = (uint32_t *)realloc(b->ids, cap * sizeof(uint32_t));
    if (ids == NULL) {
        die("out of memory growing a token buffer to %zu tokens", cap);
    }
    b->ids = ids;
    b->cap = cap;
}

static inline void tokenbuf_push(TokenBuf *b, uint32_t id) {
    if (b->len == b->cap) {
        tokenbuf_reserve(b, 1);
    }
    b->ids[b->len++] = id;
}

static inline uint32_t *tokenbuf_scratch_(TokenBuf *b, size_t n) {
    if (n > b->scratch_cap) {
        free(b->scratch);
        b->scratch = (uint32_t *)malloc_check(n * sizeof(uint32_t));
        b->scratch_cap = n;
    }
    return b->scratch;
}

// ----------------------------------------------------------------------------
// hashing

static inline uint64_t tokenizer_hash_bytes_(const unsigned char *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    return h;
}

static inline uint64_t tokenizer_hash_pair_(uint64_t key) {
    key *= 0x9E3779B97F4A7C15ull;
    return key ^ (key >> 31);
}

static inline uint64_t tokenizer_head_(const unsigned char *p, size_t n) {
    uint64_t w = 0;
    memcpy(&w, p, n < 8 ? n : 8);
    return w;
}

// Token id whose bytes are exactly p[0..n) given h = tokenizer_hash_bytes_(p, n), or
// TOKENIZER_NONE. The end-of-text token is not in this table: its text is only special when asked.
static inline uint32_t tokenizer_lookup_h_(const Tokenizer *t, const unsigned char *p, size_t n,
                                           uint64_t h) {
    if (t->lookup == NULL || n == 0 || n > 255) {
        return TOKENIZER_NONE;
    }
    uint64_t head = tokenizer_head_(p, n);
    uint64_t i = h & t->lookup_mask;
    for (;;) {
        const TokenizerSlot *e = &t->lookup[i];
        if (e->id1 == 0) {
            return TOKENIZER_NONE;
        }
        if (e->head == head && e->len == n &&
            (n <= 8 || memcmp(t->bytes + t->offsets[e->id1 - 1] + 8, p + 8, n - 8) == 0)) {
            return e->id1 - 1;
        }
        i = (i + 1) & t->lookup_mask;
    }
}

static inline uint32_t tokenizer_lookup(const Tokenizer *t, const unsigned char *p, size_t n) {
    return tokenizer_lookup_h_(t, p, n, tokenizer_hash_bytes_(p, n));
}

static inline const TokenizerPair *tokenizer_pair_(const Tokenizer *t, uint32_t a, uint32_t b) {
    uint64_t key = ((uint64_t)a << 32) | b;
    uint64_t i = tokenizer_hash_pair_(key) & t->pair_mask;
    for (;;) {
        const TokenizerPair *e = &t->pairs[i];
        if (e->key == key) {
            return e;
        }
        if (e->key == TOKENIZER_PAIR_EMPTY) {
            return NULL;
        }
        i = (i + 1) & t->pair_mask;
    }
}

static inline uint32_t tokenizer_pair_rank_(const Tokenizer *t, uint32_t a, uint32_t b) {
    const TokenizerPair *e = tokenizer_pair_(t, a, b);
    return e ? e->rank : TOKENIZER_NONE;
}

static inline uint64_t tokenizer_pow2_at_least_(uint64_t n) {
    uint64_t p = 1024;
    while (p < n) {
        p *= 2;
    }
    return p;
}

// ----------------------------------------------------------------------------
// loading

static inline uint32_t tokenizer_fnv1a32_(const unsigned char *p, size_t n) {
    uint32_t h = 0x811C9DC5u;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x01000193u;
    }
    return h;
}

static inline void tokenizer_free(Tokenizer *t) {
    free(t->bytes);
    free(t->offsets);
    free(t->pairs);
    free(t->lookup);
    memset(t, 0, sizeof(*t));
}

// Builds the encoder tables from the merges. `merges` holds n_merges (left, right) pairs.
static inline void tokenizer_build_encoder_(Tokenizer *t, const unsigned char *merges, const char *path) {
    uint32_t V = t->vocab_size;
    // bytes -> id for every token but end-of-text (duplicates keep the lowest id)
    t->lookup_mask = tokenizer_pow2_at_least_((uint64_t)V + V / 4) - 1;
    t->lookup = (TokenizerSlot *)calloc_check(t->lookup_mask + 1, sizeof(TokenizerSlot));
    for (uint32_t id = 0; id < V; id++) {
        uint32_t off = t->offsets[id], n = t->offsets[id + 1] - off;
        if (id == t->eot_token || tokenizer_lookup(t, t->bytes + off, n) != TOKENIZER_NONE) {
            continue;
        }
        uint64_t i = tokenizer_hash_bytes_(t->bytes + off, n) & t->lookup_mask;
        while (t->lookup[i].id1 != 0) {
            i = (i + 1) & t->lookup_mask;
        }
        t->lookup[i].head = tokenizer_head_(t->bytes + off, n);
        t->lookup[i].id1 = id + 1;
        t->lookup[i].len = n;
    }
    for (int b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        t->byte_token[b] = tokenizer_lookup(t, &c, 1);
        if (t->byte_token[b] == TOKENIZER_NONE) {
            die("%s: no token for the single byte 0x%02x; a byte-level BPE needs all 256", path, b);
        }
    }
    // rank of each token: the first merge that produces it
    uint32_t *rank = (uint32_t *)malloc_check((size_t)V * sizeof(uint32_t));
    for (uint32_t id = 0; id < V; id++) {
        rank[id] = TOKENIZER_NONE;
    }
    unsigned char joined[512];
    for (uint32_t r = 0; r < t->n_merges; r++) {
        uint32_t ab[2];
        memcpy(ab, merges + (size_t)r * 8, 8);
        if (ab[0] >= V || ab[1] >= V || ab[0] == t->eot_token || ab[1] == t->eot_token) {
            die("%s: merge %u joins invalid token ids %u and %u", path, r, ab[0], ab[1]);
        }
        uint32_t na = t->offsets[ab[0] + 1] - t->offsets[ab[0]];
        uint32_t nb = t->offsets[ab[1] + 1] - t->offsets[ab[1]];
        memcpy(joined, t->bytes + t->offsets[ab[0]], na);
        memcpy(joined + na, t->bytes + t->offsets[ab[1]], nb);
        uint32_t id = tokenizer_lookup(t, joined, na + nb);
        if (id == TOKENIZER_NONE) {
            die("%s: merge %u (%u + %u) does not produce a token of the vocabulary", path, r, ab[0],
                ab[1]);
        }
        if (rank[id] == TOKENIZER_NONE) {
            rank[id] = r;
        }
    }
    // Every way to cut a merged token into two tokens is a pair that joins into it: tiktoken
    // joins any adjacent parts whose concatenation is a ranked token, not only the listed merges.
    size_t n_pairs = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            t->pair_mask = tokenizer_pow2_at_least_(2 * (uint64_t)n_pairs + 2) - 1;
            t->pairs = (TokenizerPair *)malloc_check((t->pair_mask + 1) * sizeof(TokenizerPair));
            for (uint64_t i = 0; i <= t->pair_mask; i++) {
                t->pairs[i].key = TOKENIZER_PAIR_EMPTY;
            }
        }
        for (uint32_t id = 0; id < V; id++) {
            if (rank[id] == TOKENIZER_NONE) {
                continue;
            }
            const unsigned char *p = t->bytes + t->offsets[id];
            uint32_t n = t->offsets[id + 1] - t->offsets[id];
            for (uint32_t k = 1; k < n; k++) {
                uint32_t a = tokenizer_lookup(t, p, k), b = tokenizer_lookup(t, p + k, n - k);
                if (a == TOKENIZER_NONE || b == TOKENIZER_NONE) {
                    continue;
                }
                // a part only exists if it is a single byte or was produced by a merge
                if ((k > 1 && rank[a] == TOKENIZER_NONE) || (n - k > 1 && rank[b] == TOKENIZER_NONE)) {
                    continue;
                }
                if (pass == 0) {
                    n_pairs++;
                    continue;
                }
                uint64_t key = ((uint64_t)a << 32) | b;
                uint64_t i = tokenizer_hash_pair_(key) & t->pair_mask;
                while (t->pairs[i].key != TOKENIZER_PAIR_EMPTY && t->pairs[i].key != key) {
                    i = (i + 1) & t->pair_mask;
                }
                if (t->pairs[i].key == key && t->pairs[i].rank <= rank[id]) {
                    continue;
                }
                t->pairs[i].key = key;
                t->pairs[i].rank = rank[id];
                t->pairs[i].id = id;
            }
        }
    }
    free(rank);
    t->can_encode = 1;
}

// Loads a tokenizer file; returns 0 with a one-line warning if the file does not exist and
// `missing_ok`, dies with a one-line error if it exists but is not a valid tokenizer file.
static inline int tokenizer_load_(Tokenizer *t, const char *path, int missing_ok) {
    memset(t, 0, sizeof(*t));
    t->ws_bit = UCLASS_WS;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        if (missing_ok && errno == ENOENT) {
            fprintf(stderr, "warning: %s not found; continuing without a tokenizer (token ids are "
                            "not decoded to text)\n", path);
            return 0;
        }
        die("cannot open tokenizer %s: %s", path, strerror(errno));
    }
    long long size = file_size_check(fp, path);
    if (size < 1024) {
        die("%s: not a tokenizer file: %lld bytes is shorter than the 1024-byte header", path, size);
    }
    uint32_t header[256];
    fread_check(header, sizeof(uint32_t), 256, fp, path);
    if (header[0] != TOKENIZER_MAGIC) {
        die("%s: not a tokenizer file (magic %u, expected %d)", path, header[0], TOKENIZER_MAGIC);
    }
    if (header[1] < 1 || header[1] > 3) {
        die("%s: unsupported tokenizer version %u (this build reads 1, 2 and 3)", path, header[1]);
    }
    t->version = (int)header[1];
    t->extended = t->version == 2 && header[8] == TOKENIZER_EXT_MAGIC;
    t->vocab_size = header[2];
    t->eot_token = header[3];
    if (t->version == 1) { // llm.c's first files had no end-of-text slot: GPT-2's is 50256
        if (t->vocab_size != 50257) {
            die("%s: version 1 tokenizer with %u tokens (only GPT-2's 50257 are known)", path,
                t->vocab_size);
        }
        t->eot_token = 50256;
    }
    if (t->vocab_size == 0 || t->vocab_size > (1u << 24) || t->eot_token >= t->vocab_size) {
        die("%s: bad header: vocab_size %u, end-of-text id %u", path, t->vocab_size, t->eot_token);
    }
    size_t payload = (size_t)(size - 1024);
    int has_merges = t->version == 3 || t->extended;
    // where the extension keeps its counts, size and checksum
    int s_merges = t->extended ? 9 : 4, s_payload = t->extended ? 11 : 5, s_hash = t->extended ? 12 : 6;
    if (has_merges) {
        t->n_merges = header[s_merges];
        t->n_special = t->extended ? header[10] : 0;
        if (header[s_payload] != payload) {
            die("%s: payload is %zu bytes but the header says %u (truncated or damaged file)", path,
                payload, header[s_payload]);
        }
        if (t->n_special > 4096 || t->n_merges > (1u << 26)) {
            die("%s: bad header: %u merges, %u special tokens", path, t->n_merges, t->n_special);
        }
    }
    unsigned char *data = (unsigned char *)malloc_check(payload ? payload : 1);
    fread_check(data, 1, payload, fp, path);
    fclose_check(fp, path);
    if (has_merges && tokenizer_fnv1a32_(data, payload) != header[s_hash]) {
        die("%s: checksum mismatch (damaged file)", path);
    }
    t->stamp = tokenizer_hash_bytes_(data, payload) | 1;
    // decode table: the ordinary tokens, then (extended files) the special tokens' names, which
    // sit after the merges in the file
    uint32_t n_all = t->vocab_size + t->n_special;
    t->offsets = (uint32_t *)malloc_check(((size_t)n_all + 1) * sizeof(uint32_t));
    size_t *starts = (size_t *)malloc_check(((size_t)n_all + 1) * sizeof(size_t));
    size_t pos = 0, nbytes = 0, merges_at = 0;
    for (uint32_t id = 0; id < n_all; id++) {
        if (id == t->vocab_size) {
            merges_at = pos;
            if ((size_t)t->n_merges * 8 > payload - pos) {
                die("%s: file is truncated in its %u merges", path, t->n_merges);
            }
            pos += (size_t)t->n_merges * 8;
        }
        if (pos >= payload || pos + 1 + data[pos] > payload) {
            die("%s: file is truncated in the entry of %s %u of %u", path,
                id < t->vocab_size ? "token" : "special token", id, n_all);
        }
        if (data[pos] == 0) {
            die("%s: token %u has length 0 (1..255 expected)", path, id);
        }
        starts[id] = pos;
        t->offsets[id] = (uint32_t)nbytes;
        nbytes += data[pos];
        pos += 1 + data[pos];
    }
    if (t->n_special == 0) {
        merges_at = pos;
        pos += has_merges ? (size_t)t->n_merges * 8 : 0;
    }
    t->offsets[n_all] = (uint32_t)nbytes;
    if (pos != payload) {
        die("%s: expected %zu payload bytes for %u tokens%s, found %zu", path, pos, t->vocab_size,
            has_merges ? (t->n_special ? ", their merges and the special tokens" : " and their merges") : "",
            payload);
    }
    t->bytes = (unsigned char *)malloc_check(nbytes ? nbytes : 1);
    for (uint32_t id = 0; id < n_all; id++) {
        memcpy(t->bytes + t->offsets[id], data + starts[id] + 1, data[starts[id]]);
    }
    free(starts);
    for (uint32_t i = 0; i < t->n_special; i++) { // special names must be distinct and not EOT's
        size_t na;
        const unsigned char *a = t->bytes + t->offsets[t->vocab_size + i];
        na = t->offsets[t->vocab_size + i + 1] - t->offsets[t->vocab_size + i];
        for (uint32_t j = 0; j <= i; j++) {
            uint32_t other = j < i ? t->vocab_size + j : t->eot_token;
            size_t nb = t->offsets[other + 1] - t->offsets[other];
            if (na == nb && memcmp(a, t->bytes + t->offsets[other], na) == 0) {
                die("%s: special token %u repeats the name of token %u", path, t->vocab_size + i, other);
            }
        }
    }
    if (has_merges) {
        tokenizer_build_encoder_(t, data + merges_at, path);
    }
    free(data);
    return 1;
}

static inline void tokenizer_init(Tokenizer *t, const char *path) { tokenizer_load_(t, path, 0); }

static inline int tokenizer_try_init(Tokenizer *t, const char *path) {
    return tokenizer_load_(t, path, 1);
}

// Selects js-tiktoken's meaning of \s (ECMAScript) instead of tiktoken's (Unicode White_Space).
static inline void tokenizer_set_js_whitespace(Tokenizer *t, int on) {
    t->ws_bit = on ? UCLASS_WS_JS : UCLASS_WS;
}

// Bytes of token `id` (not NUL-terminated), its length in *len; a special token's bytes are its
// name. NULL-safe: an id outside the vocabulary and the special tokens (e.g. a padded-vocabulary
// id a model sampled) returns NULL with *len = 0.
static inline const unsigned char *tokenizer_decode(const Tokenizer *t, uint32_t id, size_t *len) {
    if (t->offsets == NULL || id >= t->vocab_size + t->n_special) {
        *len = 0;
        return NULL;
    }
    *len = t->offsets[id + 1] - t->offsets[id];
    return t->bytes + t->offsets[id];
}

// ----------------------------------------------------------------------------
// pre-tokenization

#define TOKENIZER_CL_OTHER 0
#define TOKENIZER_CL_L 1
#define TOKENIZER_CL_N 2
#define TOKENIZER_CL_WS 3

// Decodes one UTF-8 character at s[i] (i < end). Returns its length; *cp is TOKENIZER_NONE for a
// byte that does not start a well-formed sequence (then the length is 1).
static inline size_t tokenizer_utf8_(const unsigned char *s, size_t i, size_t end, uint32_t *cp) {
    unsigned c = s[i];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t left = end - i;
    if (c >= 0xC2 && c <= 0xDF) {
        if (left >= 2 && (s[i + 1] & 0xC0) == 0x80) {
            *cp = ((c & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu);
            return 2;
        }
    } else if (c >= 0xE0 && c <= 0xEF) {
        if (left >= 3 && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80) {
            uint32_t v = ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
            if (v >= 0x800 && (v < 0xD800 || v > 0xDFFF)) {
                *cp = v;
                return 3;
            }
        }
    } else if (c >= 0xF0 && c <= 0xF4) {
        if (left >= 4 && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80 &&
            (s[i + 3] & 0xC0) == 0x80) {
            uint32_t v = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) |
                         ((s[i + 2] & 0x3Fu) << 6) | (s[i + 3] & 0x3Fu);
            if (v >= 0x10000 && v <= 0x10FFFF) {
                *cp = v;
                return 4;
            }
        }
    }
    *cp = TOKENIZER_NONE;
    return 1;
}

// Class bits of a code point from the generated tables.
static inline unsigned tokenizer_ucd_bits(uint32_t cp) {
    if (cp >= 0x110000) {
        return 0;
    }
    return unicode_stage2[(size_t)unicode_stage1[cp >> 8] * 256 + (cp & 255)];
}

// Class (TOKENIZER_CL_*) of the character at s[i]; its byte length in *len.
static inline unsigned tokenizer_class_at_(const Tokenizer *t, const unsigned char *s, size_t i,
                                           size_t end, size_t *len) {
    unsigned c = s[i];
    if (c < 0x80) {
        *len = 1;
        if ((c | 0x20) - 'a' < 26u) {
            return TOKENIZER_CL_L;
        }
        if (c - '0' < 10u) {
            return TOKENIZER_CL_N;
        }
        if (c == ' ' || (c >= 0x09 && c <= 0x0D)) {
            return TOKENIZER_CL_WS;
        }
        return TOKENIZER_CL_OTHER;
    }
    uint32_t cp;
    *len = tokenizer_utf8_(s, i, end, &cp);
    unsigned bits = tokenizer_ucd_bits(cp);
    if (bits & t->ws_bit) {
        return TOKENIZER_CL_WS;
    }
    if (bits & UCLASS_L) {
        return TOKENIZER_CL_L;
    }
    if (bits & UCLASS_N) {
        return TOKENIZER_CL_N;
    }
    return TOKENIZER_CL_OTHER;
}

// End of the run of characters of class `cl` that starts at s[i].
static inline size_t tokenizer_run_end_(const Tokenizer *t, const unsigned char *s, size_t i,
                                        size_t end, unsigned cl) {
    while (i < end) {
        size_t n;
        if (tokenizer_class_at_(t, s, i, end, &n) != cl) {
            break;
        }
        i += n;
    }
    return i;
}

// End of the pre-tokenizer piece that starts at s[i] (i < end), where `end` is the end of the
// text (or of the stretch between two special tokens): one match of GPT-2's pattern.
static inline size_t tokenizer_piece_end(const Tokenizer *t, const unsigned char *s, size_t i, size_t end) {
    unsigned c = s[i];
    if (c == '\'' && i + 1 < end) { // 's 't 're 've 'm 'll 'd
        unsigned c1 = s[i + 1];
        if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
            return i + 2;
        }
        if (i + 2 < end) {
            unsigned c2 = s[i + 2];
            if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
                return i + 3;
            }
        }
    }
    size_t n0;
    unsigned cl0 = tokenizer_class_at_(t, s, i, end, &n0);
    if (c == ' ' && i + 1 < end) { // ' ?' before a letter, number or other run
        size_t n1;
        unsigned cl1 = tokenizer_class_at_(t, s, i + 1, end, &n1);
        if (cl1 != TOKENIZER_CL_WS) {
            return tokenizer_run_end_(t, s, i + 1 + n1, end, cl1);
        }
    }
    if (cl0 != TOKENIZER_CL_WS) {
        return tokenizer_run_end_(t, s, i + n0, end, cl0);
    }
    // whitespace: \s+(?!\S) takes the run, less its last character if a non-space follows;
    // a single whitespace character before a non-space falls to \s+.
    size_t last = i, j = i + n0, count = 1;
    while (j < end) {
        size_t n;
        if (tokenizer_class_at_(t, s, j, end, &n) != TOKENIZER_CL_WS) {
            break;
        }
        last = j;
        j += n;
        count++;
    }
    if (j == end || count == 1) {
        return j;
    }
    return last;
}

// ----------------------------------------------------------------------------
// byte-pair encoding of one piece

// Long pieces: linked list of parts and a binary heap of (rank << 32 | start position).
static inline void tokenizer_bpe_long_(const Tokenizer *t, const unsigned char *p, size_t n, TokenBuf *out) {
    if (n >= 0x7FFFFFFFu) {
        die("tokenizer: a single pre-tokenizer piece of %zu bytes is too long to encode", n);
    }
    uint32_t m = (uint32_t)n;
    // Scratch: heap (2m entries of 8 bytes; it starts below m and each merge pops one entry and
    // pushes at most two, with at most m - 1 merges), then id[m], next[m], prev[m].
    uint64_t *heap = (uint64_t *)tokenbuf_scratch_(out, (size_t)m * 7);
    uint32_t *id = (uint32_t *)(heap + 2 * (size_t)m);
    uint32_t *next = id + m, *prev = next + m;
    size_t heap_len = 0;
    for (uint32_t i = 0; i < m; i++) {
        id[i] = t->byte_token[p[i]];
        next[i] = i + 1 < m ? i + 1 : TOKENIZER_NONE;
        prev[i] = i > 0 ? i - 1 : TOKENIZER_NONE;
    }
#define TOKENIZER_HEAP_PUSH_(v)                                                                   \
    do {                                                                                          \
        size_t k_ = heap_len++;                                                                   \
        uint64_t v_ = (v);                                                                        \
        while (k_ > 0 && heap[(k_ - 1) / 2] > v_) {                                               \
            heap[k_] = heap[(k_ - 1) / 2];                                                        \
            k_ = (k_ - 1) / 2;                                                                    \
        }                                                                                         \
        heap[k_] = v_;                                                                            \
    } while (0)
    for (uint32_t i = 0; i + 1 < m; i++) {
        uint32_t r = tokenizer_pair_rank_(t, id[i], id[i + 1]);
        if (r != TOKENIZER_NONE) {
            TOKENIZER_HEAP_PUSH_(((uint64_t)r << 32) | i);
        }
    }
    // Stale entries (a part merged away or changed) are skipped when popped.
    while (heap_len > 0) {
        uint64_t top = heap[0];
        uint64_t last = heap[--heap_len];
        size_t k = 0;
        for (;;) { // sift `last` down from the root
            size_t c = 2 * k + 1;
            if (c >= heap_len) {
                break;
            }
            if (c + 1 < heap_len && heap[c + 1] < heap[c]) {
                c++;
            }
            if (heap[c] >= last) {
                break;
            }
            heap[k] = heap[c];
            k = c;
        }
        if (heap_len > 0) {
            heap[k] = last;
        }
        uint32_t r = (uint32_t)(top >> 32), i = (uint32_t)top;
        if (id[i] == TOKENIZER_NONE || next[i] == TOKENIZER_NONE) {
            continue;
        }
        const TokenizerPair *e = tokenizer_pair_(t, id[i], id[next[i]]);
        if (e == NULL || e->rank != r) {
            continue;
        }
        uint32_t j = next[i];
        id[i] = e->id;
        id[j] = TOKENIZER_NONE;
        next[i] = next[j];
        if (next[j] != TOKENIZER_NONE) {
            prev[next[j]] = i;
        }
        if (prev[i] != TOKENIZER_NONE) {
            uint32_t rr = tokenizer_pair_rank_(t, id[prev[i]], id[i]);
            if (rr != TOKENIZER_NONE) {
                TOKENIZER_HEAP_PUSH_(((uint64_t)rr << 32) | prev[i]);
            }
        }
        if (next[i] != TOKENIZER_NONE) {
            uint32_t rr = tokenizer_pair_rank_(t, id[i], id[next[i]]);
            if (rr != TOKENIZER_NONE) {
                TOKENIZER_HEAP_PUSH_(((uint64_t)rr << 32) | i);
            }
        }
    }
#undef TOKENIZER_HEAP_PUSH_
    tokenbuf_reserve(out, m);
    for (uint32_t i = 0; i != TOKENIZER_NONE; i = next[i]) {
        out->ids[out->len++] = id[i];
    }
}

#define TOKENIZER_SHORT_PIECE 128

// Byte-pair merges of p[0..n) (2 <= n <= TOKENIZER_SHORT_PIECE) into ids; returns the count.
// The parts and the rank of each adjacent pair sit in small arrays; join the lowest, leftmost.
static inline size_t tokenizer_bpe_short_(const Tokenizer *t, const unsigned char *p, size_t n,
                                          uint32_t *id) {
    uint32_t rank[TOKENIZER_SHORT_PIECE];
    size_t m = n;
    for (size_t i = 0; i < m; i++) {
        id[i] = t->byte_token[p[i]];
    }
    for (size_t i = 0; i + 1 < m; i++) {
        rank[i] = tokenizer_pair_rank_(t, id[i], id[i + 1]);
    }
    while (m > 1) {
        size_t best = 0;
        uint32_t best_rank = rank[0];
        for (size_t i = 1; i + 1 < m; i++) {
            if (rank[i] < best_rank) {
                best_rank = rank[i];
                best = i;
            }
        }
        if (best_rank == TOKENIZER_NONE) {
            break;
        }
        id[best] = tokenizer_pair_(t, id[best], id[best + 1])->id;
        for (size_t i = best + 1; i + 1 < m; i++) {
            id[i] = id[i + 1];
            rank[i] = rank[i + 1];
        }
        m--;
        if (best + 1 < m) {
            rank[best] = tokenizer_pair_rank_(t, id[best], id[best + 1]);
        }
        if (best > 0) {
            rank[best - 1] = tokenizer_pair_rank_(t, id[best - 1], id[best]);
        }
    }
    return m;
}

// Appends the tokens of one pre-tokenizer piece p[0..n), n >= 1.
static inline void tokenizer_encode_piece(const Tokenizer *t, const unsigned char *p, size_t n,
                                          TokenBuf *out) {
    if (n == 1) {
        tokenbuf_push(out, t->byte_token[p[0]]);
        return;
    }
    uint64_t h = tokenizer_hash_bytes_(p, n);
    uint32_t whole = tokenizer_lookup_h_(t, p, n, h);
    if (whole != TOKENIZER_NONE) {
        tokenbuf_push(out, whole);
        return;
    }
    if (n > TOKENIZER_SHORT_PIECE) {
        tokenizer_bpe_long_(t, p, n, out);
        return;
    }
    TokenizerCacheEntry *e = NULL;
    if (n <= TOKENIZER_CACHE_KEY) {
        if (out->cache == NULL || out->cache_stamp != t->stamp || out->cache_ws != t->ws_bit) {
            if (out->cache == NULL) {
                out->cache = (TokenizerCacheEntry *)malloc_check(TOKENIZER_CACHE_SLOTS *
                                                                 sizeof(TokenizerCacheEntry));
            }
            memset(out->cache, 0, TOKENIZER_CACHE_SLOTS * sizeof(TokenizerCacheEntry));
            out->cache_stamp = t->stamp;
            out->cache_ws = t->ws_bit;
        }
        e = &out->cache[(h >> 40) & (TOKENIZER_CACHE_SLOTS - 1)];
        if (e->hash == h && e->key_len == n && memcmp(e->key, p, n) == 0) {
            tokenbuf_reserve(out, e->n_ids);
            memcpy(out->ids + out->len, e->ids, e->n_ids * sizeof(uint32_t));
            out->len += e->n_ids;
            return;
        }
    }
    uint32_t id[TOKENIZER_SHORT_PIECE];
    size_t m = tokenizer_bpe_short_(t, p, n, id);
    if (e != NULL && m <= TOKENIZER_CACHE_IDS) {
        e->hash = h;
        e->key_len = (uint8_t)n;
        e->n_ids = (uint8_t)m;
        memcpy(e->key, p, n);
        memcpy(e->ids, id, m * sizeof(uint32_t));
    }
    tokenbuf_reserve(out, m);
    memcpy(out->ids + out->len, id, m * sizeof(uint32_t));
    out->len += m;
}

// Encodes text that holds no special token: piece by piece.
static inline void tokenizer_encode_ordinary_(const Tokenizer *t, const unsigned char *s, size_t n,
                                       TokenBuf *out) {
    size_t i = 0;
    while (i < n) {
        size_t j = tokenizer_piece_end(t, s, i, n);
        tokenizer_encode_piece(t, s + i, j - i, out);
        i = j;
    }
}

// The special token (end-of-text or one of the file's special tokens) whose name starts s[0..n),
// or TOKENIZER_NONE; the longest name wins.
static inline uint32_t tokenizer_special_at_(const Tokenizer *t, const unsigned char *s, size_t n) {
    uint32_t best = TOKENIZER_NONE;
    size_t best_len = 0;
    for (uint32_t k = 0; k <= t->n_special; k++) {
        uint32_t id = k == 0 ? t->eot_token : t->vocab_size + k - 1;
        size_t len;
        const unsigned char *name = tokenizer_decode(t, id, &len);
        if (len <= n && len > best_len && memcmp(s, name, len) == 0) {
            best = id;
            best_len = len;
        }
    }
    return best;
}

// Id of the special token named `name` ("<|endoftext|>" or one of the file's special tokens), or
// TOKENIZER_NONE if the file has no such token.
static inline uint32_t tokenizer_special_id(const Tokenizer *t, const char *name) {
    size_t n = strlen(name);
    uint32_t id = tokenizer_special_at_(t, (const unsigned char *)name, n);
    size_t len;
    if (id != TOKENIZER_NONE) {
        tokenizer_decode(t, id, &len);
        if (len != n) {
            id = TOKENIZER_NONE;
        }
    }
    return id;
}

// Appends the tokens of text[0..n) to out. flags: TOKENIZER_ALLOW_SPECIAL or 0. With it, the
// names of the special tokens ("<|endoftext|>", and the chat markers of an extended file) in the
// text become those tokens; without it they are plain text. Dies if the tokenizer cannot encode
// (a plain version 2 file). Thread-safe given one TokenBuf per thread.
static inline void tokenizer_encode(const Tokenizer *t, const void *text, size_t n, int flags,
                             TokenBuf *out) {
    if (!t->can_encode) {
        die("tokenizer: this tokenizer file has no merges (version %d, decode only); build one "
            "that encodes with `make gpt2_tokenizer.bin`", t->version);
    }
    const unsigned char *s = (const unsigned char *)text;
    if (!(flags & TOKENIZER_ALLOW_SPECIAL)) {
        tokenizer_encode_ordinary_(t, s, n, out);
        return;
    }
    unsigned char first[256] = {0}; // first bytes of the special names
    for (uint32_t k = 0; k <= t->n_special; k++) {
        size_t len;
        const unsigned char *name = tokenizer_decode(t, k == 0 ? t->eot_token : t->vocab_size + k - 1, &len);
        first[name[0]] = 1;
    }
    size_t start = 0, i = 0;
    while (i < n) {
        if (!first[s[i]]) {
            i++;
            continue;
        }
        uint32_t id = tokenizer_special_at_(t, s + i, n - i);
        if (id == TOKENIZER_NONE) {
            i++;
            continue;
        }
        size_t len;
        tokenizer_decode(t, id, &len);
        tokenizer_encode_ordinary_(t, s + start, i - start, out);
        tokenbuf_push(out, id);
        i += len;
        start = i;
    }
    tokenizer_encode_ordinary_(t, s + start, n - start, out);
}

#endif // LLMC_TOKENIZER_H
