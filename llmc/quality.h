/*
 * quality.h: the published heuristic quality filters for web text, in FineWeb's order.
 *
 *   Gopher repetition (Rae et al. 2021, table A1): duplicate lines / paragraphs (by count and by
 *     characters), the most frequent 2..4-gram's share of characters, characters covered by
 *     repeated 5..10-grams.
 *   Gopher quality: 50..100,000 words, mean word length 3..10, symbol (# and ellipsis) to word
 *     ratio, bullet-start and ellipsis-end line fractions, words with a letter, and at least 2
 *     English stop words (the, be, to, of, and, that, have, with; English pages only).
 *   C4 (Raffel et al. 2020), as FineWeb runs it: lines dropped when they have fewer than 3 words,
 *     a word over 1000 characters, "javascript" or a cookie / terms / privacy notice; citation
 *     marks [1] [edit] removed; the page dropped for "lorem ipsum", a curly bracket, or fewer
 *     than 5 sentences. (C4's line-must-end-in-punctuation rule is off, as in FineWeb: a flag.)
 *   FineWeb (Penedo et al. 2024): fraction of lines ending in punctuation >= 0.12, fraction of
 *     lines of <= 30 characters <= 0.67, characters in duplicated lines <= 1%, newlines per word
 *     <= 0.3.
 *
 * Every threshold is a field of QualityOptions (webclean exposes each as a flag); every measured
 * value lands in QualityMeasures, written next to each document. In languages written without
 * spaces (Chinese, Japanese) a word is one character (words.h) and the rules that assume spaced
 * words (mean word length, top and repeated n-grams) are not applied.
 */
#ifndef LLMC_QUALITY_H
#define LLMC_QUALITY_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE // memmem (effective when this header comes first)
#endif

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "u64map.h"
#include "words.h"

typedef struct {
    // Gopher repetition
    double dup_line_frac, dup_para_frac, dup_line_char_frac, dup_para_char_frac;
    double top_ngram_frac[3];  // n = 2, 3, 4
    double dup_ngram_frac[6];  // n = 5 .. 10
    // Gopher quality
    long min_words, max_words;
    double min_mean_word_len, max_mean_word_len, max_symbol_ratio, max_bullet_lines, max_ellipsis_lines,
        min_alpha_words;
    int min_stop_words;
    // C4
    int c4_min_line_words, c4_max_word_len, c4_min_sentences, c4_terminal_punct, c4_curly;
    // FineWeb
    double fw_min_line_punct, fw_max_short_lines, fw_max_dup_line_chars, fw_max_newline_per_word;
    int fw_short_line_len;
} QualityOptions;

static const QualityOptions QUALITY_DEFAULTS = {
    .dup_line_frac = 0.30, .dup_para_frac = 0.30, .dup_line_char_frac = 0.20, .dup_para_char_frac = 0.20,
    .top_ngram_frac = {0.20, 0.18, 0.16},
    .dup_ngram_frac = {0.15, 0.14, 0.13, 0.12, 0.11, 0.10},
    .min_words = 50, .max_words = 100000,
    .min_mean_word_len = 3, .max_mean_word_len = 10, .max_symbol_ratio = 0.1, .max_bullet_lines = 0.9,
    .max_ellipsis_lines = 0.3, .min_alpha_words = 0.8, .min_stop_words = 2,
    .c4_min_line_words = 3, .c4_max_word_len = 1000, .c4_min_sentences = 5, .c4_terminal_punct = 0,
    .c4_curly = 1,
    .fw_min_line_punct = 0.12, .fw_max_short_lines = 0.67, .fw_max_dup_line_chars = 0.01,
    .fw_max_newline_per_word = 0.3, .fw_short_line_len = 30,
};

