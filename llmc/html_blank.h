/*
 * html_blank.h: a byte-level pre-pass that removes what Gumbo would only parse to throw away: the
 * contents of <script>, <style> and <iframe> (raw text), of inline <svg> and of comments. Gumbo
 * then builds the same tree minus those text nodes, comment text and SVG children, which the
 * text extraction (html_text.h) drops anyway; on crawl pages, where these are often half the
 * bytes, its slow per-character tokenizer has that much less to do.
 *
 *   Buf out = {0};
 *   if (html_blank(html, n, &out)) { parse out.data, out.len } else { parse html, n }
 *
 * Exactness: the scanner follows libgumbo 0.10.1's tokenizer state by state where it matters
 * (tags and quoted attribute values, comments incl. "--!>", the script-data escape states that
 * make "<!--<script>" hide a "</script>", RCDATA and RAWTEXT ends, CDATA only in foreign
 * content, CR as LF), and the few tree-builder decisions that change the tokenizer: a raw-text
 * tag inside <select> or <svg> is not raw text, <svg> content ends at the end tag that matches
 * an open SVG element by its source name. Where it would have to model more of the tree builder
 * it stops removing and copies the rest as is: <template>, <math>, <plaintext>, an HTML tag
 * breaking out of <svg>, markup inside an SVG <title>/<desc>/<foreignObject>, a table or form
 * tag inside <select>. A page with "<frameset" anywhere is left whole (removing SVG text would
 * flip the frameset-ok flag). The removed parts have no effect on the parser state after them,
 * so whatever was removed before a stop stays right. dev/test/html_blank_test.c and the fuzzer
 * (dev/fuzz/fuzz_warc.c) check extraction with and without this pass for equality.
 */
#ifndef LLMC_HTML_BLANK_H
#define LLMC_HTML_BLANK_H

#include <string.h>
#include <strings.h>

#include "buf.h"

#define HTML_BLANK_DEPTH 256 // open SVG elements tracked; deeper: stop removing

