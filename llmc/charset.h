/*
 * charset.h: web page bytes to valid UTF-8.
 *
 * The encoding is taken, in order, from a byte-order mark, the HTTP Content-Type charset, a
 * <meta charset> / <meta http-equiv content="...; charset=..."> in the first 4 KiB (the HTML5
 * prescan), and otherwise guessed: valid UTF-8 stays UTF-8, anything else is windows-1252 (what
 * browsers assume for an unlabeled Western page). Labels map as in the WHATWG Encoding standard
 * (latin1/iso-8859-1/ascii are windows-1252, shift_jis is windows-31j, gb2312/gbk are gb18030),
 * conversion is glibc's iconv, and every undecodable byte becomes U+FFFD, so the output is always
 * valid UTF-8.
 *
 *   Charset cs = {0};                       // one per thread (iconv handles are not shared)
 *   const char *used = charset_to_utf8(&cs, http_charset, page, n, &out);
 *   used = charset_utf8_view(&cs, http_charset, page, n, &out, &text, &len);  // no copy when valid
 *   charset_free(&cs);
 */
#ifndef LLMC_CHARSET_H
#define LLMC_CHARSET_H

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

#define CHARSET_CACHE 8

typedef struct {
    char name[CHARSET_CACHE][32];
    iconv_t cd[CHARSET_CACHE];
    int n;
    char used[32]; // the last conversion's encoding name
} Charset;

static inline void charset_free(Charset *cs) {
    for (int i = 0; i < cs->n; i++) {
        iconv_close(cs->cd[i]);
    }
    cs->n = 0;
}

// Length of the valid UTF-8 sequence at p (1..4), or 0 if the bytes there are not one
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
static inline int utf8_valid_len(const unsigned char *p, size_t n) {
    unsigned c = p[0];
    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        return (n >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) {
            return 0;
        }
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0)) {
            return 0; // overlong, surrogate
        }
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) {
            return 0;
        }
        if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90)) {
            return 0;
        }
        return 4;
    }
    return 0;
}

static inline int utf8_is_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            uint64_t w; // then 8 bytes at a time while they are all ASCII
            while (i + 8 <= n && (memcpy(&w, p + i, 8), (w & 0x8080808080808080ull) == 0)) {
                i += 8;
            }
            continue;
        }
        int k = utf8_valid_len(p + i, n - i);
        if (k == 0) {
            return 0;
        }
        i += (size_t)k;
    }
    return 1;
}

// Appends s with every invalid sequence replaced by U+FFFD; returns how many were replaced.
static inline size_t utf8_repair(const char *s, size_t n, Buf *out) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, bad = 0;
    buf_reserve(out, n);
    while (i < n) {
        size_t run = i;
        while (run < n && p[run] < 0x80) {
            run++;
        }
        if (run > i) {
            buf_put(out, s + i, run - i);
            i = run;
            continue;
        }
        int k = utf8_valid_len(p + i, n - i);
        if (k) {
            buf_put(out, s + i, (size_t)k);
            i += (size_t)k;
        } else {
            buf_put(out, "\xEF\xBF\xBD", 3);
            i++;
            bad++;
        }
    }
    return bad;
}

// Binary payloads (images, PDFs, archives served as text/html) are not pages: NUL bytes or many
// control characters in the first 4 KiB.
static inline int looks_binary(const char *s, size_t n) {
    size_t m = n < 4096 ? n : 4096, ctrl = 0;
    for (size_t i = 0; i < m; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0) {
            return 1;
        }
        if (c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' && c != 0x1b) {
            ctrl++;
        }
    }
    return m > 0 && ctrl * 10 > m; // more than 10% control bytes
}

// Maps a charset label to an iconv name (WHATWG aliases); "" for UTF-8.
static inline const char *charset_canonical(const char *label) {
    static const char *const map[][2] = {
        {"utf-8", ""}, {"utf8", ""}, {"unicode-1-1-utf-8", ""},
        {"iso-8859-1", "WINDOWS-1252"}, {"iso8859-1", "WINDOWS-1252"}, {"latin1", "WINDOWS-1252"},
        {"l1", "WINDOWS-1252"}, {"us-ascii", "WINDOWS-1252"}, {"ascii", "WINDOWS-1252"},
        {"windows-1252", "WINDOWS-1252"}, {"cp1252", "WINDOWS-1252"}, {"x-cp1252", "WINDOWS-1252"},
        {"shift_jis", "CP932"}, {"shift-jis", "CP932"}, {"sjis", "CP932"}, {"x-sjis", "CP932"},
        {"ms_kanji", "CP932"}, {"windows-31j", "CP932"}, {"csshiftjis", "CP932"},
        {"gb2312", "GB18030"}, {"gbk", "GB18030"}, {"x-gbk", "GB18030"}, {"gb18030", "GB18030"},
        {"euc-kr", "CP949"}, {"ks_c_5601-1987", "CP949"}, {"big5", "BIG5-HKSCS"},
        {"iso-8859-9", "WINDOWS-1254"}, {"tis-620", "WINDOWS-874"}, {"iso-8859-11", "WINDOWS-874"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcasecmp(label, map[i][0]) == 0) {
            return map[i][1];
        }
    }
    return label;
}