typedef struct {
    double dup_line_frac, dup_para_frac, dup_line_char_frac, dup_para_char_frac;
    double top_ngram_frac[3], dup_ngram_frac[6];
    long words;
    double mean_word_len, symbol_ratio, bullet_lines, ellipsis_lines, alpha_words;
    int stop_words;
    long c4_lines_removed, c4_sentences;
    double fw_line_punct, fw_short_lines, fw_dup_line_chars, fw_newline_per_word;
} QualityMeasures;

// Scratch space one worker reuses for every document.
typedef struct {
    Words w;            // words of the text last split (or of one line, in c4_filter)
    uint64_t w_key;     // quality_words_'s key of the text in w; 0: w holds no whole text
    U64Map map;
    uint64_t *wh;       // per-word hashes
    uint64_t *ng;       // per-position n-gram hashes
    uint32_t *cand;     // positions whose n-gram may repeat (gopher_repetition)
    uint32_t *slot;     // where each candidate's n-gram is counted in `map`
    size_t cap;
    Buf tmp;
} QualityScratch;

static inline void quality_scratch_free(QualityScratch *q) {
    words_free(&q->w);
    u64map_free(&q->map);
    free(q->wh);
    free(q->ng);
    free(q->cand);
    free(q->slot);
    free(q->tmp.data);
    memset(q, 0, sizeof(*q));
}

// ---- line helpers ---------------------------------------------------------------------------

typedef struct {
    const char *s;
    size_t n;
} Span_;

// Next line of text[*pos..n) into *line; 0 at the end.
static inline int next_line_(const char *text, size_t n, size_t *pos, Span_ *line) {
    if (*pos >= n) {
        return 0;
    }
    const char *s = text + *pos;
    const char *e = (const char *)memchr(s, '\n', n - *pos);
    size_t len = e ? (size_t)(e - s) : n - *pos;
    line->s = s;
    line->n = len;
    *pos += len + 1;
    return 1;
}

static inline int span_blank_(Span_ l) {
    for (size_t i = 0; i < l.n; i++) {
        if (l.s[i] != ' ' && l.s[i] != '\t' && l.s[i] != '\r') {
            return 0;
        }
    }
    return 1;
}

// Ends in sentence-final punctuation (ASCII or CJK / typographic quotes).
static inline int ends_terminal_(const char *s, size_t n) {
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) {
        n--;
    }
    if (n == 0) {
        return 0;
    }
    char c = s[n - 1];
    if (c == '.' || c == '!' || c == '?' || c == '"' || c == '\'') {
        return 1;
    }
    static const char *const marks[] = {"\xE3\x80\x82" /* 。 */, "\xEF\xBC\x81" /* ！ */,
                                        "\xEF\xBC\x9F" /* ？ */, "\xE2\x80\x9D" /* ” */,
                                        "\xE2\x80\x99" /* ’ */, "\xE3\x80\x8D" /* 」 */,
                                        "\xE3\x80\x8F" /* 』 */, "\xC2\xBB" /* » */,
                                        "\xEF\xBC\x8E" /* ． */};
    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
        size_t k = strlen(marks[i]);
        if (n >= k && memcmp(s + n - k, marks[i], k) == 0) {
            return 1;
        }
    }
    return 0;
}

static inline int ends_ellipsis_(const char *s, size_t n) {
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        n--;
    }
    return (n >= 3 && memcmp(s + n - 3, "...", 3) == 0) || (n >= 3 && memcmp(s + n - 3, "\xE2\x80\xA6", 3) == 0);
}

static inline int starts_bullet_(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) {
        i++;
    }
    if (i == n) {
        return 0;
    }
    if (s[i] == '-' || s[i] == '*') {
        return 1;
    }
    static const char *const bullets[] = {"\xE2\x80\xA2" /* • */, "\xE2\x80\xA3" /* ‣ */, "\xE2\x81\x83" /* ⁃ */,
                                          "\xE2\x97\xA6" /* ◦ */, "\xE2\x96\xAA" /* ▪ */, "\xE2\x97\x8F" /* ● */};
    for (size_t k = 0; k < sizeof(bullets) / sizeof(bullets[0]); k++) {
        if (n - i >= 3 && memcmp(s + i, bullets[k], 3) == 0) {
            return 1;
        }
    }
    return 0;
}

