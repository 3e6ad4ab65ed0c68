/*
 * webclean: web pages to clean training text, the first stage of a FineWeb-style dataset.
 *
 *   ./webclean [options] INPUT... -o OUT.jsonl[.zst]
 *
 * INPUT is a WARC or WARC.gz file (Common Crawl's format), a plain HTML file, or a directory
 * (searched recursively for *.warc, *.warc.gz, *.html, *.htm, *.xhtml). Every HTML response goes
 * through the stages below, in FineWeb's order; each can be switched off (--skip) and counts what
 * it kept and dropped and why (--stats FILE writes the counts as JSON):
 *
 *   url        domain / URL blocklists and banned substrings            llmc/urlfilter.h
 *   extract    charset to UTF-8, HTML5 parse, main text                 llmc/charset.h, html_text.h
 *   lang       CLD2 language identification, --lang LIST, --lang-score  llmc/langid.h
 *   gopher-rep Gopher repetition rules                                  llmc/quality.h
 *   gopher     Gopher quality rules
 *   c4         C4 line and page rules
 *   fineweb    FineWeb's rules
 *   exact      exact duplicates (normalized text hash)                  llmc/minhash.h
 *   near       near duplicates (MinHash 5-grams, 14 bands x 8)
 *   pii        e-mail and public IP addresses replaced                  llmc/pii.h
 *
 * Output: one JSON object per line: text, url, date, id, language, language_score, charset, and
 * "filters" with what each rule measured; OUT ending in .zst is zstd-compressed. `tokenize shards
 * --format jsonl` turns it into training shards.
 *
 * How it runs: the main thread reads records (llmc/warc.h) into a batch of bounded size; worker
 * threads take the batch's documents one at a time through url..fineweb, PII and the dedup
 * signature while the main thread reads the next batch; then the main thread decides duplicates
 * in input order (deterministic whatever --threads) and writes. Memory is two batches plus the
 * dedup index (about 24 bytes x 15 keys per document, reported), whatever the input size. Output and stats are written to OUT.tmp and
 * renamed at the end, so a failed run leaves no half-written file.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "llmc/buf.h"
#include "llmc/charset.h"
#include "llmc/html_text.h"
#include "llmc/json_write.h"
#include "llmc/langid.h"
#include "llmc/minhash.h"
#include "llmc/pii.h"
#include "llmc/quality.h"
#include "llmc/urlfilter.h"
#include "llmc/utils.h"
#include "llmc/warc.h"

// ----------------------------------------------------------------------------
// stages and counters

typedef enum { ST_URL, ST_EXTRACT, ST_LANG, ST_GREP, ST_GOPHER, ST_C4, ST_FINEWEB, ST_EXACT, ST_NEAR, ST_PII, N_STAGES } Stage;
static const char *const STAGE_NAMES[N_STAGES] = {"url", "extract", "lang", "gopher-rep", "gopher",
                                                  "c4", "fineweb", "exact", "near", "pii"};

#define MAX_REASONS 256 // reasons are a fixed few; languages can be ~160 (CLD2)
typedef struct {
    const char *name[MAX_REASONS];
    uint64_t count[MAX_REASONS];
    int n;
} Reasons;

static void reasons_add(Reasons *r, const char *name, uint64_t k) {
    for (int i = 0; i < r->n; i++) {
        if (strcmp(r->name[i], name) == 0) {
            r->count[i] += k;
            return;
        }
    }
    if (r->n < MAX_REASONS) {
        r->name[r->n] = name;
        r->count[r->n++] = k;
    }
}

// Same, for a name that does not outlive the call (copied once, when first seen).
static void reasons_add_copy(Reasons *r, const char *name, uint64_t k) {
    for (int i = 0; i < r->n; i++) {
        if (strcmp(r->name[i], name) == 0) {
            r->count[i] += k;
            return;
        }
    }
    char *copy = strdup(name);
    if (copy == NULL) {
        die("out of memory");
    }
    reasons_add(r, copy, k);
}

static uint64_t reasons_total(const Reasons *r) {
    uint64_t t = 0;
    for (int i = 0; i < r->n; i++) {
        t += r->count[i];
    }
    return t;
}

typedef struct {
    uint64_t in[N_STAGES], kept[N_STAGES];
    Reasons dropped[N_STAGES];
    Reasons records;      // records that never became documents, by reason
    Reasons languages;    // written documents per language
    uint64_t records_total, documents, written, written_bytes, emails, ips;
    uint64_t n_inputs, html_bytes, bad_gzip, bad_header, truncated;
    uint64_t html_fast; // pages whose tree html_fast.h built (the rest: Gumbo)
} Stats;

// ----------------------------------------------------------------------------
// options

typedef struct {
    const char *out;
    const char *stats;
    const char *rejects;
    const char *lang;
    double lang_score;
    const char *blocklists[64];
    int n_blocklists;
    const char *banned[16];
    int n_banned;
    const char *skip;
    long threads;
    long max_record_mb;
    long batch_mb;
    double link_density;
    int plain_parse;
    int force, quiet, help;
    QualityOptions q;
    int skip_stage[N_STAGES];
} Options;

static Options opt;

typedef enum { O_STR, O_LIST, O_INT, O_LONG, O_DBL, O_FLAG } OptKind;
typedef struct {
    const char *name, *metavar;
    OptKind kind;
    void *ptr;
    int *count;  // O_LIST: entries so far
    int cap;     // O_LIST: capacity
    double lo, hi;
    const char *help;
} OptSpec;

#define Q(f) &opt.q.f
static const OptSpec OPTIONS[] = {
    {"-o", "OUT", O_STR, &opt.out, 0, 0, 0, 0, "output JSON lines (.zst: zstd-compressed); required"},
    {"--stats", "FILE", O_STR, &opt.stats, 0, 0, 0, 0, "write the per-stage counts as JSON"},
    {"--rejects", "FILE", O_STR, &opt.rejects, 0, 0, 0, 0, "write url, stage and reason of every dropped record as JSON lines"},
    {"--lang", "LIST", O_STR, &opt.lang, 0, 0, 0, 0, "languages to keep, comma-separated CLD2 codes, or 'all' (default en)"},
    {"--lang-score", "X", O_DBL, &opt.lang_score, 0, 0, 0, 1, "minimum language score (default 0.65)"},
    {"--blocklist", "FILE", O_LIST, opt.blocklists, &opt.n_blocklists, 64, 0, 0, "domain / URL blocklist (repeatable)"},
    {"--banned-words", "FILE", O_LIST, opt.banned, &opt.n_banned, 16, 0, 0, "banned URL substrings (repeatable)"},
    {"--skip", "LIST", O_STR, &opt.skip, 0, 0, 0, 0, "stages to switch off: url,extract,lang,gopher-rep,gopher,c4,fineweb,exact,near,pii"},
    {"--threads", "N", O_LONG, &opt.threads, 0, 0, 1, 256, "worker threads (default: all cores)"},
    {"--max-record-mb", "N", O_LONG, &opt.max_record_mb, 0, 0, 1, 1024, "skip records larger than this (default 16)"},
    {"--batch-mb", "N", O_LONG, &opt.batch_mb, 0, 0, 1, 1024, "pages handed to the workers at a time, two batches in memory (default 32)"},
    {"--link-density", "X", O_DBL, &opt.link_density, 0, 0, 0, 1, "drop blocks with more link text than this (default 0.5)"},
    {"--plain-parse", NULL, O_FLAG, &opt.plain_parse, 0, 0, 0, 0, "hand Gumbo the whole page (no script/style/svg/comment pre-pass, no streaming fast path; same text, slower)"},
    {"--gopher-dup-line-frac", "X", O_DBL, Q(dup_line_frac), 0, 0, 0, 1, "max duplicate-line fraction (0.3)"},
    {"--gopher-dup-para-frac", "X", O_DBL, Q(dup_para_frac), 0, 0, 0, 1, "max duplicate-paragraph fraction (0.3)"},
    {"--gopher-dup-line-char-frac", "X", O_DBL, Q(dup_line_char_frac), 0, 0, 0, 1, "max chars in duplicate lines (0.2)"},
    {"--gopher-dup-para-char-frac", "X", O_DBL, Q(dup_para_char_frac), 0, 0, 0, 1, "max chars in duplicate paragraphs (0.2)"},
    {"--gopher-top-2gram", "X", O_DBL, Q(top_ngram_frac[0]), 0, 0, 0, 1, "max chars in the top 2-gram (0.2)"},
    {"--gopher-top-3gram", "X", O_DBL, Q(top_ngram_frac[1]), 0, 0, 0, 1, "max chars in the top 3-gram (0.18)"},
    {"--gopher-top-4gram", "X", O_DBL, Q(top_ngram_frac[2]), 0, 0, 0, 1, "max chars in the top 4-gram (0.16)"},
    {"--gopher-dup-5gram", "X", O_DBL, Q(dup_ngram_frac[0]), 0, 0, 0, 1, "max chars in repeated 5-grams (0.15)"},
    {"--gopher-dup-6gram", "X", O_DBL, Q(dup_ngram_frac[1]), 0, 0, 0, 1, "max chars in repeated 6-grams (0.14)"},
    {"--gopher-dup-7gram", "X", O_DBL, Q(dup_ngram_frac[2]), 0, 0, 0, 1, "max chars in repeated 7-grams (0.13)"},
    {"--gopher-dup-8gram", "X", O_DBL, Q(dup_ngram_frac[3]), 0, 0, 0, 1, "max chars in repeated 8-grams (0.12)"},
    {"--gopher-dup-9gram", "X", O_DBL, Q(dup_ngram_frac[4]), 0, 0, 0, 1, "max chars in repeated 9-grams (0.11)"},
    {"--gopher-dup-10gram", "X", O_DBL, Q(dup_ngram_frac[5]), 0, 0, 0, 1, "max chars in repeated 10-grams (0.10)"},
    {"--gopher-min-words", "N", O_LONG, Q(min_words), 0, 0, 0, 1e9, "min words (50)"},
    {"--gopher-max-words", "N", O_LONG, Q(max_words), 0, 0, 1, 1e9, "max words (100000)"},
    {"--gopher-min-mean-word-len", "X", O_DBL, Q(min_mean_word_len), 0, 0, 0, 1000, "min mean word length (3)"},
    {"--gopher-max-mean-word-len", "X", O_DBL, Q(max_mean_word_len), 0, 0, 0, 1000, "max mean word length (10)"},
    {"--gopher-max-symbol-ratio", "X", O_DBL, Q(max_symbol_ratio), 0, 0, 0, 1000, "max (# and ellipsis) per word (0.1)"},
    {"--gopher-max-bullet-lines", "X", O_DBL, Q(max_bullet_lines), 0, 0, 0, 1, "max bullet-start lines (0.9)"},
    {"--gopher-max-ellipsis-lines", "X", O_DBL, Q(max_ellipsis_lines), 0, 0, 0, 1, "max ellipsis-end lines (0.3)"},
    {"--gopher-min-alpha-words", "X", O_DBL, Q(min_alpha_words), 0, 0, 0, 1, "min words with a letter (0.8)"},
    {"--gopher-min-stop-words", "N", O_INT, Q(min_stop_words), 0, 0, 0, 1e6, "min English stop words (2)"},
    {"--c4-min-line-words", "N", O_INT, Q(c4_min_line_words), 0, 0, 0, 1e6, "drop lines with fewer words (3)"},
    {"--c4-max-word-len", "N", O_INT, Q(c4_max_word_len), 0, 0, 1, 1e9, "drop lines with a longer word (1000)"},
    {"--c4-min-sentences", "N", O_INT, Q(c4_min_sentences), 0, 0, 0, 1e6, "min sentences (5)"},
    {"--c4-terminal-punct", NULL, O_FLAG, Q(c4_terminal_punct), 0, 0, 0, 0, "drop lines not ending in punctuation (off, as FineWeb)"},
    {"--c4-allow-curly", NULL, O_FLAG, &opt.q.c4_curly, 0, 0, 0, 0, "keep pages with '{' (C4 drops them)"},
    {"--fineweb-min-line-punct", "X", O_DBL, Q(fw_min_line_punct), 0, 0, 0, 1, "min lines ending in punctuation (0.12)"},
    {"--fineweb-max-short-lines", "X", O_DBL, Q(fw_max_short_lines), 0, 0, 0, 1, "max short lines (0.67)"},
    {"--fineweb-short-line-len", "N", O_INT, Q(fw_short_line_len), 0, 0, 0, 1e6, "short line: at most this many chars (30)"},
    {"--fineweb-max-dup-line-chars", "X", O_DBL, Q(fw_max_dup_line_chars), 0, 0, 0, 1, "max chars in duplicate lines (0.01)"},
    {"--fineweb-max-newline-per-word", "X", O_DBL, Q(fw_max_newline_per_word), 0, 0, 0, 1e6, "max newlines per word (0.3)"},
    {"--force", NULL, O_FLAG, &opt.force, 0, 0, 0, 0, "overwrite OUT and the stats file if they exist"},
    {"--quiet", NULL, O_FLAG, &opt.quiet, 0, 0, 0, 0, "no progress or summary on stderr"},
    {"--help", NULL, O_FLAG, &opt.help, 0, 0, 0, 0, "this help"},
};
#define N_OPTIONS (sizeof(OPTIONS) / sizeof(OPTIONS[0]))

static void usage(void) {
    printf("usage: ./webclean [options] INPUT... -o OUT.jsonl[.zst]\n"
           "INPUT: WARC / WARC.gz files, HTML files, or directories of them\n\noptions:\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char left[64];
        snprintf(left, sizeof(left), "%s%s%s", OPTIONS[i].name, OPTIONS[i].metavar ? " " : "",
                 OPTIONS[i].metavar ? OPTIONS[i].metavar : "");
        printf("  %-32s %s\n", left, OPTIONS[i].help);
    }
}

static int parse_args(int argc, char **argv, const char **inputs) {
    int n_inputs = 0;
    opt.lang = "en";
    opt.lang_score = 0.65;
    opt.max_record_mb = 16;
    opt.batch_mb = 32;
    opt.link_density = 0.5;
    opt.q = QUALITY_DEFAULTS;
    opt.q.c4_curly = 0; // the flag sets it; inverted below
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || strcmp(a, "-") == 0) {
            inputs[n_inputs++] = a;
            continue;
        }
        const OptSpec *o = NULL;
        for (size_t k = 0; k < N_OPTIONS; k++) {
            if (strcmp(a, OPTIONS[k].name) == 0) {
                o = &OPTIONS[k];
            }
        }
        if (o == NULL) {
            die("unknown option %s (see --help)", a);
        }
        if (o->kind == O_FLAG) {
            *(int *)o->ptr = 1;
            continue;
        }
        if (i + 1 >= argc) {
            die("%s needs a value (%s)", a, o->metavar);
        }
        const char *v = argv[++i];
        switch (o->kind) {
        case O_STR: *(const char **)o->ptr = v; break;
        case O_LIST:
            if (*o->count >= o->cap) {
                die("%s: at most %d", a, o->cap);
            }
            ((const char **)o->ptr)[(*o->count)++] = v;
            break;
        case O_INT: *(int *)o->ptr = (int)parse_int_or_die(v, (long long)o->lo, (long long)o->hi, a); break;
        case O_LONG:
            *(long *)o->ptr = (long)parse_int_or_die(v, (long long)o->lo, (long long)o->hi, a);
            break;
        case O_DBL: *(double *)o->ptr = parse_float_or_die(v, o->lo, o->hi, a); break;
        default: break;
        }
    }
    opt.q.c4_curly = !opt.q.c4_curly;
    if (opt.help) {
        usage();
        exit(0);
    }
    if (opt.out == NULL) {
        die("no output: give -o OUT.jsonl (see --help)");
    }
    if (n_inputs == 0) {
        die("no INPUT: give WARC, WARC.gz or HTML files or directories (see --help)");
    }
    if (opt.q.min_words > opt.q.max_words) {
        die("--gopher-min-words %ld is above --gopher-max-words %ld", opt.q.min_words, opt.q.max_words);
    }
    if (opt.q.min_mean_word_len > opt.q.max_mean_word_len) {
        die("--gopher-min-mean-word-len is above --gopher-max-mean-word-len");
    }
    if (opt.stats && strcmp(opt.stats, opt.out) == 0) {
        die("--stats %s: the same file as -o", opt.stats);
    }
    if (opt.rejects && (strcmp(opt.rejects, opt.out) == 0 || (opt.stats && strcmp(opt.rejects, opt.stats) == 0))) {
        die("--rejects %s: the same file as -o or --stats", opt.rejects);
    }
    if (opt.skip) {
        char tmp[512];
        snprintf(tmp, sizeof(tmp), "%s", opt.skip);
        for (char *t = strtok(tmp, ","); t; t = strtok(NULL, ",")) {
            int found = 0;
            for (int s = 0; s < N_STAGES; s++) {
                if (strcmp(t, STAGE_NAMES[s]) == 0) {
                    opt.skip_stage[s] = found = 1;
                }
            }
            if (!found) {
                die("--skip: unknown stage '%s' (expected url,extract,lang,gopher-rep,gopher,c4,fineweb,exact,near,pii)", t);
            }
        }
    }
    const char *l = opt.lang;
    if (l[0] == '\0' || strspn(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-,") != strlen(l)) {
        die("--lang: expected comma-separated language codes like en,de,zh or 'all', got '%s'", l);
    }
    return n_inputs;
}

// Is `code` (CLD2's, like "en" or "zh-Hant") among --lang? "zh" also takes "zh-Hant".
static int lang_wanted(const char *code) {
    if (strcmp(opt.lang, "all") == 0) {
        return 1;
    }
    size_t cn = strcspn(code, "-");
    const char *p = opt.lang;
    while (*p) {
        size_t k = strcspn(p, ",");
        if ((k == strlen(code) && strncasecmp(p, code, k) == 0) || (k == cn && strncasecmp(p, code, k) == 0)) {
            return 1;
        }
        p += k + (p[k] == ',');
    }
    return 0;
}

// ----------------------------------------------------------------------------
// inputs

typedef enum { IN_WARC, IN_HTML } InputKind;
typedef struct {
    char *path;
    InputKind kind;
    uint64_t size;
} Input;

typedef struct {
    Input *v;
    size_t n, cap;
} Inputs;

static void inputs_add(Inputs *in, const char *path, InputKind kind, uint64_t size) {
    if (in->n == in->cap) {
        in->cap = in->cap ? in->cap * 2 : 64;
        in->v = (Input *)realloc(in->v, in->cap * sizeof(Input));
        if (in->v == NULL) {
            die("out of memory (inputs)");
        }
    }
    in->v[in->n].path = strdup(path);
    in->v[in->n].kind = kind;
    in->v[in->n].size = size;
    in->n++;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

// WARC if it starts with a WARC header (after gunzip if gzip); HTML if it is text; else an error.
// Files found in a directory are never fatal: *.warc(.gz) are read as WARC (damage is counted
// record by record), the rest as HTML (binary pages are counted by the extract stage).
static InputKind sniff(const char *path, int from_dir) {
    if (from_dir) {
        return ends_with(path, ".warc") || ends_with(path, ".warc.gz") ? IN_WARC : IN_HTML;
    }
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        die("%s: cannot open: %s", path, strerror(errno));
    }
    unsigned char head[2] = {0, 0};
    size_t got = fread(head, 1, 2, fp);
    rewind(fp);
    InputKind kind;
    if (got == 2 && head[0] == 0x1f && head[1] == 0x8b) {
        WarcReader r;
        warc_open_file(&r, fp, 1 << 20);
        size_t have = warc_fill_(&r, 8);
        int ok = have >= 7 && memcmp(r.buf + r.start, "WARC/1.", 7) == 0;
        warc_close(&r);
        if (!ok) {
            fclose(fp);
            die("%s: a gzip file that is not a WARC (expected 'WARC/1.x' after decompression)", path);
        }
        kind = IN_WARC;
    } else {
        char buf[4096];
        size_t n = fread(buf, 1, sizeof(buf), fp);
        if (n >= 7 && memcmp(buf, "WARC/1.", 7) == 0) {
            kind = IN_WARC;
        } else if (!looks_binary(buf, n)) {
            kind = IN_HTML;
        } else {
            fclose(fp);
            die("%s: not a WARC, WARC.gz or HTML file (binary data)", path);
        }
    }
    fclose(fp);
    return kind;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void add_path(Inputs *in, const char *path, int from_dir) {
    struct stat st;
    if (stat(path, &st) != 0) {
        die("%s: cannot read input: %s", path, strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d == NULL) {
            die("%s: cannot open directory: %s", path, strerror(errno));
        }
        char **names = NULL;
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') {
                continue;
            }
            names = (char **)realloc(names, (n + 1) * sizeof(char *));
            size_t len = strlen(path) + strlen(e->d_name) + 2;
            names[n] = (char *)malloc_check(len);
            snprintf(names[n], len, "%s/%s", path, e->d_name);
            n++;
        }
        closedir(d);
        qsort(names, n, sizeof(char *), cmp_str); // the same order on every machine
        for (size_t i = 0; i < n; i++) {
            struct stat cs;
            if (stat(names[i], &cs) == 0 &&
                (S_ISDIR(cs.st_mode) || ends_with(names[i], ".warc") || ends_with(names[i], ".warc.gz") ||
                 ends_with(names[i], ".html") || ends_with(names[i], ".htm") || ends_with(names[i], ".xhtml"))) {
                add_path(in, names[i], 1);
            }
            free(names[i]);
        }
        free(names);
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        die("%s: not a regular file or directory", path);
    }
    if (access(path, R_OK) != 0) {
        die("%s: cannot read input: %s", path, strerror(errno));
    }
    inputs_add(in, path, sniff(path, from_dir), (uint64_t)st.st_size);
}

// ----------------------------------------------------------------------------
// documents and the batch

typedef struct {
    // input, in the batch arena
    size_t body, body_len, url, date, id;
    char charset[64], encoding[32];
    int chunked;
    // result
    int fast;            // html_extract took the streaming fast path
    int stage;           // stage that dropped it, or N_STAGES when kept
    const char *reason;
    DedupKeys keys;
    char lang[12];
    size_t emails, ips;
    Buf line;            // the JSON line, for kept documents
} Doc;

typedef struct {
    Buf arena;
    Doc *docs;
    size_t n, cap;
    atomic_size_t next;
} Batch;

#define BATCH_DOCS 4096

static size_t arena_str(Batch *b, const char *s) {
    size_t off = b->arena.len;
    buf_put(&b->arena, s, strlen(s) + 1);
    return off;
}

static Doc *batch_add(Batch *b) {
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->docs = (Doc *)realloc(b->docs, b->cap * sizeof(Doc));
        if (b->docs == NULL) {
            die("out of memory (batch)");
        }
    }
    Doc *d = &b->docs[b->n++];
    memset(d, 0, sizeof(*d));
    return d;
}

// ----------------------------------------------------------------------------
// the per-document pipeline (worker threads)

typedef struct {
    Charset cs;
    Buf raw, utf8, text, pii, norm, url;
    QualityScratch q;
    Words w;
    HtmlArena arena;
} Scratch;

static UrlFilter url_filter;
static MinHasher minhasher;

static void write_filters(Buf *o, const QualityMeasures *m) {
    static const char *const top[3] = {"top_2gram", "top_3gram", "top_4gram"};
    static const char *const dup[6] = {"dup_5gram", "dup_6gram", "dup_7gram", "dup_8gram", "dup_9gram", "dup_10gram"};
    buf_puts(o, ",\"filters\":{");
    int first = 1;
#define FIELD(name, v)                 \
    do {                               \
        if (!first) buf_putc(o, ',');  \
        first = 0;                     \
        json_key(o, name);             \
        json_num(o, v);                \
    } while (0)
    if (!opt.skip_stage[ST_GREP]) {
        FIELD("dup_line_frac", m->dup_line_frac);
        FIELD("dup_para_frac", m->dup_para_frac);
        FIELD("dup_line_char_frac", m->dup_line_char_frac);
        FIELD("dup_para_char_frac", m->dup_para_char_frac);
        for (int k = 0; k < 3; k++) FIELD(top[k], m->top_ngram_frac[k]);
        for (int k = 0; k < 6; k++) FIELD(dup[k], m->dup_ngram_frac[k]);
    }
    if (!opt.skip_stage[ST_GOPHER]) {
        FIELD("words", (double)m->words);
        FIELD("mean_word_len", m->mean_word_len);
        FIELD("symbol_ratio", m->symbol_ratio);
        FIELD("bullet_lines", m->bullet_lines);
        FIELD("ellipsis_lines", m->ellipsis_lines);
        FIELD("alpha_words", m->alpha_words);
        FIELD("stop_words", m->stop_words);
    }
    if (!opt.skip_stage[ST_C4]) {
        FIELD("c4_lines_removed", (double)m->c4_lines_removed);
        FIELD("c4_sentences", (double)m->c4_sentences);
    }
    if (!opt.skip_stage[ST_FINEWEB]) {
        FIELD("line_punct", m->fw_line_punct);
        FIELD("short_lines", m->fw_short_lines);
        FIELD("dup_line_chars", m->fw_dup_line_chars);
        FIELD("newline_per_word", m->fw_newline_per_word);
    }
#undef FIELD
    buf_putc(o, '}');
}

static void process_doc(Scratch *s, const Batch *b, Doc *d) {
    const char *arena = b->arena.data;
    const char *url = arena + d->url;
#define DROP(st, why)          \
    do {                       \
        d->stage = (st);       \
        d->reason = (why);     \
        return;                \
    } while (0)
    if (!opt.skip_stage[ST_URL]) {
        const char *why = urlfilter_check(&url_filter, url, &s->url);
        if (why) DROP(ST_URL, why);
    }
    // payload: undo transfer and content codings, then to UTF-8
    const char *p = arena + d->body;
    size_t n = d->body_len;
    if (d->chunked) {
        if (!http_dechunk(p, n, &s->raw)) DROP(ST_EXTRACT, "extract_bad_chunked");
        p = s->raw.data ? s->raw.data : "";
        n = s->raw.len;
    }
    if (d->encoding[0]) {
        int gz = strcmp(d->encoding, "gzip") == 0 || strcmp(d->encoding, "x-gzip") == 0;
        if (!gz && strcmp(d->encoding, "deflate") != 0) DROP(ST_EXTRACT, "extract_unknown_encoding");
        Buf *dst = p == s->raw.data ? &s->utf8 : &s->raw;
        if (!http_inflate(p, n, gz, (size_t)opt.max_record_mb << 20, dst)) DROP(ST_EXTRACT, "extract_bad_encoding");
        p = dst->data;
        n = dst->len;
        if (dst == &s->utf8) { // keep utf8 free for the conversion below
            buf_clear(&s->raw);
            buf_put(&s->raw, p, n);
            p = s->raw.data;
        }
    }
    if (looks_binary(p, n)) DROP(ST_EXTRACT, "extract_binary");
    // a page in UTF-8 already (most) is parsed where it lies; others are converted into s->utf8
    const char *html;
    size_t html_len;
    const char *cs = charset_utf8_view(&s->cs, d->charset, p, n, &s->utf8, &html, &html_len);
    HtmlOptions ho = {opt.link_density, opt.skip_stage[ST_EXTRACT], opt.plain_parse, opt.plain_parse};
    int how = html_extract(html ? html : "", html_len, &ho, &s->arena, &s->text);
    if (how < 0) DROP(ST_EXTRACT, "extract_parser_error"); // libgumbo failed an assertion
    d->fast = how;
    if (s->text.len == 0) DROP(ST_EXTRACT, "extract_empty");
    // language
    LangResult lr = {"", 0, 0};
    if (!opt.skip_stage[ST_LANG]) {
        lr = langid_detect(s->text.data, s->text.len);
        snprintf(d->lang, sizeof(d->lang), "%s", lr.code);
        if (strcmp(lr.code, "un") == 0) DROP(ST_LANG, "lang_unknown");
        if (!lang_wanted(lr.code)) DROP(ST_LANG, "lang_not_wanted");
        if (lr.score < opt.lang_score) DROP(ST_LANG, "lang_low_score");
    }
    QualityMeasures m;
    memset(&m, 0, sizeof(m));
    const char *why;
    if (!opt.skip_stage[ST_GREP] && (why = gopher_repetition(&s->q, s->text.data, s->text.len, &opt.q, &m))) {
        DROP(ST_GREP, why);
    }
    int english = opt.skip_stage[ST_LANG] || strcmp(d->lang, "en") == 0;
    if (!opt.skip_stage[ST_GOPHER] && (why = gopher_quality(&s->q, s->text.data, s->text.len, english, &opt.q, &m))) {
        DROP(ST_GOPHER, why);
    }
    if (!opt.skip_stage[ST_C4] && (why = c4_filter(&s->q, s->text.data, &s->text.len, &opt.q, &m))) {
        DROP(ST_C4, why);
    }
    if (!opt.skip_stage[ST_FINEWEB] && (why = fineweb_quality(&s->q, s->text.data, s->text.len, &opt.q, &m))) {
        DROP(ST_FINEWEB, why);
    }
    // dedup keys on the text before PII replacement (the replacement would make pages alike)
    if (!opt.skip_stage[ST_EXACT] || !opt.skip_stage[ST_NEAR]) {
        dedup_keys(&minhasher, s->text.data, s->text.len, &s->norm, &s->w, &d->keys);
    }
    const char *text = s->text.data;
    size_t text_len = s->text.len;
    if (!opt.skip_stage[ST_PII]) {
        pii_scrub(text, text_len, &s->pii, &d->emails, &d->ips);
        text = s->pii.data;
        text_len = s->pii.len;
    }
    Buf *o = &d->line;
    buf_reserve(o, text_len + 1024);
    buf_puts(o, "{\"text\":");
    json_string(o, text, text_len);
    buf_puts(o, ",\"url\":");
    json_cstr(o, url);
    buf_puts(o, ",\"date\":");
    json_cstr(o, arena + d->date);
    buf_puts(o, ",\"id\":");
    json_cstr(o, arena + d->id);
    if (!opt.skip_stage[ST_LANG]) {
        buf_puts(o, ",\"language\":");
        json_cstr(o, lr.code);
        buf_puts(o, ",\"language_score\":");
        json_num(o, lr.score);
    }
    buf_puts(o, ",\"charset\":");
    json_cstr(o, cs);
    write_filters(o, &m);
    if (!opt.skip_stage[ST_PII]) {
        buf_puts(o, ",\"pii\":{\"emails\":");
        json_num(o, (double)d->emails);
        buf_puts(o, ",\"ips\":");
        json_num(o, (double)d->ips);
        buf_putc(o, '}');
    }
    buf_puts(o, "}\n");
    d->stage = N_STAGES;
#undef DROP
}

typedef struct {
    Batch *batch;
    Scratch *scratch;
} WorkerArg;

static void *worker(void *p) {
    WorkerArg *a = (WorkerArg *)p;
    for (;;) {
        size_t i = atomic_fetch_add(&a->batch->next, 1);
        if (i >= a->batch->n) {
            break;
        }
        process_doc(a->scratch, a->batch, &a->batch->docs[i]);
        // a page that needed huge buffers should not keep them for the rest of the run
        buf_trim(&a->scratch->utf8, 4u << 20);
        buf_trim(&a->scratch->raw, 4u << 20);
    }
    return NULL;
}

// ----------------------------------------------------------------------------
// output

typedef struct {
    FILE *fp;
    const char *path;
    char tmp[4096];
    ZSTD_CCtx *z;
    Buf zbuf;
} Writer;

static void writer_open(Writer *w, const char *path) {
    memset(w, 0, sizeof(*w));
    w->path = path;
    tmp_path_for(w->tmp, sizeof(w->tmp), path);
    w->fp = fopen(w->tmp, "wb");
    if (w->fp == NULL) {
        die("%s: cannot write output: %s", w->tmp, strerror(errno));
    }
    if (ends_with(path, ".zst")) {
        w->z = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(w->z, ZSTD_c_compressionLevel, 3);
    }
}

static void writer_raw_(Writer *w, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, w->fp) != n) {
        unlink(w->tmp);
        die("%s: write failed: %s", w->tmp, strerror(errno));
    }
}

static void writer_zstd_(Writer *w, const void *p, size_t n, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in = {p, n, 0};
    size_t out_cap = ZSTD_CStreamOutSize();
    buf_reserve(&w->zbuf, out_cap);
    for (;;) {
        ZSTD_outBuffer out = {w->zbuf.data, out_cap, 0};
        size_t left = ZSTD_compressStream2(w->z, &out, &in, mode);
        if (ZSTD_isError(left)) {
            unlink(w->tmp);
            die("%s: zstd: %s", w->tmp, ZSTD_getErrorName(left));
        }
        writer_raw_(w, out.dst, out.pos);
        if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) {
            break;
        }
    }
}

static void writer_put(Writer *w, const char *p, size_t n) {
    if (w->z) {
        writer_zstd_(w, p, n, ZSTD_e_continue);
    } else {
        writer_raw_(w, p, n);
    }
}

static void writer_close(Writer *w) {
    if (w->z) {
        writer_zstd_(w, "", 0, ZSTD_e_end);
        ZSTD_freeCCtx(w->z);
    }
    free(w->zbuf.data);
    commit_file(w->fp, w->tmp, w->path);
}

// ----------------------------------------------------------------------------
// the run

static Stats st;
static DedupIndex dedup;
static Writer writer, rejects;
static Buf reject_line;

// One line per dropped record or document (--rejects), for audits and tests.
static void reject(const char *url, const char *stage, const char *reason) {
    if (!opt.rejects) {
        return;
    }
    buf_clear(&reject_line);
    buf_puts(&reject_line, "{\"url\":");
    json_cstr(&reject_line, url);
    buf_puts(&reject_line, ",\"stage\":");
    json_cstr(&reject_line, stage);
    buf_puts(&reject_line, ",\"reason\":");
    json_cstr(&reject_line, reason);
    buf_puts(&reject_line, "}\n");
    writer_put(&rejects, reject_line.data, reject_line.len);
}

static void skip_record(const char *url, const char *reason) {
    reasons_add(&st.records, reason, 1);
    reject(url, "record", reason);
}
static Scratch *scratch;
static int n_threads;
static double t_start;
static uint64_t total_input_bytes, done_input_bytes, progress_bytes;
static double last_progress;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress(int final) {
    double t = now_s();
    if (opt.quiet || (!final && t - last_progress < 5.0)) {
        return;
    }
    last_progress = t;
    double el = t - t_start, mb = (double)progress_bytes / 1e6;
    double rate = el > 0 ? mb / el : 0;
    if (final) {
        fprintf(stderr, "webclean: %.1f MB in %.1fs (%.1f MB/s), %llu records, %llu documents, %llu written\n", mb, el,
                rate, (unsigned long long)st.records_total, (unsigned long long)st.documents,
                (unsigned long long)st.written);
    } else {
        double left = (double)(total_input_bytes > progress_bytes ? total_input_bytes - progress_bytes : 0) / 1e6;
        fprintf(stderr, "webclean: %.1f / %.1f MB (%.0f%%), %.1f MB/s, ETA %.0fs, %llu written\n", mb,
                (double)total_input_bytes / 1e6, total_input_bytes ? 100.0 * mb * 1e6 / (double)total_input_bytes : 0,
                rate, rate > 0 ? left / rate : 0, (unsigned long long)st.written);
    }
}

// Two batches: workers process one while the main thread reads the next into the other.
static Batch batches[2];
static int filling;          // index of the batch being filled
static Batch *in_flight;     // the batch the workers have (NULL: none)
static pthread_t worker_tid[256];
static WorkerArg worker_arg[256];
static int n_running;

static void batch_start(Batch *b) {
    atomic_store(&b->next, 0);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    // the HTML walk and Gumbo's parser keep their stacks on the heap; this is headroom only
    pthread_attr_setstacksize(&attr, 64u << 20);
    n_running = n_threads < (int)b->n ? n_threads : (int)b->n;
    for (int t = 0; t < n_running; t++) {
        worker_arg[t].batch = b;
        worker_arg[t].scratch = &scratch[t];
        if (pthread_create(&worker_tid[t], &attr, worker, &worker_arg[t]) != 0) {
            die("cannot start worker thread %d", t);
        }
    }
    pthread_attr_destroy(&attr);
    in_flight = b;
}

// Waits for the workers, then counts, deduplicates and writes the batch in input order.
static void batch_finish(void) {
    Batch *b = in_flight;
    for (int t = 0; t < n_running; t++) {
        pthread_join(worker_tid[t], NULL);
    }
    in_flight = NULL;
    // in input order: stage counts, duplicates, output
    for (size_t i = 0; i < b->n; i++) {
        Doc *d = &b->docs[i];
        st.documents++;
        st.html_fast += (uint64_t)d->fast;
        int stage = d->stage;
        if (stage == N_STAGES) {
            // duplicates are decided here, in order, so the first copy wins in every run
            if (!opt.skip_stage[ST_EXACT] && dedup_exact_seen(&dedup, &d->keys)) {
                stage = ST_EXACT;
                d->reason = "exact_duplicate";
            } else if (!opt.skip_stage[ST_NEAR] && dedup_near_seen(&dedup, &d->keys)) {
                stage = ST_NEAR;
                d->reason = "near_duplicate";
            }
        }
        for (int s = 0; s < N_STAGES && s <= stage; s++) {
            if (opt.skip_stage[s]) {
                continue;
            }
            st.in[s]++;
            if (s < stage) {
                st.kept[s]++;
            } else {
                reasons_add(&st.dropped[s], d->reason, 1);
                reject(b->arena.data + d->url, STAGE_NAMES[s], d->reason);
            }
        }
        if (stage == N_STAGES) {
            writer_put(&writer, d->line.data, d->line.len);
            st.written++;
            st.written_bytes += d->line.len;
            st.emails += d->emails;
            st.ips += d->ips;
            reasons_add_copy(&st.languages, d->lang[0] ? d->lang : "none", 1);
        }
        free(d->line.data);
    }
    b->n = 0;
    buf_clear(&b->arena);
    buf_trim(&b->arena, (size_t)opt.batch_mb << 21);
}

// Hands the full batch to the workers (after the previous one is written) and fills the other.
static void batch_flush(void) {
    if (in_flight) {
        batch_finish();
    }
    Batch *b = &batches[filling];
    if (b->n) {
        batch_start(b);
        filling ^= 1;
    }
}

static void add_html_doc(const char *url, const char *date, const char *id, const char *body, size_t n,
                         const HttpResponse *h) {
    Batch *b = &batches[filling];
    Doc *d = batch_add(b);
    d->url = arena_str(b, url);
    d->date = arena_str(b, date);
    d->id = arena_str(b, id);
    d->body = b->arena.len;
    d->body_len = n;
    buf_put(&b->arena, body, n);
    buf_putc(&b->arena, '\0'); // the page is parsed in place: NUL-terminated, as a Buf would be
    if (h) {
        snprintf(d->charset, sizeof(d->charset), "%s", h->charset);
        snprintf(d->encoding, sizeof(d->encoding), "%s", h->encoding);
        d->chunked = h->chunked;
    }
    st.html_bytes += n;
    if (b->arena.len >= ((size_t)opt.batch_mb << 20) || b->n >= BATCH_DOCS) {
        batch_flush();
    }
}

static int is_html_type(const char *t) {
    return t[0] == '\0' || strcmp(t, "text/html") == 0 || strcmp(t, "application/xhtml+xml") == 0;
}

static void read_warc(const Input *in) {
    FILE *fp = fopen(in->path, "rb");
    if (fp == NULL) {
        die("%s: cannot open: %s", in->path, strerror(errno));
    }
    WarcReader r;
    warc_open_file(&r, fp, (size_t)opt.max_record_mb << 20);
    WarcRecord rec;
    while (warc_next(&r, &rec)) {
        st.records_total++;
        progress_bytes = done_input_bytes + warc_offset(&r);
        progress(0);
        if (rec.damaged) {
            skip_record(rec.uri, "damaged");
            continue;
        }
        if (strcmp(rec.type, "response") != 0) {
            skip_record(rec.uri, "not_response");
            continue;
        }
        if (rec.too_big) {
            skip_record(rec.uri, "too_big");
            continue;
        }
        HttpResponse h;
        if (!http_parse_response(rec.body, rec.body_len, &h)) {
            skip_record(rec.uri, "bad_http");
            continue;
        }
        if (h.status != 200) {
            skip_record(rec.uri, "http_status");
            continue;
        }
        if (!is_html_type(h.content_type)) {
            skip_record(rec.uri, "not_html");
            continue;
        }
        add_html_doc(rec.uri, rec.date, rec.id, h.body, h.body_len, &h);
    }
    st.bad_gzip += r.bad_gzip;
    st.bad_header += r.bad_header;
    st.truncated += r.truncated;
    if (r.bad_header) {
        reasons_add(&st.records, "bad_header", r.bad_header);
    }
    if (ferror(fp)) {
        die("%s: read error", in->path);
    }
    warc_close(&r);
    fclose(fp);
}

static void read_html_file(const Input *in) {
    st.records_total++;
    if (in->size > (uint64_t)opt.max_record_mb << 20) {
        skip_record(in->path, "too_big");
        return;
    }
    FILE *fp = fopen(in->path, "rb");
    if (fp == NULL) {
        die("%s: cannot open: %s", in->path, strerror(errno));
    }
    Buf body = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        buf_put(&body, chunk, got);
    }
    if (ferror(fp)) {
        die("%s: read error", in->path);
    }
    fclose(fp);
    char url[4200];
    char *real = realpath(in->path, NULL);
    snprintf(url, sizeof(url), "file://%s", real ? real : in->path);
    free(real);
    add_html_doc(url, "", "", body.data ? body.data : "", body.len, NULL);
    free(body.data);
}

static void write_reasons(Buf *o, const Reasons *r) {
    buf_putc(o, '{');
    for (int i = 0; i < r->n; i++) {
        if (i) buf_putc(o, ',');
        json_key(o, r->name[i]);
        json_num(o, (double)r->count[i]);
    }
    buf_putc(o, '}');
}

static void write_stats(const char *path, double seconds, double cpu_seconds, long peak_kb) {
    Buf o = {0};
    buf_puts(&o, "{\n  \"inputs\":");
    json_num(&o, (double)st.n_inputs);
    buf_puts(&o, ",\n  \"seconds\":");
    json_num(&o, seconds);
    buf_puts(&o, ", \"cpu_seconds\":");
    json_num(&o, cpu_seconds);
    buf_puts(&o, ", \"threads\":");
    json_num(&o, n_threads);
    buf_puts(&o, ", \"peak_rss_mb\":");
    json_num(&o, (double)peak_kb / 1024.0);
    buf_puts(&o, ",\n  \"input_bytes\":");
    json_num(&o, (double)total_input_bytes);
    buf_puts(&o, ", \"html_bytes\":");
    json_num(&o, (double)st.html_bytes);
    buf_puts(&o, ", \"html_fast_pages\":");
    json_num(&o, (double)st.html_fast);
    buf_puts(&o, ",\n  \"records\":{\"total\":");
    json_num(&o, (double)st.records_total);
    buf_puts(&o, ",\"skipped\":");
    write_reasons(&o, &st.records);
    buf_puts(&o, ",\"bad_gzip\":");
    json_num(&o, (double)st.bad_gzip);
    buf_puts(&o, ",\"truncated\":");
    json_num(&o, (double)st.truncated);
    buf_puts(&o, "},\n  \"documents\":");
    json_num(&o, (double)st.documents);
    buf_puts(&o, ",\n  \"stages\":{");
    int first = 1;
    for (int s = 0; s < N_STAGES; s++) {
        if (!first) buf_putc(&o, ',');
        first = 0;
        buf_puts(&o, "\n    ");
        json_key(&o, STAGE_NAMES[s]);
        if (opt.skip_stage[s]) {
            buf_puts(&o, "\"skipped\"");
            continue;
        }
        buf_puts(&o, "{\"in\":");
        if (s == ST_PII) {
            json_num(&o, (double)st.written);
            buf_puts(&o, ",\"emails\":");
            json_num(&o, (double)st.emails);
            buf_puts(&o, ",\"ips\":");
            json_num(&o, (double)st.ips);
            buf_putc(&o, '}');
            continue;
        }
        json_num(&o, (double)st.in[s]);
        buf_puts(&o, ",\"kept\":");
        json_num(&o, (double)st.kept[s]);
        buf_puts(&o, ",\"dropped\":");
        json_num(&o, (double)reasons_total(&st.dropped[s]));
        buf_puts(&o, ",\"why\":");
        write_reasons(&o, &st.dropped[s]);
        buf_putc(&o, '}');
    }
    buf_puts(&o, "\n  },\n  \"written\":");
    json_num(&o, (double)st.written);
    buf_puts(&o, ", \"written_bytes\":");
    json_num(&o, (double)st.written_bytes);
    buf_puts(&o, ",\n  \"languages\":");
    write_reasons(&o, &st.languages);
    buf_puts(&o, ",\n  \"dedup_index_bytes\":");
    json_num(&o, (double)dedup_index_bytes(&dedup));
    buf_puts(&o, "\n}\n");
    char tmp[4096];
    tmp_path_for(tmp, sizeof(tmp), path);
    FILE *fp = fopen(tmp, "wb");
    if (fp == NULL) {
        die("%s: cannot write stats: %s", tmp, strerror(errno));
    }
    fwrite_check(o.data, 1, o.len, fp, tmp);
    commit_file(fp, tmp, path);
    free(o.data);
}

int main(int argc, char **argv) {
    const char **paths = (const char **)malloc_check(sizeof(char *) * (size_t)(argc + 1));
    int n_paths = parse_args(argc, argv, paths);
    // every check that can fail happens before the first output byte
    struct stat ost;
    if (!opt.force && stat(opt.out, &ost) == 0) {
        die("%s exists; give --force to overwrite it", opt.out);
    }
    if (!opt.force && opt.stats && stat(opt.stats, &ost) == 0) {
        die("%s exists; give --force to overwrite it", opt.stats);
    }
    if (!opt.force && opt.rejects && stat(opt.rejects, &ost) == 0) {
        die("%s exists; give --force to overwrite it", opt.rejects);
    }
    for (int i = 0; i < opt.n_blocklists; i++) {
        urlfilter_load_blocklist(&url_filter, opt.blocklists[i]);
    }
    for (int i = 0; i < opt.n_banned; i++) {
        urlfilter_load_banned(&url_filter, opt.banned[i]);
    }
    Inputs inputs = {0};
    for (int i = 0; i < n_paths; i++) {
        if (strcmp(paths[i], "-") == 0) {
            die("reading stdin is not supported: give a file");
        }
        add_path(&inputs, paths[i], 0);
        if (strcmp(paths[i], opt.out) == 0) {
            die("%s is both an input and the output", paths[i]);
        }
    }
    for (size_t i = 0; i < inputs.n; i++) {
        total_input_bytes += inputs.v[i].size;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    n_threads = opt.threads > 0 ? (int)opt.threads : (int)(ncpu > 0 ? (ncpu > 256 ? 256 : ncpu) : 1);
    scratch = (Scratch *)calloc_check((size_t)n_threads, sizeof(Scratch));
    minhash_init(&minhasher, 1);
    writer_open(&writer, opt.out);
    if (opt.rejects) {
        writer_open(&rejects, opt.rejects);
    }
    t_start = now_s();
    last_progress = t_start;

    for (size_t i = 0; i < inputs.n; i++) {
        if (inputs.v[i].kind == IN_WARC) {
            read_warc(&inputs.v[i]);
        } else {
            read_html_file(&inputs.v[i]);
        }
        done_input_bytes += inputs.v[i].size;
        progress_bytes = done_input_bytes;
        progress(0);
    }
    batch_flush();
    if (in_flight) {
        batch_finish();
    }
    writer_close(&writer);
    if (opt.rejects) {
        writer_close(&rejects);
    }
    free(reject_line.data);
    st.n_inputs = inputs.n;

    double seconds = now_s() - t_start;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
                 1e-6 * (double)ru.ru_stime.tv_usec;
    if (opt.stats) {
        write_stats(opt.stats, seconds, cpu, ru.ru_maxrss);
    }
    progress(1);
    for (int t = 0; t < n_threads; t++) {
        charset_free(&scratch[t].cs);
        free(scratch[t].raw.data);
        free(scratch[t].utf8.data);
        free(scratch[t].text.data);
        free(scratch[t].pii.data);
        free(scratch[t].norm.data);
        free(scratch[t].url.data);
        quality_scratch_free(&scratch[t].q);
        words_free(&scratch[t].w);
        html_arena_free(&scratch[t].arena);
    }
    free(scratch);
    for (int i = 0; i < 2; i++) {
        free(batches[i].docs);
        free(batches[i].arena.data);
    }
    dedup_free(&dedup);
    urlfilter_free(&url_filter);
    for (size_t i = 0; i < inputs.n; i++) {
        free(inputs.v[i].path);
    }
    free(inputs.v);
    free(paths);
    return 0;
}
