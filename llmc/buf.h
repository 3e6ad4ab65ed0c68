/*
 * buf.h: a growable byte buffer (the one string builder of the web-cleaning headers).
 *
 *   Buf b = {0};  buf_put(&b, p, n);  buf_putc(&b, 'x');  buf_puts(&b, "s");  free(b.data);
 *
 * data is always NUL-terminated after a put, so text can be handed to C string functions.
 */
#ifndef LLMC_BUF_H
#define LLMC_BUF_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "utils.h"

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

// Room for `extra` more bytes plus the terminating NUL.
static inline void buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        cap *= 2;
    }
    char *p = (char *)realloc(b->data, cap);
    if (p == NULL) {
        die("out of memory (buffer of %zu bytes)", cap);
    }
    b->data = p;
    b->cap = cap;
}

static inline void buf_put(Buf *b, const void *p, size_t n) {
    buf_reserve(b, n);
    if (n) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
}

static inline void buf_putc(Buf *b, char c) {
    if (b->len + 2 > b->cap) {
        buf_reserve(b, 1);
    }
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

static inline void buf_puts(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static inline void buf_clear(Buf *b) {
    b->len = 0;
    if (b->data) {
        b->data[0] = '\0';
    }
}

// Shrinks a buffer that grew for one huge item, so memory stays bounded over a long run.
static inline void buf_trim(Buf *b, size_t keep_cap) {
    if (b->cap > keep_cap && b->len < keep_cap) {
        char *p = (char *)realloc(b->data, keep_cap);
        if (p) {
            b->data = p;
            b->cap = keep_cap;
        }
    }
}

#endif
