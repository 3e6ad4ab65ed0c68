/*
 * html_fast.h: the HTML5 tree construction of libgumbo 0.10.1, for the pages where it is simple,
 * run as a stream: tokens are read straight from the bytes (text runs found with memchr, not
 * character by character) and the tree builder keeps only the stack of open elements and the
 * list of active formatting elements, telling html_walk.h each element's entry and exit and
 * each text run in document order. That is the same event sequence html_text.h's walk over
 * Gumbo's tree produces, so the extracted text is the same, at a fraction of the cost.
 *
 *   HtmlFast *fast = calloc(1, sizeof(HtmlFast));   // per thread, reused page after page
 *   HtmlWalk w = {.out = &text};
 *   if (!html_fast_walk(html, n, &opts, &w, fast)) { ...parse with Gumbo instead... }
 *   html_fast_free(fast);
 *
 * Simple means: what the spec calls parse errors is fine as long as the builder's state stays a
 * stack. Modelled, following Gumbo 0.10.1 (not today's spec, where they differ): the insertion
 * modes initial to in-body, tables (in table, table body, row, cell, caption, column group),
 * implied end tags, p / li / dd / dt / heading closing, the scopes, "any other end tag",
 * formatting elements (reconstruction, markers, the adoption agency: popping, and moving nodes
 * when all that moves is what the walk looks through, such as DocBook's unclosed <a id="x"/>),
 * the form pointer, raw text / RCDATA / script data, the newline dropped after <pre>, <listing>
 * and <textarea>, quirks mode for <table> inside <p>, CR/LF, numeric and common named character
 * references. Anything else returns 0 before the caller trusts anything: foster parenting (text
 * or elements misplaced in a table), the adoption agency moving elements the walk acts on,
 * <template>, <select>, <frameset>, foreign content (an <svg> or <math> with
 * children), <plaintext>, ruby, <html>/<body> attributes merged, an unknown named character
 * reference, a forbidden code point or invalid UTF-8 (Gumbo replaces those), and nesting deeper
 * than HF_MAX_DEPTH. dev/test/html_blank_test.c compares the text against Gumbo's on real and
 * generated malformed pages, and the fuzzer (dev/fuzz/fuzz_warc.c) on every input.
 */
#ifndef LLMC_HTML_FAST_H
#define LLMC_HTML_FAST_H

#include <gumbo.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "html_blank.h" // the tokenizer scanners: tags, raw text ends, script data, comments
#include "html_walk.h"

#define HF_MAX_DEPTH 512 // open elements; deeper pages go to Gumbo
#define HF_MAX_FMT 256   // active formatting elements and markers
#define HF_MAX_ATTRS 64  // attributes of one tag

// Gives the page to Gumbo (-DHF_DEBUG names the rule that did).
#ifdef HF_DEBUG
#include <stdio.h>
#define HF_FAIL(p) ((p)->fail = 1, fprintf(stderr, "html_fast.h:%d: to Gumbo\n", __LINE__))
#else
#define HF_FAIL(p) ((p)->fail = 1)
#endif

enum { HF_INITIAL, HF_BEFORE_HTML, HF_BEFORE_HEAD, HF_IN_HEAD, HF_AFTER_HEAD, HF_IN_BODY, HF_IN_TABLE,
       HF_IN_TABLE_BODY, HF_IN_ROW, HF_IN_CELL, HF_IN_CAPTION, HF_IN_COLGROUP };
enum { HF_QUIRKS, HF_NO_QUIRKS, HF_QUIRKS_UNKNOWN }; // limited quirks counts as no quirks here
enum { HF_RAW_NONE, HF_RCDATA, HF_RAWTEXT, HF_SCRIPT };

typedef struct {
    GumboTag tag;
    unsigned id;            // identity, for the active formatting list and the form pointer
    unsigned char flags;    // html_attr_flag bits (copied to reconstructed clones)
    unsigned char walked;   // html_walk_enter pushed a frame for it
} HfElem;

typedef struct {
    GumboTag tag; // GUMBO_TAG_LAST: a scope marker
    unsigned id;
    unsigned char flags;
} HfFmt;

typedef struct {
    GumboTag tag;
    int flags;
    int self_closing;
    size_t end; // index after the tag's '>'
} HfTag;

typedef struct {
    const char *s;
    size_t n;
    const HtmlOptions *opt;
    HtmlWalk *w;
    size_t depth;    // open elements in stack[]
    size_t nfmt;     // entries in fmt[]
    int mode, quirks;
    unsigned skip;   // the element whose subtree the walk skips (an id); 0: none
    unsigned form;   // the form element pointer (an id); 0: none
    unsigned ids;
    int ignore_lf;   // drop the next token if it is a newline (after <pre>, <listing>, <textarea>)
    int raw;         // set by a start tag whose content is raw text (HF_RCDATA ...)
    int raw_pushed;  // ... and whether its element is on the stack (not in an unseen <head>)
    int pending;     // text since the last push, pop or comment (Gumbo's unflushed text node):
                     // 0 none, 1 whitespace only, 2 more
    int fail;
    HfElem stack[HF_MAX_DEPTH];
    HfFmt fmt[HF_MAX_FMT];
    Buf decoded;     // text with references decoded or CR LF folded; kept from page to page
} HtmlFast;

// ---- tag categories (Gumbo 0.10.1's sets, HTML namespace) --------------------------------------

static int hf_is_special_(GumboTag t) {
    switch (t) {
    case GUMBO_TAG_ADDRESS: case GUMBO_TAG_APPLET: case GUMBO_TAG_AREA: case GUMBO_TAG_ARTICLE:
    case GUMBO_TAG_ASIDE: case GUMBO_TAG_BASE: case GUMBO_TAG_BASEFONT: case GUMBO_TAG_BGSOUND:
    case GUMBO_TAG_BLOCKQUOTE: case GUMBO_TAG_BODY: case GUMBO_TAG_BR: case GUMBO_TAG_BUTTON:
    case GUMBO_TAG_CAPTION: case GUMBO_TAG_CENTER: case GUMBO_TAG_COL: case GUMBO_TAG_COLGROUP:
    case GUMBO_TAG_MENUITEM: case GUMBO_TAG_DD: case GUMBO_TAG_DETAILS: case GUMBO_TAG_DIR:
    case GUMBO_TAG_DIV: case GUMBO_TAG_DL: case GUMBO_TAG_DT: case GUMBO_TAG_EMBED:
    case GUMBO_TAG_FIELDSET: case GUMBO_TAG_FIGCAPTION: case GUMBO_TAG_FIGURE: case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_FORM: case GUMBO_TAG_FRAME: case GUMBO_TAG_FRAMESET: case GUMBO_TAG_H1:
    case GUMBO_TAG_H2: case GUMBO_TAG_H3: case GUMBO_TAG_H4: case GUMBO_TAG_H5: case GUMBO_TAG_H6:
    case GUMBO_TAG_HEAD: case GUMBO_TAG_HEADER: case GUMBO_TAG_HGROUP: case GUMBO_TAG_HR:
    case GUMBO_TAG_HTML: case GUMBO_TAG_IFRAME: case GUMBO_TAG_IMG: case GUMBO_TAG_INPUT:
    case GUMBO_TAG_ISINDEX: case GUMBO_TAG_LI: case GUMBO_TAG_LINK: case GUMBO_TAG_LISTING:
    case GUMBO_TAG_MARQUEE: case GUMBO_TAG_MENU: case GUMBO_TAG_META: case GUMBO_TAG_NAV:
    case GUMBO_TAG_NOEMBED: case GUMBO_TAG_NOFRAMES: case GUMBO_TAG_NOSCRIPT: case GUMBO_TAG_OBJECT:
    case GUMBO_TAG_OL: case GUMBO_TAG_P: case GUMBO_TAG_PARAM: case GUMBO_TAG_PLAINTEXT:
    case GUMBO_TAG_PRE: case GUMBO_TAG_SCRIPT: case GUMBO_TAG_SECTION: case GUMBO_TAG_SELECT:
    case GUMBO_TAG_STYLE: case GUMBO_TAG_SUMMARY: case GUMBO_TAG_TABLE: case GUMBO_TAG_TBODY:
    case GUMBO_TAG_TD: case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_TEXTAREA: case GUMBO_TAG_TFOOT:
    case GUMBO_TAG_TH: case GUMBO_TAG_THEAD: case GUMBO_TAG_TITLE: case GUMBO_TAG_TR:
    case GUMBO_TAG_UL: case GUMBO_TAG_WBR: case GUMBO_TAG_XMP:
        return 1;
    default:
        return 0;
    }
}

static int hf_is_formatting_(GumboTag t) {
    switch (t) {
    case GUMBO_TAG_A: case GUMBO_TAG_B: case GUMBO_TAG_BIG: case GUMBO_TAG_CODE: case GUMBO_TAG_EM:
    case GUMBO_TAG_FONT: case GUMBO_TAG_I: case GUMBO_TAG_NOBR: case GUMBO_TAG_S: case GUMBO_TAG_SMALL:
    case GUMBO_TAG_STRIKE: case GUMBO_TAG_STRONG: case GUMBO_TAG_TT: case GUMBO_TAG_U:
        return 1;
    default:
        return 0;
    }
}

