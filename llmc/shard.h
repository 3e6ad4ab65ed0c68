/*
 * shard.h: the token shard file format: header checks, reader pieces and an atomic writer.
 * The one home of this format; tokenize.c, llmc/dataloader.h and the tests use it.
 *
 * File (little-endian; doc/formats.md "Token shards"):
 *   header: 256 x int32: [0] magic 20240520  [1] version  [2] N (number of tokens, read as uint32)
 *   version 1 (llm.c's): N uint16 tokens; file size 1024 + 2N.
 *   version 2 (ours, masked): N uint16 tokens, then N uint8 mask bytes (0 or 1); size 1024 + 3N.
 *     mask[i] = 1: token i counts as a training target (the loss of predicting token i from the
 *     tokens before it is part of the mean); 0: it is context only (a prompt, a user turn).
 *     llm.c's reader and older builds of ours refuse version 2 (they accept only version 1), so
 *     a masked shard is never mistaken for plain text.
 *
 * Header-only; all functions static inline. Compiles as C11 and as C++ (nvcc).
 */
#ifndef LLMC_SHARD_H
#define LLMC_SHARD_H

#include "utils.h" // first: it sets the feature macros for the system headers

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHARD_MAGIC 20240520
#define SHARD_VERSION_TOKENS 1 // llm.c's
#define SHARD_VERSION_MASKED 2 // tokens + loss mask
#define SHARD_HEADER_BYTES 1024

typedef struct {
    int version;       // SHARD_VERSION_TOKENS or SHARD_VERSION_MASKED
    size_t num_tokens; // N
} ShardInfo;

// Bytes per token in the payload: 2 for the token, plus 1 for the mask byte in version 2.
static inline long long shard_bytes_per_token(int version) {
    return version == SHARD_VERSION_MASKED ? 3 : 2;
}

// Byte offset of token i, and of its mask byte (version 2).
static inline long long shard_token_offset(size_t i) {
    return SHARD_HEADER_BYTES + 2LL * (long long)i;
}
static inline long long shard_mask_offset(const ShardInfo *info, size_t i) {
    return SHARD_HEADER_BYTES + 2LL * (long long)info->num_tokens + (long long)i;
}

// Checks a shard's header against its file size; dies with one line naming the file.
static inline ShardInfo shard_check_header(const int32_t *header, long long size, const char *path) {
    if (header[0] != SHARD_MAGIC) {
        die("%s: wrong magic %d, expected %d (not a token shard)", path, (int)header[0], SHARD_MAGIC);
    }
    if (header[1] != SHARD_VERSION_TOKENS && header[1] != SHARD_VERSION_MASKED) {
        die("%s: unsupported token shard version %d, expected %d (tokens) or %d (tokens + loss mask)",
            path, (int)header[1], SHARD_VERSION_TOKENS, SHARD_VERSION_MASKED);
    }
    ShardInfo info;
    info.version = header[1];
    // N is stored as int32; treat it as unsigned so a shard of 2^31..2^32-1 tokens still loads
    long long n = (long long)(uint32_t)header[2];
    long long want = SHARD_HEADER_BYTES + shard_bytes_per_token(info.version) * n;
    if (size < want) {
        die("%s: truncated: header says %lld tokens%s, so %lld bytes, but the file has %lld", path, n,
            info.version == SHARD_VERSION_MASKED ? " with mask" : "", want, size);
    }
    if (size > want) {
        die("%s: size mismatch: header says %lld tokens%s, so %lld bytes, but the file has %lld",
            path, n, info.version == SHARD_VERSION_MASKED ? " with mask" : "", want, size);
    }
    info.num_tokens = (size_t)n;
    return info;
}

// Opens a shard, checks header and size, closes it.
static inline ShardInfo shard_check_file(const char *path) {
    FILE *fp = fopen_check(path, "rb");
    long long size = file_size_check(fp, path);
    if (size < SHARD_HEADER_BYTES) {
        die("%s: truncated: %lld bytes, shorter than the %d-byte header of a token shard", path, size,
            SHARD_HEADER_BYTES);
    }
    int32_t header[LLMC_HEADER_INTS];
    read_header_check(fp, header, path);
    fclose_check(fp, path);
    return shard_check_header(header, size, path);
}

// n little-endian uint16 from raw bytes, on any host.
static inline void shard_decode_tokens(uint16_t *dst, const unsigned char *raw, size_t n) {
    for (size_t k = 0; k < n; k++) {
        dst[k] = (uint16_t)(raw[2 * k] | ((unsigned)raw[2 * k + 1] << 8));
    }
}

