/*
 * html_walk.h: which text an HTML5 element tree yields, decided element by element as the tree
 * is walked in document order. Two producers drive it with the same three events, so they give
 * the same text for the same tree: html_text.h walking Gumbo's tree, and html_fast.h building
 * the tree's open-element stack while it tokenizes (no tree at all).
 *
 *   HtmlWalk w = {.out = &text};
 *   if (html_walk_enter(&w, tag, flags, &opts)) { ...children...; html_walk_leave(&w, &opts); }
 *   html_walk_text(&w, s, n);                    // a text node's (decoded) characters
 *   html_walk_finish(&w);                        // trims lines, drops empty ones
 *
 * `flags` are html_attr_flag()'s bits over the element's attributes (first of repeated names).
 * What is dropped: script, style and other non-text elements; hidden elements; page furniture
 * (nav, header, footer, aside, forms, menus, and elements whose role, id or class says
 * navigation, sidebar, footer, breadcrumb, cookie banner) unless it holds 2000+ characters of
 * non-link text (then it is a broken page whose unclosed furniture swallowed the content); and
 * link-dense blocks: any block whose text is more than `link_density` inside <a href>
 * (tables of contents, link lists, tag clouds).
 * What is kept: headings, paragraphs, list items, table rows (cells separated by tabs),
 * preformatted text with its line breaks. Whitespace inside a block is collapsed to one space.
 */
#ifndef LLMC_HTML_WALK_H
#define LLMC_HTML_WALK_H

#include <gumbo.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "utils.h"

#define HTML_FURNITURE_PROSE 2000 // non-link characters that make a furniture element content

typedef struct {
    double link_density;  // drop blocks with more link text than this fraction (> 1: keep all)
    int keep_boilerplate; // 1: do not drop nav/header/footer/aside/forms (extraction off)
    int plain;            // 1: parse the page as is, without the html_blank.h pre-pass
    int gumbo;            // 1: always build the tree with Gumbo (no html_fast.h fast path)
} HtmlOptions;

// The walk's state for one open element (frames are pushed for elements whose subtree is read).
typedef struct {
    GumboNode *node;      // html_text.h's tree walk only: the element and its next child
    unsigned child;
    GumboTag tag;
    size_t out_len;       // output length when the element was entered
    size_t chars, links;  // text and link-text counters when it was entered
    unsigned char block, anchor, pre, cell, furniture;
} HtmlFrame;

typedef struct {
    Buf *out;
    size_t chars, links;  // non-space bytes emitted; of those, inside <a>
    int in_anchor, in_pre;
    int space;            // a space is pending before the next word
    HtmlFrame *stack;
    size_t depth, cap;
} HtmlWalk;

static int html_is_skipped_tag(GumboTag t) {
    switch (t) {
    case GUMBO_TAG_HEAD: case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE: case GUMBO_TAG_NOSCRIPT:
    case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_IFRAME: case GUMBO_TAG_SVG: case GUMBO_TAG_MATH:
    case GUMBO_TAG_BUTTON: case GUMBO_TAG_SELECT: case GUMBO_TAG_TEXTAREA: case GUMBO_TAG_INPUT:
    case GUMBO_TAG_OBJECT: case GUMBO_TAG_EMBED: case GUMBO_TAG_CANVAS: case GUMBO_TAG_AUDIO:
    case GUMBO_TAG_VIDEO: case GUMBO_TAG_MAP: case GUMBO_TAG_APPLET: case GUMBO_TAG_FRAMESET:
        return 1;
    default:
        return 0;
    }
}

static int html_is_furniture_tag(GumboTag t) {
    return t == GUMBO_TAG_NAV || t == GUMBO_TAG_HEADER || t == GUMBO_TAG_FOOTER || t == GUMBO_TAG_ASIDE ||
           t == GUMBO_TAG_FORM || t == GUMBO_TAG_MENU;
}