static int hf_is_heading_(GumboTag t) {
    return t == GUMBO_TAG_H1 || t == GUMBO_TAG_H2 || t == GUMBO_TAG_H3 || t == GUMBO_TAG_H4 ||
           t == GUMBO_TAG_H5 || t == GUMBO_TAG_H6;
}

static int hf_implied_end_(GumboTag t) {
    return t == GUMBO_TAG_DD || t == GUMBO_TAG_DT || t == GUMBO_TAG_LI || t == GUMBO_TAG_OPTION ||
           t == GUMBO_TAG_OPTGROUP || t == GUMBO_TAG_P || t == GUMBO_TAG_RP || t == GUMBO_TAG_RB ||
           t == GUMBO_TAG_RT || t == GUMBO_TAG_RTC;
}

enum { HF_SCOPE, HF_SCOPE_LIST, HF_SCOPE_BUTTON, HF_SCOPE_TABLE };

static int hf_scope_boundary_(GumboTag t, int kind) {
    if (kind == HF_SCOPE_TABLE) {
        return t == GUMBO_TAG_HTML || t == GUMBO_TAG_TABLE || t == GUMBO_TAG_TEMPLATE;
    }
    if (t == GUMBO_TAG_APPLET || t == GUMBO_TAG_CAPTION || t == GUMBO_TAG_HTML || t == GUMBO_TAG_TABLE ||
        t == GUMBO_TAG_TD || t == GUMBO_TAG_TH || t == GUMBO_TAG_MARQUEE || t == GUMBO_TAG_OBJECT ||
        t == GUMBO_TAG_TEMPLATE) {
        return 1;
    }
    return (kind == HF_SCOPE_LIST && (t == GUMBO_TAG_OL || t == GUMBO_TAG_UL)) ||
           (kind == HF_SCOPE_BUTTON && t == GUMBO_TAG_BUTTON);
}

// ---- the stack of open elements and the walk ---------------------------------------------------

static HfElem *hf_current_(HtmlFast *p) { return &p->stack[p->depth - 1]; }

static int hf_in_scope_(HtmlFast *p, GumboTag t, int kind) {
    for (size_t k = p->depth; k-- > 0;) {
        if (p->stack[k].tag == t) {
            return 1;
        }
        if (hf_scope_boundary_(p->stack[k].tag, kind)) {
            return 0;
        }
    }
    return 0;
}

static int hf_heading_in_scope_(HtmlFast *p) {
    for (size_t k = p->depth; k-- > 0;) {
        if (hf_is_heading_(p->stack[k].tag)) {
            return 1;
        }
        if (hf_scope_boundary_(p->stack[k].tag, HF_SCOPE)) {
            return 0;
        }
    }
    return 0;
}

static long hf_stack_index_(HtmlFast *p, unsigned id) {
    for (size_t k = p->depth; k-- > 0;) {
        if (p->stack[k].id == id) {
            return (long)k;
        }
    }
    return -1;
}

static unsigned hf_push_(HtmlFast *p, GumboTag t, int flags) {
    if (p->depth == HF_MAX_DEPTH) {
        HF_FAIL(p);
        return 0;
    }
    HfElem *e = &p->stack[p->depth];
    e->tag = t;
    e->id = ++p->ids;
    e->flags = (unsigned char)flags;
    e->walked = 0;
    p->pending = 0;
    if (p->skip == 0 && !html_walk_inert(t, flags, p->opt)) {
        e->walked = (unsigned char)html_walk_enter(p->w, t, flags, p->opt);
        if (!e->walked) {
            p->skip = e->id; // the walk skips this element and all inside it
        }
    }
    p->depth++;
    return e->id;
}

static void hf_pop_(HtmlFast *p) {
    HfElem *e = &p->stack[--p->depth];
    p->pending = 0;
    if (e->walked) {
        html_walk_leave(p->w, p->opt);
    }
    if (p->skip == e->id) {
        p->skip = 0;
    }
}

static void hf_void_(HtmlFast *p, GumboTag t, int flags) {
    if (hf_push_(p, t, flags)) {
        hf_pop_(p);
    }
}

