/*
 * urlfilter.h: URL blocklists in the usual list formats (as the UT1 blacklists of the
 * Universite Toulouse 1 Capitole ship them): one entry per line, '#' comments and blank lines
 * ignored. An entry without '/' is a domain and blocks it and all its subdomains
 * ("example.com" blocks "www.example.com"); an entry with '/' is a URL without its scheme
 * ("example.com/ads/") and blocks that URL and everything under it. Banned substrings (a second
 * list, one per line) block any URL containing one, case-insensitively.
 *
 *   UrlFilter f = {0};  urlfilter_load_blocklist(&f, path);  urlfilter_load_banned(&f, path);
 *   const char *why = urlfilter_check(&f, url);    // NULL: allowed, else the reason
 */
#ifndef LLMC_URLFILTER_H
#define LLMC_URLFILTER_H

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "u64map.h"

typedef struct {
    U64Map domains, urls;
    char **banned;
    size_t n_banned;
    size_t n_domains, n_urls;
} UrlFilter;

// Lower-cased host and path of a URL ("HTTP://User@WWW.Ex.com:80/a?b" -> "www.ex.com", "/a?b").
static inline void url_split(const char *url, Buf *host, const char **path) {
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *end = p + strcspn(p, "/?#");
    const char *at = (const char *)memchr(p, '@', (size_t)(end - p));
    if (at) {
        p = at + 1;
    }
    const char *hend = p;
    while (hend < end && *hend != ':') {
        hend++;
    }
    buf_clear(host);
    for (const char *q = p; q < hend; q++) {
        buf_putc(host, (*q >= 'A' && *q <= 'Z') ? (char)(*q + 32) : *q);
    }
    while (host->len && host->data[host->len - 1] == '.') { // "example.com." is example.com
        host->data[--host->len] = '\0';
    }
    *path = end;
}

static inline uint64_t urlfilter_key_(const char *s, size_t n) { return hash_bytes(s, n, 0x75726c); }

// Reads one list file; calls add(entry) for each entry. Dies naming file:line on a bad line.
static inline void urlfilter_read_list_(const char *path, UrlFilter *f, int banned) {
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        die("%s: cannot open list: %s", path, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    size_t lineno = 0;
    Buf host = {0};
    while ((len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t')) {
            line[--len] = '\0';
        }
        char *s = line;
        while (*s == ' ' || *s == '\t') {
            s++;
        }
        if (*s == '\0' || *s == '#') {
            continue;
        }
        if (memchr(line, 0, (size_t)len) != NULL || strpbrk(s, " \t") != NULL) {
            die("%s:%zu: expected one %s per line, got '%.60s'", path, lineno,
                banned ? "substring" : "domain or URL", s);
        }
        if (banned) {
            f->banned = (char **)realloc(f->banned, (f->n_banned + 1) * sizeof(char *));
            if (f->banned == NULL || (f->banned[f->n_banned] = strdup(s)) == NULL) {
                die("out of memory (banned list)");
            }
            f->n_banned++;
            continue;
        }
        const char *path_part;
        url_split(s, &host, &path_part);
        if (host.len == 0) {
            die("%s:%zu: expected a domain or URL, got '%.60s'", path, lineno, s);
        }
        if (*path_part == '\0' || strcmp(path_part, "/") == 0) {
            u64map_add(&f->domains, urlfilter_key_(host.data, host.len));
            f->n_domains++;
        } else {
            buf_puts(&host, path_part);
            while (host.len > 1 && host.data[host.len - 1] == '/') {
                host.data[--host.len] = '\0';
            }
            u64map_add(&f->urls, urlfilter_key_(host.data, host.len));
            f->n_urls++;
        }
    }
    if (ferror(fp)) {
        die("%s: read error", path);
    }
    free(line);
    free(host.data);
    fclose(fp);
}

static inline void urlfilter_load_blocklist(UrlFilter *f, const char *path) { urlfilter_read_list_(path, f, 0); }
static inline void urlfilter_load_banned(UrlFilter *f, const char *path) { urlfilter_read_list_(path, f, 1); }

// NULL when the URL passes, else "url_blocked_domain", "url_blocked_url" or "url_banned_substring".
// `scratch` is caller-owned (one per thread).
static inline const char *urlfilter_check(const UrlFilter *f, const char *url, Buf *scratch) {
    const char *path;
    url_split(url, scratch, &path);
    if (f->domains.n) {
        // the host and each parent domain: a.b.example.com, b.example.com, example.com, com
        const char *h = scratch->data ? scratch->data : "";
        size_t n = scratch->len;
        for (size_t i = 0; i < n; i++) {
            if (i == 0 || h[i - 1] == '.') {
                if (u64map_get(&f->domains, urlfilter_key_(h + i, n - i))) {
                    return "url_blocked_domain";
                }
            }
        }
    }
    if (f->urls.n) {
        // host + path, and every prefix of it ending before a '/'
        size_t hn = scratch->len;
        size_t pn = strcspn(path, "?#");
        buf_put(scratch, path, strlen(path));
        for (size_t i = hn + 1; i <= scratch->len; i++) {
            if (i == scratch->len || scratch->data[i] == '/' || (i == hn + pn)) {
                size_t k = i;
                while (k > hn && scratch->data[k - 1] == '/') {
                    k--;
                }
                if (k > hn && u64map_get(&f->urls, urlfilter_key_(scratch->data, k))) {
                    return "url_blocked_url";
                }
            }
        }
    }
    for (size_t i = 0; i < f->n_banned; i++) {
        size_t k = strlen(f->banned[i]);
        for (const char *p = url; *p; p++) {
            if (strncasecmp(p, f->banned[i], k) == 0) {
                return "url_banned_substring";
            }
        }
    }
    return NULL;
}

static inline void urlfilter_free(UrlFilter *f) {
    u64map_free(&f->domains);
    u64map_free(&f->urls);
    for (size_t i = 0; i < f->n_banned; i++) {
        free(f->banned[i]);
    }
    free(f->banned);
    memset(f, 0, sizeof(f[0]));
}

#endif