static int html_is_block_tag(GumboTag t) {
    switch (t) {
    case GUMBO_TAG_ADDRESS: case GUMBO_TAG_ARTICLE: case GUMBO_TAG_ASIDE: case GUMBO_TAG_BLOCKQUOTE:
    case GUMBO_TAG_BODY: case GUMBO_TAG_CAPTION: case GUMBO_TAG_CENTER: case GUMBO_TAG_DD:
    case GUMBO_TAG_DETAILS: case GUMBO_TAG_DIR: case GUMBO_TAG_DIV:
    case GUMBO_TAG_DL: case GUMBO_TAG_DT: case GUMBO_TAG_FIELDSET: case GUMBO_TAG_FIGCAPTION:
    case GUMBO_TAG_FIGURE: case GUMBO_TAG_FOOTER: case GUMBO_TAG_FORM: case GUMBO_TAG_H1:
    case GUMBO_TAG_H2: case GUMBO_TAG_H3: case GUMBO_TAG_H4: case GUMBO_TAG_H5: case GUMBO_TAG_H6:
    case GUMBO_TAG_HEADER: case GUMBO_TAG_HGROUP: case GUMBO_TAG_HR: case GUMBO_TAG_HTML:
    case GUMBO_TAG_LI: case GUMBO_TAG_MAIN: case GUMBO_TAG_NAV: case GUMBO_TAG_OL: case GUMBO_TAG_P:
    case GUMBO_TAG_PRE: case GUMBO_TAG_SECTION: case GUMBO_TAG_SUMMARY: case GUMBO_TAG_TABLE:
    case GUMBO_TAG_TBODY: case GUMBO_TAG_THEAD: case GUMBO_TAG_TFOOT: case GUMBO_TAG_TR:
    case GUMBO_TAG_UL: case GUMBO_TAG_LISTING: case GUMBO_TAG_PLAINTEXT: case GUMBO_TAG_XMP:
        return 1;
    default:
        return 0;
    }
}

// Containers are judged as a whole: the page body and its main article never count as link-dense.
static int html_judges_density(GumboTag t) {
    return html_is_block_tag(t) && t != GUMBO_TAG_BODY && t != GUMBO_TAG_HTML && t != GUMBO_TAG_MAIN &&
           t != GUMBO_TAG_ARTICLE && t != GUMBO_TAG_HR;
}

// Word-ish match of a boilerplate name inside an id or class value ("site-nav", "navbar"): a
// name starting the value or following '-', '_' or ' ', in any case, within its first 255 bytes.
static int html_boilerplate_name(const char *v, size_t n) {
    static const char *const names[] = {"nav", "menu", "footer", "sidebar", "breadcrumb", "cookie",
                                        "banner", "masthead", "skip-link", "share", "social"};
    if (n > 255) {
        n = 255;
    }
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && v[i - 1] != '-' && v[i - 1] != '_' && v[i - 1] != ' ') {
            continue; // not at a word start: "nav" in "site-nav" and "navbar", not in "canvas"
        }
        char c = (char)(v[i] | 0x20);
        if (c != 'n' && c != 'm' && c != 'f' && c != 's' && c != 'b' && c != 'c') {
            continue;
        }
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
            const char *w = names[k];
            size_t j = 0;
            while (w[j] && i + j < n && (v[i + j] | (v[i + j] >= 'A' && v[i + j] <= 'Z' ? 0x20 : 0)) == w[j]) {
                j++;
            }
            if (w[j] == '\0') {
                return 1;
            }
        }
    }
    return 0;
}

// What the walk needs from an element's attributes.
enum { HTML_HIDDEN = 1, HTML_FURNITURE = 2, HTML_HREF = 4 };

static int html_eq_nocase_(const char *v, size_t n, const char *w) {
    return strlen(w) == n && strncasecmp(v, w, n) == 0;
}

// First occurrence of the word w in v[0, n), or NULL (strstr on a counted string).
static const char *html_find_(const char *v, size_t n, const char *w) {
    size_t k = strlen(w);
    for (const char *p = v; k <= n && (p = (const char *)memchr(p, w[0], n - k + 1 - (size_t)(p - v))) != NULL; p++) {
        if (memcmp(p, w, k) == 0) {
            return p;
        }
    }
    return NULL;
}

