/*
 * html_text.h: the main text of an HTML page, parsed with Gumbo (a conforming HTML5 parser, so
 * malformed markup is repaired the way browsers repair it).
 *
 *   HtmlArena arena = {0};                      // one per thread
 *   html_extract(utf8_html, n, &opts, &arena, &text)   -> text: one line per block, no markup
 *   html_arena_free(&arena);
 *
 * What is dropped: script, style and other non-text elements; hidden elements; page furniture
 * (nav, header, footer, aside, forms, menus, and elements whose role, id or class says
 * navigation, sidebar, footer, breadcrumb, cookie banner) unless it holds 2000+ characters of
 * non-link text (then it is a broken page whose unclosed furniture swallowed the content); and
 * link-dense blocks: any block whose text is more than `link_density` inside <a href>
 * (tables of contents, link lists, tag clouds).
 * What is kept: headings, paragraphs, list items, table rows (cells separated by tabs),
 * preformatted text with its line breaks. Whitespace inside a block is collapsed to one space.
 *
 * The tree walk is iterative: a page nested a million elements deep cannot overflow the stack.
 * Before parsing, html_blank.h removes what only script, style, iframe, SVG and comment nodes
 * would hold (the same text comes out, faster); HtmlOptions.plain = 1 parses the page as is.
 */
#ifndef LLMC_HTML_TEXT_H
#define LLMC_HTML_TEXT_H

#include <gumbo.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "html_blank.h"

#define HTML_FURNITURE_PROSE 2000 // non-link characters that make a furniture element content

typedef struct {
    double link_density; // drop blocks with more link text than this fraction (> 1: keep all)
    int keep_boilerplate; // 1: do not drop nav/header/footer/aside/forms (extraction off)
    int plain;            // 1: parse the page as is, without the html_blank.h pre-pass
} HtmlOptions;

// Gumbo allocates every node, string and vector through these: a bump arena per thread makes
// the parse's hundreds of thousands of small allocations free, and the whole tree is dropped
// at once (no recursive free, so no deep-nesting stack risk either).
typedef struct {
    char **blocks;
    size_t n_blocks, cap_blocks;
    size_t used, size; // in the last block
    Buf blanked;       // the page after html_blank()
} HtmlArena;

#define HTML_ARENA_BLOCK (4u << 20)

static void *html_arena_alloc_(void *ud, size_t n) {
    HtmlArena *a = (HtmlArena *)ud;
    n = (n + 15) & ~(size_t)15;
    if (a->n_blocks == 0 || a->used + n > a->size) {
        size_t size = n > HTML_ARENA_BLOCK ? n : HTML_ARENA_BLOCK;
        if (a->n_blocks == a->cap_blocks) {
            a->cap_blocks = a->cap_blocks ? a->cap_blocks * 2 : 16;
            a->blocks = (char **)realloc(a->blocks, a->cap_blocks * sizeof(char *));
            if (a->blocks == NULL) {
                die("out of memory (HTML arena)");
            }
        }
        a->blocks[a->n_blocks++] = (char *)malloc_check(size);
        a->used = 0;
        a->size = size;
    }
    void *p = a->blocks[a->n_blocks - 1] + a->used;
    a->used += n;
    return p;
}

static void html_arena_free_(void *ud, void *p) {
    (void)ud;
    (void)p; // released with the arena
}

// Drops everything but the first block (a huge page's tree does not stay resident).
static void html_arena_reset(HtmlArena *a) {
    for (size_t i = 1; i < a->n_blocks; i++) {
        free(a->blocks[i]);
    }
    a->n_blocks = a->n_blocks ? 1 : 0;
    a->used = 0;
    a->size = a->n_blocks ? (a->size > HTML_ARENA_BLOCK ? HTML_ARENA_BLOCK : a->size) : 0;
    if (a->n_blocks && a->size < HTML_ARENA_BLOCK) {
        a->size = 0; // the first block was an oversized one-off: force a fresh block next time
    }
}

static void html_arena_free(HtmlArena *a) {
    for (size_t i = 0; i < a->n_blocks; i++) {
        free(a->blocks[i]);
    }
    free(a->blocks);
    free(a->blanked.data);
    memset(a, 0, sizeof(*a));
}

typedef struct {
    GumboNode *node;
    unsigned child;       // next child to visit
    size_t out_len;       // output length when the element was entered
    size_t chars, links;  // text and link-text counters when it was entered
    unsigned char block, anchor, pre, cell, furniture;
} HtmlFrame_;

typedef struct {
    Buf *out;
    size_t chars, links;  // non-space bytes emitted; of those, inside <a>
    int in_anchor, in_pre;
    int space;            // a space is pending before the next word
    HtmlFrame_ *stack;
    size_t depth, cap;
} HtmlWalk_;

