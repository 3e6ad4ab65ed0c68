// html_blank_test.c: the two shortcuts of llmc/html_text.h change no extracted text: the
// pre-pass of llmc/html_blank.h, and the streaming tree construction of llmc/html_fast.h. Every
// page is extracted four ways and must give the reference's text byte for byte: the reference
// (Gumbo on the page as is), Gumbo after the pre-pass, html_fast.h on the page as is, and
// html_fast.h after the pre-pass (the default). On real pages (files and directories named on
// the command line) and on generated malformed ones: token soup from the constructs either
// shortcut has to get right (script escapes, comments ending in "--!>", quotes hiding '>',
// CDATA, SVG integration points and breakouts, <select>, tables and their implied elements,
// formatting elements closed out of order, lists, forms, headings, character references,
// doctypes, hidden and furniture attributes, uppercase, CR, NUL), and real pages mutated with
// the same tokens. The removed share and the share of pages the fast path took are reported,
// and must reach --min-removed and --min-fast (shortcuts that never act would pass trivially).
//
//   build/test/html_blank_test [--fuzz N] [--seed S] [--min-removed PCT] [--min-fast PCT] PATH...
// A mismatch writes the page to build/test/html_blank_mismatch.html and exits 1.
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "llmc/html_text.h"

static HtmlArena arena;
static Buf text_ref, text_alt, scratch;
static size_t n_pages, bytes_in, bytes_removed, n_fast, n_gumbo_failed;

static void check_page(const char *html, size_t n, const char *what) {
    // {plain, gumbo}: the reference first
    static const int ways[4][2] = {{1, 1}, {0, 1}, {1, 0}, {0, 0}};
    static const char *const names[4] = {"", "Gumbo after the pre-pass", "the fast path on the page as is",
                                          "the fast path after the pre-pass"};
    for (int keep = 0; keep < 2; keep++) { // with the furniture rules and without
        for (int k = 0; k < 4; k++) {
            HtmlOptions o = {0.5, keep, ways[k][0], ways[k][1]};
            int how = html_extract(html, n, &o, &arena, k == 0 ? &text_ref : &text_alt);
            if (how < 0) { // libgumbo failed an assertion (html_text.h): no reference to compare
                n_gumbo_failed += keep == 0;
                if (k == 0) {
                    break;
                }
                continue;
            }
            if (k == 3 && keep == 0) {
                n_fast += (size_t)how;
            }
            if (k == 0) {
                continue;
            }
            if (text_ref.len != text_alt.len || (text_ref.len && memcmp(text_ref.data, text_alt.data, text_ref.len) != 0)) {
                FILE *f = fopen("build/test/html_blank_mismatch.html", "wb");
                if (f) {
                    fwrite(html, 1, n, f);
                    fclose(f);
                }
                size_t j = 0;
                while (j < text_ref.len && j < text_alt.len && text_ref.data[j] == text_alt.data[j]) {
                    j++;
                }
                fprintf(stderr, "not ok html_shortcuts_equal: %s: %s%s differs from Gumbo's text at byte %zu "
                        "(Gumbo %zu bytes, shortcut %zu); page in build/test/html_blank_mismatch.html\n", what,
                        names[k], keep ? " (furniture kept)" : "", j, text_ref.len, text_alt.len);
                exit(1);
            }
        }
    }
    n_pages++;
    bytes_in += n;
    if (html_blank(html, n, &scratch)) {
        bytes_removed += n - scratch.len;
    }
}

static void check_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "error: cannot open %s\n", path);
        exit(1);
    }
    Buf b = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        buf_put(&b, chunk, got);
    }
    fclose(f);
    check_page(b.data ? b.data : "", b.len, path);
    free(b.data);
}

static void walk(const char *path, char ***files, size_t *n, size_t *cap) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "error: %s: no such file or directory\n", path);
        exit(1);
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') {
                continue;
            }
            char sub[4096];
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            size_t len = strlen(e->d_name);
            struct stat s2;
            if (stat(sub, &s2) == 0 && (S_ISDIR(s2.st_mode) || (len > 5 && strcmp(e->d_name + len - 5, ".html") == 0))) {
                walk(sub, files, n, cap);
            }
        }
        if (d) {
            closedir(d);
        }
        return;
    }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        *files = (char **)realloc(*files, *cap * sizeof(char *));
    }
    (*files)[(*n)++] = strdup(path);
}