static inline int hb_alpha_(unsigned char c) { return (unsigned char)((c | 0x20) - 'a') < 26; }
static inline unsigned char hb_lower_(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
// the tokenizer's whitespace (CR is LF after Gumbo's input preprocessing)
static inline int hb_ws_(unsigned char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\f' || c == '\r'; }

// Case-insensitive: the n bytes at p equal the lowercase word w (of length n).
static inline int hb_eq_(const char *p, size_t n, const char *w) {
    for (size_t i = 0; i < n; i++) {
        if (w[i] == '\0' || hb_lower_((unsigned char)p[i]) != (unsigned char)w[i]) {
            return 0;
        }
    }
    return w[n] == '\0';
}

static int hb_is_(const char *name, size_t n, const char *const *words) {
    for (; *words; words++) {
        if (hb_eq_(name, n, *words)) {
            return 1;
        }
    }
    return 0;
}

// Index after the next '>' at or after i, or n.
static inline size_t hb_past_gt_(const char *s, size_t n, size_t i) {
    const char *g = i < n ? (const char *)memchr(s + i, '>', n - i) : NULL;
    return g ? (size_t)(g - s) + 1 : n;
}

// A tag's attributes as byte ranges of the source: name [ns, ne), value [vs, ve) (no quotes;
// vs == ve when it has none). Filled by hb_tag_ when asked (html_fast.h reads them).
typedef struct {
    size_t ns, ne, vs, ve;
} HbAttr;

typedef struct {
    HbAttr *a;
    size_t cap, n; // n > cap: there were more than cap (the first cap are recorded)
    int closed;    // the tag ended in '>' (not cut off by the end of input)
} HbAttrs;

static inline void hb_attr_start_(HbAttrs *at, size_t j) {
    if (at) {
        if (at->n < at->cap) {
            at->a[at->n] = (HbAttr){j, j, j, j};
        }
        at->n++;
    }
}

static inline HbAttr *hb_attr_last_(HbAttrs *at) {
    return at && at->n && at->n <= at->cap ? &at->a[at->n - 1] : NULL;
}

// A tag from its name's first letter at `i` (after "<" or "</"): its name [i, *name_end), the
// index after its '>' (or n: cut off by the end of input, so Gumbo drops it), and whether it
// ends in "/>" (the self-closing flag). Gumbo's tag, attribute-name and attribute-value states.
// `at` (may be NULL) receives the attributes and whether the tag was closed.
static size_t hb_tag_(const char *s, size_t n, size_t i, size_t *name_end, int *self_closing, HbAttrs *at) {
    enum { BEFORE_NAME, NAME, AFTER_NAME, BEFORE_VALUE, DQ, SQ, UNQUOTED, AFTER_QUOTED, SELF_CLOSING };
    *self_closing = 0;
    if (at) {
        at->n = 0;
        at->closed = 0;
    }
    size_t j = i;
    while (j < n && !hb_ws_((unsigned char)s[j]) && s[j] != '/' && s[j] != '>') {
        j++;
    }
    *name_end = j;
    if (j >= n) {
        return n;
    }
    int st = s[j] == '/' ? SELF_CLOSING : BEFORE_NAME;
    if (s[j] == '>') {
        if (at) {
            at->closed = 1;
        }
        return j + 1;
    }
    HbAttr *a;
    for (j++; j < n; j++) {
        unsigned char c = (unsigned char)s[j];
        switch (st) {
        case BEFORE_NAME:
        case AFTER_NAME:
            if (hb_ws_(c)) {
            } else if (c == '/') {
                st = SELF_CLOSING;
            } else if (c == '>') {
                goto closed;
            } else if (c == '=' && st == AFTER_NAME) {
                st = BEFORE_VALUE;
            } else {
                st = NAME; // '=' '"' '\'' '<' start a name here
                hb_attr_start_(at, j);
            }
            break;
        case NAME:
            if (hb_ws_(c) || c == '/' || c == '=' || c == '>') {
                if ((a = hb_attr_last_(at)) != NULL) {
                    a->ne = a->vs = a->ve = j;
                }
            }
            if (hb_ws_(c)) {
                st = AFTER_NAME;
            } else if (c == '/') {
                st = SELF_CLOSING;
            } else if (c == '=') {
                st = BEFORE_VALUE;
            } else if (c == '>') {
                goto closed;
            }
            break;
        case BEFORE_VALUE:
            if (hb_ws_(c)) {
            } else if (c == '"') {
                st = DQ;
            } else if (c == '\'') {
                st = SQ;
            } else if (c == '>') {
                goto closed;
            } else {
                st = UNQUOTED;
                if ((a = hb_attr_last_(at)) != NULL) {
                    a->vs = a->ve = j;
                }
            }
            break;
        case DQ:
        case SQ: {
            const char *q = (const char *)memchr(s + j, st == DQ ? '"' : '\'', n - j);
            if (q == NULL) {
                return n;
            }
            if ((a = hb_attr_last_(at)) != NULL) {
                a->vs = j;
                a->ve = (size_t)(q - s);
            }
            j = (size_t)(q - s);
            st = AFTER_QUOTED;
            break;
        }
        case UNQUOTED:
            if (hb_ws_(c) || c == '>') {
                if ((a = hb_attr_last_(at)) != NULL) {
                    a->ve = j;
                }
            }
            if (hb_ws_(c)) {
                st = BEFORE_NAME;
            } else if (c == '>') {
                goto closed;
            }
            break;
        case AFTER_QUOTED:
        case SELF_CLOSING:
            if (c == '>') {
                *self_closing = st == SELF_CLOSING;
                goto closed;
            }
            if (st == AFTER_QUOTED && hb_ws_(c)) {
                st = BEFORE_NAME;
            } else if (st == AFTER_QUOTED && c == '/') {
                st = SELF_CLOSING;
            } else {
                st = BEFORE_NAME;
                j--; // reconsume
            }
            break;
        }
    }
    return n;
closed:
    if (at) {
        at->closed = 1;
    }
    return j + 1;
}

// Where RAWTEXT / RCDATA content opened by <name> ends: the '<' of "</name" followed by
// whitespace, '/' or '>' (any case), or n.
static size_t hb_rawtext_end_(const char *s, size_t n, size_t i, const char *name) {
    size_t len = strlen(name);
    while (i < n) {
        const char *lt = (const char *)memchr(s + i, '<', n - i);
        if (lt == NULL) {
            return n;
        }
        size_t k = (size_t)(lt - s);
        if (k + 2 < n && s[k + 1] == '/' && hb_alpha_((unsigned char)s[k + 2])) {
            size_t e = k + 2;
            while (e < n && hb_alpha_((unsigned char)s[e])) {
                e++;
            }
            if (e < n && (hb_ws_((unsigned char)s[e]) || s[e] == '/' || s[e] == '>') &&
                e - (k + 2) == len && hb_eq_(s + k + 2, len, name)) {
                return k;
            }
            i = e; // the letters were text; the next byte is read again
        } else {
            i = k + 1;
        }
    }
    return n;
}

// Where script data opened by <script> ends: the '<' of its "</script", found through Gumbo's
// script-data states (escaped "<!--" ... "-->", double-escaped "<script> ... </script>"), or n.
static size_t hb_script_end_(const char *s, size_t n, size_t i) {
    enum { DATA, LT, END_OPEN, END_NAME, ESC_START, ESC_START_DASH, ESC, ESC_DASH, ESC_DASH_DASH, ESC_LT,
           ESC_END_OPEN, ESC_END_NAME, DESC_START, DESC, DESC_DASH, DESC_DASH_DASH, DESC_LT, DESC_END };
    int st = DATA;
    size_t lt = 0;     // the '<' of a candidate end tag
    size_t nlen = 0;   // letters of the name read so far
    int is_script = 0; // ... and they spell "script" so far
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int letter = hb_alpha_(c), delim = hb_ws_(c) || c == '/' || c == '>';
        switch (st) {
        case DATA: {
            const char *p = (const char *)memchr(s + i, '<', n - i);
            if (p == NULL) {
                return n;
            }
            i = (size_t)(p - s);
            lt = i;
            st = LT;
            break;
        }
        case LT:
            if (c == '/') {
                st = END_OPEN;
            } else if (c == '!') {
                st = ESC_START;
            } else {
                st = DATA, i--;
            }
            break;
        case END_OPEN:
        case ESC_END_OPEN:
            if (letter) {
                st = st == END_OPEN ? END_NAME : ESC_END_NAME;
                nlen = 0, is_script = 1;
                i--; // the name state reads it
            } else {
                st = st == END_OPEN ? DATA : ESC, i--;
            }
            break;
        case END_NAME:
        case ESC_END_NAME:
        case DESC_START:
        case DESC_END:
            if (letter) {
                is_script = is_script && nlen < 6 && hb_lower_(c) == (unsigned char)"script"[nlen];
                nlen++;
                break;
            }
            is_script = is_script && nlen == 6;
            if (st == END_NAME || st == ESC_END_NAME) {
                if (is_script && delim) {
                    return lt;
                }
                st = st == END_NAME ? DATA : ESC, i--;
            } else if (delim) { // the double-escape start / end is decided here, c consumed
                st = (st == DESC_START) == is_script ? DESC : ESC;
            } else {
                st = st == DESC_START ? ESC : DESC, i--;
            }
            break;
        case ESC_START:
        case ESC_START_DASH:
            if (c == '-') {
                st = st == ESC_START ? ESC_START_DASH : ESC_DASH_DASH;
            } else {
                st = DATA, i--;
            }
            break;
        case ESC:
        case ESC_DASH:
        case ESC_DASH_DASH:
            if (c == '-') {
                st = st == ESC ? ESC_DASH : ESC_DASH_DASH;
            } else if (c == '<') {
                lt = i;
                st = ESC_LT;
            } else if (c == '>' && st == ESC_DASH_DASH) {
                st = DATA;
            } else {
                st = ESC;
            }
            break;
        case ESC_LT:
            if (c == '/') {
                st = ESC_END_OPEN;
            } else if (letter) {
                st = DESC_START;
                nlen = 0, is_script = 1;
                i--;
            } else {
                st = ESC, i--;
            }
            break;
        case DESC:
        case DESC_DASH:
        case DESC_DASH_DASH:
            if (c == '-') {
                st = st == DESC ? DESC_DASH : DESC_DASH_DASH;
            } else if (c == '<') {
                st = DESC_LT;
            } else if (c == '>' && st == DESC_DASH_DASH) {
                st = DATA;
            } else {
                st = DESC;
            }
            break;
        case DESC_LT:
            if (c == '/') {
                st = DESC_END;
                nlen = 0, is_script = 1;
            } else {
                st = DESC, i--;
            }
            break;
        }
    }
    return n;
}

// A comment from just after "<!--": the index after its end (or n), and how many bytes of
// that end to keep ("-->" 3, "--!>" 4, 0 when it ended as "<!-->" / "<!--->" or at the end).
static size_t hb_comment_(const char *s, size_t n, size_t i, size_t *keep) {
    enum { START, START_DASH, COMMENT, END_DASH, END, BANG };
    int st = START;
    *keep = 0;
    for (; i < n; i++) {
        char c = s[i];
        switch (st) {
        case START:
        case START_DASH:
            if (c == '-') {
                st = st == START ? START_DASH : END;
            } else if (c == '>') {
                return i + 1;
            } else {
                st = COMMENT;
            }
            break;
        case COMMENT: {
            const char *d = (const char *)memchr(s + i, '-', n - i);
            if (d == NULL) {
                return n;
            }
            i = (size_t)(d - s);
            st = END_DASH;
            break;
        }
        case END_DASH:
            st = c == '-' ? END : COMMENT;
            break;
        case END:
            if (c == '>') {
                *keep = 3;
                return i + 1;
            }
            st = c == '!' ? BANG : c == '-' ? END : COMMENT;
            break;
        case BANG:
            if (c == '>') {
                *keep = 4;
                return i + 1;
            }
            st = c == '-' ? END_DASH : COMMENT;
            break;
        }
    }
    return n;
}

typedef struct {
    const char *s;
    size_t n, copied; // s[0, copied) is settled: written to out, or removed
    Buf *out;
    int removed;
} HtmlBlank_;

static void hb_remove_(HtmlBlank_ *b, size_t from, size_t to) {
    if (to <= from) {
        return;
    }
    if (!b->removed) {
        buf_clear(b->out);
        b->removed = 1;
    }
    buf_put(b->out, b->s + b->copied, from - b->copied);
    b->copied = to;
}

// Removes the parts described above from s[0, n); returns 1 with the rest in `out`, or 0 when
// there was nothing to remove (`out` untouched: parse `s` itself).
static int html_blank(const char *s, size_t n, Buf *out) {
    static const char *const raw_drop[] = {"style", "iframe", NULL};     // RAWTEXT, text dropped
    static const char *const raw_keep[] = {"xmp", "noembed", "noframes", NULL}; // RAWTEXT, text kept
    static const char *const rcdata[] = {"title", "textarea", NULL};
    static const char *const stop_html[] = {"template", "math", "plaintext", NULL};
    static const char *const stop_select[] = {"input", "keygen", "textarea", "template", "caption", "table",
                                              "tbody", "tfoot", "thead", "tr", "td", "th", NULL};
    static const char *const breakout[] = {"b", "big", "blockquote", "body", "br", "center", "code", "dd", "div",
        "dl", "dt", "em", "embed", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li", "listing",
        "menu", "meta", "nobr", "ol", "p", "pre", "ruby", "s", "small", "span", "strong", "strike", "sub", "sup",
        "table", "tt", "u", "ul", "var", "font", NULL};
    static const char *const integration[] = {"foreignobject", "desc", "title", NULL};
    // a frameset replaces the body only while no text was seen ("frameset-ok"): leave such pages whole
    for (const char *p = s; (p = (const char *)memchr(p, '<', (size_t)(s + n - p))) != NULL; p++) {
        size_t k = (size_t)(p - s);
        if (n - k > 9 && hb_eq_(p + 1, 8, "frameset")) {
            return 0;
        }
    }
    enum { HTML, SELECT, FOREIGN } ctx = HTML;
    HtmlBlank_ b = {s, n, 0, out, 0};
    // open SVG elements: source name (as Gumbo matches end tags), and whether it is an
    // HTML integration point (<title>, <desc>, <foreignObject>)
    struct { size_t at, len; int integration; } open[HTML_BLANK_DEPTH];
    int depth = 0, in_integration = 0;
    size_t svg_content = 0; // where the outermost <svg>'s children start
    size_t empty_end = (size_t)-1; // where the last "</>" ended
    size_t i = 0;
    while (i < n) {
        const char *lt = (const char *)memchr(s + i, '<', n - i);
        if (lt == NULL) {
            i = n;
            break;
        }
        i = (size_t)(lt - s);
        if (i + 1 >= n) {
            break;
        }
        unsigned char c1 = (unsigned char)s[i + 1];
        if (c1 == '!') {
            if (i + 3 < n && s[i + 2] == '-' && s[i + 3] == '-') {
                size_t keep, e = hb_comment_(s, n, i + 4, &keep);
                if (ctx != FOREIGN && (keep || e == n)) {
                    hb_remove_(&b, i + 4, e - keep);
                }
                i = e;
            } else if (n - i > 9 && hb_eq_(s + i + 2, 7, "doctype")) {
                i = hb_past_gt_(s, n, i + 9);
            } else if (ctx == FOREIGN && n - i >= 9 && memcmp(s + i + 2, "[CDATA[", 7) == 0) {
                if (in_integration) {
                    goto stop;
                }
                const char *e = memmem(s + i + 9, n - i - 9, "]]>", 3);
                i = e ? (size_t)(e - s) + 3 : n;
            } else { // bogus comment
                i = hb_past_gt_(s, n, i + 2);
            }
            continue;
        }
        if (c1 == '?') {
            i = hb_past_gt_(s, n, i + 2);
            continue;
        }
        int end = c1 == '/';
        if (end) {
            if (i + 2 >= n) {
                break;
            }
            unsigned char c2 = (unsigned char)s[i + 2];
            if (c2 == '>') {
                // "</>" emits no token, so the next tag's source text (by which Gumbo matches
                // SVG end tags) starts with it: in or into SVG, stop
                if (ctx == FOREIGN) {
                    goto stop;
                }
                i += 3;
                empty_end = i;
                continue;
            }
            if (!hb_alpha_(c2)) {
                i = hb_past_gt_(s, n, i + 2); // a bogus comment
                continue;
            }
        } else if (!hb_alpha_(c1)) {
            i++; // a lone '<' is text
            continue;
        }
        size_t tag_at = i, name = i + 1 + (size_t)end, name_end;
        int self_closing;
        size_t e = hb_tag_(s, n, name, &name_end, &self_closing, NULL);
        size_t len = name_end - name;
        const char *nm = s + name;
        if (ctx == FOREIGN) {
            if (e >= n) {
                break; // cut off inside the SVG, which runs to the end of input
            }
            if (!end) {
                if (in_integration || hb_is_(nm, len, breakout)) {
                    goto stop; // HTML parsing resumes inside the SVG
                }
                // Gumbo matches end tags by the start tag's source name, cut at isspace or '/'
                for (size_t k = name; k < name_end; k++) {
                    if (s[k] == '\v') {
                        goto stop;
                    }
                }
                if (!self_closing) {
                    if (depth == HTML_BLANK_DEPTH) {
                        goto stop;
                    }
                    int ip = hb_is_(nm, len, integration);
                    open[depth].at = name, open[depth].len = len, open[depth].integration = ip;
                    depth++;
                    in_integration += ip;
                }
            } else {
                // the end tag's whole source between "</" and ">" against the open elements
                size_t inner = e - 1 - name;
                int d = depth - 1;
                while (d >= 0 && !(open[d].len == inner && strncasecmp(s + open[d].at, nm, inner) == 0)) {
                    d--;
                }
                if (d < 0) {
                    goto stop; // handed to the HTML rules, which may close anything
                }
                while (depth > d) {
                    in_integration -= open[--depth].integration;
                }
                if (depth == 0) {
                    hb_remove_(&b, svg_content, i);
                    ctx = HTML;
                }
            }
            i = e;
            continue;
        }
        if (e >= n) {
            break; // a tag cut off by the end of input is dropped, and so is nothing else
        }
        i = e;
        if (end) {
            if (ctx == SELECT) {
                if (hb_eq_(nm, len, "select")) {
                    ctx = HTML;
                } else if (hb_is_(nm, len, stop_select)) {
                    goto stop;
                }
            }
            continue;
        }
        if (hb_eq_(nm, len, "script")) { // script data in HTML and in <select>
            size_t close = hb_script_end_(s, n, e);
            hb_remove_(&b, e, close);
            i = close;
        } else if (ctx == SELECT) {
            if (hb_eq_(nm, len, "select")) {
                ctx = HTML;
            } else if (hb_is_(nm, len, stop_select)) {
                goto stop;
            } // anything else is ignored inside <select>: its contents are parsed as markup
        } else if (hb_is_(nm, len, raw_drop)) {
            char lname[16];
            for (size_t k = 0; k <= len; k++) {
                lname[k] = k < len ? (char)hb_lower_((unsigned char)nm[k]) : '\0';
            }
            size_t close = hb_rawtext_end_(s, n, e, lname);
            hb_remove_(&b, e, close);
            i = close;
        } else if (hb_is_(nm, len, raw_keep) || hb_is_(nm, len, rcdata)) {
            char lname[16];
            for (size_t k = 0; k <= len; k++) {
                lname[k] = k < len ? (char)hb_lower_((unsigned char)nm[k]) : '\0';
            }
            i = hb_rawtext_end_(s, n, e, lname);
        } else if (hb_eq_(nm, len, "select")) {
            ctx = SELECT;
        } else if (hb_eq_(nm, len, "svg")) {
            if (tag_at == empty_end) {
                goto stop;
            }
            if (!self_closing) {
                ctx = FOREIGN;
                open[0].at = name, open[0].len = len, open[0].integration = 0;
                depth = 1;
                in_integration = 0;
                svg_content = e;
            }
        } else if (hb_is_(nm, len, stop_html)) {
            goto stop;
        }
    }
    if (ctx == FOREIGN) {
        hb_remove_(&b, svg_content, n); // the SVG runs to the end of input
    }
stop:
    if (b.removed) {
        buf_put(out, s + b.copied, n - b.copied);
    }
    return b.removed;
}

#endif