static int html_is_skipped_tag_(GumboTag t) {
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

static int html_is_furniture_tag_(GumboTag t) {
    return t == GUMBO_TAG_NAV || t == GUMBO_TAG_HEADER || t == GUMBO_TAG_FOOTER || t == GUMBO_TAG_ASIDE ||
           t == GUMBO_TAG_FORM || t == GUMBO_TAG_MENU;
}

static int html_is_block_tag_(GumboTag t) {
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
static int html_judges_density_(GumboTag t) {
    return html_is_block_tag_(t) && t != GUMBO_TAG_BODY && t != GUMBO_TAG_HTML && t != GUMBO_TAG_MAIN &&
           t != GUMBO_TAG_ARTICLE && t != GUMBO_TAG_HR;
}

// Word-ish match of a boilerplate name inside an id or class value ("site-nav", "navbar"): a
// name starting the value or following '-', '_' or ' ', in any case, within its first 255 bytes.
static int html_boilerplate_name_(const char *v) {
    static const char *const names[] = {"nav", "menu", "footer", "sidebar", "breadcrumb", "cookie",
                                        "banner", "masthead", "skip-link", "share", "social"};
    for (size_t i = 0; v[i] && i < 255; i++) {
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
            while (w[j] && i + j < 255 && v[i + j] && (v[i + j] | (v[i + j] >= 'A' && v[i + j] <= 'Z' ? 0x20 : 0)) == w[j]) {
                j++;
            }
            if (w[j] == '\0') {
                return 1;
            }
        }
    }
    return 0;
}

// What the walk needs from an element's attributes, read in one pass over them.
enum { HTML_HIDDEN = 1, HTML_FURNITURE = 2, HTML_HREF = 4 };

static int html_attr_flags_(GumboElement *el) {
    int flags = 0;
    int named = el->tag != GUMBO_TAG_BODY && el->tag != GUMBO_TAG_HTML; // id/class count below the body
    GumboVector *attrs = &el->attributes;
    for (unsigned i = 0; i < attrs->length; i++) {
        const GumboAttribute *a = (const GumboAttribute *)attrs->data[i];
        const char *k = a->name, *v = a->value;
        // Gumbo lowercases attribute names; the first letter picks the few we read
        switch (k[0]) {
        case 'h':
            if (strcmp(k, "hidden") == 0) {
                flags |= HTML_HIDDEN;
            } else if (strcmp(k, "href") == 0) {
                flags |= HTML_HREF;
            }
            break;
        case 'a':
            if (strcmp(k, "aria-hidden") == 0 && strcasecmp(v, "true") == 0) {
                flags |= HTML_HIDDEN;
            }
            break;
        case 's':
            if (strcmp(k, "style") == 0) {
                const char *p = strstr(v, "display");
                if (p && strstr(p, "none")) {
                    flags |= HTML_HIDDEN;
                }
            }
            break;
        case 'r':
            if (strcmp(k, "role") == 0 &&
                (!strcasecmp(v, "navigation") || !strcasecmp(v, "banner") || !strcasecmp(v, "contentinfo") ||
                 !strcasecmp(v, "complementary") || !strcasecmp(v, "menu") || !strcasecmp(v, "search"))) {
                flags |= HTML_FURNITURE;
            }
            break;
        case 'i':
        case 'c':
            if (named && (strcmp(k, "id") == 0 || strcmp(k, "class") == 0) && html_boilerplate_name_(v)) {
                flags |= HTML_FURNITURE;
            }
            break;
        }
    }
    // gumbo_get_attribute returns the first of repeated names, and so does the tokenizer, which
    // drops the repeats: one pass sees each name once
    return flags;
}

static void html_newline_(HtmlWalk_ *w) {
    Buf *o = w->out;
    while (o->len && o->data[o->len - 1] == ' ') {
        o->len--;
    }
    if (o->len && o->data[o->len - 1] != '\n') {
        buf_putc(o, '\n');
    }
    w->space = 0;
}

static void html_text_(HtmlWalk_ *w, const char *s) {
    Buf *o = w->out;
    size_t n = strlen(s);
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

static void html_push_(HtmlWalk_ *w, GumboNode *node) {
    if (w->depth == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->stack = (HtmlFrame_ *)realloc(w->stack, w->cap * sizeof(HtmlFrame_));
        if (w->stack == NULL) {
            die("out of memory (HTML walk)");
        }
    }
    HtmlFrame_ *f = &w->stack[w->depth++];
    memset(f, 0, sizeof(*f));
    f->node = node;
    f->out_len = w->out->len;
    f->chars = w->chars;
    f->links = w->links;
}

// Appends the page's main text to `out` (cleared first). `html` must be UTF-8.
static void html_extract(const char *html, size_t n, const HtmlOptions *opt, HtmlArena *arena, Buf *out) {
    GumboOptions go = kGumboDefaultOptions;
    go.max_errors = 0; // we never read parse errors: do not record them
    go.allocator = html_arena_alloc_;
    go.deallocator = html_arena_free_;
    go.userdata = arena;
    if (!opt->plain && html_blank(html, n, &arena->blanked)) {
        html = arena->blanked.data;
        n = arena->blanked.len;
    }
    GumboOutput *doc = gumbo_parse_with_options(&go, html, n);
    buf_clear(out);
    HtmlWalk_ w;
    memset(&w, 0, sizeof(w));
    w.out = out;
    html_push_(&w, doc->root);
    while (w.depth > 0) {
        HtmlFrame_ *f = &w.stack[w.depth - 1];
        GumboNode *node = f->node;
        if (f->child == 0 && node->type == GUMBO_NODE_ELEMENT) {
            // entering an element
            GumboElement *el = &node->v.element;
            GumboTag t = el->tag;
            int attr = html_attr_flags_(el);
            if (html_is_skipped_tag_(t) || (attr & HTML_HIDDEN)) {
                if (html_is_block_tag_(t)) {
                    html_newline_(&w);
                } else {
                    w.space = 1;
                }
                w.depth--;
                continue;
            }
            if (t == GUMBO_TAG_BR) {
                html_newline_(&w);
            } else if (t == GUMBO_TAG_TD || t == GUMBO_TAG_TH) {
                Buf *o = w.out;
                while (o->len && o->data[o->len - 1] == ' ') {
                    o->len--;
                }
                if (o->len && o->data[o->len - 1] != '\n') {
                    buf_putc(o, '\t');
                }
                w.space = 0;
                f->cell = 1;
            } else if (html_is_block_tag_(t)) {
                html_newline_(&w);
                f->block = 1;
                f->out_len = w.out->len;
            }
            if (!opt->keep_boilerplate && (html_is_furniture_tag_(t) || (attr & HTML_FURNITURE))) {
                html_newline_(&w);
                f->furniture = 1;
                f->out_len = w.out->len;
            } else if (t == GUMBO_TAG_IMG) {
                w.space = 1;
            }
            // only real links count: DocBook's XHTML writes <a id="x"/>, which HTML5 parsing
            // leaves open around the heading that follows
            if (t == GUMBO_TAG_A && (attr & HTML_HREF)) {
                w.in_anchor++;
                f->anchor = 1;
            }
            if (t == GUMBO_TAG_PRE || t == GUMBO_TAG_LISTING || t == GUMBO_TAG_PLAINTEXT || t == GUMBO_TAG_XMP) {
                w.in_pre++;
                f->pre = 1;
            }
            f->chars = w.chars;
            f->links = w.links;
        }
        GumboVector *kids = NULL;
        if (node->type == GUMBO_NODE_ELEMENT || node->type == GUMBO_NODE_TEMPLATE) {
            kids = &node->v.element.children;
        } else if (node->type == GUMBO_NODE_DOCUMENT) {
            kids = &node->v.document.children;
        }
        if (kids && f->child < kids->length) {
            GumboNode *c = (GumboNode *)kids->data[f->child++];
            if (c->type == GUMBO_NODE_TEXT || c->type == GUMBO_NODE_CDATA ||
                (c->type == GUMBO_NODE_WHITESPACE && (w.in_pre || w.out->len))) {
                html_text_(&w, c->v.text.text);
            } else if (c->type == GUMBO_NODE_ELEMENT) {
                html_push_(&w, c);
            } else if (c->type == GUMBO_NODE_TEMPLATE) {
                w.space = 1; // inert content, never shown (Gumbo types <template> apart from elements)
            }
            continue;
        }
        // leaving
        if (node->type == GUMBO_NODE_ELEMENT) {
            GumboTag t = node->v.element.tag;
            if (f->anchor) {
                w.in_anchor--;
            }
            if (f->pre) {
                w.in_pre--;
            }
            if (f->block || f->furniture) {
                size_t chars = w.chars - f->chars, links = w.links - f->links;
                // furniture goes unless it holds real prose: an unclosed <div class="nav">
                // swallows the whole page, and the page is not furniture
                int drop = f->furniture && chars - links < HTML_FURNITURE_PROSE;
                if (drop || (html_judges_density_(t) && chars > 0 && (double)links > opt->link_density * (double)chars)) {
                    // link-dense: take the block back out, as if it was never there
                    w.out->len = f->out_len;
                    w.out->data[w.out->len] = '\0';
                    w.chars = f->chars;
                    w.links = f->links;
                }
                html_newline_(&w);
            } else if (f->cell) {
                w.space = 1;
            }
        }
        w.depth--;
    }
    free(w.stack);
    (void)doc;
    html_arena_reset(arena); // the whole tree at once
    if (arena->blanked.cap > HTML_ARENA_BLOCK) { // a huge page's copy does not stay resident
        free(arena->blanked.data);
        memset(&arena->blanked, 0, sizeof(arena->blanked));
    }
    // trim each line's ends and drop empty lines
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