// The words of text[0..n) in q->w. Gopher quality runs on the text Gopher repetition just split,
// so the split is kept, keyed by the text's length and a hash of its bytes (a few times cheaper
// than splitting again): the same bytes at any address reuse it, any other text is split anew.
static inline Words *quality_words_(QualityScratch *q, const char *text, size_t n) {
    uint64_t key = hash_bytes_fast(text, n, 0x776f726473ull) | 1; // odd: never the 0 of "none"
    if (key != q->w_key) {
        words_split(text, n, &q->w);
        q->w_key = key;
    }
    return &q->w;
}

static inline void quality_reserve_(QualityScratch *q, size_t n) {
    if (n > q->cap) {
        q->cap = n * 2;
        free(q->wh);
        free(q->ng);
        free(q->cand);
        free(q->slot);
        q->cand = (uint32_t *)malloc_check(q->cap * sizeof(uint32_t));
        q->slot = (uint32_t *)malloc_check(q->cap * sizeof(uint32_t));
        q->wh = (uint64_t *)malloc_check(q->cap * sizeof(uint64_t));
        q->ng = (uint64_t *)malloc_check(q->cap * sizeof(uint64_t));
    }
}

// '\n' bytes in s[0..n), 8 at a time (a byte of x ^ "\n\n..." is zero exactly where s has '\n').
static inline size_t count_newlines_(const char *s, size_t n) {
    const uint64_t lo7 = 0x7F7F7F7F7F7F7F7Full;
    size_t c = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        x ^= 0x0A0A0A0A0A0A0A0Aull;
        uint64_t nonzero = ((x & lo7) + lo7) | x; // bit 7 of each byte: set where the byte is not 0
        c += (size_t)__builtin_popcountll(~nonzero & ~lo7);
    }
    for (; i < n; i++) {
        c += s[i] == '\n';
    }
    return c;
}

// Fraction of items (lines or paragraphs) that repeat an earlier one, by count and by characters.
static inline void dup_fracs_(QualityScratch *q, const char *text, size_t n, int para, double *frac,
                              double *char_frac, size_t *dup_chars_out) {
    u64map_reset(&q->map, count_newlines_(text, n) + 1); // lines (or paragraphs): at most newlines + 1
    size_t items = 0, dups = 0, dup_chars = 0;
    size_t pos = 0;
    while (pos < n) {
        size_t a = pos, b;
        if (para) { // paragraphs: separated by blank lines (the first "\n\n"; memchr is far faster than memmem)
            const char *e = (const char *)memchr(text + pos, '\n', n - pos);
            while (e && (size_t)(e - text) + 1 < n && e[1] != '\n') {
                e = (const char *)memchr(e + 1, '\n', n - (size_t)(e + 1 - text));
            }
            if (e && (size_t)(e - text) + 1 == n) {
                e = NULL; // a last '\n' alone ends no paragraph
            }
            b = e ? (size_t)(e - text) : n;
            pos = b;
            while (pos < n && text[pos] == '\n') {
                pos++;
            }
        } else {
            const char *e = (const char *)memchr(text + pos, '\n', n - pos);
            b = e ? (size_t)(e - text) : n;
            pos = b + 1;
        }
        Span_ l = {text + a, b - a};
        if (l.n == 0 || span_blank_(l)) {
            continue;
        }
        items++;
        if (u64map_add(&q->map, hash_bytes_fast(l.s, l.n, 0)) > 1) {
            dups++;
            dup_chars += utf8_chars(l.s, l.n); // characters, as the published rules count
        }
    }
    size_t total = utf8_chars(text, n);
    *frac = items ? (double)dups / (double)items : 0.0;
    *char_frac = total ? (double)dup_chars / (double)total : 0.0;
    if (dup_chars_out) {
        *dup_chars_out = dup_chars;
    }
}

