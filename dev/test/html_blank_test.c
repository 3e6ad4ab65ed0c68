// html_blank_test.c: the pre-pass of llmc/html_blank.h changes no extracted text. Every page is
// extracted twice, with Gumbo parsing the page as is and the page after html_blank(), and the
// two texts must be equal byte for byte: on real pages (files and directories named on the
// command line) and on generated malformed ones: token soup from the constructs the pre-pass has
// to get right (script escapes, comments ending in "--!>", quotes hiding '>', CDATA, SVG
// integration points and breakouts, <select>, uppercase, CR, NUL), and real pages mutated with
// the same tokens. The removed share is reported, and must be non-zero (a pass that removes
// nothing would pass trivially).
//
//   build/test/html_blank_test [--fuzz N] [--seed S] [--min-removed PCT] PATH...
// A mismatch writes the page to build/test/html_blank_mismatch.html and exits 1.
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "llmc/html_text.h"

static HtmlArena arena;
static Buf text_plain, text_blank, scratch;
static size_t n_pages, bytes_in, bytes_removed;

static void check_page(const char *html, size_t n, const char *what) {
    HtmlOptions plain = {0.5, 0, 1}, fast = {0.5, 0, 0};
    for (int keep = 0; keep < 2; keep++) { // with the furniture rules and without
        plain.keep_boilerplate = fast.keep_boilerplate = keep;
        html_extract(html, n, &plain, &arena, &text_plain);
        html_extract(html, n, &fast, &arena, &text_blank);
        if (text_plain.len != text_blank.len || (text_plain.len && memcmp(text_plain.data, text_blank.data, text_plain.len) != 0)) {
            FILE *f = fopen("build/test/html_blank_mismatch.html", "wb");
            if (f) {
                fwrite(html, 1, n, f);
                fclose(f);
            }
            size_t k = 0;
            while (k < text_plain.len && k < text_blank.len && text_plain.data[k] == text_blank.data[k]) {
                k++;
            }
            fprintf(stderr, "not ok html_blank_equal: %s: texts differ at byte %zu (plain %zu bytes, pre-pass %zu); "
                    "page in build/test/html_blank_mismatch.html\n", what, k, text_plain.len, text_blank.len);
            exit(1);
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
};
#define N_TOKENS (sizeof(TOKENS) / sizeof(TOKENS[0]))

static void soup(Buf *b, size_t n_tokens) {
    buf_clear(b);
    for (size_t i = 0; i < n_tokens; i++) {
        const char *t = TOKENS[rnd(N_TOKENS)];
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
    double min_removed = 0.0;
    char **files = NULL;
    size_t n_files = 0, cap = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fuzz") == 0 && i + 1 < argc) {
            fuzz = atol(argv[++i]);
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            rng_state ^= strtoull(argv[++i], NULL, 10) * 0x9E3779B97F4A7C15ull;
        } else if (strcmp(argv[i], "--min-removed") == 0 && i + 1 < argc) {
            min_removed = atof(argv[++i]);
        } else {
            walk(argv[i], &files, &n_files, &cap);
        }
    }
    for (size_t i = 0; i < n_files; i++) {
        check_file(files[i]);
    }
    size_t real_pages = n_pages, real_in = bytes_in, real_removed = bytes_removed;
    printf("ok html_blank_real_pages: %zu pages, %.1f MB, same text with and without the pre-pass; "
           "%.1f%% of the bytes removed\n", real_pages, real_in / 1e6, real_in ? 100.0 * real_removed / real_in : 0.0);
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
        printf("ok html_blank_malformed: %zu generated pages (%.1f MB), same text; %.1f%% of the bytes removed\n",
               f_pages, f_in / 1e6, f_in ? 100.0 * f_removed / f_in : 0.0);
    }
    if (bytes_in == 0 || 100.0 * bytes_removed / bytes_in < min_removed) {
        printf("not ok html_blank_removes: %.2f%% of the bytes removed, expected at least %.2f%%\n",
               bytes_in ? 100.0 * bytes_removed / bytes_in : 0.0, min_removed);
        return 1;
    }
    html_arena_free(&arena);
    free(text_plain.data), free(text_blank.data), free(scratch.data), free(page.data), free(orig.data);
    for (size_t i = 0; i < n_files; i++) {
        free(files[i]);
    }
    free(files);
    return 0;
}