static uint64_t rng_state = 88172645463325252ull;
static uint32_t rnd(uint32_t n) { // xorshift64
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

// what the pre-pass has to get right, and the text around it
static const char *const TOKENS[] = {
    "<script>", "</script>", "<SCRIPT type=\"text/javascript\">", "</SCRIPT >", "</script/>", "</scripts>",
    "<script src='a.js'/>", "<!--", "-->", "--!>", "<!-->", "<!--->", "--", "-", "!", "<!-- x -->",
    "<!--<script>", "<script>", "</script>-->", "<!--<script>x</script>-->", "<style>", "</style>", "</STYLE>",
    "<style media=\"a>b\">", "<iframe>", "</iframe>", "<textarea>", "</textarea>", "<title>", "</title>",
    "<xmp>", "</xmp>", "<noembed>", "</noembed>", "<noframes>", "</noframes>", "<noscript>", "</noscript>",
    "<plaintext>", "<template>", "</template>", "<math>", "</math>", "<mi>", "<svg>", "</svg>", "<SVG viewBox='0 0 1 1'>",
    "<svg/>", "<svg a=b/>", "</SVG>", "<g>", "</g>", "<g id=\"a\">", "</g id=x>", "<path d=\"M0 0\"/>",
    "<text>", "</text>", "<clipPath>", "</clippath>", "<desc>", "</desc>", "<foreignObject>",
    "</foreignObject>", "<![CDATA[", "]]>", "<![CDATA[x<p>y]]>", "<select>", "</select>", "<option>",
    "<input>", "<table>", "</table>", "<tr>", "<td>", "</td>", "<p>", "</p>", "<div>", "</div>", "<b>",
    "</b>", "<font color=red>", "<font>", "<br>", "<span>", "<a href=\"x\">", "</a>", "<ul><li>", "<h1>",
    "</h1>", "<pre>", "</pre>", "<nav>", "</nav>", "<frameset>", "<body>", "</body>", "<head>", "</head>",
    "<html>", "<!DOCTYPE html>", "<!doctype", "<?xml version='1.0'?>", "</ x>", "</>", "</1>", "<",
    ">", "</", "<a", "'", "\"", "=", "/", " ", "\n", "\r", "\r\n", "\t", "\f", "\v", "&amp;", "&lt;script&gt;",
    "hello", "world", "text", "more words here", "x", "y", "<img alt='>'>", "<a title=\"</script>\">",
    "<!---->", "<!--a--!>", "<!--a---->", "<!--a--b-->", "<!-- <!-- -->", "</scr", "ipt>", "<scr",
    "\x00", "é", "日本", "<br/>", "<hr>", "<isindex>", "<image>", "<body onload=x>",
    // tree construction and references (html_fast.h)
    "<tbody>", "</tbody>", "<thead>", "<tfoot>", "<th>", "</th>", "</tr>", "<caption>", "</caption>",
    "<colgroup>", "<col>", "</colgroup>", "<i>", "</i>", "<em>", "</em>", "<code>", "</code>", "<nobr>",
    "<u>", "</u>", "<li>", "</li>", "<ol>", "</ol>", "</ul>", "<dl>", "<dt>", "<dd>", "</dd>", "</dt>",
    "<form>", "</form>", "<button>", "</button>", "</option>", "<h2>", "</h2>", "<h3 class=nav>",
    "<a id=\"x\"/>", "<a name=y>", "<address>", "<listing>", "</listing>", "<center>", "<marquee>",
    "</marquee>", "<object>", "</object>", "<applet>", "</br>", "<blockquote>", "</blockquote>",
    "<section>", "</section>", "<header>", "</header>", "<footer>", "<aside>", "<main>", "<article>",
    "<div hidden>", "<p style=\"color:red; display: none\">", "<div class=\"site-nav\">",
    "<span aria-hidden=TRUE>", "<div role=navigation>", "<div class=x class=nav>", "<div id=\"menu&#x2d;a\">",
    "<ul class=\"&amp;nav\">", "<div CLASS=\"footer\">", "<a HREF=z>", "<td hidden>", "<table class=nav>",
    "&copy;", "&#169;", "&#xA9;", "&#x41;", "&#65", "&#0;", "&#128;", "&#x110000;", "&#xD800;", "&bogus;",
    "&amp", "&copy", "AT&T", "& ", "&#;", "&#x;", "&nbsp;", "&hellip;", "&#10;", "&#13;",
    "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">",
    "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\">", "<!DOCTYPE html SYSTEM \"about:legacy-compat\">",
    "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.1//EN\" \"http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd\">",
    "<!DOCTYPE html PUBLIC \"-//W3O//DTD W3 HTML Strict 3.0//EN//\">", "<!doctype html>", "<!DOCTYPE svg>",
    "<p><table>", "<table><p>", "<wbr>", "<param>", "<meta charset=utf-8>", "<link rel=x>", "<base href=/>",
    "<menuitem>", "<tt>", "<custom-el>", "</custom-el>", "</other-el>", "<ruby>", "<rt>", "\xef\xbb\xbf",
    "\xc2\x85", "\x01", "\x7f", "\xff", "\xe2\x82", "\xef\xb7\x90",
};
#define N_TOKENS (sizeof(TOKENS) / sizeof(TOKENS[0]))

// tree construction only (no raw text, foreign content or bad bytes), so that most of these
// pages stay on html_fast.h's path: misnested formatting, implied ends, tables, lists, forms
static const char *const TREE_TOKENS[] = {
    "<p>", "</p>", "<div>", "</div>", "<b>", "</b>", "<i>", "</i>", "<em>", "</em>", "<code>", "</code>",
    "<a id=x/>", "<a name=y>", "<a href=\"z\">", "</a>", "<span>", "</span>", "<span class=nav>",
    "<h1>", "</h1>", "<h2>", "</h2>", "<ul>", "</ul>", "<ol>", "<li>", "</li>", "<dl>", "</dl>", "<dt>",
    "</dt>", "<dd>", "</dd>", "<table>", "</table>", "<tbody>", "</tbody>", "<tr>", "</tr>", "<td>",
    "</td>", "<th>", "</th>", "<caption>", "</caption>", "<colgroup>", "<col>", "<form>", "</form>",
    "<pre>", "</pre>", "<br>", "<hr>", "<img>", "<blockquote>", "</blockquote>", "<nav>", "</nav>",
    "<section>", "</section>", "<font>", "</font>", "<u>", "<s>", "<strong>", "</strong>", "<center>",
    "<object>", "</object>", "<div hidden>", "<b class=menu>", "<i style=display:none>", "<custom>",
    "</custom>", "<option>", "<address>", "</address>", "<listing>", "<body>", "</body>", "</html>",
    "<head>", "</head>", "<title>t</title>", "<button>", "</button>", "<td class=nav>", "<p id=footer>",
    "text", "more words", "x", " ", "\n", "  \n  ", "&amp;", "&#65;", "<!-- c -->", "<tt>", "</tt>",
};
#define N_TREE_TOKENS (sizeof(TREE_TOKENS) / sizeof(TREE_TOKENS[0]))

static void soup(Buf *b, size_t n_tokens) {
    int tree = rnd(2);
    buf_clear(b);
    for (size_t i = 0; i < n_tokens; i++) {
        const char *t = tree ? TREE_TOKENS[rnd(N_TREE_TOKENS)] : TOKENS[rnd(N_TOKENS)];
        buf_put(b, t, t[0] ? strlen(t) : 1); // the "\x00" token is one NUL byte
    }
}

// a real page with tokens spliced in, ranges deleted, letters uppercased
static void mutate(Buf *b, const char *page, size_t n) {
    buf_clear(b);
    buf_put(b, page, n);
    int edits = 1 + (int)rnd(8);
    for (int e = 0; e < edits && b->len > 0; e++) {
        size_t at = rnd((uint32_t)b->len);
        switch (rnd(3)) {
        case 0: {
            const char *t = TOKENS[rnd(N_TOKENS)];
            size_t tl = t[0] ? strlen(t) : 1;
            buf_reserve(b, tl);
            memmove(b->data + at + tl, b->data + at, b->len - at);
            memcpy(b->data + at, t, tl);
            b->len += tl;
            break;
        }
        case 1: {
            size_t cut = 1 + rnd(64);
            cut = cut > b->len - at ? b->len - at : cut;
            memmove(b->data + at, b->data + at + cut, b->len - at - cut);
            b->len -= cut;
            break;
        }
        default:
            for (size_t k = at; k < b->len && k < at + 32; k++) {
                if (b->data[k] >= 'a' && b->data[k] <= 'z') {
                    b->data[k] -= 32;
                }
            }
        }
    }
    b->data[b->len] = '\0';
}

int main(int argc, char **argv) {
    long fuzz = 0;
    double min_removed = 0.0, min_fast = 0.0;
    char **files = NULL;
    size_t n_files = 0, cap = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fuzz") == 0 && i + 1 < argc) {
            fuzz = atol(argv[++i]);
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            rng_state ^= strtoull(argv[++i], NULL, 10) * 0x9E3779B97F4A7C15ull;
        } else if (strcmp(argv[i], "--min-removed") == 0 && i + 1 < argc) {
            min_removed = atof(argv[++i]);
        } else if (strcmp(argv[i], "--min-fast") == 0 && i + 1 < argc) {
            min_fast = atof(argv[++i]);
        } else {
            walk(argv[i], &files, &n_files, &cap);
        }
    }
    for (size_t i = 0; i < n_files; i++) {
        check_file(files[i]);
    }
    size_t real_pages = n_pages, real_in = bytes_in, real_removed = bytes_removed, real_fast = n_fast;
    printf("ok html_blank_real_pages: %zu pages, %.1f MB, same text as Gumbo's with and without each shortcut; "
           "%.1f%% of the bytes removed, %.1f%% of the pages taken by the fast path\n", real_pages, real_in / 1e6,
           real_in ? 100.0 * real_removed / real_in : 0.0, real_pages ? 100.0 * real_fast / real_pages : 0.0);
    if (real_pages && 100.0 * real_fast / real_pages < min_fast) {
        printf("not ok html_fast_coverage: the fast path took %.1f%% of the real pages, expected at least %.1f%%\n",
               100.0 * real_fast / real_pages, min_fast);
        return 1;
    }
    Buf page = {0}, orig = {0};
    for (long k = 0; k < fuzz; k++) {
        char what[64];
        if (n_files && rnd(2)) {
            buf_clear(&orig);
            FILE *f = fopen(files[rnd((uint32_t)n_files)], "rb");
            char chunk[65536];
            size_t got;
            while (f && (got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
                buf_put(&orig, chunk, got);
            }
            if (f) {
                fclose(f);
            }
            // a window of the page keeps each parse short
            size_t start = orig.len > 4096 ? rnd((uint32_t)(orig.len - 4096)) : 0;
            size_t len = orig.len - start < 4096 ? orig.len - start : 4096;
            mutate(&page, orig.data ? orig.data + start : "", len);
            snprintf(what, sizeof(what), "mutated page #%ld", k);
        } else {
            soup(&page, 1 + rnd(120));
            snprintf(what, sizeof(what), "token soup #%ld", k);
        }
        check_page(page.data, page.len, what);
    }
    size_t f_pages = n_pages - real_pages, f_in = bytes_in - real_in, f_removed = bytes_removed - real_removed;
    if (fuzz) {
        printf("ok html_blank_malformed: %zu generated pages (%.1f MB), same text; %.1f%% of the bytes removed, "
               "%.1f%% of the pages taken by the fast path; libgumbo failed an assertion on %zu (skipped, not fatal)\n",
               f_pages, f_in / 1e6, f_in ? 100.0 * f_removed / f_in : 0.0,
               f_pages ? 100.0 * (n_fast - real_fast) / f_pages : 0.0, n_gumbo_failed);
    }
    if (bytes_in == 0 || 100.0 * bytes_removed / bytes_in < min_removed) {
        printf("not ok html_blank_removes: %.2f%% of the bytes removed, expected at least %.2f%%\n",
               bytes_in ? 100.0 * bytes_removed / bytes_in : 0.0, min_removed);
        return 1;
    }
    html_arena_free(&arena);
    free(text_ref.data), free(text_alt.data), free(scratch.data), free(page.data), free(orig.data);
    for (size_t i = 0; i < n_files; i++) {
        free(files[i]);
    }
    free(files);
    return 0;
}