// Gopher repetition; returns the failed rule's name or NULL. The rules are checked in the
// order below as their measures are computed, and the first that fails ends the work: a dropped
// page's measures after that rule are left at 0 (nothing reads them; a kept page has them all).
static inline const char *gopher_repetition(QualityScratch *q, const char *text, size_t n, const QualityOptions *o,
                                            QualityMeasures *m) {
    memset(m->top_ngram_frac, 0, sizeof(m->top_ngram_frac));
    memset(m->dup_ngram_frac, 0, sizeof(m->dup_ngram_frac));
    dup_fracs_(q, text, n, 0, &m->dup_line_frac, &m->dup_line_char_frac, NULL);
    dup_fracs_(q, text, n, 1, &m->dup_para_frac, &m->dup_para_char_frac, NULL);
    if (m->dup_line_frac > o->dup_line_frac) return "gopher_dup_line_frac";
    if (m->dup_para_frac > o->dup_para_frac) return "gopher_dup_para_frac";
    if (m->dup_line_char_frac > o->dup_line_char_frac) return "gopher_dup_line_char_frac";
    if (m->dup_para_char_frac > o->dup_para_char_frac) return "gopher_dup_para_char_frac";
    Words *w = quality_words_(q, text, n);
    quality_reserve_(q, w->n + 1);
    // With one character per word (Chinese, Japanese), short character n-grams repeat in any
    // normal text: the n-gram rules assume spaced words, so they measure nothing here.
    int spaced = w->cjk * 2 < w->n;
    const uint32_t *wc = w->chars; // characters, not bytes, as the published rules count
    size_t word_chars = 0;
    for (size_t i = 0; i < w->n; i++) {
        q->wh[i] = hash_bytes_fast(text + w->off[i], w->len[i], 0x5bd1e995);
        word_chars += wc[i];
    }
    if (!spaced || word_chars == 0) {
        return NULL;
    }
    static const char *const top_names[3] = {"gopher_top_2gram", "gopher_top_3gram", "gopher_top_4gram"};
    static const char *const dup_names[6] = {"gopher_dup_5gram", "gopher_dup_6gram", "gopher_dup_7gram",
                                             "gopher_dup_8gram", "gopher_dup_9gram", "gopher_dup_10gram"};
    // ng[i]: hash of the g-gram starting at word i, extended by one word per g (g = 1..10).
    // A g-gram that occurs twice has a (g-1)-gram prefix that occurs twice at the same starts, so
    // only the starts whose (g-1)-gram repeated (cand) can hold a repeated g-gram: the others are
    // unique and count 1. Counting the candidates alone gives every repeated g-gram its full
    // count, in the same order, so the top g-gram and the repeated cover come out as over all
    // starts, with far fewer map operations as g grows.
    uint64_t *ng = q->ng;
    uint32_t *cand = q->cand;
    memcpy(ng, q->wh, w->n * sizeof(uint64_t));
    size_t nc = w->n;
    for (size_t i = 0; i < nc; i++) {
        cand[i] = (uint32_t)i;
    }
    for (size_t g = 2; g <= 10 && w->n >= g; g++) {
        size_t count = w->n - g + 1; // g-grams in the text
        size_t k = 0;
        for (size_t c = 0; c < nc; c++) {
            size_t i = cand[c];
            if (i < count) {
                ng[i] = hash_mix(ng[i], q->wh[i + g - 1]);
                cand[k++] = (uint32_t)i;
            }
        }
        nc = k;
        u64map_reset(&q->map, nc);
        uint32_t best = 0;
        size_t best_i = 0;
        for (size_t c = 0; c < nc; c++) {
            size_t at;
            uint32_t cnt = u64map_add_slot(&q->map, ng[cand[c]], &at);
            q->slot[c] = (uint32_t)at; // the map holds < 2^32 slots: nc < 2^31 words
            if (cnt > best) {
                best = cnt;
                best_i = cand[c];
            }
        }
        // keep the starts whose g-gram repeats; for g >= 5, the share of characters inside them:
        // word j is covered when a repeated g-gram starts in [j - g + 1, j]
        size_t dup = 0, until = 0;
        k = 0;
        for (size_t c = 0; c < nc; c++) {
            size_t i = cand[c];
            if (q->map.counts[q->slot[c]] < 2) {
                continue;
            }
            cand[k++] = (uint32_t)i;
            for (size_t j = i > until ? i : until; g >= 5 && j < i + g; j++) {
                dup += wc[j];
            }
            until = i + g;
        }
        nc = k;
        if (g <= 4) { // the most frequent g-gram's share of characters
            size_t c = 0;
            for (size_t j = 0; j < g; j++) {
                c += wc[best_i + j];
            }
            m->top_ngram_frac[g - 2] = best > 1 ? (double)c * best / (double)word_chars : 0.0;
            if (m->top_ngram_frac[g - 2] > o->top_ngram_frac[g - 2]) return top_names[g - 2];
        } else {
            m->dup_ngram_frac[g - 5] = (double)dup / (double)word_chars;
            if (m->dup_ngram_frac[g - 5] > o->dup_ngram_frac[g - 5]) return dup_names[g - 5];
        }
    }
    return NULL;
}

