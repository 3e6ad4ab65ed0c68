/*
 * tasks.h: problems with checkable answers, for reinforcement learning (rl.c) and its
 * evaluation: a prompt for the model, and a reward in [0, 1] computed from the model's reply.
 *
 * Two kinds of problem:
 *   - question/answer lines in JSON, {"task": ..., "prompt": ..., "answer": ...} (other keys
 *     ignored): what dev/data/chat_synth.py writes (heldout.jsonl, and rl.jsonl from the
 *     training split with --rl N). Reward 1 when the reply, with surrounding whitespace
 *     stripped, equals the answer, else 0: the exact match of dev/eval_chat.py.
 *   - Countdown: reach a target from given numbers with + - * / and parentheses. Reward 1 when
 *     the reply is such an expression whose value is the target, else 0. Each given number may
 *     be used at most as often as it is given (not all need be used); division must be exact;
 *     intermediate values may be negative; no unary minus; an optional "= N" at the end must
 *     name the expression's value. Difficulty d (1..5) gives d + 1 numbers, from 1..10 for
 *     d <= 2 and with one of 25, 50, 75, 100 among them from d = 3; the target is the value of
 *     an expression over all of them (so one solution always exists), between 2 and 999.
 *
 *   tasks_read_jsonl(&set, path)          append a file's problems (dies naming file:line)
 *   countdown_make(&item, difficulty, &rng)   one Countdown problem
 *   task_reward(&item, reply, n)          0 or 1
 *   countdown_check(reply, n, nums, count, target, &why)  1 if right, else 0 and why
 */
#ifndef LLMC_TASKS_H
#define LLMC_TASKS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rand.h"
#include "utils.h"

#define COUNTDOWN_MAX_NUMS 6

typedef struct {
    char *task;    // "arithmetic", ..., or "countdown"
    char *prompt;  // the user's message
    char *answer;  // the exact answer (countdown: one solution, for reading only)
    int countdown; // 1: scored as Countdown from nums/target, not by the answer
    int nums[COUNTDOWN_MAX_NUMS], num_count, target;
} TaskItem;

typedef struct {
    TaskItem *items;
    size_t count, cap;
} TaskSet;

static inline char *tasks_strdup_(const char *s, size_t n) {
    char *p = (char *)malloc_check(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static inline TaskItem *tasks_push_(TaskSet *s) {
    if (s->count == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->items = (TaskItem *)realloc(s->items, s->cap * sizeof(TaskItem));
        if (s->items == NULL) die("out of memory for %zu problems", s->cap);
    }
    TaskItem *it = &s->items[s->count++];
    memset(it, 0, sizeof(*it));
    return it;
}

static inline void tasks_free(TaskSet *s) {
    for (size_t i = 0; i < s->count; i++) {
        free(s->items[i].task);
        free(s->items[i].prompt);
        free(s->items[i].answer);
    }
    free(s->items);
    memset(s, 0, sizeof(*s));
}

// ---- a small JSON reader: one object per line, the values of its string keys ----------------

static inline void json_ws_(const char **p, const char *end) {
    while (*p < end && (**p == ' ' || **p == '\t' || **p == '\r' || **p == '\n')) (*p)++;
}

static inline int json_hex4_(const char *p, const char *end, unsigned *v) {
    if (end - p < 4) return 0;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char h = p[i];
        int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
        if (d < 0) return 0;
        *v = *v * 16 + (unsigned)d;
    }
    return 1;
}

// Reads a JSON string at *p (the opening quote) into out (UTF-8, at most as long as the source;
// out may be NULL to skip it); returns its length, or -1 if malformed.
static inline long json_string_(const char **p, const char *end, char *out) {
    const char *s = *p;
    long k = 0;
    if (s >= end || *s != '"') return -1;
    for (s++; s < end && *s != '"'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20) return -1;
        if (c != '\\') {
            if (out) out[k] = (char)c;
            k++;
            continue;
        }
        if (++s >= end) return -1;
        char e = *s, r;
        unsigned cp;
        switch (e) {
        case 'n': r = '\n'; break;
        case 't': r = '\t'; break;
        case 'r': r = '\r'; break;
        case 'b': r = '\b'; break;
        case 'f': r = '\f'; break;
        case '/': case '\\': case '"': r = e; break;
        case 'u':
            if (!json_hex4_(s + 1, end, &cp)) return -1;
            s += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) { // a surrogate pair: \uD8xx\uDCxx
                unsigned lo;
                if (end - s < 7 || s[1] != '\\' || s[2] != 'u' || !json_hex4_(s + 3, end, &lo) || lo < 0xDC00 || lo > 0xDFFF) return -1;
                s += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return -1;
            }
            { // UTF-8: never longer than the 6 (or 12) escape bytes it replaces
                unsigned char b[4];
                int nb;
                if (cp < 0x80) { b[0] = (unsigned char)cp; nb = 1; }
                else if (cp < 0x800) { b[0] = (unsigned char)(0xC0 | (cp >> 6)); b[1] = (unsigned char)(0x80 | (cp & 0x3F)); nb = 2; }
                else if (cp < 0x10000) { b[0] = (unsigned char)(0xE0 | (cp >> 12)); b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)); b[2] = (unsigned char)(0x80 | (cp & 0x3F)); nb = 3; }
                else { b[0] = (unsigned char)(0xF0 | (cp >> 18)); b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F)); b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)); b[3] = (unsigned char)(0x80 | (cp & 0x3F)); nb = 4; }
                if (out) memcpy(out + k, b, (size_t)nb);
                k += nb;
            }
            continue;
        default: return -1;
        }
        if (out) out[k] = r;
        k++;
    }
    if (s >= end) return -1;
    *p = s + 1;
    return k;
}