static int hf_all_ws_(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!hb_ws_((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

static void hf_text_out_(HtmlFast *p, const char *s, size_t n) {
    if (n && p->pending < 2) {
        p->pending = hf_all_ws_(s, n) ? 1 : 2;
    }
    if (n && p->skip == 0) {
        html_walk_text(p->w, s, n);
    }
}

static void hf_pop_until_(HtmlFast *p, GumboTag t) {
    while (p->depth > 1 && hf_current_(p)->tag != t) {
        hf_pop_(p);
    }
    if (p->depth > 1) {
        hf_pop_(p);
    }
}

static void hf_generate_implied_(HtmlFast *p, GumboTag except) {
    while (p->depth > 1 && hf_implied_end_(hf_current_(p)->tag) && hf_current_(p)->tag != except) {
        hf_pop_(p);
    }
}

// Gumbo's implicitly_close_tags: implied end tags but t's, then pop through t.
static void hf_close_(HtmlFast *p, GumboTag t) {
    hf_generate_implied_(p, t);
    hf_pop_until_(p, t);
}

static void hf_close_p_(HtmlFast *p) {
    if (hf_in_scope_(p, GUMBO_TAG_P, HF_SCOPE_BUTTON)) {
        hf_close_(p, GUMBO_TAG_P);
    }
}

// ---- the list of active formatting elements -----------------------------------------------------

static void hf_fmt_marker_(HtmlFast *p) {
    if (p->nfmt == HF_MAX_FMT) {
        HF_FAIL(p);
        return;
    }
    p->fmt[p->nfmt++] = (HfFmt){GUMBO_TAG_LAST, 0, 0};
}

static long hf_fmt_index_(HtmlFast *p, unsigned id) {
    for (size_t k = p->nfmt; k-- > 0;) {
        if (p->fmt[k].tag != GUMBO_TAG_LAST && p->fmt[k].id == id) {
            return (long)k;
        }
    }
    return -1;
}

static void hf_fmt_remove_(HtmlFast *p, size_t k) {
    memmove(&p->fmt[k], &p->fmt[k + 1], (p->nfmt - k - 1) * sizeof(HfFmt));
    p->nfmt--;
}

static void hf_fmt_clear_to_marker_(HtmlFast *p) {
    while (p->nfmt > 0 && p->fmt[--p->nfmt].tag != GUMBO_TAG_LAST) {
    }
}

// Pushes the element just inserted. Gumbo's Noah's Ark clause compares attributes: with three
// of the same tag already listed we cannot tell, so Gumbo takes the page.
static void hf_fmt_add_(HtmlFast *p, unsigned id) {
    HfElem *e = hf_current_(p);
    int same = 0;
    for (size_t k = p->nfmt; k-- > 0 && p->fmt[k].tag != GUMBO_TAG_LAST;) {
        same += p->fmt[k].tag == e->tag;
    }
    if (same >= 3 || p->nfmt == HF_MAX_FMT) {
        HF_FAIL(p);
        return;
    }
    p->fmt[p->nfmt++] = (HfFmt){e->tag, id, e->flags};
}

// Reopens, as clones, the formatting elements that were closed implicitly and are still listed.
static void hf_reconstruct_(HtmlFast *p) {
    if (p->nfmt == 0) {
        return;
    }
    size_t k = p->nfmt - 1;
    if (p->fmt[k].tag == GUMBO_TAG_LAST || hf_stack_index_(p, p->fmt[k].id) >= 0) {
        return;
    }
    while (k > 0 && p->fmt[k - 1].tag != GUMBO_TAG_LAST && hf_stack_index_(p, p->fmt[k - 1].id) < 0) {
        k--;
    }
    for (; k < p->nfmt && !p->fail; k++) {
        p->fmt[k].id = hf_push_(p, p->fmt[k].tag, p->fmt[k].flags);
    }
}

static HfElem hf_clone_(HtmlFast *p, const HfElem *e) {
    HfElem c = *e;
    c.id = ++p->ids;
    c.walked = 0;
    return c;
}

// Gumbo's adoption agency for an end tag (or <a>) of formatting tag t. When a special element
// sits inside the formatting element it moves nodes: followed on the stack and the list when
// every node that moves is one the walk looks through (the text order and the nesting of the
// elements the walk acts on stay as they were), otherwise the page goes to Gumbo.
static void hf_adoption_(HtmlFast *p, GumboTag t) {
    HfElem *cur = hf_current_(p);
    if (cur->tag == t && hf_fmt_index_(p, cur->id) < 0) {
        hf_pop_(p);
        return;
    }
    for (int outer = 0; outer < 8 && !p->fail; outer++) {
        long f = -1;
        for (size_t k = p->nfmt; k-- > 0;) {
            if (p->fmt[k].tag == GUMBO_TAG_LAST) {
                return; // Gumbo 0.10.1 ignores the tag here
            }
            if (p->fmt[k].tag == t) {
                f = (long)k;
                break;
            }
        }
        if (f < 0) {
            return;
        }
        long at = hf_stack_index_(p, p->fmt[f].id);
        if (at < 0) {
            hf_fmt_remove_(p, (size_t)f);
            return;
        }
        if (!hf_in_scope_(p, t, HF_SCOPE)) {
            return;
        }
        size_t fb = (size_t)at + 1;
        while (fb < p->depth && !hf_is_special_(p->stack[fb].tag)) {
            fb++;
        }
        if (fb == p->depth) { // no furthest block: pop through the formatting element
            while (p->depth > (size_t)at) {
                hf_pop_(p);
            }
            hf_fmt_remove_(p, (size_t)f);
            return;
        }
        // The nodes that move: the formatting element and those between it and the furthest
        // block. Fine when the walk looks through them, or skips an element below them anyway.
        long skip_at = p->skip ? hf_stack_index_(p, p->skip) : -1;
        if (!(skip_at >= 0 && skip_at < at)) {
            for (size_t k = (size_t)at; k < fb; k++) {
                if (p->stack[k].walked || p->stack[k].id == p->skip ||
                    !html_walk_inert(p->stack[k].tag, p->stack[k].flags, p->opt)) {
                    HF_FAIL(p);
                    return;
                }
            }
        }
        unsigned fid = p->stack[at].id, fbid = p->stack[fb].id;
        size_t bookmark = (size_t)f + 1;
        size_t node = fb;     // stack index of the inner loop's node
        int last_is_fb = 1;
        for (int j = 1;; j++) {
            node--;
            if (p->stack[node].id == fid) {
                break;
            }
            long fi = hf_fmt_index_(p, p->stack[node].id);
            if (j > 3 && fi >= 0) {
                // Gumbo drops it from the list but leaves it on the stack, no longer an ancestor
                // of what follows: a later insertion there would put text out of order
                HF_FAIL(p);
                return;
            }
            if (fi < 0) { // off the stack (it stays in the tree, out of the way)
                memmove(&p->stack[node], &p->stack[node + 1], (p->depth - node - 1) * sizeof(HfElem));
                p->depth--;
                continue;
            }
            p->stack[node] = hf_clone_(p, &p->stack[node]);
            p->fmt[fi].id = p->stack[node].id;
            if (last_is_fb) {
                bookmark = (size_t)fi + 1;
            }
            last_is_fb = 0;
        }
        // the formatting element leaves the list and the stack; its clone goes into the list at
        // the bookmark and onto the stack just above the furthest block
        long fi = hf_fmt_index_(p, fid);
        HfFmt clone_fmt = p->fmt[fi];
        if ((size_t)fi < bookmark) {
            bookmark--;
        }
        hf_fmt_remove_(p, (size_t)fi);
        HfElem fclone = hf_clone_(p, &p->stack[hf_stack_index_(p, fid)]);
        clone_fmt.id = fclone.id;
        memmove(&p->fmt[bookmark + 1], &p->fmt[bookmark], (p->nfmt - bookmark) * sizeof(HfFmt));
        p->fmt[bookmark] = clone_fmt;
        p->nfmt++;
        size_t fat = (size_t)hf_stack_index_(p, fid);
        memmove(&p->stack[fat], &p->stack[fat + 1], (p->depth - fat - 1) * sizeof(HfElem));
        p->depth--;
        size_t ins = (size_t)hf_stack_index_(p, fbid) + 1;
        if (p->depth == HF_MAX_DEPTH) {
            HF_FAIL(p);
            return;
        }
        memmove(&p->stack[ins + 1], &p->stack[ins], (p->depth - ins) * sizeof(HfElem));
        p->stack[ins] = fclone;
        p->depth++;
    }
}

// ---- character references and text -------------------------------------------------------------

static void hf_put_utf8_(Buf *o, uint32_t c) {
    char b[4];
    size_t k;
    if (c < 0x80) {
        b[0] = (char)c, k = 1;
    } else if (c < 0x800) {
        b[0] = (char)(0xC0 | (c >> 6)), b[1] = (char)(0x80 | (c & 0x3F)), k = 2;
    } else if (c < 0x10000) {
        b[0] = (char)(0xE0 | (c >> 12)), b[1] = (char)(0x80 | ((c >> 6) & 0x3F)), b[2] = (char)(0x80 | (c & 0x3F)), k = 3;
    } else {
        b[0] = (char)(0xF0 | (c >> 18)), b[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((c >> 6) & 0x3F)), b[3] = (char)(0x80 | (c & 0x3F)), k = 4;
    }
    buf_put(o, b, k);
}

// A code point that Gumbo passes through unchanged (no replacement, no parse-error special case).
static int hf_plain_code_point_(uint32_t c) {
    if (c < 0x80) {
        return c == '\t' || c == '\n' || c == '\f' || (c >= 0x20 && c < 0x7F);
    }
    return c >= 0xA0 && c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF) && !(c >= 0xFDD0 && c <= 0xFDEF) &&
           (c & 0xFFFE) != 0xFFFE;
}

// The common named references (the name with its ';'); others send the page to Gumbo.
static const struct {
    const char *name;
    uint32_t cp;
} hf_entities_[] = {
    {"amp", 0x26}, {"lt", 0x3C}, {"gt", 0x3E}, {"quot", 0x22}, {"apos", 0x27}, {"nbsp", 0xA0},
    {"copy", 0xA9}, {"reg", 0xAE}, {"trade", 0x2122}, {"hellip", 0x2026}, {"mdash", 0x2014},
    {"ndash", 0x2013}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C}, {"rdquo", 0x201D},
    {"laquo", 0xAB}, {"raquo", 0xBB}, {"middot", 0xB7}, {"bull", 0x2022}, {"times", 0xD7},
    {"deg", 0xB0}, {"euro", 0x20AC}, {"para", 0xB6}, {"sect", 0xA7}, {"shy", 0xAD}, {"larr", 0x2190},
    {"rarr", 0x2192}, {"uarr", 0x2191}, {"darr", 0x2193}, {"harr", 0x2194}, {"pound", 0xA3},
    {"yen", 0xA5}, {"cent", 0xA2}, {"plusmn", 0xB1}, {"frac12", 0xBD}, {"dagger", 0x2020},
};

// Decodes the reference at s[i] == '&' (data, RCDATA or attribute value: they agree for what is
// decoded here) into o; returns the index after it, or 0 when Gumbo must decide.
static size_t hf_charref_(const char *s, size_t n, size_t i, Buf *o) {
    unsigned char c = i + 1 < n ? (unsigned char)s[i + 1] : 0;
    if (i + 1 >= n || hb_ws_(c) || c == '<' || c == '&' || !(hb_alpha_(c) || c == '#')) {
        buf_putc(o, '&'); // not a reference: the '&' is text
        return i + 1;
    }
    if (c == '#') {
        size_t j = i + 2;
        int hex = j < n && (s[j] == 'x' || s[j] == 'X');
        j += (size_t)hex;
        uint32_t cp = 0;
        size_t d = 0;
        for (; j < n; j++, d++) {
            unsigned char h = (unsigned char)s[j];
            int v = h >= '0' && h <= '9' ? h - '0' : hex && hb_alpha_(h) && hb_lower_(h) <= 'f' ? hb_lower_(h) - 'a' + 10 : -1;
            if (v < 0) {
                break;
            }
            if (d == 7) {
                return 0; // long enough to overflow Gumbo's int: its business
            }
            cp = cp * (hex ? 16u : 10u) + (uint32_t)v;
        }
        if (d == 0 || !hf_plain_code_point_(cp)) {
            return 0;
        }
        hf_put_utf8_(o, cp);
        return j < n && s[j] == ';' ? j + 1 : j;
    }
    size_t e = i + 1;
    while (e < n && (hb_alpha_((unsigned char)s[e]) || (s[e] >= '0' && s[e] <= '9'))) {
        e++;
    }
    if (e < n && s[e] == ';') {
        for (size_t k = 0; k < sizeof(hf_entities_) / sizeof(hf_entities_[0]); k++) {
            const char *nm = hf_entities_[k].name;
            if (strlen(nm) == e - i - 1 && memcmp(nm, s + i + 1, e - i - 1) == 0) {
                hf_put_utf8_(o, hf_entities_[k].cp);
                return e + 1;
            }
        }
    }
    return 0;
}

// Text s[a, b) as the tree builder sees it: CR LF and CR as LF, references decoded when `refs`.
// Points *out at it (the source itself when nothing changes); 0 when Gumbo must decide.
static int hf_decode_(HtmlFast *p, size_t a, size_t b, int refs, const char **out, size_t *len) {
    const char *s = p->s;
    if (!memchr(s + a, '\r', b - a) && !(refs && memchr(s + a, '&', b - a))) {
        *out = s + a;
        *len = b - a;
        return 1;
    }
    Buf *o = &p->decoded;
    buf_clear(o);
    for (size_t i = a; i < b;) {
        char c = s[i];
        if (c == '\r') {
            buf_putc(o, '\n');
            i += (i + 1 < b && s[i + 1] == '\n') ? 2 : 1;
        } else if (c == '&' && refs) {
            i = hf_charref_(s, b, i, o);
            if (i == 0) {
                return 0;
            }
        } else {
            size_t k = i + 1;
            while (k < b && s[k] != '\r' && !(refs && s[k] == '&')) {
                k++;
            }
            buf_put(o, s + i, k - i);
            i = k;
        }
    }
    *out = o->data ? o->data : "";
    *len = o->len;
    return 1;
}

// Valid UTF-8 with no code point that Gumbo replaces or flags (NUL, C0 and C1 controls but
// tab, LF, FF, CR; noncharacters): then its output keeps every byte as it is.
static int hf_valid_(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    while (i < n) {
        if (i + 8 <= n) { // eight bytes of printable ASCII at a time (no high bit, none < 0x20 or 0x7F)
            uint64_t x, y;
            memcpy(&x, u + i, 8);
            y = x ^ (0x7F * ones);
            if (!(x & highs) && !((x - 0x20 * ones) & ~x & highs) && !((y - ones) & ~y & highs)) {
                i += 8;
                continue;
            }
        }
        unsigned char c = u[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\f' && c != '\r') || c == 0x7F) {
                return 0;
            }
            i++;
            continue;
        }
        uint32_t cp;
        size_t k;
        if (c >= 0xC2 && c <= 0xDF) {
            cp = c & 0x1F, k = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            cp = c & 0x0F, k = 2;
        } else if (c >= 0xF0 && c <= 0xF4) {
            cp = c & 0x07, k = 3;
        } else {
            return 0;
        }
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (u[i + j] & 0xC0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (u[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || !hf_plain_code_point_(cp)) {
            return 0; // overlong, out of range, surrogate, C1 control, noncharacter
        }
        i += k + 1;
    }
    return 1;
}

// ---- tree construction -------------------------------------------------------------------------

static size_t hf_ws_prefix_(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && hb_ws_((unsigned char)s[i])) {
        i++;
    }
    return i;
}

static void hf_text_(HtmlFast *p, const char *s, size_t n) {
    if (p->ignore_lf) {
        p->ignore_lf = 0;
        if (n && s[0] == '\n') {
            s++, n--;
        }
    }
    while (n && !p->fail) {
        size_t k;
        switch (p->mode) {
        case HF_INITIAL: // whitespace is ignored; anything else means no doctype: quirks
        case HF_BEFORE_HTML:
        case HF_BEFORE_HEAD:
            k = hf_ws_prefix_(s, n);
            s += k, n -= k;
            if (n == 0) {
                return;
            }
            if (p->mode == HF_INITIAL) {
                p->quirks = HF_QUIRKS;
                p->mode = HF_BEFORE_HTML;
            } else if (p->mode == HF_BEFORE_HTML) {
                hf_push_(p, GUMBO_TAG_HTML, 0);
                p->mode = HF_BEFORE_HEAD;
            } else {
                hf_push_(p, GUMBO_TAG_HEAD, 0);
                p->mode = HF_IN_HEAD;
            }
            break;
        case HF_IN_HEAD: // whitespace goes into the (unseen) head; other text closes it
            k = hf_ws_prefix_(s, n);
            s += k, n -= k;
            if (n) {
                hf_pop_(p);
                p->mode = HF_AFTER_HEAD;
            }
            break;
        case HF_AFTER_HEAD:
            k = hf_ws_prefix_(s, n);
            hf_text_out_(p, s, k);
            s += k, n -= k;
            if (n) {
                hf_push_(p, GUMBO_TAG_BODY, 0);
                p->mode = HF_IN_BODY;
            }
            break;
        case HF_IN_TABLE: // only whitespace stays in a table; other text is foster-parented
        case HF_IN_TABLE_BODY:
        case HF_IN_ROW:
        case HF_IN_COLGROUP:
            if (!hf_all_ws_(s, n)) {
                HF_FAIL(p);
                return;
            }
            hf_text_out_(p, s, n);
            return;
        default: // in body, cell, caption
            hf_reconstruct_(p);
            hf_text_out_(p, s, n);
            return;
        }
    }
}

// Start tags whose handling is the same in head and body: raw text content, or void.
static int hf_head_element_(HtmlFast *p, const HfTag *t, int pushed) {
    int raw = HF_RAW_NONE;
    switch (t->tag) {
    case GUMBO_TAG_BASE: case GUMBO_TAG_BASEFONT: case GUMBO_TAG_BGSOUND: case GUMBO_TAG_MENUITEM:
    case GUMBO_TAG_LINK: case GUMBO_TAG_META:
        if (pushed) {
            hf_void_(p, t->tag, t->flags);
        }
        return 1;
    case GUMBO_TAG_TITLE: raw = HF_RCDATA; break;
    case GUMBO_TAG_NOFRAMES: case GUMBO_TAG_STYLE: raw = HF_RAWTEXT; break;
    case GUMBO_TAG_SCRIPT: raw = HF_SCRIPT; break;
    default: return 0;
    }
    if (pushed) {
        hf_push_(p, t->tag, t->flags);
    }
    p->raw = raw;
    p->raw_pushed = pushed;
    return 1;
}

static void hf_list_item_(HtmlFast *p, GumboTag t) {
    for (size_t k = p->depth; k-- > 0;) {
        GumboTag g = p->stack[k].tag;
        if (t == GUMBO_TAG_LI ? g == GUMBO_TAG_LI : (g == GUMBO_TAG_DD || g == GUMBO_TAG_DT)) {
            hf_close_(p, g);
            return;
        }
        if (hf_is_special_(g) && g != GUMBO_TAG_ADDRESS && g != GUMBO_TAG_DIV && g != GUMBO_TAG_P) {
            return;
        }
    }
}

static void hf_body_start_(HtmlFast *p, const HfTag *t) {
    GumboTag g = t->tag;
    unsigned id;
    if (hf_head_element_(p, t, 1)) {
        return;
    }
    switch (g) {
    case GUMBO_TAG_HTML: case GUMBO_TAG_BODY: case GUMBO_TAG_FRAMESET: case GUMBO_TAG_TEMPLATE:
    case GUMBO_TAG_PLAINTEXT: case GUMBO_TAG_ISINDEX: case GUMBO_TAG_SELECT: case GUMBO_TAG_NOBR:
    case GUMBO_TAG_RB: case GUMBO_TAG_RP: case GUMBO_TAG_RT: case GUMBO_TAG_RTC: case GUMBO_TAG_MATH:
    case GUMBO_TAG_IMAGE:
        HF_FAIL(p);
        return;
    case GUMBO_TAG_ADDRESS: case GUMBO_TAG_ARTICLE: case GUMBO_TAG_ASIDE: case GUMBO_TAG_BLOCKQUOTE:
    case GUMBO_TAG_CENTER: case GUMBO_TAG_DETAILS: case GUMBO_TAG_DIR: case GUMBO_TAG_DIV:
    case GUMBO_TAG_DL: case GUMBO_TAG_FIELDSET: case GUMBO_TAG_FIGCAPTION: case GUMBO_TAG_FIGURE:
    case GUMBO_TAG_FOOTER: case GUMBO_TAG_HEADER: case GUMBO_TAG_HGROUP: case GUMBO_TAG_MENU:
    case GUMBO_TAG_MAIN: case GUMBO_TAG_NAV: case GUMBO_TAG_OL: case GUMBO_TAG_P: case GUMBO_TAG_SECTION:
    case GUMBO_TAG_SUMMARY: case GUMBO_TAG_UL:
        hf_close_p_(p);
        hf_push_(p, g, t->flags);
        return;
    case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3: case GUMBO_TAG_H4: case GUMBO_TAG_H5:
    case GUMBO_TAG_H6:
        hf_close_p_(p);
        if (hf_is_heading_(hf_current_(p)->tag)) {
            hf_pop_(p);
        }
        hf_push_(p, g, t->flags);
        return;
    case GUMBO_TAG_PRE: case GUMBO_TAG_LISTING:
        hf_close_p_(p);
        hf_push_(p, g, t->flags);
        p->ignore_lf = 1;
        return;
    case GUMBO_TAG_FORM:
        if (p->form) {
            return; // a form inside a form is dropped
        }
        hf_close_p_(p);
        p->form = hf_push_(p, g, t->flags);
        return;
    case GUMBO_TAG_LI: case GUMBO_TAG_DD: case GUMBO_TAG_DT:
        hf_list_item_(p, g);
        hf_close_p_(p);
        hf_push_(p, g, t->flags);
        return;
    case GUMBO_TAG_BUTTON:
        if (hf_in_scope_(p, GUMBO_TAG_BUTTON, HF_SCOPE)) {
            HF_FAIL(p);
            return;
        }
        hf_reconstruct_(p);
        hf_push_(p, g, t->flags);
        return;
    case GUMBO_TAG_A:
        for (size_t k = p->nfmt; k-- > 0 && p->fmt[k].tag != GUMBO_TAG_LAST;) {
            if (p->fmt[k].tag == GUMBO_TAG_A) {
                hf_adoption_(p, GUMBO_TAG_A);
                for (size_t j = p->nfmt; j-- > 0 && p->fmt[j].tag != GUMBO_TAG_LAST;) {
                    if (p->fmt[j].tag == GUMBO_TAG_A) {
                        HF_FAIL(p); // Gumbo then drops it from the stack where it is
                        return;
                    }
                }
                break;
            }
        }
        hf_reconstruct_(p);
        id = hf_push_(p, g, t->flags);
        if (id) {
            hf_fmt_add_(p, id);
        }
        return;
    case GUMBO_TAG_B: case GUMBO_TAG_BIG: case GUMBO_TAG_CODE: case GUMBO_TAG_EM: case GUMBO_TAG_FONT:
    case GUMBO_TAG_I: case GUMBO_TAG_S: case GUMBO_TAG_SMALL: case GUMBO_TAG_STRIKE: case GUMBO_TAG_STRONG:
    case GUMBO_TAG_TT: case GUMBO_TAG_U:
        hf_reconstruct_(p);
        id = hf_push_(p, g, t->flags);
        if (id) {
            hf_fmt_add_(p, id);
        }
        return;
    case GUMBO_TAG_APPLET: case GUMBO_TAG_MARQUEE: case GUMBO_TAG_OBJECT:
        hf_reconstruct_(p);
        hf_push_(p, g, t->flags);
        hf_fmt_marker_(p);
        return;
    case GUMBO_TAG_TABLE:
        if (p->quirks != HF_QUIRKS && hf_in_scope_(p, GUMBO_TAG_P, HF_SCOPE_BUTTON)) {
            if (p->quirks == HF_QUIRKS_UNKNOWN) {
                HF_FAIL(p); // whether the table closes the <p> depends on the doctype
                return;
            }
            hf_close_(p, GUMBO_TAG_P);
        }
        hf_push_(p, g, t->flags);
        p->mode = HF_IN_TABLE;
        return;
    case GUMBO_TAG_AREA: case GUMBO_TAG_BR: case GUMBO_TAG_EMBED: case GUMBO_TAG_IMG:
    case GUMBO_TAG_KEYGEN: case GUMBO_TAG_WBR: case GUMBO_TAG_INPUT:
        hf_reconstruct_(p);
        hf_void_(p, g, t->flags);
        return;
    case GUMBO_TAG_PARAM: case GUMBO_TAG_SOURCE: case GUMBO_TAG_TRACK:
        hf_void_(p, g, t->flags);
        return;
    case GUMBO_TAG_HR:
        hf_close_p_(p);
        hf_void_(p, g, t->flags);
        return;
    case GUMBO_TAG_TEXTAREA:
        hf_push_(p, g, t->flags);
        p->raw = HF_RCDATA, p->raw_pushed = 1;
        p->ignore_lf = 1;
        return;
    case GUMBO_TAG_XMP:
        hf_close_p_(p);
        hf_reconstruct_(p);
        hf_push_(p, g, t->flags);
        p->raw = HF_RAWTEXT, p->raw_pushed = 1;
        return;
    case GUMBO_TAG_IFRAME: case GUMBO_TAG_NOEMBED:
        hf_push_(p, g, t->flags);
        p->raw = HF_RAWTEXT, p->raw_pushed = 1;
        return;
    case GUMBO_TAG_OPTION: case GUMBO_TAG_OPTGROUP:
        if (hf_current_(p)->tag == GUMBO_TAG_OPTION) {
            hf_pop_(p);
        }
        hf_reconstruct_(p);
        hf_push_(p, g, t->flags);
        return;
    case GUMBO_TAG_SVG: // an empty <svg> (what html_blank.h leaves) is a leaf; content is foreign
        if (!t->self_closing) {
            const char *s = p->s;
            size_t e = t->end;
            if (!(e + 6 <= p->n && s[e] == '<' && s[e + 1] == '/' && hb_eq_(s + e + 2, 3, "svg") &&
                  (hb_ws_((unsigned char)s[e + 5]) || s[e + 5] == '/' || s[e + 5] == '>'))) {
                HF_FAIL(p);
                return;
            }
        }
        hf_reconstruct_(p);
        hf_void_(p, g, t->flags);
        return;
    case GUMBO_TAG_CAPTION: case GUMBO_TAG_COL: case GUMBO_TAG_COLGROUP: case GUMBO_TAG_FRAME:
    case GUMBO_TAG_HEAD: case GUMBO_TAG_TBODY: case GUMBO_TAG_TD: case GUMBO_TAG_TFOOT: case GUMBO_TAG_TH:
    case GUMBO_TAG_THEAD: case GUMBO_TAG_TR:
        return; // ignored in body
    default: // noscript too: Gumbo parses with scripting off
        hf_reconstruct_(p);
        hf_push_(p, g, t->flags);
        return;
    }
}

static void hf_body_end_(HtmlFast *p, GumboTag g) {
    switch (g) {
    case GUMBO_TAG_BODY: case GUMBO_TAG_HTML:
        return; // after </body>, Gumbo inserts what follows where it would have anyway
    case GUMBO_TAG_ADDRESS: case GUMBO_TAG_ARTICLE: case GUMBO_TAG_ASIDE: case GUMBO_TAG_BLOCKQUOTE:
    case GUMBO_TAG_BUTTON: case GUMBO_TAG_CENTER: case GUMBO_TAG_DETAILS: case GUMBO_TAG_DIR:
    case GUMBO_TAG_DIV: case GUMBO_TAG_DL: case GUMBO_TAG_FIELDSET: case GUMBO_TAG_FIGCAPTION:
    case GUMBO_TAG_FIGURE: case GUMBO_TAG_FOOTER: case GUMBO_TAG_HEADER: case GUMBO_TAG_HGROUP:
    case GUMBO_TAG_LISTING: case GUMBO_TAG_MAIN: case GUMBO_TAG_MENU: case GUMBO_TAG_NAV: case GUMBO_TAG_OL:
    case GUMBO_TAG_PRE: case GUMBO_TAG_SECTION: case GUMBO_TAG_SUMMARY: case GUMBO_TAG_UL:
    case GUMBO_TAG_DD: case GUMBO_TAG_DT:
        if (hf_in_scope_(p, g, HF_SCOPE)) {
            hf_close_(p, g);
        }
        return;
    case GUMBO_TAG_FORM: {
        unsigned f = p->form;
        p->form = 0;
        long at = f ? hf_stack_index_(p, f) : -1;
        for (size_t k = p->depth; at >= 0 && k-- > (size_t)at + 1;) {
            if (hf_scope_boundary_(p->stack[k].tag, HF_SCOPE)) {
                at = -1; // not in scope: ignored
            }
        }
        if (at < 0) {
            return;
        }
        hf_generate_implied_(p, GUMBO_TAG_LAST);
        if (hf_current_(p)->id != f || p->pending == 2 || (p->pending && p->w->in_pre)) {
            // Gumbo takes the form off the stack without a pop: from under open elements, or
            // before the text just read is flushed, which then lands after the form (whitespace
            // there only sets the pending space that leaving the form clears anyway)
            HF_FAIL(p);
            return;
        }
        hf_pop_(p);
        return;
    }
    case GUMBO_TAG_P:
        if (!hf_in_scope_(p, GUMBO_TAG_P, HF_SCOPE_BUTTON)) {
            hf_void_(p, GUMBO_TAG_P, 0); // an empty <p> for the stray </p>
            return;
        }
        hf_close_(p, GUMBO_TAG_P);
        return;
    case GUMBO_TAG_LI:
        if (hf_in_scope_(p, GUMBO_TAG_LI, HF_SCOPE_LIST)) {
            hf_close_(p, GUMBO_TAG_LI);
        }
        return;
    case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3: case GUMBO_TAG_H4: case GUMBO_TAG_H5:
    case GUMBO_TAG_H6:
        if (hf_heading_in_scope_(p)) {
            hf_generate_implied_(p, GUMBO_TAG_LAST);
            while (p->depth > 1) {
                GumboTag c = hf_current_(p)->tag;
                hf_pop_(p);
                if (hf_is_heading_(c)) {
                    break;
                }
            }
        }
        return;
    case GUMBO_TAG_APPLET: case GUMBO_TAG_MARQUEE: case GUMBO_TAG_OBJECT:
        if (hf_in_scope_(p, g, HF_SCOPE_TABLE)) { // Gumbo 0.10.1 checks table scope here
            hf_close_(p, g);
            hf_fmt_clear_to_marker_(p);
        }
        return;
    case GUMBO_TAG_BR: case GUMBO_TAG_TEMPLATE:
        HF_FAIL(p);
        return;
    default:
        if (hf_is_formatting_(g)) {
            hf_adoption_(p, g);
            return;
        }
        for (size_t k = p->depth; k-- > 0;) { // any other end tag
            if (p->stack[k].tag == g) {
                hf_generate_implied_(p, g);
                while (p->depth > k) {
                    hf_pop_(p);
                }
                return;
            }
            if (hf_is_special_(p->stack[k].tag)) {
                return;
            }
        }
        return;
    }
}

static void hf_in_body_(HtmlFast *p, const HfTag *t, int end) {
    if (end) {
        hf_body_end_(p, t->tag);
    } else {
        hf_body_start_(p, t);
    }
}

// The clears of the table modes: pop until one of the given context elements (or <html>).
static void hf_clear_to_(HtmlFast *p, GumboTag a, GumboTag b, GumboTag c) {
    while (p->depth > 1) {
        GumboTag g = hf_current_(p)->tag;
        if (g == a || g == b || g == c || g == GUMBO_TAG_HTML || g == GUMBO_TAG_TEMPLATE) {
            return;
        }
        hf_pop_(p);
    }
}

static void hf_reset_mode_(HtmlFast *p) {
    for (size_t k = p->depth; k-- > 0;) {
        int last = k == 0;
        switch (p->stack[k].tag) {
        case GUMBO_TAG_TD: case GUMBO_TAG_TH:
            if (!last) {
                p->mode = HF_IN_CELL;
                return;
            }
            break;
        case GUMBO_TAG_TR: p->mode = HF_IN_ROW; return;
        case GUMBO_TAG_TBODY: case GUMBO_TAG_THEAD: case GUMBO_TAG_TFOOT: p->mode = HF_IN_TABLE_BODY; return;
        case GUMBO_TAG_CAPTION: p->mode = HF_IN_CAPTION; return;
        case GUMBO_TAG_COLGROUP: p->mode = HF_IN_COLGROUP; return;
        case GUMBO_TAG_TABLE: p->mode = HF_IN_TABLE; return;
        case GUMBO_TAG_BODY: p->mode = HF_IN_BODY; return;
        case GUMBO_TAG_SELECT: case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_FRAMESET: case GUMBO_TAG_HEAD:
        case GUMBO_TAG_HTML:
            HF_FAIL(p);
            return;
        default:
            break;
        }
        if (last) {
            p->mode = HF_IN_BODY;
        }
    }
}

static int hf_is_table_part_(GumboTag g) { // caption col colgroup tbody td tfoot th thead tr
    return g == GUMBO_TAG_CAPTION || g == GUMBO_TAG_COL || g == GUMBO_TAG_COLGROUP || g == GUMBO_TAG_TBODY ||
           g == GUMBO_TAG_TD || g == GUMBO_TAG_TFOOT || g == GUMBO_TAG_TH || g == GUMBO_TAG_THEAD ||
           g == GUMBO_TAG_TR;
}

static void hf_close_cell_(HtmlFast *p) {
    GumboTag cell = hf_in_scope_(p, GUMBO_TAG_TD, HF_SCOPE_TABLE) ? GUMBO_TAG_TD : GUMBO_TAG_TH;
    hf_generate_implied_(p, GUMBO_TAG_LAST);
    hf_pop_until_(p, cell);
    hf_fmt_clear_to_marker_(p);
    p->mode = HF_IN_ROW;
}

// A start (end == 0) or end tag in the current mode; returns 1 when the token is to be
// processed again in the mode it switched to.
static int hf_tag_(HtmlFast *p, const HfTag *t, int end) {
    GumboTag g = t->tag;
    switch (p->mode) {
    case HF_INITIAL:
        p->quirks = HF_QUIRKS;
        p->mode = HF_BEFORE_HTML;
        return 1;
    case HF_BEFORE_HTML:
        if (end && g != GUMBO_TAG_HEAD && g != GUMBO_TAG_BODY && g != GUMBO_TAG_HTML && g != GUMBO_TAG_BR) {
            return 0;
        }
        hf_push_(p, GUMBO_TAG_HTML, !end && g == GUMBO_TAG_HTML ? t->flags : 0);
        p->mode = HF_BEFORE_HEAD;
        return end || g != GUMBO_TAG_HTML;
    case HF_BEFORE_HEAD:
        if (!end && g == GUMBO_TAG_HTML) {
            HF_FAIL(p);
            return 0;
        }
        if (end && g != GUMBO_TAG_HEAD && g != GUMBO_TAG_BODY && g != GUMBO_TAG_HTML && g != GUMBO_TAG_BR) {
            return 0;
        }
        hf_push_(p, GUMBO_TAG_HEAD, 0);
        p->mode = HF_IN_HEAD;
        return end || g != GUMBO_TAG_HEAD;
    case HF_IN_HEAD:
        if (!end) {
            if (g == GUMBO_TAG_HTML || g == GUMBO_TAG_NOSCRIPT || g == GUMBO_TAG_TEMPLATE) {
                HF_FAIL(p);
                return 0;
            }
            if (g == GUMBO_TAG_HEAD || hf_head_element_(p, t, 0)) {
                return 0;
            }
        } else if (g == GUMBO_TAG_TEMPLATE) {
            HF_FAIL(p);
            return 0;
        } else if (g != GUMBO_TAG_HEAD && g != GUMBO_TAG_BODY && g != GUMBO_TAG_HTML && g != GUMBO_TAG_BR) {
            return 0;
        }
        hf_pop_(p); // the head
        p->mode = HF_AFTER_HEAD;
        return !(end && g == GUMBO_TAG_HEAD);
    case HF_AFTER_HEAD:
        if (!end) {
            switch (g) {
            case GUMBO_TAG_HTML: case GUMBO_TAG_FRAMESET: case GUMBO_TAG_TEMPLATE:
                HF_FAIL(p);
                return 0;
            case GUMBO_TAG_BODY:
                hf_push_(p, GUMBO_TAG_BODY, t->flags);
                p->mode = HF_IN_BODY;
                return 0;
            case GUMBO_TAG_HEAD:
                return 0;
            case GUMBO_TAG_MENUITEM: // not a head element after the head
                break;
            default:
                if (hf_head_element_(p, t, 0)) { // into the head again: unseen
                    return 0;
                }
            }
        } else if (g == GUMBO_TAG_TEMPLATE) {
            HF_FAIL(p);
            return 0;
        } else if (g != GUMBO_TAG_BODY && g != GUMBO_TAG_HTML && g != GUMBO_TAG_BR) {
            return 0;
        }
        hf_push_(p, GUMBO_TAG_BODY, 0);
        p->mode = HF_IN_BODY;
        return 1;
    case HF_IN_BODY:
        hf_in_body_(p, t, end);
        return 0;
    case HF_IN_TABLE:
        if (!end) {
            switch (g) {
            case GUMBO_TAG_CAPTION:
                hf_clear_to_(p, GUMBO_TAG_TABLE, GUMBO_TAG_TABLE, GUMBO_TAG_TABLE);
                hf_fmt_marker_(p);
                hf_push_(p, g, t->flags);
                p->mode = HF_IN_CAPTION;
                return 0;
            case GUMBO_TAG_COLGROUP:
            case GUMBO_TAG_COL:
                hf_clear_to_(p, GUMBO_TAG_TABLE, GUMBO_TAG_TABLE, GUMBO_TAG_TABLE);
                hf_push_(p, GUMBO_TAG_COLGROUP, g == GUMBO_TAG_COLGROUP ? t->flags : 0);
                p->mode = HF_IN_COLGROUP;
                return g == GUMBO_TAG_COL;
            case GUMBO_TAG_TBODY: case GUMBO_TAG_TFOOT: case GUMBO_TAG_THEAD:
            case GUMBO_TAG_TD: case GUMBO_TAG_TH: case GUMBO_TAG_TR: {
                int implied = g == GUMBO_TAG_TD || g == GUMBO_TAG_TH || g == GUMBO_TAG_TR;
                hf_clear_to_(p, GUMBO_TAG_TABLE, GUMBO_TAG_TABLE, GUMBO_TAG_TABLE);
                hf_push_(p, implied ? GUMBO_TAG_TBODY : g, implied ? 0 : t->flags);
                p->mode = HF_IN_TABLE_BODY;
                return implied;
            }
            case GUMBO_TAG_STYLE: case GUMBO_TAG_SCRIPT:
                hf_head_element_(p, t, 1);
                return 0;
            default: // a second <table>, <input>, <form>, <template>, anything foster-parented
                HF_FAIL(p);
                return 0;
            }
        }
        switch (g) {
        case GUMBO_TAG_TABLE:
            if (hf_in_scope_(p, GUMBO_TAG_TABLE, HF_SCOPE_TABLE)) {
                hf_pop_until_(p, GUMBO_TAG_TABLE);
                hf_reset_mode_(p);
            }
            return 0;
        case GUMBO_TAG_BODY: case GUMBO_TAG_CAPTION: case GUMBO_TAG_COL: case GUMBO_TAG_COLGROUP:
        case GUMBO_TAG_HTML: case GUMBO_TAG_TBODY: case GUMBO_TAG_TD: case GUMBO_TAG_TFOOT: case GUMBO_TAG_TH:
        case GUMBO_TAG_THEAD: case GUMBO_TAG_TR:
            return 0;
        default:
            HF_FAIL(p);
            return 0;
        }
    case HF_IN_TABLE_BODY:
        if (!end && (g == GUMBO_TAG_TR || g == GUMBO_TAG_TD || g == GUMBO_TAG_TH)) {
            hf_clear_to_(p, GUMBO_TAG_TBODY, GUMBO_TAG_TFOOT, GUMBO_TAG_THEAD);
            hf_push_(p, GUMBO_TAG_TR, g == GUMBO_TAG_TR ? t->flags : 0);
            p->mode = HF_IN_ROW;
            return g != GUMBO_TAG_TR;
        }
        if (end && (g == GUMBO_TAG_TBODY || g == GUMBO_TAG_TFOOT || g == GUMBO_TAG_THEAD)) {
            if (hf_in_scope_(p, g, HF_SCOPE_TABLE)) {
                hf_clear_to_(p, GUMBO_TAG_TBODY, GUMBO_TAG_TFOOT, GUMBO_TAG_THEAD);
                hf_pop_(p);
                p->mode = HF_IN_TABLE;
            }
            return 0;
        }
        if ((!end && (g == GUMBO_TAG_CAPTION || g == GUMBO_TAG_COL || g == GUMBO_TAG_COLGROUP ||
                      g == GUMBO_TAG_TBODY || g == GUMBO_TAG_TFOOT || g == GUMBO_TAG_THEAD)) ||
            (end && g == GUMBO_TAG_TABLE)) {
            if (!hf_in_scope_(p, GUMBO_TAG_TBODY, HF_SCOPE_TABLE) && !hf_in_scope_(p, GUMBO_TAG_THEAD, HF_SCOPE_TABLE) &&
                !hf_in_scope_(p, GUMBO_TAG_TFOOT, HF_SCOPE_TABLE)) {
                return 0;
            }
            hf_clear_to_(p, GUMBO_TAG_TBODY, GUMBO_TAG_TFOOT, GUMBO_TAG_THEAD);
            hf_pop_(p);
            p->mode = HF_IN_TABLE;
            return 1;
        }
        if (end && (g == GUMBO_TAG_BODY || g == GUMBO_TAG_CAPTION || g == GUMBO_TAG_COL || g == GUMBO_TAG_TR ||
                    g == GUMBO_TAG_COLGROUP || g == GUMBO_TAG_HTML || g == GUMBO_TAG_TD || g == GUMBO_TAG_TH)) {
            return 0;
        }
        p->mode = HF_IN_TABLE; // the in-table rules, staying in this mode
        {
            int again = hf_tag_(p, t, end);
            if (p->mode == HF_IN_TABLE) {
                p->mode = HF_IN_TABLE_BODY;
            }
            return again;
        }
    case HF_IN_ROW:
        if (!end && (g == GUMBO_TAG_TD || g == GUMBO_TAG_TH)) {
            hf_clear_to_(p, GUMBO_TAG_TR, GUMBO_TAG_TR, GUMBO_TAG_TR);
            hf_push_(p, g, t->flags);
            p->mode = HF_IN_CELL;
            hf_fmt_marker_(p);
            return 0;
        }
        if ((end && (g == GUMBO_TAG_TR || g == GUMBO_TAG_TABLE)) ||
            (!end && (g == GUMBO_TAG_CAPTION || g == GUMBO_TAG_COL || g == GUMBO_TAG_COLGROUP ||
                      g == GUMBO_TAG_TBODY || g == GUMBO_TAG_TFOOT || g == GUMBO_TAG_THEAD || g == GUMBO_TAG_TR)) ||
            (end && (g == GUMBO_TAG_TBODY || g == GUMBO_TAG_TFOOT || g == GUMBO_TAG_THEAD))) {
            if (!hf_in_scope_(p, GUMBO_TAG_TR, HF_SCOPE_TABLE) ||
                (end && g != GUMBO_TAG_TR && g != GUMBO_TAG_TABLE && !hf_in_scope_(p, g, HF_SCOPE_TABLE))) {
                return 0;
            }
            hf_clear_to_(p, GUMBO_TAG_TR, GUMBO_TAG_TR, GUMBO_TAG_TR);
            hf_pop_(p);
            p->mode = HF_IN_TABLE_BODY;
            return !(end && g == GUMBO_TAG_TR);
        }
        if (end && (g == GUMBO_TAG_BODY || g == GUMBO_TAG_CAPTION || g == GUMBO_TAG_COL ||
                    g == GUMBO_TAG_COLGROUP || g == GUMBO_TAG_HTML || g == GUMBO_TAG_TD || g == GUMBO_TAG_TH)) {
            return 0;
        }
        p->mode = HF_IN_TABLE;
        {
            int again = hf_tag_(p, t, end);
            if (p->mode == HF_IN_TABLE) {
                p->mode = HF_IN_ROW;
            }
            return again;
        }
    case HF_IN_CELL:
        if (end && (g == GUMBO_TAG_TD || g == GUMBO_TAG_TH)) {
            if (hf_in_scope_(p, g, HF_SCOPE_TABLE)) {
                hf_generate_implied_(p, GUMBO_TAG_LAST);
                hf_pop_until_(p, g);
                hf_fmt_clear_to_marker_(p);
                p->mode = HF_IN_ROW;
            }
            return 0;
        }
        if (!end && hf_is_table_part_(g)) {
            if (!hf_in_scope_(p, GUMBO_TAG_TD, HF_SCOPE_TABLE) && !hf_in_scope_(p, GUMBO_TAG_TH, HF_SCOPE_TABLE)) {
                return 0;
            }
            hf_close_cell_(p);
            return 1;
        }
        if (end && (g == GUMBO_TAG_BODY || g == GUMBO_TAG_CAPTION || g == GUMBO_TAG_COL ||
                    g == GUMBO_TAG_COLGROUP || g == GUMBO_TAG_HTML)) {
            return 0;
        }
        if (end && (g == GUMBO_TAG_TABLE || g == GUMBO_TAG_TBODY || g == GUMBO_TAG_TFOOT ||
                    g == GUMBO_TAG_THEAD || g == GUMBO_TAG_TR)) {
            if (!hf_in_scope_(p, g, HF_SCOPE_TABLE)) {
                return 0;
            }
            hf_close_cell_(p);
            return 1;
        }
        hf_in_body_(p, t, end);
        return 0;
    case HF_IN_CAPTION:
        if ((end && (g == GUMBO_TAG_CAPTION || g == GUMBO_TAG_TABLE)) || (!end && hf_is_table_part_(g))) {
            if (!hf_in_scope_(p, GUMBO_TAG_CAPTION, HF_SCOPE_TABLE)) {
                return 0;
            }
            if (end && g == GUMBO_TAG_CAPTION) {
                hf_generate_implied_(p, GUMBO_TAG_LAST);
            }
            hf_pop_until_(p, GUMBO_TAG_CAPTION);
            hf_fmt_clear_to_marker_(p);
            p->mode = HF_IN_TABLE;
            return !(end && g == GUMBO_TAG_CAPTION);
        }
        if (end && (g == GUMBO_TAG_BODY || g == GUMBO_TAG_HTML || (hf_is_table_part_(g) && g != GUMBO_TAG_CAPTION))) {
            return 0;
        }
        hf_in_body_(p, t, end);
        return 0;
    case HF_IN_COLGROUP:
        if ((!end && (g == GUMBO_TAG_HTML || g == GUMBO_TAG_TEMPLATE)) || (end && g == GUMBO_TAG_TEMPLATE)) {
            HF_FAIL(p);
            return 0;
        }
        if (!end && g == GUMBO_TAG_COL) {
            hf_void_(p, g, t->flags);
            return 0;
        }
        if (end && g == GUMBO_TAG_COL) {
            return 0;
        }
        if (hf_current_(p)->tag != GUMBO_TAG_COLGROUP) {
            return 0;
        }
        hf_pop_(p);
        p->mode = HF_IN_TABLE;
        return !(end && g == GUMBO_TAG_COLGROUP);
    }
    return 0;
}

// ---- the token loop ----------------------------------------------------------------------------

// Quirks mode from a doctype token's text s[a, b) (after "<!DOCTYPE"): no quirks for the HTML5
// doctype and the usual W3C ones (limited quirks acts the same here); others: not worked out.
static int hf_doctype_quirks_(const char *s, size_t a, size_t b) {
    static const char *const w3c[] = {"-//w3c//dtd xhtml 1.0 strict//en", "-//w3c//dtd xhtml 1.1//en",
                                      "-//w3c//dtd html 4.01//en", "-//w3c//dtd xhtml 1.0 transitional//en",
                                      "-//w3c//dtd xhtml 1.0 frameset//en", NULL};
    size_t i = a;
    while (i < b && hb_ws_((unsigned char)s[i])) {
        i++;
    }
    if (!(i + 4 <= b && hb_eq_(s + i, 4, "html") && (i + 4 == b || hb_ws_((unsigned char)s[i + 4])))) {
        return HF_QUIRKS_UNKNOWN;
    }
    for (i += 4; i < b && hb_ws_((unsigned char)s[i]); i++) {
    }
    if (i == b) {
        return HF_NO_QUIRKS;
    }
    if (!(i + 6 <= b && hb_eq_(s + i, 6, "public"))) {
        return HF_QUIRKS_UNKNOWN;
    }
    for (i += 6; i < b && hb_ws_((unsigned char)s[i]); i++) {
    }
    if (i == b || (s[i] != '"' && s[i] != '\'')) {
        return HF_QUIRKS_UNKNOWN;
    }
    const char *q = (const char *)memchr(s + i + 1, s[i], b - i - 1);
    if (q == NULL || !hb_is_(s + i + 1, (size_t)(q - s) - i - 1, w3c)) {
        return HF_QUIRKS_UNKNOWN;
    }
    for (i = (size_t)(q - s) + 1; i < b && hb_ws_((unsigned char)s[i]); i++) {
    }
    if (i == b) {
        return HF_NO_QUIRKS;
    }
    // a system identifier: a W3C DTD URL (some others force quirks)
    if ((s[i] == '"' || s[i] == '\'') && b - i > 19 && hb_eq_(s + i + 1, 18, "http://www.w3.org/")) {
        q = (const char *)memchr(s + i + 1, s[i], b - i - 1);
        if (q != NULL) {
            for (i = (size_t)(q - s) + 1; i < b && hb_ws_((unsigned char)s[i]); i++) {
            }
            if (i == b) {
                return HF_NO_QUIRKS;
            }
        }
    }
    return HF_QUIRKS_UNKNOWN;
}

// A start tag's attributes as the walk needs them (the first of repeated names counts).
static int hf_attr_flags_(HtmlFast *p, GumboTag tag, const HbAttrs *at) {
    const char *s = p->s;
    int flags = 0, named = tag != GUMBO_TAG_BODY && tag != GUMBO_TAG_HTML;
    unsigned seen = 0; // value-read names already met: aria-hidden, style, role, id, class
    if (at->n > at->cap) {
        HF_FAIL(p);
        return 0;
    }
    for (size_t k = 0; k < at->n; k++) {
        const HbAttr *a = &at->a[k];
        size_t kn = a->ne - a->ns;
        char name[12];
        if (kn < 2 || kn > 11) {
            continue;
        }
        for (size_t j = 0; j < kn; j++) {
            name[j] = (char)hb_lower_((unsigned char)s[a->ns + j]);
        }
        static const char *const read[] = {"aria-hidden", "style", "role", "id", "class"};
        unsigned bit = 0;
        for (unsigned r = 0; r < 5; r++) {
            if (strlen(read[r]) == kn && memcmp(read[r], name, kn) == 0) {
                bit = 1u << r;
            }
        }
        if (bit) {
            if (seen & bit) {
                continue; // Gumbo keeps the first
            }
            seen |= bit;
            const char *v;
            size_t vn;
            if (!hf_decode_(p, a->vs, a->ve, 1, &v, &vn)) {
                HF_FAIL(p);
                return 0;
            }
            flags |= html_attr_flag(name, kn, v, vn, named);
        } else {
            flags |= html_attr_flag(name, kn, "", 0, named); // hidden, href: the name is enough
        }
    }
    return flags;
}

// The raw text after a start tag that asked for it (p->raw): into its element, which the end
// tag then closes. Returns the index after the end tag (or n).
static size_t hf_raw_(HtmlFast *p, size_t i, GumboTag tag) {
    const char *s = p->s;
    size_t n = p->n, e;
    if (p->raw == HF_SCRIPT) {
        e = hb_script_end_(s, n, i);
    } else {
        e = hb_rawtext_end_(s, n, i, gumbo_normalized_tagname(tag)); // lowercase, as it wants
    }
    if (p->raw_pushed && e > i) {
        const char *t;
        size_t tn;
        if (!hf_decode_(p, i, e, p->raw == HF_RCDATA, &t, &tn)) {
            HF_FAIL(p);
            return n;
        }
        if (p->ignore_lf && tn && t[0] == '\n') {
            t++, tn--;
        }
        hf_text_out_(p, t, tn);
    }
    p->ignore_lf = 0;
    if (p->raw_pushed) {
        hf_pop_(p);
    }
    p->raw = HF_RAW_NONE;
    if (e >= n) {
        return n;
    }
    size_t name_end;
    int sc;
    return hb_tag_(s, n, e + 2, &name_end, &sc, NULL);
}

// Walks the page's element stream into w, with p as the builder's state (its contents from an
// earlier page do not matter); returns 0 (nothing to trust) when the page needs Gumbo.
static int html_fast_walk(const char *s, size_t n, const HtmlOptions *opt, HtmlWalk *w, HtmlFast *p) {
    if (!hf_valid_(s, n)) {
        return 0;
    }
    memset(p, 0, offsetof(HtmlFast, stack)); // the stacks need no clearing; `decoded` is kept
    p->s = s, p->n = n, p->opt = opt, p->w = w;
    p->mode = HF_INITIAL;
    p->quirks = HF_QUIRKS;
    HbAttr attrs[HF_MAX_ATTRS];
    HbAttrs at = {attrs, HF_MAX_ATTRS, 0, 0};
    size_t i = 0;
    while (i < n && !p->fail) {
        // a text run: up to the next '<' that starts markup ("<" + letter, "</", "<!", "<?")
        size_t e = i;
        for (;;) {
            const char *lt = (const char *)memchr(s + e, '<', n - e);
            if (lt == NULL) {
                e = n;
                break;
            }
            e = (size_t)(lt - s);
            unsigned char c = e + 1 < n ? (unsigned char)s[e + 1] : 0;
            if (e + 1 < n && (hb_alpha_(c) || c == '!' || c == '?' || (c == '/' && e + 2 < n))) {
                break;
            }
            e++;
        }
        if (e > i) {
            const char *t;
            size_t tn;
            if (!hf_decode_(p, i, e, 1, &t, &tn)) {
                HF_FAIL(p);
                break;
            }
            hf_text_(p, t, tn);
            i = e;
            continue;
        }
        // markup at i
        unsigned char c = (unsigned char)s[i + 1];
        if (c == '!' || c == '?' || (c == '/' && !hb_alpha_((unsigned char)s[i + 2]))) {
            if (c == '/' && s[i + 2] == '>') {
                HF_FAIL(p); // "</>": no token at all, which the text rules above do not model
                break;
            }
            if (c == '!' && i + 9 <= n && hb_eq_(s + i + 2, 7, "doctype")) {
                size_t g = hb_past_gt_(s, n, i + 9);
                if (p->mode == HF_INITIAL) {
                    p->quirks = hf_doctype_quirks_(s, i + 9, g > i + 9 && s[g - 1] == '>' ? g - 1 : g);
                    p->mode = HF_BEFORE_HTML;
                }
                i = g;
            } else {
                if (c == '!' && i + 4 <= n && s[i + 2] == '-' && s[i + 3] == '-') {
                    size_t keep;
                    i = hb_comment_(s, n, i + 4, &keep);
                } else { // a bogus comment, up to the next '>'
                    i = hb_past_gt_(s, n, i + 2);
                }
                p->pending = 0; // a comment node flushes Gumbo's text
            }
            p->ignore_lf = 0;
            continue;
        }
        int end = c == '/';
        size_t name = i + 1 + (size_t)end, name_end;
        HfTag t;
        t.end = hb_tag_(s, n, name, &name_end, &t.self_closing, &at);
        if (!at.closed) {
            break; // cut off by the end of input: Gumbo drops the tag
        }
        char lower[16];
        size_t len = name_end - name;
        t.tag = GUMBO_TAG_UNKNOWN;
        if (len < sizeof(lower)) {
            for (size_t k = 0; k < len; k++) {
                lower[k] = (char)hb_lower_((unsigned char)s[name + k]);
            }
            t.tag = gumbo_tagn_enum(lower, (unsigned)len);
        }
        t.flags = end ? 0 : hf_attr_flags_(p, t.tag, &at);
        p->ignore_lf = 0;
        while (!p->fail && hf_tag_(p, &t, end)) {
        }
        i = t.end;
        if (p->raw != HF_RAW_NONE && !p->fail) {
            i = hf_raw_(p, i, t.tag);
        }
    }
    while (!p->fail && p->depth > 0) { // the end of input closes everything
        hf_pop_(p);
    }
    if (p->decoded.cap > (4u << 20)) { // a huge page's copy does not stay resident
        free(p->decoded.data);
        memset(&p->decoded, 0, sizeof(p->decoded));
    }
    return !p->fail;
}

static void html_fast_free(HtmlFast *p) {
    if (p != NULL) {
        free(p->decoded.data);
        free(p);
    }
}

#endif
