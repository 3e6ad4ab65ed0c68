/*
 * words.h: text cut into words, the unit of the quality rules and of near-duplicate shingles.
 *
 * A word is a run of non-space characters, except that each CJK ideograph, kana or fullwidth
 * form is a word by itself (Chinese and Japanese do not separate words with spaces; one
 * character per word is the usual fallback when no segmenter is at hand). Spaces are ASCII
 * whitespace and U+3000 (ideographic space).
 *
 *   Words w = {0};  words_split(text, n, &w);  w.off[i], w.len[i] (bytes), w.chars[i];  words_free(&w);
 */
#ifndef LLMC_WORDS_H
#define LLMC_WORDS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utils.h"

typedef struct {
    uint32_t *off, *len;
    uint32_t *chars; // characters in each word: utf8_chars() of it, counted during the split
    size_t n, cap;
    size_t cjk; // how many words were single CJK characters
} Words;

// Code point at s (valid UTF-8 assumed, as all text here is repaired first); *k its length.
static inline uint32_t utf8_decode(const unsigned char *s, size_t n, int *k) {
    unsigned c = s[0];
    if (c < 0x80 || n < 2) {
        *k = 1;
        return c;
    }
    if (c < 0xE0) {
        *k = 2;
        return ((c & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if (c < 0xF0 || n < 4) {
        if (n < 3) {
            *k = 1;
            return c;
        }
        *k = 3;
        return ((c & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    }
    *k = 4;
    return ((c & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

static inline int is_cjk_char(uint32_t cp) {
    return (cp >= 0x3040 && cp <= 0x30FF) ||  // hiragana, katakana
           (cp >= 0x3400 && cp <= 0x4DBF) ||  // CJK extension A
           (cp >= 0x4E00 && cp <= 0x9FFF) ||  // CJK unified ideographs
           (cp >= 0xF900 && cp <= 0xFAFF) ||  // compatibility ideographs
           (cp >= 0xFF00 && cp <= 0xFFEF) ||  // fullwidth forms
           (cp >= 0x3000 && cp <= 0x303F && cp != 0x3000) || // CJK punctuation
           (cp >= 0x20000 && cp <= 0x2FFFF);
}

static inline void words_push_(Words *w, size_t off, size_t len, size_t chars) {
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 1024;
        w->off = (uint32_t *)realloc(w->off, w->cap * sizeof(uint32_t));
        w->len = (uint32_t *)realloc(w->len, w->cap * sizeof(uint32_t));
        w->chars = (uint32_t *)realloc(w->chars, w->cap * sizeof(uint32_t));
        if (w->off == NULL || w->len == NULL || w->chars == NULL) {
            die("out of memory (words)");
        }
    }
    w->off[w->n] = (uint32_t)off;
    w->len[w->n] = (uint32_t)len;
    w->chars[w->n] = (uint32_t)chars;
    w->n++;
}

// ASCII whitespace: space, \t \n \v \f \r.
static inline int words_space_(unsigned c) { return c <= ' ' && ((0x100003E00ull >> c) & 1); }

// Character starts (bytes that are not 10xxxxxx) among s[0..k).
static inline size_t words_starts_(const unsigned char *s, int k) {
    size_t c = 0;
    for (int j = 0; j < k; j++) {
        c += (s[j] & 0xC0) != 0x80;
    }
    return c;
}

// Texts are far below 4 GiB (records are capped), so 32-bit offsets suffice. A word's character
// count is that of utf8_chars() over its bytes, whatever they are (the quality rules count
// characters per word; counting here saves a second pass over every word). The loop runs word by
// word with a tight inner loop over ASCII letters, the bulk of most texts.
static inline void words_split(const char *text, size_t n, Words *w) {
    const unsigned char *s = (const unsigned char *)text;
    w->n = 0;
    w->cjk = 0;
    size_t i = 0;
    while (i < n) { // here i is between words
        unsigned c = s[i];
        if (c < 0x80 && words_space_(c)) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            int k;
            uint32_t cp = utf8_decode(s + i, n - i, &k);
            if (cp == 0x3000 || cp == 0xA0) { // ideographic and no-break spaces
                i += (size_t)k;
                continue;
            }
            if (is_cjk_char(cp)) { // a word by itself
                words_push_(w, i, (size_t)k, words_starts_(s + i, k));
                w->cjk++;
                i += (size_t)k;
                continue;
            }
        }
        // a word: up to a space or a CJK character
        size_t start = i, chars = 0;
        for (;;) {
            size_t j = i;
            while (j < n && s[j] < 0x80 && !words_space_(s[j])) {
                j++;
            }
            chars += j - i;
            i = j;
            if (i == n || s[i] < 0x80) {
                break;
            }
            int k;
            uint32_t cp = utf8_decode(s + i, n - i, &k);
            if (cp == 0x3000 || cp == 0xA0 || is_cjk_char(cp)) {
                break;
            }
            chars += words_starts_(s + i, k);
            i += (size_t)k;
        }
        words_push_(w, start, i - start, chars);
    }
}

static inline void words_free(Words *w) {
    free(w->off);
    free(w->len);
    free(w->chars);
    w->off = w->len = w->chars = NULL;
    w->n = w->cap = 0;
}

// Characters in s[0..n): the bytes that are not UTF-8 continuation bytes (10xxxxxx), counted
// 8 at a time (bit 7 set and bit 6 clear; x << 1 moves each byte's bit 6 onto its bit 7). Texts
// are counted whole several times per page, and -O2 leaves the byte loop scalar.
static inline size_t utf8_chars(const char *s, size_t n) {
    size_t cont = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        cont += (size_t)__builtin_popcountll(x & ~(x << 1) & 0x8080808080808080ull);
    }
    for (; i < n; i++) {
        cont += ((unsigned char)s[i] & 0xC0) == 0x80;
    }
    return n - cont;
}

#endif