// Skips a scalar value (string, number, true, false, null); nested values are not expected here.
static inline int json_skip_scalar_(const char **p, const char *end) {
    if (*p < end && **p == '"') return json_string_(p, end, NULL) >= 0;
    const char *s = *p;
    while (s < end && *s != ',' && *s != '}' && *s != ' ' && *s != '\t') {
        if (*s == '{' || *s == '[' || *s == '"') return 0;
        s++;
    }
    if (s == *p) return 0;
    *p = s;
    return 1;
}

// One JSON object per line: vals[k] (malloc'd) = the string value of keys[k], for nk keys; other
// keys with scalar values are skipped. 0 (nothing allocated) if malformed or a key is missing.
static inline int json_line_fields(const char *line, size_t n, const char *const *keys, int nk, char **vals) {
    const char *p = line, *end = line + n;
    for (int i = 0; i < nk; i++) vals[i] = NULL;
    json_ws_(&p, end);
    if (p >= end || *p != '{') return 0;
    p++;
    int ok = 1, first = 1;
    while (ok) {
        json_ws_(&p, end);
        if (p < end && *p == '}' && first) { p++; break; }
        char key[32];
        const char *kp = p;
        long kl = json_string_(&kp, end, NULL);
        if (kl < 0) { ok = 0; break; }
        int which = -1;
        if (kl < (long)sizeof(key)) {
            json_string_(&p, end, key);
            key[kl] = '\0';
            for (int i = 0; i < nk; i++) if (strcmp(key, keys[i]) == 0) which = i;
        } else {
            p = kp;
        }
        json_ws_(&p, end);
        if (p >= end || *p != ':') { ok = 0; break; }
        p++;
        json_ws_(&p, end);
        if (which >= 0) {
            const char *vp = p;
            long vl = json_string_(&vp, end, NULL);
            if (vl < 0 || vals[which]) { ok = 0; break; }
            vals[which] = (char *)malloc_check((size_t)vl + 1);
            json_string_(&p, end, vals[which]);
            vals[which][vl] = '\0';
        } else if (!json_skip_scalar_(&p, end)) {
            ok = 0;
            break;
        }
        first = 0;
        json_ws_(&p, end);
        if (p < end && *p == ',') { p++; continue; }
        if (p < end && *p == '}') { p++; break; }
        ok = 0;
    }
    json_ws_(&p, end);
    for (int i = 0; i < nk; i++) ok &= vals[i] != NULL;
    if (!ok || p != end) {
        for (int i = 0; i < nk; i++) free(vals[i]), vals[i] = NULL;
        return 0;
    }
    return 1;
}