// One attribute's contribution: `name` lowercased (as the tokenizer makes it), `value` decoded;
// `named` is 0 on <html> and <body>, whose id and class do not count.
static int html_attr_flag(const char *k, size_t kn, const char *v, size_t vn, int named) {
    // the first letter picks the few names we read
    switch (kn ? k[0] : 0) {
    case 'h':
        if (kn == 6 && memcmp(k, "hidden", 6) == 0) {
            return HTML_HIDDEN;
        }
        return kn == 4 && memcmp(k, "href", 4) == 0 ? HTML_HREF : 0;
    case 'a':
        return kn == 11 && memcmp(k, "aria-hidden", 11) == 0 && html_eq_nocase_(v, vn, "true") ? HTML_HIDDEN : 0;
    case 's':
        if (kn == 5 && memcmp(k, "style", 5) == 0) {
            const char *p = html_find_(v, vn, "display");
            if (p && html_find_(p, vn - (size_t)(p - v), "none")) {
                return HTML_HIDDEN;
            }
        }
        return 0;
    case 'r':
        if (kn == 4 && memcmp(k, "role", 4) == 0 &&
            (html_eq_nocase_(v, vn, "navigation") || html_eq_nocase_(v, vn, "banner") ||
             html_eq_nocase_(v, vn, "contentinfo") || html_eq_nocase_(v, vn, "complementary") ||
             html_eq_nocase_(v, vn, "menu") || html_eq_nocase_(v, vn, "search"))) {
            return HTML_FURNITURE;
        }
        return 0;
    case 'i':
    case 'c':
        if (named && ((kn == 2 && memcmp(k, "id", 2) == 0) || (kn == 5 && memcmp(k, "class", 5) == 0)) &&
            html_boilerplate_name(v, vn)) {
            return HTML_FURNITURE;
        }
        return 0;
    }
    return 0;
}

static void html_walk_newline_(HtmlWalk *w) {
    Buf *o = w->out;
    while (o->len && o->data[o->len - 1] == ' ') {
        o->len--;
    }
    if (o->len && o->data[o->len - 1] != '\n') {
        buf_putc(o, '\n');
    }
    w->space = 0;
}

// A text node's characters (whitespace-only nodes included: they only set a pending space).
static void html_walk_text(HtmlWalk *w, const char *s, size_t n) {
    Buf *o = w->out;
    buf_reserve(o, n + 1);
    size_t chars = 0;
    if (w->in_pre) {
        for (size_t i = 0; i < n; i++) {
            char c = s[i];
            if (c == '\r') {
                continue;
            }
            o->data[o->len++] = c;
            chars += (c != ' ' && c != '\n' && c != '\t');
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            char c = s[i];
            if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f') {
                w->space = 1;
                continue;
            }
            if (w->space) {
                if (o->len && o->data[o->len - 1] != '\n' && o->data[o->len - 1] != '\t') {
                    buf_reserve(o, n - i + 1);
                    o->data[o->len++] = ' ';
                }
                w->space = 0;
            }
            o->data[o->len++] = c;
            chars++;
        }
    }
    o->data[o->len] = '\0';
    w->chars += chars;
    if (w->in_anchor) {
        w->links += chars;
    }
}

// An element the walk looks straight through: html_walk_enter would push a frame that neither
// it nor html_walk_leave acts on (keep in step with the two). html_fast.h pushes no frame for
// these, and may move them around as Gumbo's adoption agency does: no text changes.
static int html_walk_inert(GumboTag t, int attr, const HtmlOptions *opt) {
    return !html_is_skipped_tag(t) && !(attr & HTML_HIDDEN) && t != GUMBO_TAG_BR && t != GUMBO_TAG_TD &&
           t != GUMBO_TAG_TH && t != GUMBO_TAG_IMG && !html_is_block_tag(t) &&
           (opt->keep_boilerplate || !(html_is_furniture_tag(t) || (attr & HTML_FURNITURE))) &&
           !(t == GUMBO_TAG_A && (attr & HTML_HREF)) && t != GUMBO_TAG_PRE && t != GUMBO_TAG_LISTING &&
           t != GUMBO_TAG_PLAINTEXT && t != GUMBO_TAG_XMP;
}

