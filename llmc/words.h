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

// Texts are far below 4 GiB (records are capped), so 32-bit offsets suffice. `cc` counts the
// bytes that start a character (not 10xxxxxx) so far, so a word's character count is a
// difference, equal to utf8_chars() of the word whatever the bytes (the quality rules count
// characters per word; counting here saves a second pass over every word).
static inline void words_split(const char *text, size_t n, Words *w) {
    const unsigned char *s = (const unsigned char *)text;
    w->n = 0;
    w->cjk = 0;
    size_t i = 0, start = 0, cc = 0, start_cc = 0;
    int in_word = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
                if (in_word) {
                    words_push_(w, start, i - start, cc - start_cc);
                    in_word = 0;
                }
            } else if (!in_word) {
                start = i;
                start_cc = cc;
                in_word = 1;
            }
            i++;
            cc++;
            continue;
        }
        int k;
        uint32_t cp = utf8_decode(s + i, n - i, &k);
        size_t starts = 0; // character starts among the k bytes (1 for valid UTF-8)
        for (int j = 0; j < k; j++) {
            starts += (s[i + (size_t)j] & 0xC0) != 0x80;
        }
        if (cp == 0x3000 || cp == 0xA0) { // ideographic and no-break spaces
            if (in_word) {
                words_push_(w, start, i - start, cc - start_cc);
                in_word = 0;
            }
        } else if (is_cjk_char(cp)) {
            if (in_word) {
                words_push_(w, start, i - start, cc - start_cc);
                in_word = 0;
            }
            words_push_(w, i, (size_t)k, starts);
            w->cjk++;
        } else if (!in_word) {
            start = i;
            start_cc = cc;
            in_word = 1;
        }
        i += (size_t)k;
        cc += starts;
    }
    if (in_word) {
        words_push_(w, start, n - start, cc - start_cc);
    }
}

static inline void words_free(Words *w) {
    free(w->off);
    free(w->len);
    free(w->chars);
    w->off = w->len = w->chars = NULL;
    w->n = w->cap = 0;
}

// Characters (code points) in s[0..n).
static inline size_t utf8_chars(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    }
    return c;
}

#endif
