/*
 * json_write.h: JSON text written into a Buf: strings escaped per RFC 8259 (written as UTF-8,
 * only control characters, quote and backslash escaped; bytes that are not UTF-8, as a crawled
 * URL can hold, become U+FFFD so every line stays valid JSON), numbers that are always finite.
 */
#ifndef LLMC_JSON_WRITE_H
#define LLMC_JSON_WRITE_H

#include <math.h>
#include <stdio.h>

#include "buf.h"
#include "charset.h"

static inline void json_string(Buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    buf_reserve(b, n + 2);
    buf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            int k = utf8_valid_len((const unsigned char *)s + i, n - i);
            if (k) {
                i += (size_t)k - 1;
                continue;
            }
            buf_put(b, s + run, i - run);
            buf_put(b, "\xEF\xBF\xBD", 3);
            run = i + 1;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
            continue;
        }
        buf_put(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': buf_put(b, "\\\"", 2); break;
        case '\\': buf_put(b, "\\\\", 2); break;
        case '\n': buf_put(b, "\\n", 2); break;
        case '\t': buf_put(b, "\\t", 2); break;
        case '\r': buf_put(b, "\\r", 2); break;
        default: {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_put(b, e, 6);
        }
        }
    }
    buf_put(b, s + run, n - run);
    buf_putc(b, '"');
}

static inline void json_cstr(Buf *b, const char *s) { json_string(b, s, strlen(s)); }

// "key": at the current position (the caller writes the separators).
static inline void json_key(Buf *b, const char *key) {
    json_cstr(b, key);
    buf_putc(b, ':');
}

static inline void json_num(Buf *b, double v) {
    char tmp[40];
    if (!isfinite(v)) {
        v = 0; // JSON has no NaN/Inf; measures are ratios of finite counts, so this never fires
    }
    int k = (v == (double)(long long)v && fabs(v) < 1e15) ? snprintf(tmp, sizeof(tmp), "%lld", (long long)v)
                                                          : snprintf(tmp, sizeof(tmp), "%.4g", v);
    buf_put(b, tmp, (size_t)k);
}

#endif