// Entering an element: returns 1 when its subtree is to be walked (a frame was pushed; call
// html_walk_leave after its children), 0 when the walk skips the element and everything in it.
static int html_walk_enter(HtmlWalk *w, GumboTag t, int attr, const HtmlOptions *opt) {
    if (html_is_skipped_tag(t) || (attr & HTML_HIDDEN)) {
        if (html_is_block_tag(t)) {
            html_walk_newline_(w);
        } else {
            w->space = 1;
        }
        return 0;
    }
    if (w->depth == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->stack = (HtmlFrame *)realloc(w->stack, w->cap * sizeof(HtmlFrame));
        if (w->stack == NULL) {
            die("out of memory (HTML walk)");
        }
    }
    HtmlFrame *f = &w->stack[w->depth++];
    memset(f, 0, sizeof(*f));
    f->tag = t;
    if (t == GUMBO_TAG_BR) {
        html_walk_newline_(w);
    } else if (t == GUMBO_TAG_TD || t == GUMBO_TAG_TH) {
        Buf *o = w->out;
        while (o->len && o->data[o->len - 1] == ' ') {
            o->len--;
        }
        if (o->len && o->data[o->len - 1] != '\n') {
            buf_putc(o, '\t');
        }
        w->space = 0;
        f->cell = 1;
    } else if (html_is_block_tag(t)) {
        html_walk_newline_(w);
        f->block = 1;
    }
    if (!opt->keep_boilerplate && (html_is_furniture_tag(t) || (attr & HTML_FURNITURE))) {
        html_walk_newline_(w);
        f->furniture = 1;
    } else if (t == GUMBO_TAG_IMG) {
        w->space = 1;
    }
    // only real links count: DocBook's XHTML writes <a id="x"/>, which HTML5 parsing leaves open
    // around the heading that follows
    if (t == GUMBO_TAG_A && (attr & HTML_HREF)) {
        w->in_anchor++;
        f->anchor = 1;
    }
    if (t == GUMBO_TAG_PRE || t == GUMBO_TAG_LISTING || t == GUMBO_TAG_PLAINTEXT || t == GUMBO_TAG_XMP) {
        w->in_pre++;
        f->pre = 1;
    }
    f->out_len = w->out->len;
    f->chars = w->chars;
    f->links = w->links;
    return 1;
}

static void html_walk_leave(HtmlWalk *w, const HtmlOptions *opt) {
    HtmlFrame *f = &w->stack[--w->depth];
    if (f->anchor) {
        w->in_anchor--;
    }
    if (f->pre) {
        w->in_pre--;
    }
    if (f->block || f->furniture) {
        size_t chars = w->chars - f->chars, links = w->links - f->links;
        // furniture goes unless it holds real prose: an unclosed <div class="nav"> swallows the
        // whole page, and the page is not furniture
        int drop = f->furniture && chars - links < HTML_FURNITURE_PROSE;
        if (drop || (html_judges_density(f->tag) && chars > 0 && (double)links > opt->link_density * (double)chars)) {
            // link-dense: take the block back out, as if it was never there
            w->out->len = f->out_len;
            w->out->data[w->out->len] = '\0';
            w->chars = f->chars;
            w->links = f->links;
        }
        html_walk_newline_(w);
    } else if (f->cell) {
        w->space = 1;
    }
}

// Back to the start (a producer gave up half way): output and counters cleared, stack kept.
static void html_walk_reset(HtmlWalk *w) {
    buf_clear(w->out);
    w->chars = w->links = 0;
    w->in_anchor = w->in_pre = w->space = 0;
    w->depth = 0;
}

// The end: each line's ends trimmed, empty lines dropped; the walk's stack freed.
static void html_walk_finish(HtmlWalk *w) {
    free(w->stack);
    w->stack = NULL;
    w->depth = w->cap = 0;
    Buf *out = w->out;
    size_t r = 0, wpos = 0;
    char *s = out->data;
    size_t len = out->len;
    while (r < len) {
        size_t e = r;
        while (e < len && s[e] != '\n') {
            e++;
        }
        size_t a = r, b = e;
        while (a < b && (s[a] == ' ' || s[a] == '\t')) {
            a++;
        }
        while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t')) {
            b--;
        }
        if (b > a) {
            if (wpos) {
                s[wpos++] = '\n';
            }
            memmove(s + wpos, s + a, b - a);
            wpos += b - a;
        }
        r = e + 1;
    }
    out->len = wpos;
    if (out->data) {
        out->data[wpos] = '\0';
    }
}

#endif