static const char *const TASK_KEYS[3] = {"task", "prompt", "answer"};

// A problem from its three strings (taking them over). A "countdown" problem's numbers and target
// are read from its prompt, as countdown_make words it; 0 if they cannot be.
static inline int task_from_strings(TaskItem *it, char *task, char *prompt, char *answer) {
    memset(it, 0, sizeof(*it));
    it->task = task, it->prompt = prompt, it->answer = answer;
    if (strcmp(task, "countdown") != 0) return 1;
    it->countdown = 1;
    const char *p = prompt;
    if (strncmp(p, "Use the numbers", 15) != 0) return 0;
    p += 15;
    for (;;) {
        char *e;
        long x = strtol(p, &e, 10);
        if (e == p || it->num_count == COUNTDOWN_MAX_NUMS || x < 1 || x > 100000) return 0;
        it->nums[it->num_count++] = (int)x;
        p = e;
        if (*p != ',') break;
        p++;
    }
    return sscanf(p, " to make %d", &it->target) == 1;
}

// Appends every problem of a JSON-lines file (blank lines skipped); dies naming file:line.
static inline void tasks_read_jsonl(TaskSet *s, const char *path) {
    FILE *fp = fopen_check(path, "rb");
    char *line = NULL;
    size_t cap = 0, lineno = 0, before = s->count;
    ssize_t got;
    while ((got = getline(&line, &cap, fp)) > 0) {
        lineno++;
        size_t n = (size_t)got;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        size_t k = 0;
        while (k < n && (line[k] == ' ' || line[k] == '\t')) k++;
        if (k == n) continue;
        if (memchr(line, '\0', n)) die("%s:%zu: a NUL byte (not a JSON text file?)", path, lineno);
        char *v[3];
        if (!json_line_fields(line, n, TASK_KEYS, 3, v)) {
            die("%s:%zu: expected a JSON object with string fields \"task\", \"prompt\" and \"answer\"", path, lineno);
        }
        if (!task_from_strings(tasks_push_(s), v[0], v[1], v[2])) {
            die("%s:%zu: a countdown problem's prompt must read \"Use the numbers A, B, ... to make N ...\"", path, lineno);
        }
    }
    free(line);
    fclose_check(fp, path);
    if (s->count == before) die("%s: no problems in the file", path);
}

// ---- Countdown ------------------------------------------------------------------------------

typedef struct {
    const char *p, *end;
    const int *nums;
    int count;
    int used[COUNTDOWN_MAX_NUMS];
    const char *why; // first error
    int depth;
} CountdownParse;

static inline void cd_ws_(CountdownParse *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

static inline int cd_fail_(CountdownParse *c, const char *why) {
    if (c->why == NULL) c->why = why;
    return 0;
}

static inline int cd_expr_(CountdownParse *c, int64_t *v);

// factor := number | '(' expr ')'
static inline int cd_factor_(CountdownParse *c, int64_t *v) {
    cd_ws_(c);
    if (c->p < c->end && *c->p == '(') {
        if (++c->depth > 32) return cd_fail_(c, "parentheses nested too deeply");
        c->p++;
        if (!cd_expr_(c, v)) return 0;
        cd_ws_(c);
        if (c->p >= c->end || *c->p != ')') return cd_fail_(c, "missing ')'");
        c->p++;
        c->depth--;
        return 1;
    }
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return cd_fail_(c, "expected a number or '('");
    int64_t x = 0;
    int digits = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (++digits > 9) return cd_fail_(c, "number not among the given ones");
        x = x * 10 + (*c->p++ - '0');
    }
    for (int i = 0; i < c->count; i++) { // take an unused copy of the number
        if (c->nums[i] == x && !c->used[i]) {
            c->used[i] = 1;
            *v = x;
            return 1;
        }
    }
    for (int i = 0; i < c->count; i++) {
        if (c->nums[i] == x) return cd_fail_(c, "a number used more often than given");
    }
    return cd_fail_(c, "number not among the given ones");
}