static inline int word_is_symbol_only_(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            return 0;
        }
    }
    return 1;
}

static inline int word_has_letter_(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        // non-ASCII counts as a letter: scripts beyond Latin are letters far more often than not
        if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            return 1;
        }
    }
    return 0;
}

// s[0..n) equals the lower-case ASCII word `lower` ignoring ASCII case (strncasecmp in the C
// locale, without the call: c | 0x20 is a lower-case letter only for that letter's two cases).
static inline int ascii_eq_lower_(const char *s, const char *lower, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)s[i] | 0x20) != (unsigned char)lower[i]) {
            return 0;
        }
    }
    return 1;
}

// Gopher quality; `english` turns on the stop-word rule. Returns the failed rule or NULL.
static inline const char *gopher_quality(QualityScratch *q, const char *text, size_t n, int english,
                                         const QualityOptions *o, QualityMeasures *m) {
    Words *w = quality_words_(q, text, n);
    static const char *const stop[] = {"the", "be", "to", "of", "and", "that", "have", "with"};
    static const size_t stop_len[] = {3, 2, 2, 2, 3, 4, 4, 4};
    size_t words = 0, chars = 0, alpha = 0, symbols = 0;
    int stops = 0;
    for (size_t i = 0; i < w->n; i++) {
        const char *s = text + w->off[i];
        size_t len = w->len[i];
        alpha += word_has_letter_(s, len);
        if (!word_is_symbol_only_(s, len)) {
            words++;
            chars += w->chars[i];
        }
        for (size_t k = 0; len >= 2 && len <= 4 && k < 8; k++) { // the stop words have 2..4 letters
            if (stop_len[k] == len && ascii_eq_lower_(s, stop[k], len)) {
                stops++;
                break;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '#') {
            symbols++;
        } else if (text[i] == '.' && i + 2 < n && text[i + 1] == '.' && text[i + 2] == '.') {
            symbols++;
            i += 2;
        } else if ((unsigned char)text[i] == 0xE2 && i + 2 < n && memcmp(text + i, "\xE2\x80\xA6", 3) == 0) {
            symbols++;
            i += 2;
        }
    }
    size_t lines = 0, bullets = 0, ellipses = 0, pos = 0;
    Span_ l;
    while (next_line_(text, n, &pos, &l)) {
        if (span_blank_(l)) {
            continue;
        }
        lines++;
        bullets += starts_bullet_(l.s, l.n);
        ellipses += ends_ellipsis_(l.s, l.n);
    }
    int spaced = w->cjk * 2 < w->n; // mostly spaced words
    m->words = (long)words;
    m->mean_word_len = words ? (double)chars / (double)words : 0.0;
    m->symbol_ratio = words ? (double)symbols / (double)words : 0.0;
    m->bullet_lines = lines ? (double)bullets / (double)lines : 0.0;
    m->ellipsis_lines = lines ? (double)ellipses / (double)lines : 0.0;
    m->alpha_words = w->n ? (double)alpha / (double)w->n : 0.0;
    m->stop_words = stops;
    if (m->words < o->min_words) return "gopher_too_few_words";
    if (m->words > o->max_words) return "gopher_too_many_words";
    if (spaced && m->mean_word_len < o->min_mean_word_len) return "gopher_short_words";
    if (spaced && m->mean_word_len > o->max_mean_word_len) return "gopher_long_words";
    if (m->symbol_ratio > o->max_symbol_ratio) return "gopher_symbol_ratio";
    if (m->bullet_lines > o->max_bullet_lines) return "gopher_bullet_lines";
    if (m->ellipsis_lines > o->max_ellipsis_lines) return "gopher_ellipsis_lines";
    if (m->alpha_words < o->min_alpha_words) return "gopher_non_alpha_words";
    if (english && m->stop_words < o->min_stop_words) return "gopher_stop_words";
    return NULL;
}

// Does s[0..n) contain the lower-case `needle` (2+ bytes), ignoring ASCII case? The first two
// bytes are checked inline (c | 32 matches every byte whose lower case is the needle's, and a few
// more) before the full comparison, which most positions never reach.
static inline int contains_ci_(const char *s, size_t n, const char *needle) {
    size_t k = strlen(needle);
    char c0 = needle[0], c1 = needle[1];
    for (size_t i = 0; i + k <= n; i++) {
        if ((s[i] | 32) == c0 && (s[i + 1] | 32) == c1 && strncasecmp(s + i, needle, k) == 0) {
            return 1;
        }
    }
    return 0;
}

// C4: rewrites `text` in place without the dropped lines (returns the new length in *n);
// returns the failed page-level rule or NULL.
static inline const char *c4_filter(QualityScratch *q, char *text, size_t *n, const QualityOptions *o,
                                    QualityMeasures *m) {
    static const char *const policy[] = {"terms of use", "privacy policy", "cookie policy", "uses cookies",
                                         "use of cookies", "use cookies"};
    if (contains_ci_(text, *n, "lorem ipsum")) {
        return "c4_lorem_ipsum";
    }
    if (o->c4_curly && memchr(text, '{', *n)) {
        return "c4_curly_bracket";
    }
    Buf *out = &q->tmp;
    buf_clear(out);
    size_t pos = 0, removed = 0, sentences = 0;
    Span_ l;
    Words *w = &q->w; // one line at a time
    q->w_key = 0;
    while (next_line_(text, *n, &pos, &l)) {
        if (span_blank_(l)) {
            continue;
        }
        int drop = contains_ci_(l.s, l.n, "javascript");
        for (size_t k = 0; !drop && k < sizeof(policy) / sizeof(policy[0]); k++) {
            drop = contains_ci_(l.s, l.n, policy[k]);
        }
        if (!drop) {
            words_split(l.s, l.n, w);
            drop = (int)w->n < o->c4_min_line_words;
            for (size_t i = 0; !drop && i < w->n; i++) {
                drop = (int)w->chars[i] > o->c4_max_word_len;
            }
        }
        if (!drop && o->c4_terminal_punct) {
            drop = !ends_terminal_(l.s, l.n) || ends_ellipsis_(l.s, l.n);
        }
        if (drop) {
            removed++;
            continue;
        }
        if (out->len) {
            buf_putc(out, '\n');
        }
        // copy without citation marks: [12], [edit], [citation needed]
        for (size_t i = 0; i < l.n; i++) {
            if (l.s[i] != '[') { // the run up to the next '[' in one piece
                const char *b = (const char *)memchr(l.s + i, '[', l.n - i);
                size_t run = b ? (size_t)(b - (l.s + i)) : l.n - i;
                buf_put(out, l.s + i, run);
                i += run - 1;
                continue;
            }
            size_t j = i + 1;
            while (j < l.n && l.s[j] >= '0' && l.s[j] <= '9') {
                j++;
            }
            if (j < l.n && l.s[j] == ']' && j > i + 1) {
                i = j;
                continue;
            }
            if (l.n - i >= 6 && strncasecmp(l.s + i, "[edit]", 6) == 0) {
                i += 5;
                continue;
            }
            if (l.n - i >= 17 && strncasecmp(l.s + i, "[citation needed]", 17) == 0) {
                i += 16;
                continue;
            }
            buf_putc(out, '[');
        }
        // sentences: terminal marks followed by a space or the line end
        for (size_t i = 0; i < l.n; i++) {
            char c = l.s[i];
            if ((c == '.' || c == '!' || c == '?') && (i + 1 == l.n || l.s[i + 1] == ' ' || l.s[i + 1] == '"')) {
                sentences++;
            } else if ((unsigned char)c == 0xE3 && i + 2 < l.n && memcmp(l.s + i, "\xE3\x80\x82", 3) == 0) {
                sentences++;
            } else if ((unsigned char)c == 0xEF && i + 2 < l.n &&
                       (memcmp(l.s + i, "\xEF\xBC\x81", 3) == 0 || memcmp(l.s + i, "\xEF\xBC\x9F", 3) == 0)) {
                sentences++;
            }
        }
    }
    memcpy(text, out->data ? out->data : "", out->len);
    *n = out->len;
    text[*n] = '\0';
    m->c4_lines_removed = (long)removed;
    m->c4_sentences = (long)sentences;
    if (*n == 0) {
        return "c4_no_lines_left";
    }
    if ((long)sentences < o->c4_min_sentences) {
        return "c4_too_few_sentences";
    }
    return NULL;
}

// FineWeb's own rules; returns the failed rule or NULL.
static inline const char *fineweb_quality(QualityScratch *q, const char *text, size_t n, const QualityOptions *o,
                                          QualityMeasures *m) {
    size_t lines = 0, punct = 0, shorts = 0, newlines = 0, pos = 0;
    Span_ l;
    while (next_line_(text, n, &pos, &l)) {
        if (span_blank_(l)) {
            continue;
        }
        lines++;
        punct += ends_terminal_(l.s, l.n);
        shorts += (long)utf8_chars(l.s, l.n) <= o->fw_short_line_len;
    }
    newlines = count_newlines_(text, n);
    double frac, char_frac;
    size_t dup_chars = 0;
    dup_fracs_(q, text, n, 0, &frac, &char_frac, &dup_chars);
    quality_words_(q, text, n);
    m->fw_line_punct = lines ? (double)punct / (double)lines : 0.0;
    m->fw_short_lines = lines ? (double)shorts / (double)lines : 0.0;
    m->fw_dup_line_chars = char_frac;
    (void)dup_chars;
    m->fw_newline_per_word = q->w.n ? (double)newlines / (double)q->w.n : 0.0;
    if (lines == 0) return "fineweb_empty";
    if (m->fw_line_punct < o->fw_min_line_punct) return "fineweb_line_punct";
    if (m->fw_short_lines > o->fw_max_short_lines) return "fineweb_short_lines";
    if (m->fw_dup_line_chars > o->fw_max_dup_line_chars) return "fineweb_dup_line_chars";
    if (m->fw_newline_per_word > o->fw_max_newline_per_word) return "fineweb_newline_per_word";
    return NULL;
}

#endif
