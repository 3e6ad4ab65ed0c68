/*
 * pii.h: personal information removed from text, as FineWeb does: e-mail addresses become
 * "email@example.com" and public IPv4 addresses become "192.0.2.1" (RFC 5737's documentation
 * address, which no host has). Private, loopback, link-local, shared, documentation,
 * benchmarking, multicast and reserved ranges are left alone: they identify nobody, and version
 * numbers like 10.0.0.1 are common in technical text.
 *
 *   size_t emails, ips;  pii_scrub(text, n, &out, &emails, &ips);
 */
#ifndef LLMC_PII_H
#define LLMC_PII_H

#include <stdint.h>
#include <string.h>

#include "buf.h"

#define PII_EMAIL "email@example.com"
#define PII_IP "192.0.2.1"

static inline int pii_local_char_(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '%' || c == '+' || c == '-';
}

static inline int pii_domain_char_(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

// An e-mail address around the '@' at s[at]: its span in [*a, *b), or 0.
static inline int pii_email_at_(const char *s, size_t n, size_t at, size_t lo, size_t *a, size_t *b) {
    size_t i = at;
    while (i > lo && pii_local_char_((unsigned char)s[i - 1])) {
        i--;
    }
    while (i < at && s[i] == '.') { // a local part does not start with a dot
        i++;
    }
    if (i == at) {
        return 0;
    }
    size_t j = at + 1;
    while (j < n && pii_domain_char_((unsigned char)s[j])) {
        j++;
    }
    while (j > at + 1 && (s[j - 1] == '.' || s[j - 1] == '-')) { // trailing sentence dot
        j--;
    }
    // the domain needs a dot followed by a top-level label of 2+ letters
    size_t dot = j;
    while (dot > at + 1 && s[dot - 1] != '.') {
        dot--;
    }
    if (dot <= at + 2 || j - dot < 2) {
        return 0;
    }
    for (size_t k = dot; k < j; k++) {
        unsigned char c = (unsigned char)s[k];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
            return 0;
        }
    }
    *a = i;
    *b = j;
    return 1;
}

// Public (globally routable unicast) IPv4?
static inline int pii_ip_public(const unsigned o[4]) {
    unsigned a = o[0], b = o[1], c = o[2];
    if (a == 0 || a == 10 || a == 127 || a >= 224) return 0;        // this-net, private, loopback, multicast+reserved
    if (a == 100 && b >= 64 && b <= 127) return 0;                    // shared address space (CGNAT)
    if (a == 169 && b == 254) return 0;                               // link-local
    if (a == 172 && b >= 16 && b <= 31) return 0;                     // private
    if (a == 192 && b == 168) return 0;                               // private
    if (a == 192 && b == 0 && (c == 0 || c == 2)) return 0;           // IETF, TEST-NET-1
    if (a == 198 && (b == 18 || b == 19)) return 0;                   // benchmarking
    if (a == 198 && b == 51 && c == 100) return 0;                    // TEST-NET-2
    if (a == 203 && b == 0 && c == 113) return 0;                     // TEST-NET-3
    return 1;
}

// A dotted quad starting at s[i] (not glued to other digits or dots): its end in *e, octets in o.
static inline int pii_ipv4_at_(const char *s, size_t n, size_t i, size_t *e, unsigned o[4]) {
    if (i > 0 && ((s[i - 1] >= '0' && s[i - 1] <= '9') || s[i - 1] == '.')) {
        return 0;
    }
    size_t j = i;
    for (int k = 0; k < 4; k++) {
        if (k > 0) {
            if (j >= n || s[j] != '.') {
                return 0;
            }
            j++;
        }
        size_t d = 0;
        unsigned v = 0;
        while (j < n && s[j] >= '0' && s[j] <= '9' && d < 4) {
            v = v * 10 + (unsigned)(s[j] - '0');
            j++;
            d++;
        }
        if (d == 0 || d > 3 || v > 255 || (d > 1 && s[j - d] == '0')) {
            return 0;
        }
        o[k] = v;
    }
    if (j < n && ((s[j] >= '0' && s[j] <= '9') || (s[j] == '.' && j + 1 < n && s[j + 1] >= '0' && s[j + 1] <= '9'))) {
        return 0; // part of a longer number (a version string like 1.2.3.4.5)
    }
    *e = j;
    return 1;
}

// Writes text with e-mails and public IPs replaced into `out` (cleared first).
static inline void pii_scrub(const char *s, size_t n, Buf *out, size_t *emails, size_t *ips) {
    buf_clear(out);
    buf_reserve(out, n + 64);
    size_t copied = 0;
    *emails = *ips = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t a, b;
        unsigned o[4];
        if (c == '@' && pii_email_at_(s, n, i, copied, &a, &b)) {
            buf_put(out, s + copied, a - copied);
            buf_puts(out, PII_EMAIL);
            copied = b;
            i = b - 1;
            (*emails)++;
        } else if (c >= '0' && c <= '9' && i >= copied && pii_ipv4_at_(s, n, i, &b, o)) {
            if (pii_ip_public(o)) {
                buf_put(out, s + copied, i - copied);
                buf_puts(out, PII_IP);
                copied = b;
                (*ips)++;
            }
            i = b - 1;
        }
    }
    buf_put(out, s + copied, n - copied);
}

#endif
