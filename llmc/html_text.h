/*
 * html_text.h: the main text of an HTML page, as a conforming HTML5 parser (Gumbo) builds its
 * tree, so malformed markup is repaired the way browsers repair it.
 *
 *   HtmlArena arena = {0};                      // one per thread
 *   html_extract(utf8_html, n, &opts, &arena, &text)   -> text: one line per block, no markup
 *   html_arena_free(&arena);
 *
 * What text an element tree yields is html_walk.h's (the rules are listed there). The tree
 * comes from one of two places, with the same result: html_fast.h, which runs Gumbo's tree
 * construction as a stream for the pages where it is simple (most generated pages), or Gumbo
 * itself for everything else. Before either, html_blank.h removes what only script, style,
 * iframe, SVG and comment nodes would hold. HtmlOptions.plain = 1 skips the pre-pass; .gumbo = 1
 * skips the fast path; both set is the reference the tests compare against.
 * The Gumbo tree walk is iterative: a page nested a million elements deep cannot overflow the stack.
 */
#ifndef LLMC_HTML_TEXT_H
#define LLMC_HTML_TEXT_H

#include <gumbo.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "html_blank.h"
#include "html_fast.h"
#include "html_walk.h"

// Gumbo allocates every node, string and vector through these: a bump arena per thread makes
// the parse's hundreds of thousands of small allocations free, and the whole tree is dropped
// at once (no recursive free, so no deep-nesting stack risk either).
typedef struct {
    char **blocks;
    size_t n_blocks, cap_blocks;
    size_t used, size; // in the last block
    Buf blanked;       // the page after html_blank()
    HtmlFast *fast;    // html_fast.h's state, allocated on first use
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
    html_fast_free(a->fast);
    memset(a, 0, sizeof(*a));
}

// Debian's libgumbo keeps its assertions, and a few fire on token soup that Gumbo 0.10.1
// mishandles (html_blank_test's generated pages found one: text still buffered when a table
// starts). Inside html_extract such a failure is this page's, not the run's: libgumbo's calls
// to __assert_fail bind to this one (the executable's definition comes first), which jumps back
// out of the parse; all Gumbo allocated is in the arena, which is reset. Elsewhere it is the
// usual assertion failure. (One definition per program: include this header in one file.)
static __thread jmp_buf *html_gumbo_escape_;

void __assert_fail(const char *assertion, const char *file, unsigned int line, const char *function) {
    if (html_gumbo_escape_ != NULL) {
        longjmp(*html_gumbo_escape_, 1);
    }
    fprintf(stderr, "%s:%u: %s: Assertion `%s' failed.\n", file, line, function, assertion);
    abort();
}

static GumboOutput *html_gumbo_parse_(const GumboOptions *go, const char *html, size_t n) {
    jmp_buf escape;
    GumboOutput *volatile doc = NULL;
    if (setjmp(escape) == 0) {
        html_gumbo_escape_ = &escape;
        doc = gumbo_parse_with_options(go, html, n);
    }
    html_gumbo_escape_ = NULL;
    return doc;
}

// Gumbo's output: an element's attributes for the walk (the tokenizer already dropped repeats).
static int html_element_flags_(const GumboElement *el) {
    int flags = 0, named = el->tag != GUMBO_TAG_BODY && el->tag != GUMBO_TAG_HTML;
    for (unsigned i = 0; i < el->attributes.length; i++) {
        const GumboAttribute *a = (const GumboAttribute *)el->attributes.data[i];
        flags |= html_attr_flag(a->name, strlen(a->name), a->value, strlen(a->value), named);
    }
    return flags;
}

// Walks Gumbo's tree in document order, feeding html_walk.h: each walked element's frame holds
// its place in the tree (the node and its next child).
static void html_walk_gumbo_(HtmlWalk *w, GumboNode *root, const HtmlOptions *opt) {
    if (!html_walk_enter(w, root->v.element.tag, html_element_flags_(&root->v.element), opt)) {
        return;
    }
    w->stack[0].node = root;
    while (w->depth > 0) {
        HtmlFrame *f = &w->stack[w->depth - 1];
        GumboVector *kids = &f->node->v.element.children;
        if (f->child == kids->length) {
            html_walk_leave(w, opt);
            continue;
        }
        GumboNode *c = (GumboNode *)kids->data[f->child++];
        if (c->type == GUMBO_NODE_TEXT || c->type == GUMBO_NODE_CDATA || c->type == GUMBO_NODE_WHITESPACE) {
            html_walk_text(w, c->v.text.text, strlen(c->v.text.text));
        } else if (c->type == GUMBO_NODE_ELEMENT) {
            if (html_walk_enter(w, c->v.element.tag, html_element_flags_(&c->v.element), opt)) {
                w->stack[w->depth - 1].node = c;
            }
        } else if (c->type == GUMBO_NODE_TEMPLATE) {
            w->space = 1; // inert content, never shown (Gumbo types <template> apart from elements)
        }
    }
}

// Puts the page's main text in `out` (cleared first). `html` must be UTF-8. Returns 1 when
// html_fast.h built the tree, 0 when Gumbo did, -1 when Gumbo failed an assertion on the page
// (`out` empty).
static int html_extract(const char *html, size_t n, const HtmlOptions *opt, HtmlArena *arena, Buf *out) {
    if (!opt->plain && html_blank(html, n, &arena->blanked)) {
        html = arena->blanked.data;
        n = arena->blanked.len;
    }
    HtmlWalk w;
    memset(&w, 0, sizeof(w));
    w.out = out;
    buf_clear(out);
    if (!opt->gumbo && arena->fast == NULL) {
        arena->fast = (HtmlFast *)malloc_check(sizeof(HtmlFast));
        memset(arena->fast, 0, sizeof(HtmlFast));
    }
    int fast = !opt->gumbo && html_fast_walk(html, n, opt, &w, arena->fast);
    if (!fast) { // not a simple page: what the fast path wrote is discarded
        html_walk_reset(&w);
        GumboOptions go = kGumboDefaultOptions;
        go.max_errors = 0; // we never read parse errors: do not record them
        go.allocator = html_arena_alloc_;
        go.deallocator = html_arena_free_;
        go.userdata = arena;
        GumboOutput *doc = html_gumbo_parse_(&go, html, n);
        if (doc != NULL) {
            html_walk_gumbo_(&w, doc->root, opt);
        } else {
            fast = -1;
        }
        html_arena_reset(arena); // the whole tree at once
    }
    html_walk_finish(&w);
    if (arena->blanked.cap > HTML_ARENA_BLOCK) { // a huge page's copy does not stay resident
        free(arena->blanked.data);
        memset(&arena->blanked, 0, sizeof(arena->blanked));
    }
    return fast;
}

#endif