// Reads a whole shard after checking it. Returns the tokens; *mask gets the mask (version 2) or
// NULL (version 1) when mask is not NULL. A mask byte other than 0 or 1 is an error.
static inline uint16_t *shard_read_all(const char *path, ShardInfo *info, uint8_t **mask) {
    *info = shard_check_file(path);
    size_t n = info->num_tokens;
    FILE *fp = fopen_check(path, "rb");
    fseek_check(fp, SHARD_HEADER_BYTES, SEEK_SET, path);
    unsigned char *raw = (unsigned char *)malloc_check(2 * n + 1);
    fread_check(raw, 2, n, fp, path);
    uint16_t *tok = (uint16_t *)malloc_check(n * sizeof(uint16_t) + 1);
    shard_decode_tokens(tok, raw, n);
    free(raw);
    uint8_t *m = NULL;
    if (info->version == SHARD_VERSION_MASKED) {
        m = (uint8_t *)malloc_check(n + 1);
        fread_check(m, 1, n, fp, path);
        for (size_t i = 0; i < n; i++) {
            if (m[i] > 1) {
                die("%s: mask byte %u at token %zu (0 or 1 expected)", path, m[i], i);
            }
        }
    }
    fclose_check(fp, path);
    if (mask != NULL) {
        *mask = m;
    } else {
        free(m);
    }
    return tok;
}

// ----------------------------------------------------------------------------
// writer: tokens stream to a temporary file; the mask (version 2) is kept in memory and appended
// at close, then the header is filled in and the file renamed into place (never half-written).

typedef struct {
    FILE *fp;
    char path[4096], tmp[4104];
    int version;
    uint64_t n;        // tokens written
    uint8_t *mask;     // (mask_cap) version 2 only
    size_t mask_cap;
    unsigned char buf[1 << 16];
    size_t buf_len;
} ShardWriterFile;

static inline void shard_writer_open(ShardWriterFile *w, const char *path, int masked) {
    if (strlen(path) >= sizeof(w->path)) {
        die("path too long: %s", path);
    }
    strcpy(w->path, path);
    tmp_path_for(w->tmp, sizeof(w->tmp), path);
    w->fp = fopen_check(w->tmp, "wb");
    w->version = masked ? SHARD_VERSION_MASKED : SHARD_VERSION_TOKENS;
    w->n = 0;
    w->mask = NULL;
    w->mask_cap = 0;
    w->buf_len = 0;
    static const int32_t zero[LLMC_HEADER_INTS] = {0};
    fwrite_check(zero, sizeof(int32_t), LLMC_HEADER_INTS, w->fp, w->tmp);
}

// Appends n tokens (each < 65536) and, for a masked shard, their mask bytes (NULL: all 1).
static inline void shard_writer_append(ShardWriterFile *w, const uint32_t *ids, const uint8_t *mask, size_t n) {
    if (w->n + n > UINT32_MAX) {
        die("%s: more than %u tokens in one shard", w->tmp, UINT32_MAX);
    }
    for (size_t k = 0; k < n; k++) {
        if (ids[k] > 0xFFFF) {
            die("token id %u does not fit a uint16 shard", ids[k]);
        }
        if (w->buf_len + 2 > sizeof(w->buf)) {
            fwrite_check(w->buf, 1, w->buf_len, w->fp, w->tmp);
            w->buf_len = 0;
        }
        w->buf[w->buf_len++] = (unsigned char)(ids[k] & 0xFF);
        w->buf[w->buf_len++] = (unsigned char)(ids[k] >> 8);
    }
    if (w->version == SHARD_VERSION_MASKED) {
        if (w->n + n > w->mask_cap) {
            size_t cap = w->mask_cap ? w->mask_cap : 65536;
            while (cap < w->n + n) cap *= 2;
            uint8_t *m = (uint8_t *)realloc(w->mask, cap);
            if (m == NULL) die("out of memory growing a shard mask to %zu bytes", cap);
            w->mask = m;
            w->mask_cap = cap;
        }
        for (size_t k = 0; k < n; k++) {
            w->mask[w->n + k] = mask == NULL ? 1 : (mask[k] ? 1 : 0);
        }
    }
    w->n += n;
}

static inline void shard_writer_close(ShardWriterFile *w) {
    if (w->buf_len) {
        fwrite_check(w->buf, 1, w->buf_len, w->fp, w->tmp);
        w->buf_len = 0;
    }
    if (w->version == SHARD_VERSION_MASKED && w->n) {
        fwrite_check(w->mask, 1, (size_t)w->n, w->fp, w->tmp);
    }
    free(w->mask);
    w->mask = NULL;
    int32_t h[LLMC_HEADER_INTS];
    memset(h, 0, sizeof(h));
    h[0] = SHARD_MAGIC;
    h[1] = w->version;
    h[2] = (int32_t)(uint32_t)w->n;
    fseek_check(w->fp, 0, SEEK_SET, w->tmp);
    fwrite_check(h, sizeof(int32_t), LLMC_HEADER_INTS, w->fp, w->tmp);
    commit_file(w->fp, w->tmp, w->path);
    w->fp = NULL;
}

#endif // LLMC_SHARD_H