// The HTML5 prescan, simplified: the first <meta> in the first 4 KiB naming a charset.
static inline int charset_from_meta(const char *s, size_t n, char *out, size_t cap) {
    size_t m = n < 4096 ? n : 4096;
    for (size_t i = 0; i + 5 < m; i++) {
        if (s[i] != '<' || strncasecmp(s + i + 1, "meta", 4) != 0) {
            continue;
        }
        const char *end = (const char *)memchr(s + i, '>', m - i);
        if (end == NULL) {
            return 0;
        }
        for (const char *p = s + i; p + 8 <= end; p++) {
            if (strncasecmp(p, "charset", 7) != 0) {
                continue;
            }
            p += 7;
            while (p < end && (*p == ' ' || *p == '=' || *p == '"' || *p == '\'')) {
                p++;
            }
            size_t k = 0;
            while (p < end && k + 1 < cap && *p != '"' && *p != '\'' && *p != ';' && *p != ' ' && *p != '/') {
                out[k++] = *p++;
            }
            out[k] = '\0';
            if (k > 0) {
                return 1;
            }
        }
        i = (size_t)(end - s);
    }
    return 0;
}

static inline iconv_t charset_open_(Charset *cs, const char *name) {
    for (int i = 0; i < cs->n; i++) {
        if (strcmp(cs->name[i], name) == 0) {
            iconv(cs->cd[i], NULL, NULL, NULL, NULL); // reset shift state
            return cs->cd[i];
        }
    }
    iconv_t cd = iconv_open("UTF-8", name);
    if (cd == (iconv_t)-1) {
        return cd;
    }
    if (cs->n == CHARSET_CACHE) {
        iconv_close(cs->cd[0]);
        memmove(&cs->name[0], &cs->name[1], sizeof(cs->name[0]) * (CHARSET_CACHE - 1));
        memmove(&cs->cd[0], &cs->cd[1], sizeof(cs->cd[0]) * (CHARSET_CACHE - 1));
        cs->n--;
    }
    snprintf(cs->name[cs->n], sizeof(cs->name[0]), "%s", name);
    cs->cd[cs->n++] = cd;
    return cd;
}

// The page as UTF-8 in text[0..len): the page itself (past a BOM) when it is valid UTF-8 already,
// as most are, else its conversion, written into `out` (cleared first). text[len] is a NUL when
// the page has one after its n bytes. Returns the encoding used ("utf-8" or the iconv name);
// `http_charset` may be NULL or "".
static inline const char *charset_utf8_view(Charset *cs, const char *http_charset, const char *s, size_t n,
                                            Buf *out, const char **text, size_t *len) {
    buf_clear(out);
    const char *name = NULL;
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        s += 3;
        n -= 3;
        name = "";
    } else if (n >= 2 && (memcmp(s, "\xFF\xFE", 2) == 0 || memcmp(s, "\xFE\xFF", 2) == 0)) {
        name = (unsigned char)s[0] == 0xFF ? "UTF-16LE" : "UTF-16BE";
        s += 2;
        n -= 2;
    }
    char meta[32];
    if (name == NULL && http_charset && http_charset[0]) {
        name = charset_canonical(http_charset);
    }
    if (name == NULL && charset_from_meta(s, n, meta, sizeof(meta))) {
        name = charset_canonical(meta);
    }
    int valid = 0; // known to be valid UTF-8: copied as is below
    if (name == NULL) {
        valid = utf8_is_valid(s, n);
        name = valid ? "" : "WINDOWS-1252";
    }
    iconv_t cd = (iconv_t)-1;
    if (name[0] && (cd = charset_open_(cs, name)) == (iconv_t)-1) {
        name = ""; // unknown label: read it as UTF-8, repairing what is not
    }
    if (name[0] == '\0') {
        if (valid || utf8_is_valid(s, n)) {
            *text = s;
            *len = n;
        } else {
            utf8_repair(s, n, out);
            *text = out->data;
            *len = out->len;
        }
        return "utf-8";
    }
    char *in = (char *)s;
    size_t in_left = n;
    buf_reserve(out, n * 2 + 16);
    while (in_left > 0) {
        char *o = out->data + out->len;
        size_t o_left = out->cap - out->len - 1;
        size_t rc = iconv(cd, &in, &in_left, &o, &o_left);
        out->len = (size_t)(o - out->data);
        if (rc != (size_t)-1) {
            break;
        }
        if (errno == E2BIG) {
            buf_reserve(out, in_left * 2 + 64);
        } else { // EILSEQ or EINVAL (cut-off sequence): one replacement character per bad byte
            buf_put(out, "\xEF\xBF\xBD", 3);
            in++;
            in_left--;
        }
    }
    out->data[out->len] = '\0';
    *text = out->data;
    *len = out->len;
    snprintf(cs->used, sizeof(cs->used), "%s", name); // name may point into this frame (meta)
    return cs->used;
}

// Converts a page to UTF-8 into `out` (cleared first): charset_utf8_view, always copied.
static inline const char *charset_to_utf8(Charset *cs, const char *http_charset, const char *s, size_t n,
                                          Buf *out) {
    const char *text;
    size_t len;
    const char *used = charset_utf8_view(cs, http_charset, s, n, out, &text, &len);
    if (out->data == NULL || text != out->data) {
        buf_put(out, text, len);
    }
    return used;
}

#endif