// term := factor (('*' | '/') factor)*
static inline int cd_term_(CountdownParse *c, int64_t *v) {
    if (!cd_factor_(c, v)) return 0;
    for (;;) {
        cd_ws_(c);
        if (c->p >= c->end || (*c->p != '*' && *c->p != '/')) return 1;
        char op = *c->p++;
        int64_t r;
        if (!cd_factor_(c, &r)) return 0;
        if (op == '*') {
            if (__builtin_mul_overflow(*v, r, v)) return cd_fail_(c, "overflow");
        } else {
            if (r == 0) return cd_fail_(c, "division by zero");
            if (*v % r != 0) return cd_fail_(c, "division not exact");
            *v /= r;
        }
    }
}

// expr := term (('+' | '-') term)*
static inline int cd_expr_(CountdownParse *c, int64_t *v) {
    if (!cd_term_(c, v)) return 0;
    for (;;) {
        cd_ws_(c);
        if (c->p >= c->end || (*c->p != '+' && *c->p != '-')) return 1;
        char op = *c->p++;
        int64_t r;
        if (!cd_term_(c, &r)) return 0;
        if (op == '+' ? __builtin_add_overflow(*v, r, v) : __builtin_sub_overflow(*v, r, v)) return cd_fail_(c, "overflow");
    }
}

// Evaluates the expression s[0..n) over nums (count of them): 1 with *value, or 0 with *why.
static inline int countdown_eval(const char *s, size_t n, const int *nums, int count, int64_t *value, const char **why) {
    CountdownParse c;
    memset(&c, 0, sizeof(c));
    c.p = s;
    c.end = s + n;
    c.nums = nums;
    c.count = count;
    int ok = cd_expr_(&c, value);
    cd_ws_(&c);
    if (ok && c.p != c.end) ok = cd_fail_(&c, "unexpected text after the expression");
    if (why) *why = ok ? NULL : c.why;
    return ok;
}

// The reply (surrounding whitespace ignored; an optional "= N" after the expression must name
// its value) reaches target: 1, else 0 with *why.
static inline int countdown_check(const char *reply, size_t n, const int *nums, int count, int target,
                                  const char **why) {
    const char *s = reply, *end = reply + n;
    while (s < end && strchr(" \t\r\n\f\v", *s) && *s) s++;
    while (end > s && strchr(" \t\r\n\f\v", end[-1]) && end[-1]) end--;
    const char *eq = (const char *)memchr(s, '=', (size_t)(end - s));
    int64_t v, stated = -1;
    const char *w = NULL;
    if (s == end) { if (why) *why = "empty reply"; return 0; }
    if (eq) { // "= N": N a plain number equal to the value
        const char *q = eq + 1;
        while (q < end && (*q == ' ' || *q == '\t')) q++;
        if (q == end) { if (why) *why = "nothing after '='"; return 0; }
        stated = 0;
        for (int digits = 0; q < end; q++) {
            if (*q < '0' || *q > '9' || ++digits > 9) { if (why) *why = "'=' must be followed by a number"; return 0; }
            stated = stated * 10 + (*q - '0');
        }
    }
    if (!countdown_eval(s, (size_t)((eq ? eq : end) - s), nums, count, &v, &w)) {
        if (why) *why = w;
        return 0;
    }
    if (eq && stated != v) { if (why) *why = "the stated result is not the expression's value"; return 0; }
    if (v != target) { if (why) *why = "the value is not the target"; return 0; }
    if (why) *why = NULL;
    return 1;
}

