/*
 * tokenize: GPT-2 tokenizer command line (llmc/tokenizer.h).
 *
 *   tokenize encode [FILE]      token ids of FILE (or stdin), space-separated, one line
 *   tokenize decode [FILE]      whitespace-separated ids (or a shard with --shard) back to bytes
 *   tokenize show [FILE]        the text cut into tokens, each with its id
 *   tokenize shards FILE...     llm.c token shards from text or JSON-lines files
 *   tokenize info FILE...       check a tokenizer, shard or eval file and describe it
 *   tokenize chat FILE...       JSON-lines conversations to masked shards (llmc/chat.h)
 *
 * Options come from one table (OPTIONS below) that also prints --help. Every user error is one
 * line on stderr and exit status 1.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "llmc/chat.h"
#include "llmc/shard.h"
#include "llmc/tokenizer.h"
#include "llmc/utils.h"

#define EVAL_MAGIC 20240522

// ----------------------------------------------------------------------------
// options

typedef struct {
    const char *tokenizer;
    int special;
    int js_whitespace;
    int jsonl;
    const char *field;
    int shard;
    const char *color;
    const char *out;
    const char *format;
    const char *doc;
    long long val_tokens;
    long long val_docs;
    long long shard_tokens;
    int single;
    long long threads;
    int quiet;
    long long vocab_size;
    long long max_tokens;
    int help;
} Options;

typedef enum { OPT_FLAG, OPT_STR, OPT_INT } OptKind;

typedef struct {
    const char *name;
    const char *metavar;  // NULL for flags
    const char *commands; // commands that take it, space-separated, or "*"
    OptKind kind;
    size_t offset; // of the field in Options
    const char *def;
    const char *help;
} OptSpec;

#define OPT(field) offsetof(Options, field)
static const OptSpec OPTIONS[] = {
    {"--tokenizer", "PATH", "encode decode show shards info chat", OPT_STR, OPT(tokenizer),
     "gpt2_tokenizer.bin", "tokenizer file (with merges it encodes; llm.c's plain file only decodes)"},
    {"--special", NULL, "encode show shards", OPT_FLAG, OPT(special), NULL,
     "encode \"<|endoftext|>\" and the chat markers (\"<|user_start|>\", ...) in the text as their "
     "special tokens (else they are plain text)"},
    {"--js-whitespace", NULL, "encode show shards", OPT_FLAG, OPT(js_whitespace), NULL,
     "use JavaScript's \\s (js-tiktoken: U+FEFF is space, U+0085 is not) instead of tiktoken's"},
    {"--jsonl", NULL, "encode", OPT_FLAG, OPT(jsonl), NULL,
     "input lines are JSON strings (or objects, see --field); print one line of ids per line"},
    {"--field", "NAME", "encode shards", OPT_STR, OPT(field), "text",
     "JSON field holding the text, for JSON-lines objects"},
    {"--shard", NULL, "decode", OPT_FLAG, OPT(shard), NULL, "FILE is a token shard (.bin)"},
    {"--color", "WHEN", "show", OPT_STR, OPT(color), "auto",
     "auto (ANSI colors on a terminal), always or never (plain [text]id brackets)"},
    {"--out", "PREFIX", "shards chat", OPT_STR, OPT(out), NULL,
     "output prefix: PREFIX_val_000000.bin, PREFIX_train_000001.bin, ... (required)"},
    {"--format", "FMT", "shards", OPT_STR, OPT(format), "text", "input format: text or jsonl"},
    {"--doc", "UNIT", "shards", OPT_STR, OPT(doc), "file",
     "text documents: file, line (non-empty lines) or para (split on \"\\n\\n\", which stays at "
     "the end of each piece but a file's last: llm.c's TinyShakespeare recipe)"},
    {"--val-tokens", "N", "shards", OPT_INT, OPT(val_tokens), "0",
     "the first N tokens of the stream form the val split"},
    {"--val-docs", "N", "shards chat", OPT_INT, OPT(val_docs), "0",
     "the first N documents form the val split"},
    {"--shard-tokens", "N", "shards", OPT_INT, OPT(shard_tokens), "100000000",
     "tokens per shard file"},
    {"--single", NULL, "shards", OPT_FLAG, OPT(single), NULL,
     "one file per split, PREFIX_val.bin and PREFIX_train.bin, of any size"},
    {"--threads", "N", "shards", OPT_INT, OPT(threads), "all cores", "encoding threads"},
    {"--quiet", NULL, "shards chat", OPT_FLAG, OPT(quiet), NULL, "no progress or summary"},
    {"--vocab-size", "N", "info", OPT_INT, OPT(vocab_size), "50257",
     "token ids must be below N in shards and eval files"},
    {"--max-tokens", "N", "chat", OPT_INT, OPT(max_tokens), "1024",
     "a conversation longer than N tokens keeps its first N (use the model's T+1)"},
    {"--help", NULL, "*", OPT_FLAG, OPT(help), NULL, "this help"},
};
#define N_OPTIONS (sizeof(OPTIONS) / sizeof(OPTIONS[0]))

static const char *COMMANDS[][2] = {
    {"encode [FILE]", "print the token ids of FILE (stdin if none), space-separated"},
    {"decode [FILE]", "read whitespace-separated ids (or a shard, --shard) and write the bytes"},
    {"show [FILE]", "print the text cut into tokens, each with its id"},
    {"shards FILE...", "write llm.c token shards (each document preceded by end-of-text); '-' is stdin"},
    {"info FILE...", "check a tokenizer, token shard or eval file and describe it"},
    {"chat FILE...", "JSON-lines conversations {\"messages\": [{\"role\", \"content\"}]} to "
                     "shards with a loss mask (PREFIX_val.bin, PREFIX_train.bin)"},
};

static int command_takes(const OptSpec *o, const char *cmd) {
    if (strcmp(o->commands, "*") == 0) {
        return 1;
    }
    size_t n = strlen(cmd);
    for (const char *p = o->commands; (p = strstr(p, cmd)) != NULL; p += n) {
        if ((p == o->commands || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) {
            return 1;
        }
    }
    return 0;
}

static void print_help(FILE *f) {
    fprintf(f, "usage: tokenize COMMAND [options] [FILE...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(COMMANDS) / sizeof(COMMANDS[0]); i++) {
        fprintf(f, "  %-16s %s\n", COMMANDS[i][0], COMMANDS[i][1]);
    }
    fprintf(f, "\noptions:\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const OptSpec *o = &OPTIONS[i];
        char left[64];
        snprintf(left, sizeof(left), "%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        fprintf(f, "  %-20s %s", left, o->help);
        if (o->def) {
            fprintf(f, " (default: %s)", o->def);
        }
        if (strcmp(o->commands, "*") != 0) {
            fprintf(f, " [%s]", o->commands);
        }
        fputc('\n', f);
    }
}

static void set_defaults(Options *opt) {
    memset(opt, 0, sizeof(*opt));
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const OptSpec *o = &OPTIONS[i];
        if (o->def == NULL) {
            continue;
        }
        char *field = (char *)opt + o->offset;
        if (o->kind == OPT_STR) {
            *(const char **)field = o->def;
        } else if (o->kind == OPT_INT && strcmp(o->def, "all cores") != 0) {
            *(long long *)field = parse_int_or_die(o->def, 0, INT64_MAX, o->name);
        }
    }
}

// Parses argv[2..]; returns the positional arguments in files (argv order).
static void parse_args(int argc, char **argv, const char *cmd, Options *opt, const char ***files,
                       int *n_files) {
    *files = (const char **)malloc_check(sizeof(char *) * (size_t)argc);
    *n_files = 0;
    int only_files = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (only_files || a[0] != '-' || strcmp(a, "-") == 0) {
            (*files)[(*n_files)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_files = 1;
            continue;
        }
        if (strcmp(a, "-h") == 0) {
            a = "--help";
        }
        const char *eq = strchr(a, '=');
        size_t name_len = eq ? (size_t)(eq - a) : strlen(a);
        const OptSpec *o = NULL;
        for (size_t k = 0; k < N_OPTIONS; k++) {
            if (strlen(OPTIONS[k].name) == name_len && strncmp(OPTIONS[k].name, a, name_len) == 0) {
                o = &OPTIONS[k];
            }
        }
        if (o == NULL) {
            die("unknown option '%.*s' (see tokenize --help)", (int)name_len, a);
        }
        if (!command_takes(o, cmd)) {
            die("option %s does not apply to '%s' (it is for: %s)", o->name, cmd, o->commands);
        }
        char *field = (char *)opt + o->offset;
        if (o->kind == OPT_FLAG) {
            if (eq) {
                die("option %s takes no value", o->name);
            }
            *(int *)field = 1;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (val == NULL) {
            die("option %s needs a value (%s)", o->name, o->metavar);
        }
        if (o->kind == OPT_STR) {
            *(const char **)field = val;
        } else {
            *(long long *)field = parse_int_or_die(val, 0, INT64_MAX, o->name);
        }
    }
}

// ----------------------------------------------------------------------------
// small helpers

typedef struct {
    char *data;
    size_t len, cap;
} Bytes;

static void bytes_reserve(Bytes *b, size_t extra) {
    if (b->len + extra <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) {
        cap *= 2;
    }
    char *d = (char *)realloc(b->data, cap);
    if (d == NULL) {
        die("out of memory growing a buffer to %zu bytes", cap);
    }
    b->data = d;
    b->cap = cap;
}

static void bytes_append(Bytes *b, const void *p, size_t n) {
    if (n == 0) { // an empty piece (e.g. the JSON string ""): b->data may still be NULL
        return;
    }
    bytes_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static inline void bytes_push(Bytes *b, char c) {
    if (b->len == b->cap) {
        bytes_reserve(b, 1);
    }
    b->data[b->len++] = c;
}

static const char *display_name(const char *path) {
    return (path == NULL || strcmp(path, "-") == 0) ? "stdin" : path;
}

// Reads a whole file (or stdin for NULL / "-") into b.
static void read_all(const char *path, Bytes *b) {
    int is_stdin = path == NULL || strcmp(path, "-") == 0;
    FILE *fp = is_stdin ? stdin : fopen_check(path, "rb");
    for (;;) {
        bytes_reserve(b, 1 << 16);
        size_t got = fread(b->data + b->len, 1, b->cap - b->len, fp);
        b->len += got;
        if (got == 0) {
            if (ferror(fp)) {
                die("%s: read failed: %s", display_name(path), strerror(errno));
            }
            break;
        }
    }
    if (!is_stdin) {
        fclose_check(fp, path);
    }
}

static void load_tokenizer(Tokenizer *t, const Options *opt, int need_encode) {
    struct stat st;
    if (stat(opt->tokenizer, &st) != 0) {
        die("%s: tokenizer file not found (build it with `make gpt2_tokenizer.bin`, or pass "
            "--tokenizer PATH)", opt->tokenizer);
    }
    tokenizer_init(t, opt->tokenizer);
    tokenizer_set_js_whitespace(t, opt->js_whitespace);
    if (need_encode && !t->can_encode) {
        die("%s: version %d tokenizer has no merges and cannot encode; build a version 3 file "
            "with `make gpt2_tokenizer.bin`", opt->tokenizer, t->version);
    }
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// ----------------------------------------------------------------------------
// JSON: pull one string field out of a JSON-lines record

typedef struct {
    const char *s;
    size_t i, n;
    const char *err;
} Json;

static void json_ws(Json *j) {
    while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' ||
                           j->s[j->i] == '\r')) {
        j->i++;
    }
}

static int json_hex4(Json *j, uint32_t *v) {
    if (j->i + 4 > j->n) {
        return 0;
    }
    *v = 0;
    for (int k = 0; k < 4; k++) {
        char c = j->s[j->i++];
        int d = c >= '0' && c <= '9' ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) {
            return 0;
        }
        *v = *v * 16 + (uint32_t)d;
    }
    return 1;
}

static void utf8_put(Bytes *out, uint32_t cp) {
    if (cp < 0x80) {
        bytes_push(out, (char)cp);
    } else if (cp < 0x800) {
        bytes_push(out, (char)(0xC0 | (cp >> 6)));
        bytes_push(out, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        bytes_push(out, (char)(0xE0 | (cp >> 12)));
        bytes_push(out, (char)(0x80 | ((cp >> 6) & 0x3F)));
        bytes_push(out, (char)(0x80 | (cp & 0x3F)));
    } else {
        bytes_push(out, (char)(0xF0 | (cp >> 18)));
        bytes_push(out, (char)(0x80 | ((cp >> 12) & 0x3F)));
        bytes_push(out, (char)(0x80 | ((cp >> 6) & 0x3F)));
        bytes_push(out, (char)(0x80 | (cp & 0x3F)));
    }
}

// Parses a JSON string at j->i (the opening quote). Appends its UTF-8 to out when out != NULL.
// \uXXXX escapes decode with surrogate pairs; an unpaired surrogate becomes U+FFFD. Raw bytes
// (even invalid UTF-8) pass through unchanged.
static int json_string(Json *j, Bytes *out) {
    if (j->i >= j->n || j->s[j->i] != '"') {
        j->err = "expected a string";
        return 0;
    }
    j->i++;
    for (;;) {
        size_t start = j->i;
        while (j->i < j->n && j->s[j->i] != '"' && j->s[j->i] != '\\' &&
               (unsigned char)j->s[j->i] >= 0x20) {
            j->i++;
        }
        if (out) {
            bytes_append(out, j->s + start, j->i - start);
        }
        if (j->i >= j->n) {
            j->err = "unterminated string";
            return 0;
        }
        char c = j->s[j->i++];
        if (c == '"') {
            return 1;
        }
        if (c != '\\') {
            j->err = "control character inside a string";
            return 0;
        }
        if (j->i >= j->n) {
            j->err = "unterminated string";
            return 0;
        }
        char e = j->s[j->i++];
        char lit = 0;
        switch (e) {
        case '"': lit = '"'; break;
        case '\\': lit = '\\'; break;
        case '/': lit = '/'; break;
        case 'b': lit = '\b'; break;
        case 'f': lit = '\f'; break;
        case 'n': lit = '\n'; break;
        case 'r': lit = '\r'; break;
        case 't': lit = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (!json_hex4(j, &cp)) {
                j->err = "bad \\u escape";
                return 0;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                size_t save = j->i;
                if (j->i + 1 < j->n && j->s[j->i] == '\\' && j->s[j->i + 1] == 'u') {
                    j->i += 2;
                    if (json_hex4(j, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    } else {
                        j->i = save; // not a pair: the next escape is read on its own
                        cp = 0xFFFD;
                    }
                } else {
                    cp = 0xFFFD;
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
            if (out) {
                utf8_put(out, cp);
            }
            continue;
        }
        default:
            j->err = "bad escape in a string";
            return 0;
        }
        if (out) {
            bytes_push(out, lit);
        }
    }
}

static int json_skip_value(Json *j, int depth) {
    if (depth > 1000) {
        j->err = "nesting deeper than 1000";
        return 0;
    }
    json_ws(j);
    if (j->i >= j->n) {
        j->err = "expected a value";
        return 0;
    }
    char c = j->s[j->i];
    if (c == '"') {
        return json_string(j, NULL);
    }
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->i++;
        json_ws(j);
        if (j->i < j->n && j->s[j->i] == close) {
            j->i++;
            return 1;
        }
        for (;;) {
            if (c == '{') {
                json_ws(j);
                if (!json_string(j, NULL)) {
                    return 0;
                }
                json_ws(j);
                if (j->i >= j->n || j->s[j->i] != ':') {
                    j->err = "expected ':'";
                    return 0;
                }
                j->i++;
            }
            if (!json_skip_value(j, depth + 1)) {
                return 0;
            }
            json_ws(j);
            if (j->i < j->n && j->s[j->i] == ',') {
                j->i++;
                continue;
            }
            if (j->i < j->n && j->s[j->i] == close) {
                j->i++;
                return 1;
            }
            j->err = c == '{' ? "expected ',' or '}'" : "expected ',' or ']'";
            return 0;
        }
    }
    const char *lits[3] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++) {
        size_t len = strlen(lits[k]);
        if (j->n - j->i >= len && memcmp(j->s + j->i, lits[k], len) == 0) {
            j->i += len;
            return 1;
        }
    }
    // number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
#define JSON_DIGITS_(min)                                                                          \
    do {                                                                                           \
        size_t d0_ = j->i;                                                                         \
        while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9') {                            \
            j->i++;                                                                                \
        }                                                                                          \
        if (j->i - d0_ < (min)) {                                                                  \
            j->err = "bad value";                                                                  \
            return 0;                                                                              \
        }                                                                                          \
    } while (0)
    if (j->s[j->i] == '-') {
        j->i++;
    }
    if (j->i < j->n && j->s[j->i] == '0') {
        j->i++;
    } else {
        JSON_DIGITS_(1);
    }
    if (j->i < j->n && j->s[j->i] == '.') {
        j->i++;
        JSON_DIGITS_(1);
    }
    if (j->i < j->n && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
        j->i++;
        if (j->i < j->n && (j->s[j->i] == '+' || j->s[j->i] == '-')) {
            j->i++;
        }
        JSON_DIGITS_(1);
    }
#undef JSON_DIGITS_
    return 1;
}

// One JSON-lines record: a JSON string (field == NULL) or an object whose `field` is a string.
// Appends the text to out. Returns NULL on success or a message.
static const char *json_extract(const char *line, size_t n, const char *field, Bytes *out) {
    Json j = {line, 0, n, NULL};
    json_ws(&j);
    size_t out_start = out->len;
    if (field == NULL) {
        if (!json_string(&j, out)) {
            return j.err;
        }
    } else {
        if (j.i >= j.n || j.s[j.i] != '{') {
            return "expected a JSON object";
        }
        j.i++;
        int found = 0;
        json_ws(&j);
        if (j.i < j.n && j.s[j.i] == '}') {
            j.i++;
        } else {
            Bytes key = {0};
            size_t flen = strlen(field);
            for (;;) {
                json_ws(&j);
                key.len = 0;
                if (!json_string(&j, &key)) {
                    free(key.data);
                    return j.err;
                }
                json_ws(&j);
                if (j.i >= j.n || j.s[j.i] != ':') {
                    free(key.data);
                    return "expected ':'";
                }
                j.i++;
                json_ws(&j);
                if (key.len == flen && memcmp(key.data, field, flen) == 0) {
                    if (j.i >= j.n || j.s[j.i] != '"') {
                        free(key.data);
                        return "the field is not a string";
                    }
                    out->len = out_start; // a repeated key: the last one wins, as in Python
                    if (!json_string(&j, out)) {
                        free(key.data);
                        return j.err;
                    }
                    found = 1;
                } else if (!json_skip_value(&j, 1)) {
                    free(key.data);
                    return j.err;
                }
                json_ws(&j);
                if (j.i < j.n && j.s[j.i] == ',') {
                    j.i++;
                    continue;
                }
                if (j.i < j.n && j.s[j.i] == '}') {
                    j.i++;
                    break;
                }
                free(key.data);
                return "expected ',' or '}'";
            }
            free(key.data);
        }
        if (!found) {
            return "the field is missing";
        }
    }
    json_ws(&j);
    if (j.i != j.n) {
        return "unexpected text after the JSON value";
    }
    return NULL;
}

// Reads one line (without its '\n') into line; returns 0 at end of file. Lines may hold NULs.
static int read_line(FILE *fp, Bytes *line, const char *name) {
    char *buf = line->data;
    size_t cap = line->cap;
    errno = 0;
    ssize_t got = getline(&buf, &cap, fp);
    line->data = buf;
    line->cap = cap;
    if (got < 0) {
        if (ferror(fp)) {
            die("%s: read failed: %s", name, strerror(errno));
        }
        line->len = 0;
        return 0;
    }
    line->len = (size_t)got;
    if (line->len && line->data[line->len - 1] == '\n') {
        line->len--;
    }
    return 1;
}

// ----------------------------------------------------------------------------
// encode / decode / show

static void write_ids(const TokenBuf *b, Bytes *o) {
    char num[16];
    for (size_t i = 0; i < b->len; i++) {
        int k = snprintf(num, sizeof(num), i ? " %u" : "%u", b->ids[i]);
        bytes_append(o, num, (size_t)k);
    }
    bytes_push(o, '\n');
}

static void flush_bytes(Bytes *o) {
    fwrite_check(o->data, 1, o->len, stdout, "stdout");
    o->len = 0;
}

static int cmd_encode(const Options *opt, const char **files, int n_files) {
    if (n_files > 1) {
        die("encode takes at most one FILE");
    }
    const char *path = n_files ? files[0] : NULL;
    Tokenizer t;
    load_tokenizer(&t, opt, 1);
    int flags = opt->special ? TOKENIZER_ALLOW_SPECIAL : 0;
    TokenBuf tb;
    tokenbuf_init(&tb);
    Bytes o = {0};
    if (!opt->jsonl) {
        Bytes in = {0};
        read_all(path, &in);
        tokenizer_encode(&t, in.data, in.len, flags, &tb);
        write_ids(&tb, &o);
        flush_bytes(&o);
        free(in.data);
    } else {
        int is_stdin = path == NULL || strcmp(path, "-") == 0;
        FILE *fp = is_stdin ? stdin : fopen_check(path, "rb");
        Bytes line = {0}, text = {0};
        size_t lineno = 0;
        while (read_line(fp, &line, display_name(path))) {
            lineno++;
            text.len = 0;
            size_t k = 0;
            while (k < line.len && (line.data[k] == ' ' || line.data[k] == '\t' || line.data[k] == '\r')) {
                k++;
            }
            if (k == line.len) { // a blank line: an empty line of ids, so lines stay aligned
                bytes_push(&o, '\n');
                continue;
            }
            const char *err = json_extract(line.data, line.len, NULL, &text);
            if (err != NULL) { // not a string: try an object with --field
                text.len = 0;
                const char *err2 = json_extract(line.data, line.len, opt->field, &text);
                if (err2 != NULL) {
                    die("%s:%zu: bad JSON line: %s", display_name(path), lineno,
                        line.len && line.data[0] == '{' ? err2 : err);
                }
            }
            tb.len = 0;
            tokenizer_encode(&t, text.data, text.len, flags, &tb);
            write_ids(&tb, &o);
            if (o.len > (1 << 20)) {
                flush_bytes(&o);
            }
        }
        flush_bytes(&o);
        if (!is_stdin) {
            fclose_check(fp, path);
        }
        free(line.data);
        free(text.data);
    }
    free(o.data);
    tokenbuf_free(&tb);
    tokenizer_free(&t);
    return 0;
}

// Reads a shard file fully after validating it (llmc/shard.h); returns its tokens and, for a
// masked shard, its mask in *mask (else NULL) when mask is not NULL.
static uint16_t *read_shard(const char *path, uint32_t *n_tokens, uint8_t **mask, int *version) {
    ShardInfo info;
    uint16_t *tok = shard_read_all(path, &info, mask);
    *n_tokens = (uint32_t)info.num_tokens;
    if (version != NULL) {
        *version = info.version;
    }
    return tok;
}

static void decode_one(const Tokenizer *t, uint32_t id, Bytes *o, const char *name) {
    size_t len;
    const unsigned char *p = tokenizer_decode(t, id, &len);
    if (p == NULL) {
        die("%s: token id %u is outside the vocabulary (0..%u)", name, id, t->vocab_size + t->n_special - 1);
    }
    bytes_append(o, p, len);
}

static int cmd_decode(const Options *opt, const char **files, int n_files) {
    if (n_files > 1) {
        die("decode takes at most one FILE");
    }
    const char *path = n_files ? files[0] : NULL;
    Tokenizer t;
    load_tokenizer(&t, opt, 0);
    Bytes o = {0};
    if (opt->shard) {
        if (path == NULL) {
            die("decode --shard needs a FILE");
        }
        uint32_t n;
        uint16_t *tok = read_shard(path, &n, NULL, NULL);
        for (uint32_t i = 0; i < n; i++) {
            decode_one(&t, tok[i], &o, path);
            if (o.len > (1 << 20)) {
                flush_bytes(&o);
            }
        }
        free(tok);
    } else {
        Bytes in = {0};
        read_all(path, &in);
        bytes_push(&in, '\0');
        const char *s = in.data;
        const char *name = display_name(path);
        size_t i = 0, n = in.len - 1;
        while (i < n) {
            while (i < n && strchr(" \t\r\n\v\f", s[i]) != NULL) {
                i++;
            }
            if (i >= n) {
                break;
            }
            size_t start = i;
            uint64_t v = 0;
            while (i < n && s[i] >= '0' && s[i] <= '9' && v <= UINT32_MAX) {
                v = v * 10 + (uint64_t)(s[i] - '0');
                i++;
            }
            if (i == start || (i < n && strchr(" \t\r\n\v\f", s[i]) == NULL)) {
                size_t end = start;
                while (end < n && strchr(" \t\r\n\v\f", s[end]) == NULL && end - start < 20) {
                    end++;
                }
                die("%s: expected a token id, got '%.*s'", name, (int)(end - start), s + start);
            }
            if (v >= t.vocab_size + t.n_special) {
                die("%s: token id %.*s is outside the vocabulary (0..%u)", name,
                    (int)(i - start), s + start, t.vocab_size + t.n_special - 1);
            }
            decode_one(&t, (uint32_t)v, &o, name);
            if (o.len > (1 << 20)) {
                flush_bytes(&o);
            }
        }
        free(in.data);
    }
    flush_bytes(&o);
    free(o.data);
    tokenizer_free(&t);
    return 0;
}

// Appends token bytes for display: control characters, '\\', ']' and bytes that are not
// valid UTF-8 on their own are escaped, so a token that holds part of a character stays visible.
static void show_escape(Bytes *o, const unsigned char *p, size_t n, int brackets) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = tokenizer_utf8_(p, i, n, &cp);
        char tmp[16];
        if (cp == TOKENIZER_NONE) {
            snprintf(tmp, sizeof(tmp), "\\x%02x", p[i]);
            bytes_append(o, tmp, strlen(tmp));
        } else if (cp == '\n') {
            bytes_append(o, "\\n", 2);
        } else if (cp == '\t') {
            bytes_append(o, "\\t", 2);
        } else if (cp == '\r') {
            bytes_append(o, "\\r", 2);
        } else if (cp == '\\' || (brackets && cp == ']')) {
            bytes_push(o, '\\');
            bytes_push(o, (char)cp);
        } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
            snprintf(tmp, sizeof(tmp), "\\u%04x", cp);
            bytes_append(o, tmp, strlen(tmp));
        } else {
            bytes_append(o, p + i, len);
        }
        i += len;
    }
}

static int utf8_valid(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += tokenizer_utf8_(p, i, n, &cp);
        if (cp == TOKENIZER_NONE) {
            return 0;
        }
    }
    return 1;
}

static int cmd_show(const Options *opt, const char **files, int n_files) {
    if (n_files > 1) {
        die("show takes at most one FILE");
    }
    int color;
    if (strcmp(opt->color, "auto") == 0) {
        color = isatty(1);
    } else if (strcmp(opt->color, "always") == 0) {
        color = 1;
    } else if (strcmp(opt->color, "never") == 0) {
        color = 0;
    } else {
        die("--color: expected auto, always or never, got '%s'", opt->color);
    }
    Tokenizer t;
    load_tokenizer(&t, opt, 1);
    Bytes in = {0};
    read_all(n_files ? files[0] : NULL, &in);
    TokenBuf tb;
    tokenbuf_init(&tb);
    tokenizer_encode(&t, in.data, in.len, opt->special ? TOKENIZER_ALLOW_SPECIAL : 0, &tb);
    // background colors cycled per token, like the tiktokenizer web page
    static const char *BG[] = {"\x1b[48;5;153m", "\x1b[48;5;222m", "\x1b[48;5;158m",
                               "\x1b[48;5;217m", "\x1b[48;5;183m", "\x1b[48;5;230m"};
    const size_t NBG = sizeof(BG) / sizeof(BG[0]);
    Bytes o = {0}, group = {0};
    char num[32];
    size_t *color_of = (size_t *)malloc_check((tb.len + 1) * sizeof(size_t));
    size_t n_groups = 0;
    for (size_t i = 0; i < tb.len;) {
        size_t len;
        const unsigned char *p = tokenizer_decode(&t, tb.ids[i], &len);
        if (!color) {
            bytes_push(&o, '[');
            show_escape(&o, p, len, 1);
            int k = snprintf(num, sizeof(num), "]%u", tb.ids[i]);
            bytes_append(&o, num, (size_t)k);
            bytes_push(&o, i + 1 < tb.len ? ' ' : '\n');
            i++;
            continue;
        }
        // On a terminal, tokens that each hold part of a character (CJK, emoji) are shown
        // together as that text, underlined, in one color.
        group.len = 0;
        bytes_append(&group, p, len);
        size_t end = i + 1;
        if (!utf8_valid((const unsigned char *)group.data, group.len)) {
            for (size_t j = i + 1; j < tb.len && j < i + 8; j++) {
                const unsigned char *q = tokenizer_decode(&t, tb.ids[j], &len);
                bytes_append(&group, q, len);
                if (utf8_valid((const unsigned char *)group.data, group.len)) {
                    end = j + 1;
                    break;
                }
            }
            if (end == i + 1) {
                tokenizer_decode(&t, tb.ids[i], &len);
                group.len = len;
            }
        }
        const char *bg = BG[n_groups % NBG];
        bytes_append(&o, bg, strlen(bg));
        bytes_append(&o, end > i + 1 ? "\x1b[30;4m" : "\x1b[30m", end > i + 1 ? 7 : 5);
        show_escape(&o, (const unsigned char *)group.data, group.len, 0);
        bytes_append(&o, "\x1b[0m", 4);
        if (group.len && group.data[group.len - 1] == '\n') {
            bytes_push(&o, '\n'); // keep the layout of the text
        }
        for (; i < end; i++) {
            color_of[i] = n_groups % NBG;
        }
        n_groups++;
    }
    if (color) {
        bytes_append(&o, "\n\n", 2);
        for (size_t i = 0; i < tb.len; i++) {
            bytes_append(&o, BG[color_of[i]], strlen(BG[color_of[i]]));
            int k = snprintf(num, sizeof(num), "\x1b[30m%u\x1b[0m%s", tb.ids[i],
                             i + 1 < tb.len ? " " : "\n");
            bytes_append(&o, num, (size_t)k);
        }
    }
    free(color_of);
    free(group.data);
    int k = snprintf(num, sizeof(num), "%zu tokens, ", tb.len);
    bytes_append(&o, num, (size_t)k);
    k = snprintf(num, sizeof(num), "%zu bytes\n", in.len);
    bytes_append(&o, num, (size_t)k);
    flush_bytes(&o);
    free(o.data);
    free(in.data);
    tokenbuf_free(&tb);
    tokenizer_free(&t);
    return 0;
}

// ----------------------------------------------------------------------------
// shards: documents in, llm.c shard files out

enum { DOC_FILE, DOC_LINE, DOC_PARA, DOC_JSONL };

typedef struct {
    size_t off, len; // text in the batch arena
    int thread;      // which worker encoded it
    size_t tok_off, tok_len;
} Doc;

typedef struct {
    Bytes arena;
    Doc *docs;
    size_t n, cap;
} Batch;

typedef struct {
    const char **files;
    int n_files;
    int mode;
    const char *field;
    int file_i;    // next file to open
    FILE *fp;      // open file in line / jsonl mode
    Bytes whole;   // current file in para mode
    size_t para_i; // position in whole
    int para_open;
    Bytes line;
    size_t lineno;
    uint64_t bytes_read;
} Reader;

static void batch_add(Batch *b, const void *p, size_t n) {
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 1024;
        b->docs = (Doc *)realloc(b->docs, b->cap * sizeof(Doc));
        if (b->docs == NULL) {
            die("out of memory");
        }
    }
    Doc *d = &b->docs[b->n++];
    memset(d, 0, sizeof(*d));
    d->off = b->arena.len;
    d->len = n;
    if (p) {
        bytes_append(&b->arena, p, n);
    }
}

// Adds documents to the batch until it holds about `limit` bytes; returns 0 when the input
// ended and nothing was added.
static int reader_fill(Reader *r, Batch *b, size_t limit) {
    b->n = 0;
    b->arena.len = 0;
    while (b->arena.len < limit) {
        if (r->mode == DOC_PARA && r->para_open) {
            const char *s = r->whole.data + r->para_i;
            size_t left = r->whole.len - r->para_i;
            const char *sep = (const char *)memmem(s, left, "\n\n", 2);
            size_t len = sep ? (size_t)(sep - s) + 2 : left; // the separator stays with its piece
            batch_add(b, s, len);
            r->para_i += len;
            if (sep == NULL) {
                r->para_open = 0;
                r->whole.len = 0;
            }
            continue;
        }
        if ((r->mode == DOC_LINE || r->mode == DOC_JSONL) && r->fp != NULL) {
            const char *name = display_name(r->files[r->file_i - 1]);
            if (!read_line(r->fp, &r->line, name)) {
                if (r->fp != stdin) {
                    fclose_check(r->fp, name);
                }
                r->fp = NULL;
                continue;
            }
            r->lineno++;
            r->bytes_read += r->line.len + 1;
            size_t len = r->line.len;
            if (len && r->line.data[len - 1] == '\r') {
                len--;
            }
            size_t k = 0;
            while (k < len && (r->line.data[k] == ' ' || r->line.data[k] == '\t')) {
                k++;
            }
            if (k == len) {
                continue; // blank lines are not documents
            }
            if (r->mode == DOC_LINE) {
                batch_add(b, r->line.data, len); // without its line ending ("\n" or "\r\n")
            } else {
                batch_add(b, NULL, 0);
                Doc *d = &b->docs[b->n - 1];
                const char *err = json_extract(r->line.data, len, r->field, &b->arena);
                if (err) {
                    die("%s:%zu: bad JSON line: %s", name, r->lineno, err);
                }
                d->len = b->arena.len - d->off;
            }
            continue;
        }
        if (r->file_i >= r->n_files) {
            break;
        }
        const char *path = r->files[r->file_i++];
        r->lineno = 0;
        if (r->mode == DOC_FILE || r->mode == DOC_PARA) {
            r->whole.len = 0;
            read_all(path, &r->whole);
            r->bytes_read += r->whole.len;
            if (r->mode == DOC_FILE) {
                batch_add(b, r->whole.data, r->whole.len);
            } else {
                r->para_i = 0;
                r->para_open = 1;
            }
        } else {
            r->fp = strcmp(path, "-") == 0 ? stdin : fopen_check(path, "rb");
        }
    }
    return b->n > 0;
}

typedef struct {
    const Tokenizer *tok;
    Batch *batch;
    TokenBuf *bufs; // one per thread
    atomic_size_t next;
    int flags;
} EncodeJob;

typedef struct {
    EncodeJob *job;
    int id;
} WorkerArg;

static void *encode_worker(void *p) {
    WorkerArg *a = (WorkerArg *)p;
    EncodeJob *job = a->job;
    TokenBuf *tb = &job->bufs[a->id];
    tb->len = 0;
    for (;;) {
        size_t i = atomic_fetch_add(&job->next, 1);
        if (i >= job->batch->n) {
            break;
        }
        Doc *d = &job->batch->docs[i];
        d->thread = a->id;
        d->tok_off = tb->len;
        tokenizer_encode(job->tok, job->batch->arena.data + d->off, d->len, job->flags, tb);
        d->tok_len = tb->len - d->tok_off;
    }
    return NULL;
}

typedef struct {
    const char *prefix;
    int single;
    uint64_t shard_tokens;
    uint64_t val_tokens, val_docs;
    int split; // 0 val, 1 train
    int index; // index of the next shard file
    int open;  // file is open
    ShardWriterFile file;
    uint64_t in_shard;
    uint64_t split_total[2];
    uint64_t docs;
    int files_written;
    int quiet;
    int masked; // write version 2 shards (tokens + loss mask)
} ShardWriter;

static void shard_close(ShardWriter *w) {
    if (!w->open) {
        return;
    }
    shard_writer_close(&w->file);
    w->open = 0;
    w->files_written++;
    if (!w->quiet) {
        fprintf(stderr, "%swrote %s (%llu tokens%s)\n", isatty(2) ? "\r\x1b[K" : "", w->file.path,
                (unsigned long long)w->in_shard, w->masked ? " with loss mask" : "");
    }
}

// Creates the directories above an output prefix ("data/fineweb/fineweb" -> data/fineweb).
static void make_parent_dirs(const char *prefix) {
    char buf[4096];
    if (strlen(prefix) >= sizeof(buf)) {
        die("--out: path too long");
    }
    strcpy(buf, prefix);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') {
            continue;
        }
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            die("cannot create directory %s: %s", buf, strerror(errno));
        }
        *p = '/';
    }
}

static void shard_open(ShardWriter *w) {
    const char *name = w->split == 0 ? "val" : "train";
    char path[4096];
    int n = w->single ? snprintf(path, sizeof(path), "%s_%s.bin", w->prefix, name)
                      : snprintf(path, sizeof(path), "%s_%s_%06d.bin", w->prefix, name, w->index);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        die("--out: path too long");
    }
    w->index++;
    shard_writer_open(&w->file, path, w->masked);
    w->open = 1;
    w->in_shard = 0;
}

static void shard_switch_to_train(ShardWriter *w) {
    if (w->split == 0) {
        shard_close(w);
        w->split = 1;
    }
}

// Appends n tokens (and, for masked shards, their mask bytes; NULL: all counted).
static void shard_write(ShardWriter *w, const uint32_t *ids, const uint8_t *mask, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (w->split == 0 && w->val_docs == 0 && w->split_total[0] >= w->val_tokens) {
            shard_switch_to_train(w);
        }
        if (w->open && w->in_shard >= w->shard_tokens) {
            if (w->single) {
                die("--single: split too large for one shard");
            }
            shard_close(w);
        }
        if (!w->open) {
            shard_open(w);
        }
        uint64_t room = w->shard_tokens - w->in_shard;
        if (w->split == 0 && w->val_docs == 0) {
            uint64_t val_room = w->val_tokens - w->split_total[0];
            room = room < val_room ? room : val_room;
        }
        size_t take = (size_t)((uint64_t)(n - i) < room ? (uint64_t)(n - i) : room);
        shard_writer_append(&w->file, ids + i, mask ? mask + i : NULL, take);
        i += take;
        w->in_shard += take;
        w->split_total[w->split] += take;
    }
}

// An empty document (an empty file, {"text": ""}) has no text to learn from: it is skipped, so
// an input of only empty documents writes nothing and is refused below.
static void shard_doc(ShardWriter *w, uint32_t eot, const uint32_t *ids, size_t n) {
    if (n == 0) {
        return;
    }
    if (w->split == 0 && w->val_docs > 0 && w->docs >= w->val_docs) {
        shard_switch_to_train(w);
    }
    w->docs++;
    shard_write(w, &eot, NULL, 1);
    shard_write(w, ids, NULL, n);
}

static int cmd_shards(const Options *opt, const char **files, int n_files) {
    if (n_files == 0) {
        die("shards needs at least one input FILE ('-' for stdin)");
    }
    if (opt->out == NULL) {
        die("shards needs --out PREFIX (e.g. --out data/fineweb/fineweb)");
    }
    if (opt->val_tokens > 0 && opt->val_docs > 0) {
        die("--val-tokens and --val-docs exclude each other");
    }
    int mode;
    if (strcmp(opt->format, "jsonl") == 0) {
        mode = DOC_JSONL;
    } else if (strcmp(opt->format, "text") != 0) {
        die("--format: expected text or jsonl, got '%s'", opt->format);
    } else if (strcmp(opt->doc, "file") == 0) {
        mode = DOC_FILE;
    } else if (strcmp(opt->doc, "line") == 0) {
        mode = DOC_LINE;
    } else if (strcmp(opt->doc, "para") == 0) {
        mode = DOC_PARA;
    } else {
        die("--doc: expected file, line or para, got '%s'", opt->doc);
    }
    int n_stdin = 0;
    for (int i = 0; i < n_files; i++) {
        n_stdin += strcmp(files[i], "-") == 0;
    }
    if (n_stdin > 1) {
        die("stdin ('-') can be given once");
    }
    if (opt->shard_tokens < 1) {
        die("--shard-tokens must be at least 1");
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = opt->threads > 0 ? (int)(opt->threads > 256 ? 256 : opt->threads)
                                   : (int)(ncpu > 0 ? ncpu : 1);
    Tokenizer t;
    load_tokenizer(&t, opt, 1);
    if (t.vocab_size > 65536) {
        die("%s: %u tokens do not fit uint16 shards", opt->tokenizer, t.vocab_size);
    }

    ShardWriter w;
    memset(&w, 0, sizeof(w));
    w.prefix = opt->out;
    w.single = opt->single;
    w.shard_tokens = opt->single ? UINT64_MAX : (uint64_t)opt->shard_tokens;
    w.val_tokens = (uint64_t)opt->val_tokens;
    w.val_docs = (uint64_t)opt->val_docs;
    w.split = (opt->val_tokens > 0 || opt->val_docs > 0) ? 0 : 1;
    w.quiet = opt->quiet;
    make_parent_dirs(opt->out);

    Reader r;
    memset(&r, 0, sizeof(r));
    r.files = files;
    r.n_files = n_files;
    r.mode = mode;
    r.field = opt->field;
    Batch batch;
    memset(&batch, 0, sizeof(batch));
    TokenBuf *bufs = (TokenBuf *)calloc_check((size_t)threads, sizeof(TokenBuf));
    pthread_t *tids = (pthread_t *)malloc_check((size_t)threads * sizeof(pthread_t));
    WorkerArg *args = (WorkerArg *)malloc_check((size_t)threads * sizeof(WorkerArg));
    double t0 = now_seconds(), last_report = t0;
    int tty = isatty(2);
    const size_t batch_bytes = (size_t)4 << 20;
    while (reader_fill(&r, &batch, batch_bytes * (size_t)threads)) {
        EncodeJob job;
        job.tok = &t;
        job.batch = &batch;
        job.bufs = bufs;
        atomic_init(&job.next, 0);
        job.flags = opt->special ? TOKENIZER_ALLOW_SPECIAL : 0;
        int nt = (size_t)threads < batch.n ? threads : (int)batch.n;
        for (int k = 0; k < nt; k++) {
            args[k].job = &job;
            args[k].id = k;
            if (pthread_create(&tids[k], NULL, encode_worker, &args[k]) != 0) {
                die("cannot start encoding thread %d", k);
            }
        }
        for (int k = 0; k < nt; k++) {
            pthread_join(tids[k], NULL);
        }
        for (size_t i = 0; i < batch.n; i++) {
            const Doc *d = &batch.docs[i];
            shard_doc(&w, t.eot_token, bufs[d->thread].ids + d->tok_off, d->tok_len);
        }
        double now = now_seconds();
        if (!opt->quiet && (tty || now - last_report > 10)) {
            last_report = now;
            fprintf(stderr, "%s%.1f MB read, %llu docs, %llu tokens, %.1f MB/s%s",
                    tty ? "\r\x1b[K" : "", r.bytes_read / 1e6, (unsigned long long)w.docs,
                    (unsigned long long)(w.split_total[0] + w.split_total[1]),
                    r.bytes_read / 1e6 / (now - t0 + 1e-9), tty ? "" : "\n");
        }
    }
    shard_close(&w);
    uint64_t total = w.split_total[0] + w.split_total[1];
    if (total == 0) {
        die("no documents in the input (empty ones are skipped)");
    }
    if (w.val_tokens > 0 && w.split_total[0] < w.val_tokens) {
        fprintf(stderr, "warning: the input has only %llu tokens, fewer than --val-tokens %llu; "
                        "there is no train split\n",
                (unsigned long long)total, (unsigned long long)w.val_tokens);
    }
    if (!opt->quiet) {
        double dt = now_seconds() - t0;
        fprintf(stderr, "%s%llu docs, %llu tokens (val %llu, train %llu) in %d files; %.1f MB in "
                        "%.2f s (%.1f MB/s, %d threads)\n",
                tty ? "\r\x1b[K" : "", (unsigned long long)w.docs, (unsigned long long)total,
                (unsigned long long)w.split_total[0], (unsigned long long)w.split_total[1],
                w.files_written, r.bytes_read / 1e6, dt, r.bytes_read / 1e6 / (dt + 1e-9),
                threads);
    }
    for (int k = 0; k < threads; k++) {
        tokenbuf_free(&bufs[k]);
    }
    free(bufs);
    free(tids);
    free(args);
    free(batch.docs);
    free(batch.arena.data);
    free(r.whole.data);
    free(r.line.data);
    tokenizer_free(&t);
    return 0;
}

// ----------------------------------------------------------------------------
// info: validate files

static void info_eval(const char *path, FILE *fp, long long size, const int32_t *h, long long V) {
    if (h[1] != 1) {
        die("%s: unsupported eval file version %d (expected 1)", path, h[1]);
    }
    if (h[2] <= 0 || h[3] <= 0) {
        die("%s: bad header: %d examples, longest %d bytes", path, h[2], h[3]);
    }
    size_t n = (size_t)(size - 1024);
    if (n % 2 != 0) {
        die("%s: payload of %zu bytes is not whole uint16 values", path, n);
    }
    uint16_t *d = (uint16_t *)malloc_check(n);
    fread_check(d, 1, n, fp, path);
    size_t m = n / 2, i = 0;
    long long longest = 0;
    int labels[4] = {0, 0, 0, 0};
    for (int32_t ex = 0; ex < h[2]; ex++) {
        if (i + 6 > m) {
            die("%s: truncated in example %d of %d", path, ex, h[2]);
        }
        if (d[i] != 65535) {
            die("%s: example %d does not start with the marker 65535 (found %u)", path, ex, d[i]);
        }
        size_t bytes = d[i + 1], idx = d[i + 2], label = d[i + 3], nc = d[i + 4];
        if (bytes % 2 != 0 || i + bytes / 2 > m) {
            die("%s: example %d claims %zu bytes, past the end of the file", path, ex, bytes);
        }
        if (idx != (size_t)(ex & 0xFFFF)) {
            die("%s: example %d has index field %zu", path, ex, idx);
        }
        if (nc == 0 || label >= nc) {
            die("%s: example %d has label %zu with %zu completions", path, ex, label, nc);
        }
        size_t j = i + 5;
        for (size_t part = 0; part <= nc; part++) { // the context, then each completion
            if (j >= i + bytes / 2) {
                die("%s: example %d is shorter than its lengths say", path, ex);
            }
            size_t len = d[j++];
            if (len == 0 || j + len > i + bytes / 2) {
                die("%s: example %d part %zu has bad length %zu", path, ex, part, len);
            }
            for (size_t k = 0; k < len; k++) {
                if (d[j + k] >= V) {
                    die("%s: example %d has token %u >= vocab size %lld", path, ex, d[j + k], V);
                }
            }
            j += len;
        }
        if (j != i + bytes / 2) {
            die("%s: example %d is %zu bytes but its parts take %zu", path, ex, bytes, 2 * (j - i));
        }
        if ((long long)bytes > h[3]) {
            die("%s: example %d is %zu bytes, above the header's longest %d", path, ex, bytes, h[3]);
        }
        longest = (long long)bytes > longest ? (long long)bytes : longest;
        if (label < 4) {
            labels[label]++;
        }
        i = j;
    }
    if (i != m) {
        die("%s: %zu bytes after the last of %d examples", path, 2 * (m - i), h[2]);
    }
    printf("%s: eval file v1, %d examples, longest %lld bytes (header %d), labels 0:%d 1:%d "
           "2:%d 3:%d\n", path, h[2], longest, h[3], labels[0], labels[1], labels[2], labels[3]);
    free(d);
}

static int cmd_info(const Options *opt, const char **files, int n_files) {
    if (n_files == 0) {
        die("info needs at least one FILE");
    }
    for (int f = 0; f < n_files; f++) {
        const char *path = files[f];
        FILE *fp = fopen_check(path, "rb");
        long long size = file_size_check(fp, path);
        int32_t h[LLMC_HEADER_INTS];
        read_header_check(fp, h, path);
        if (h[0] == TOKENIZER_MAGIC) {
            fclose_check(fp, path);
            Tokenizer t;
            tokenizer_init(&t, path);
            printf("%s: tokenizer v%d, %u tokens, end-of-text %u, %u merges, %s\n", path,
                   t.version, t.vocab_size, t.eot_token, t.n_merges,
                   t.can_encode ? "encodes and decodes" : "decode only");
            tokenizer_free(&t);
        } else if (h[0] == SHARD_MAGIC) {
            fclose_check(fp, path);
            uint32_t n;
            uint8_t *mask = NULL;
            int version;
            uint16_t *tok = read_shard(path, &n, &mask, &version);
            size_t docs = 0, counted = n;
            for (uint32_t i = 0; i < n; i++) {
                if (tok[i] >= opt->vocab_size) {
                    die("%s: token %u at position %u is >= vocab size %lld%s", path, tok[i], i,
                        opt->vocab_size, version == 2 ? " (a chat shard: try --vocab-size 50267)" : "");
                }
                docs += tok[i] == 50256;
            }
            if (mask != NULL) {
                counted = 0;
                for (uint32_t i = 0; i < n; i++) counted += mask[i];
                printf("%s: token shard v%d, %u tokens, %zu end-of-text tokens, %zu counted by the "
                       "loss mask\n", path, version, n, docs, counted);
            } else {
                printf("%s: token shard v%d, %u tokens, %zu end-of-text tokens\n", path, version, n, docs);
            }
            free(tok);
            free(mask);
        } else if (h[0] == EVAL_MAGIC) {
            info_eval(path, fp, size, h, opt->vocab_size);
            fclose_check(fp, path);
        } else {
            die("%s: unknown file type (magic %d; expected tokenizer %d, shard %d or eval %d)",
                path, h[0], TOKENIZER_MAGIC, SHARD_MAGIC, EVAL_MAGIC);
        }
    }
    return 0;
}

// ----------------------------------------------------------------------------
// chat: conversations to masked shards

// Parses one conversation {"messages": [{"role": R, "content": C}, ...], ...} (other keys are
// skipped) and renders it (llmc/chat.h) into out. Returns NULL or a message.
static const char *json_conversation(const char *line, size_t n, const ChatTokens *ct,
                                     const Tokenizer *t, ChatBuf *out) {
    Json j = {line, 0, n, NULL};
    Bytes key = {0}, role = {0}, content = {0};
    const char *err = NULL;
    int found = 0;
#define CONV_FAIL(msg) do { err = (msg); goto done; } while (0)
#define CONV_EXPECT(c, msg) do { json_ws(&j); if (j.i >= j.n || j.s[j.i] != (c)) CONV_FAIL(msg); j.i++; } while (0)
    CONV_EXPECT('{', "expected a JSON object");
    json_ws(&j);
    if (j.i < j.n && j.s[j.i] == '}') CONV_FAIL("the field \"messages\" is missing");
    for (;;) {
        json_ws(&j);
        key.len = 0;
        if (!json_string(&j, &key)) CONV_FAIL(j.err);
        CONV_EXPECT(':', "expected ':'");
        json_ws(&j);
        if (key.len == 8 && memcmp(key.data, "messages", 8) == 0) {
            if (found) CONV_FAIL("\"messages\" given twice");
            found = 1;
            chat_begin(out, ct);
            CONV_EXPECT('[', "\"messages\" is not an array");
            json_ws(&j);
            int n_msgs = 0;
            if (j.i < j.n && j.s[j.i] == ']') {
                j.i++;
            } else {
                for (;;) {
                    CONV_EXPECT('{', "a message is not an object");
                    int have_role = 0, have_content = 0;
                    role.len = 0;
                    content.len = 0;
                    for (;;) {
                        json_ws(&j);
                        key.len = 0;
                        if (!json_string(&j, &key)) CONV_FAIL(j.err);
                        CONV_EXPECT(':', "expected ':'");
                        json_ws(&j);
                        if (key.len == 4 && memcmp(key.data, "role", 4) == 0) {
                            role.len = 0;
                            if (j.i >= j.n || j.s[j.i] != '"' || !json_string(&j, &role)) CONV_FAIL("\"role\" is not a string");
                            have_role = 1;
                        } else if (key.len == 7 && memcmp(key.data, "content", 7) == 0) {
                            content.len = 0;
                            if (j.i >= j.n || j.s[j.i] != '"' || !json_string(&j, &content)) CONV_FAIL("\"content\" is not a string");
                            have_content = 1;
                        } else if (!json_skip_value(&j, 2)) {
                            CONV_FAIL(j.err);
                        }
                        json_ws(&j);
                        if (j.i < j.n && j.s[j.i] == ',') { j.i++; continue; }
                        CONV_EXPECT('}', "expected ',' or '}' in a message");
                        break;
                    }
                    if (!have_role || !have_content) CONV_FAIL("a message needs \"role\" and \"content\"");
                    int r = chat_role_from_name(role.data, role.len);
                    if (r < 0) CONV_FAIL("unknown role (expected system, user or assistant)");
                    chat_append_turn(out, ct, t, (ChatRole)r, content.data, content.len);
                    n_msgs++;
                    json_ws(&j);
                    if (j.i < j.n && j.s[j.i] == ',') { j.i++; continue; }
                    CONV_EXPECT(']', "expected ',' or ']' in \"messages\"");
                    break;
                }
            }
            if (n_msgs == 0) CONV_FAIL("\"messages\" is empty");
        } else if (!json_skip_value(&j, 1)) {
            CONV_FAIL(j.err);
        }
        json_ws(&j);
        if (j.i < j.n && j.s[j.i] == ',') { j.i++; continue; }
        CONV_EXPECT('}', "expected ',' or '}'");
        break;
    }
    json_ws(&j);
    if (j.i != j.n) CONV_FAIL("unexpected text after the JSON value");
    if (!found) CONV_FAIL("the field \"messages\" is missing");
#undef CONV_EXPECT
#undef CONV_FAIL
done:
    free(key.data);
    free(role.data);
    free(content.data);
    return err;
}

// Conversations (JSON lines) to PREFIX_val.bin (the first --val-docs) and PREFIX_train.bin,
// version 2 shards with the loss mask. A conversation longer than --max-tokens keeps its first
// max-tokens tokens (so a training window of T+1 = max-tokens holds it whole); if nothing counted
// is left, it is dropped. Both are reported.
static int cmd_chat(const Options *opt, const char **files, int n_files) {
    if (opt->out == NULL) {
        die("chat needs --out PREFIX");
    }
    if (n_files == 0) {
        die("chat needs at least one FILE of JSON-lines conversations");
    }
    if (opt->max_tokens < 4) {
        die("--max-tokens must be at least 4, got %lld", opt->max_tokens);
    }
    Tokenizer t;
    load_tokenizer(&t, opt, 1);
    ChatTokens ct;
    const char *missing = NULL;
    if (!chat_tokens_init(&ct, &t, &missing)) {
        die("%s: has no chat special tokens (%s missing); build one with `make gpt2_tokenizer.bin`",
            opt->tokenizer, missing);
    }
    make_parent_dirs(opt->out);
    ShardWriter w;
    memset(&w, 0, sizeof(w));
    w.prefix = opt->out;
    w.single = 1;
    w.shard_tokens = UINT64_MAX;
    w.val_docs = (uint64_t)opt->val_docs;
    w.split = opt->val_docs > 0 ? 0 : 1;
    w.quiet = opt->quiet;
    w.masked = 1;
    ChatBuf cb;
    chatbuf_init(&cb);
    Bytes line = {0};
    size_t convs = 0, truncated = 0, dropped = 0, counted = 0;
    for (int f = 0; f < n_files; f++) {
        const char *path = files[f];
        int is_stdin = strcmp(path, "-") == 0;
        FILE *fp = is_stdin ? stdin : fopen_check(path, "rb");
        size_t lineno = 0;
        while (read_line(fp, &line, display_name(path))) {
            lineno++;
            size_t k = 0;
            while (k < line.len && strchr(" \t\r", line.data[k]) != NULL) k++;
            if (k == line.len) {
                continue; // blank line
            }
            chatbuf_clear(&cb);
            const char *err = json_conversation(line.data, line.len, &ct, &t, &cb);
            if (err != NULL) {
                die("%s:%zu: bad conversation: %s", display_name(path), lineno, err);
            }
            size_t n = cb.ids.len;
            if (n > (size_t)opt->max_tokens) {
                n = (size_t)opt->max_tokens;
                truncated++;
            }
            size_t c = chat_count_targets(&cb, n);
            if (c == 0) {
                dropped++;
                continue;
            }
            if (w.split == 0 && w.docs >= w.val_docs) {
                shard_switch_to_train(&w);
            }
            w.docs++;
            shard_write(&w, cb.ids.ids, cb.mask, n);
            convs++;
            counted += c;
        }
        if (!is_stdin) {
            fclose_check(fp, path);
        }
    }
    if (w.split == 0 && w.val_docs > 0) {
        shard_switch_to_train(&w); // fewer conversations than --val-docs: an empty train file
    }
    if (!w.open) {
        shard_open(&w);
    }
    shard_close(&w);
    if (!opt->quiet) {
        fprintf(stderr, "%zu conversations, %llu tokens, %zu counted by the loss; %zu cut to %lld "
                "tokens, %zu dropped (nothing counted left)\n", convs,
                (unsigned long long)(w.split_total[0] + w.split_total[1]), counted, truncated,
                opt->max_tokens, dropped);
    }
    free(line.data);
    chatbuf_free(&cb);
    tokenizer_free(&t);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        if (argc < 2) {
            die("no command given (expected encode, decode, show, shards or info; see --help)");
        }
        print_help(stdout);
        return 0;
    }
    const char *cmd = argv[1];
    static const char *names[] = {"encode", "decode", "show", "shards", "info", "chat"};
    int known = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        known |= strcmp(cmd, names[i]) == 0;
    }
    if (!known) {
        die("unknown command '%s' (expected encode, decode, show, shards, info or chat; see --help)", cmd);
    }
    Options opt;
    set_defaults(&opt);
    const char **files;
    int n_files;
    parse_args(argc, argv, cmd, &opt, &files, &n_files);
    if (opt.help) {
        print_help(stdout);
        return 0;
    }
    int rc;
    if (strcmp(cmd, "encode") == 0) {
        rc = cmd_encode(&opt, files, n_files);
    } else if (strcmp(cmd, "decode") == 0) {
        rc = cmd_decode(&opt, files, n_files);
    } else if (strcmp(cmd, "show") == 0) {
        rc = cmd_show(&opt, files, n_files);
    } else if (strcmp(cmd, "shards") == 0) {
        rc = cmd_shards(&opt, files, n_files);
    } else if (strcmp(cmd, "chat") == 0) {
        rc = cmd_chat(&opt, files, n_files);
    } else {
        rc = cmd_info(&opt, files, n_files);
    }
    if (fflush(stdout) != 0) {
        die("stdout: write failed: %s", strerror(errno));
    }
    free(files);
    return rc;
}