// One problem of difficulty 1..5 (see the top), drawn from rng.
static inline void countdown_make(TaskItem *it, int difficulty, uint64_t *rng) {
    static const int big[4] = {25, 50, 75, 100};
    int count = difficulty + 1;
    if (difficulty < 1 || difficulty > 5) die("countdown difficulty %d: expected 1..5", difficulty);
    memset(it, 0, sizeof(*it));
    char expr[256];
    int64_t value;
    for (;;) {
        int nums[COUNTDOWN_MAX_NUMS] = {0};
        for (int i = 0; i < count; i++) nums[i] = 1 + (int)(random_u32(rng) % 10);
        if (difficulty >= 3) nums[random_u32(rng) % (uint32_t)count] = big[random_u32(rng) % 4];
        // a random expression over all of them, combined left to right, some steps parenthesized
        int len = snprintf(expr, sizeof(expr), "%d", nums[0]);
        value = nums[0];
        int ok = 1;
        for (int i = 1; i < count && ok; i++) {
            int op = (int)(random_u32(rng) % 4);
            int64_t x = nums[i];
            if (op == 3 && (x == 0 || value % x != 0)) op = (int)(random_u32(rng) % 3); // exact only
            const char *sym = "+-*/" + op;
            if (op == 0) value += x;
            else if (op == 1) value -= x;
            else if (op == 2) value *= x;
            else value /= x;
            if (op >= 2 && i > 1) { // (a + b) * c needs its parentheses (short: at most 6 numbers)
                memmove(expr + 1, expr, (size_t)len + 1);
                expr[0] = '(';
                len++;
                len += snprintf(expr + len, sizeof(expr) - (size_t)len, ") %c %d", *sym, nums[i]);
            } else {
                len += snprintf(expr + len, sizeof(expr) - (size_t)len, " %c %d", *sym, nums[i]);
            }
            if (value < -100000 || value > 100000) ok = 0;
        }
        int trivial = 0;
        for (int i = 0; i < count; i++) trivial |= nums[i] == value;
        if (!ok || value < 2 || value > 999 || trivial) continue;
        memcpy(it->nums, nums, sizeof(nums));
        break;
    }
    it->countdown = 1;
    it->num_count = count;
    it->target = (int)value;
    char prompt[512];
    int k = snprintf(prompt, sizeof(prompt), "Use the numbers");
    for (int i = 0; i < count; i++) k += snprintf(prompt + k, sizeof(prompt) - (size_t)k, "%s %d", i ? "," : "", it->nums[i]);
    snprintf(prompt + k, sizeof(prompt) - (size_t)k, " to make %d with + - * / and parentheses, each at most once.",
             it->target);
    it->task = tasks_strdup_("countdown", 9);
    it->prompt = tasks_strdup_(prompt, strlen(prompt));
    it->answer = tasks_strdup_(expr, strlen(expr));
}

// Code point is whitespace for Python's str.strip() (what dev/eval_chat.py compares after).
static inline int tasks_is_space_(uint32_t c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Bytes of the UTF-8 character starting at s[0] (1 for a stray byte) and its code point.
static inline int tasks_utf8_(const unsigned char *s, size_t n, uint32_t *cp) {
    int len = s[0] < 0x80 ? 1 : (s[0] >> 5) == 6 ? 2 : (s[0] >> 4) == 14 ? 3 : (s[0] >> 3) == 30 ? 4 : 1;
    if ((size_t)len > n) len = 1;
    *cp = len == 1 ? s[0] : (uint32_t)(s[0] & (0x7F >> len));
    for (int i = 1; i < len; i++) *cp = (*cp << 6) | (s[i] & 0x3F);
    return len;
}

// Strips leading and trailing whitespace (as Python's str.strip()) from s[0..*n).
static inline const char *tasks_strip_(const char *s, size_t *n) {
    uint32_t cp;
    for (int k; *n && (k = tasks_utf8_((const unsigned char *)s, *n, &cp)) && tasks_is_space_(cp);) s += k, *n -= (size_t)k;
    while (*n) { // the last character: step back over continuation bytes
        size_t b = *n - 1;
        while (b > 0 && *n - b < 4 && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
        if (tasks_utf8_((const unsigned char *)s + b, *n - b, &cp) != (int)(*n - b) || !tasks_is_space_(cp)) break;
        *n = b;
    }
    return s;
}

// The reward of a reply to a problem: 0 or 1 (see the top).
static inline float task_reward(const TaskItem *it, const char *reply, size_t n) {
    if (it->countdown) return (float)countdown_check(reply, n, it->nums, it->num_count, it->target, NULL);
    reply = tasks_strip_(reply, &n);
    return n == strlen(it->answer) && memcmp(reply, it->answer, n) == 0 ? 1.0f : 0.0f;
}

#endif // LLMC_TASKS_H
