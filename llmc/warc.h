/*
 * warc.h: a streaming reader of WARC files (ISO 28500, the format of Common Crawl), plain or
 * gzip-compressed (one gzip member per record, or one for the whole file), from a FILE or from a
 * memory buffer, and a parser of the HTTP responses inside them.
 *
 *   WarcReader r;  warc_open_file(&r, fp)  or  warc_open_mem(&r, data, len)
 *   WarcRecord rec;
 *   while (warc_next(&r, &rec)) { ... rec.body[0 .. rec.body_len) valid until the next call ... }
 *   warc_close(&r);
 *
 * Memory stays bounded whatever the input: the reader holds a window of decompressed bytes that
 * grows to the largest record it returns (at most max_record bytes); a bigger record is skipped
 * while streaming through it (rec.too_big). Damage never stops the reader: a gzip member that
 * fails to inflate (truncated, corrupted) is dropped and reading resumes at the next gzip member
 * header; a malformed WARC header is skipped up to the next "WARC/1." line. Each such event is
 * counted in WarcReader (bad_gzip, bad_header, truncated) and the record that contained it, if
 * any, comes back with rec.damaged set so the caller can count it and move on.
 *
 * Gzip members are inflated whole by libdeflate (about 2.5x zlib's speed) when one fits in the
 * input window and its output in a bounded staging buffer, as with one member per record; any
 * other member (larger, cut off, damaged, one for the whole file) streams through zlib, which
 * finds and counts every fault. Both check the member's CRC-32 and length, so a member either
 * gives the same bytes both ways or goes to zlib. (WarcReader.zlib_only streams everything
 * through zlib: the fuzzer compares the two.)
 */
#ifndef LLMC_WARC_H
#define LLMC_WARC_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE // memmem (effective when this header comes first)
#endif

#define _FILE_OFFSET_BITS 64
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <libdeflate.h>
#include <zlib.h>

#include "buf.h"

#define WARC_MAX_HEADER (64 * 1024) // a WARC header block longer than this is malformed
#define WARC_IN_CHUNK (1 << 20)
#define WARC_IN_WINDOW (2 << 20)    // compressed input held at once: members up to half of it inflate whole

typedef struct {
    // source: a FILE or a memory buffer
    FILE *fp;
    const unsigned char *mem;
    size_t mem_len;
    // compressed input window; in_base is the source offset of in[0]
    unsigned char *in;
    size_t in_len, in_pos, in_cap;
    uint64_t in_base;
    int src_eof;
    // gzip state
    int gz;
    z_stream z;
    int in_member;          // inside a gzip member (its end not seen yet)
    uint64_t member_start;  // source offset of the current member's first byte
    // whole-member inflation: stage[stage_pos .. stage.len) is a member's output not yet handed out
    struct libdeflate_decompressor *ld;
    Buf stage;
    size_t stage_pos;
    int zlib_only;          // never use libdeflate (set after warc_open_*)
    // decompressed window buf[start .. end)
    char *buf;
    size_t start, end, cap;
    int eof;                // nothing more will be decompressed
    uint64_t out_base;      // decompressed-stream offset of buf[0]
    uint64_t member_out;    // decompressed offset where the current member's output began
    // Pending faults: a broken member's output [fault_lo, fault_hi) is untrustworthy (a cut
    // member inflates the next member's bytes into garbage before zlib notices).
    uint64_t fault_lo[16], fault_hi[16];
    int n_faults;
    size_t max_record;      // Content-Length above this: skipped, rec.too_big
    Buf head;               // the current record's header block (rec's strings point into it)
    // counters
    uint64_t bad_gzip, bad_header, truncated, records;
} WarcReader;

typedef struct {
    const char *type;         // WARC-Type: response, request, warcinfo, metadata, ...
    const char *uri;          // WARC-Target-URI ("" when absent)
    const char *date;         // WARC-Date
    const char *id;           // WARC-Record-ID
    const char *content_type; // Content-Type of the block (application/http; msgtype=response)
    const char *body;         // the record block (for a response: HTTP headers + payload)
    size_t body_len;
    uint64_t content_length;  // as declared
    uint64_t offset;          // approximate source offset where the record ended (progress)
    int too_big;              // declared length > max_record: body skipped, body_len 0
    int damaged;              // truncated or crossed a decompression fault: do not trust it
} WarcRecord;

// ---- raw source -------------------------------------------------------------------------------

// Moves unread input to the front and reads more; returns 0 when the source is exhausted.
static int warc_src_more_(WarcReader *r) {
    if (r->src_eof) {
        return 0;
    }
    if (r->mem) {
        // the whole buffer is the window: nothing more to read
        r->src_eof = 1;
        return 0;
    }
    if (r->in_pos > 0) {
        memmove(r->in, r->in + r->in_pos, r->in_len - r->in_pos);
        r->in_base += r->in_pos;
        r->in_len -= r->in_pos;
        r->in_pos = 0;
    }
    if (r->in_len == r->in_cap) {
        return 1; // full of unread data already
    }
    size_t got = fread(r->in + r->in_len, 1, r->in_cap - r->in_len, r->fp);
    r->in_len += got;
    if (got == 0) {
        r->src_eof = 1;
        return 0;
    }
    return 1;
}

// Positions the input at source offset `off` (>= the current window start for memory sources;
// files seek when the offset fell out of the window).
static void warc_src_seek_(WarcReader *r, uint64_t off) {
    if (off >= r->in_base && off <= r->in_base + r->in_len) {
        r->in_pos = (size_t)(off - r->in_base);
        return;
    }
    if (r->mem || fseeko(r->fp, (off_t)off, SEEK_SET) != 0) {
        r->in_pos = r->in_len; // cannot go back: continue from where we are
        return;
    }
    r->in_base = off;
    r->in_len = r->in_pos = 0;
    r->src_eof = 0;
}

// After a gzip fault: finds the next gzip member header (1f 8b 08) after the failed member's
// start; returns 0 when there is none.
static int warc_resync_gzip_(WarcReader *r) {
    warc_src_seek_(r, r->member_start + 1);
    for (;;) {
        while (r->in_pos + 3 <= r->in_len) {
            const unsigned char *p = (const unsigned char *)memchr(r->in + r->in_pos, 0x1f,
                                                                   r->in_len - r->in_pos);
            if (p == NULL) {
                r->in_pos = r->in_len;
                break;
            }
            r->in_pos = (size_t)(p - r->in);
            if (r->in_pos + 3 > r->in_len) {
                break;
            }
            if (p[1] == 0x8b && p[2] == 0x08) {
                return 1;
            }
            r->in_pos++;
        }
        size_t before = r->in_len - r->in_pos;
        if (!warc_src_more_(r) && r->in_len - r->in_pos == before) {
            return 0;
        }
    }
}

// Remembers where a member broke off; the oldest is dropped if many are pending (the record
// spanning it is then merely not flagged; it still fails to parse or is cut short).
static void warc_fault_(WarcReader *r, uint64_t at) {
    if (r->n_faults == 16) {
        memmove(r->fault_lo, r->fault_lo + 1, 15 * sizeof(uint64_t));
        memmove(r->fault_hi, r->fault_hi + 1, 15 * sizeof(uint64_t));
        r->n_faults--;
    }
    r->fault_lo[r->n_faults] = r->member_out;
    r->fault_hi[r->n_faults] = at;
    r->n_faults++;
}

// At a member boundary: inflates the next member whole into r->stage with libdeflate and consumes
// its input; returns 0 (nothing consumed) when it cannot, and zlib then streams the member. A
// failure here decides nothing: a member that is cut off by the window, too large for the stage
// or damaged looks the same to libdeflate, so zlib, which tells them apart, takes it over. The
// header CRC (FHCRC), which zlib checks and libdeflate skips, also goes to zlib.
static int warc_whole_member_(WarcReader *r) {
    if (r->zlib_only) {
        return 0;
    }
    if (!r->src_eof && r->in_len - r->in_pos < r->in_cap / 2) {
        warc_src_more_(r); // a member wholly in the window, unless it is half the window or more
    }
    const unsigned char *p = r->in + r->in_pos;
    size_t avail = r->in_len - r->in_pos;
    if (avail < 18 || p[0] != 0x1f || p[1] != 0x8b || p[2] != 0x08 || (p[3] & 0x02)) {
        return 0; // 18: the smallest gzip member
    }
    if (r->ld == NULL && (r->ld = libdeflate_alloc_decompressor()) == NULL) {
        die("out of memory (libdeflate)");
    }
    // The stage keeps its size from member to member and doubles, from 128 KiB, up to the record
    // window's size (4 MiB, more only after a record needed it): a larger member is left to zlib,
    // so a record that is skipped for its size never gets a stage of its size.
    size_t limit = r->cap;
    r->stage.len = r->stage_pos = 0;
    if (r->stage.cap == 0) {
        buf_reserve(&r->stage, 64 << 10);
    }
    for (;;) {
        size_t in_used = 0, out_len = 0;
        enum libdeflate_result rc = libdeflate_gzip_decompress_ex(r->ld, p, avail, r->stage.data, r->stage.cap - 1,
                                                                  &in_used, &out_len);
        if (rc == LIBDEFLATE_SUCCESS) {
            r->member_start = r->in_base + r->in_pos;
            r->in_pos += in_used;
            r->stage.len = out_len;
            r->stage_pos = 0;
            return 1;
        }
        if (rc != LIBDEFLATE_INSUFFICIENT_SPACE || 2 * r->stage.cap > limit + 1) {
            return 0;
        }
        buf_reserve(&r->stage, r->stage.cap); // doubles it
    }
}

// Appends up to `want` decompressed bytes at buf[end]; returns the count (0: end of data).
static size_t warc_produce_(WarcReader *r, size_t want) {
    if (!r->gz) {
        size_t n = 0;
        while (n < want) {
            if (r->in_pos == r->in_len && !warc_src_more_(r)) {
                break;
            }
            size_t k = r->in_len - r->in_pos;
            if (k > want - n) {
                k = want - n;
            }
            memcpy(r->buf + r->end + n, r->in + r->in_pos, k);
            r->in_pos += k;
            n += k;
        }
        return n;
    }
    size_t n = 0;
    while (n < want) {
        if (r->stage_pos < r->stage.len) {
            size_t k = r->stage.len - r->stage_pos;
            k = k < want - n ? k : want - n;
            memcpy(r->buf + r->end + n, r->stage.data + r->stage_pos, k);
            r->stage_pos += k;
            n += k;
            continue;
        }
        if (!r->in_member && warc_whole_member_(r)) {
            continue;
        }
        if (r->in_pos == r->in_len && !warc_src_more_(r)) {
            if (r->in_member) { // the file ends inside a member: truncated
                r->bad_gzip++;
                warc_fault_(r, r->out_base + r->end + n);
                r->in_member = 0;
            }
            break;
        }
        if (!r->in_member) {
            // a new member starts here (or trailing garbage, which inflate rejects below)
            inflateReset(&r->z);
            r->member_start = r->in_base + r->in_pos;
            r->member_out = r->out_base + r->end + n;
            r->in_member = 1;
        }
        r->z.next_in = r->in + r->in_pos;
        r->z.avail_in = (uInt)(r->in_len - r->in_pos);
        r->z.next_out = (Bytef *)(r->buf + r->end + n);
        r->z.avail_out = (uInt)(want - n);
        int rc = inflate(&r->z, Z_NO_FLUSH);
        size_t used = (r->in_len - r->in_pos) - r->z.avail_in;
        size_t made = (want - n) - r->z.avail_out;
        r->in_pos += used;
        n += made;
        if (rc == Z_STREAM_END) {
            r->in_member = 0;
        } else if (rc == Z_BUF_ERROR || rc == Z_OK) {
            if (used == 0 && made == 0 && r->in_pos < r->in_len) {
                // no progress with input available: treat as a fault
                rc = Z_DATA_ERROR;
            } else {
                continue;
            }
        }
        if (rc != Z_STREAM_END && rc != Z_OK && rc != Z_BUF_ERROR) {
            r->bad_gzip++;
            warc_fault_(r, r->out_base + r->end + n);
            r->in_member = 0;
            if (!warc_resync_gzip_(r)) {
                r->in_pos = r->in_len;
                r->src_eof = 1;
                break;
            }
            if (n > 0) {
                break; // hand over what came before the fault; fault_lo/hi mark it
            }
        }
    }
    return n;
}

// Makes at least `need` bytes available at buf[start..] unless the data ends first; returns
// what is available.
static size_t warc_fill_(WarcReader *r, size_t need) {
    while (r->end - r->start < need && !r->eof) {
        if (r->start > 0 && (r->start > r->cap / 2 || r->end + (need - (r->end - r->start)) > r->cap)) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->out_base += r->start;
            r->start = 0;
        }
        if (need > r->cap - r->start) {
            size_t cap = r->cap;
            while (cap < need + r->start) {
                cap *= 2;
            }
            char *p = (char *)realloc(r->buf, cap);
            if (p == NULL) {
                die("out of memory (WARC window of %zu bytes)", cap);
            }
            r->buf = p;
            r->cap = cap;
        }
        size_t room = r->cap - r->end;
        size_t want = room < WARC_IN_CHUNK ? room : WARC_IN_CHUNK;
        if (want == 0) {
            break;
        }
        size_t got = warc_produce_(r, want);
        r->end += got;
        if (got == 0 && (r->src_eof && r->in_pos == r->in_len)) {
            r->eof = 1;
        }
    }
    return r->end - r->start;
}

static void warc_init_(WarcReader *r) {
    r->cap = 4 * WARC_IN_CHUNK;
    r->buf = (char *)malloc_check(r->cap);
    if (r->max_record == 0) {
        r->max_record = 64u << 20;
    }
    // sniff gzip: 1f 8b
    if (r->in_len - r->in_pos < 2) {
        warc_src_more_(r);
    }
    if (r->in_len - r->in_pos >= 2 && r->in[r->in_pos] == 0x1f && r->in[r->in_pos + 1] == 0x8b) {
        r->gz = 1;
        memset(&r->z, 0, sizeof(r->z));
        if (inflateInit2(&r->z, 15 + 16) != Z_OK) { // 16: gzip wrapper
            die("zlib: inflateInit2 failed");
        }
    }
}

static inline void warc_open_file(WarcReader *r, FILE *fp, size_t max_record) {
    memset(r, 0, sizeof(*r));
    r->fp = fp;
    r->max_record = max_record;
    r->in = (unsigned char *)malloc_check(WARC_IN_WINDOW);
    r->in_cap = WARC_IN_WINDOW;
    warc_init_(r);
}

// Reads from memory (the caller keeps `data` alive); handy for fuzzing and tests.
static inline void warc_open_mem(WarcReader *r, const void *data, size_t len, size_t max_record) {
    memset(r, 0, sizeof(*r));
    r->mem = (const unsigned char *)data;
    r->mem_len = len;
    r->in = (unsigned char *)data;
    r->in_len = len;
    r->max_record = max_record;
    warc_init_(r);
    r->src_eof = 1;
}

static inline void warc_close(WarcReader *r) {
    if (r->gz) {
        inflateEnd(&r->z);
    }
    if (!r->mem) {
        free(r->in);
    }
    if (r->ld) {
        libdeflate_free_decompressor(r->ld);
    }
    free(r->stage.data);
    free(r->buf);
    free(r->head.data);
    memset(r, 0, sizeof(*r));
}

// Source bytes consumed so far (compressed bytes for .gz): for progress and MB/s.
static inline uint64_t warc_offset(const WarcReader *r) { return r->in_base + r->in_pos; }

// ---- records -------------------------------------------------------------------------------

// Case-insensitive "Name:" match at the start of a header line; returns the trimmed value.
static char *warc_header_value_(char *line, const char *name) {
    size_t n = strlen(name);
    if (strncasecmp(line, name, n) != 0 || line[n] != ':') {
        return NULL;
    }
    char *v = line + n + 1;
    while (*v == ' ' || *v == '\t') {
        v++;
    }
    size_t len = strlen(v);
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t' || v[len - 1] == '\r')) {
        v[--len] = '\0';
    }
    return v;
}

// Skips forward to the next line starting with "WARC/1." (after a malformed header).
static void warc_resync_header_(WarcReader *r) {
    r->start++;
    for (;;) {
        size_t have = warc_fill_(r, 8);
        if (have < 8) {
            r->start = r->end;
            return;
        }
        const char *s = r->buf + r->start;
        const char *p = (const char *)memmem(s, have, "\nWARC/1.", 8);
        if (p) {
            r->start += (size_t)(p - s) + 1;
            return;
        }
        r->start = r->end - 7; // keep a possible partial match; the next fill reads more
    }
}

// A record overlapping a broken member's output is damaged; reading resumes where the next
// good member's output starts, when that is still in the window. Returns 1 if damaged.
static int warc_check_faults_(WarcReader *r, uint64_t rec_start) {
    uint64_t rec_end = r->out_base + r->start;
    int damaged = 0, k = 0;
    for (int i = 0; i < r->n_faults; i++) {
        uint64_t lo = r->fault_lo[i], hi = r->fault_hi[i];
        if (rec_end > lo && rec_start < hi) {
            if (!damaged && hi >= r->out_base && hi <= r->out_base + r->end) {
                r->start = (size_t)(hi - r->out_base);
            }
            damaged = 1;
        } else if (hi >= rec_end) {
            r->fault_lo[k] = lo; // still ahead
            r->fault_hi[k++] = hi;
        }
    }
    r->n_faults = k;
    return damaged;
}

// Next record; 0 at the end of the input. Malformed headers are skipped (counted in bad_header).
static int warc_next(WarcReader *r, WarcRecord *rec) {
    for (;;) {
        memset(rec, 0, sizeof(*rec));
        // skip blank bytes between records
        for (;;) {
            if (warc_fill_(r, 1) == 0) {
                return 0;
            }
            char c = r->buf[r->start];
            if (c != '\r' && c != '\n' && c != ' ' && c != '\t') {
                break;
            }
            r->start++;
        }
        uint64_t rec_start = r->out_base + r->start;
        size_t have = warc_fill_(r, 8);
        if (have < 8 || memcmp(r->buf + r->start, "WARC/1.", 7) != 0) {
            r->bad_header++;
            warc_resync_header_(r);
            continue;
        }
        // find the end of the header block, growing the look-ahead up to WARC_MAX_HEADER
        const char *hend = NULL;
        size_t look = 4096;
        for (;;) {
            have = warc_fill_(r, look);
            hend = (const char *)memmem(r->buf + r->start, have < WARC_MAX_HEADER ? have : WARC_MAX_HEADER,
                                        "\r\n\r\n", 4);
            if (hend || have < look || look >= WARC_MAX_HEADER) {
                break;
            }
            look *= 2;
        }
        if (hend == NULL) {
            r->bad_header++;
            if (have < look) {
                r->truncated++;
            }
            warc_resync_header_(r);
            continue;
        }
        size_t hlen = (size_t)(hend - (r->buf + r->start));
        buf_clear(&r->head);
        buf_put(&r->head, r->buf + r->start, hlen);
        // parse the header lines in place
        rec->type = rec->uri = rec->date = rec->id = rec->content_type = "";
        int have_len = 0;
        char *line = r->head.data;
        while (line && *line) {
            char *nl = strstr(line, "\r\n");
            if (nl) {
                *nl = '\0';
            }
            char *v;
            if ((v = warc_header_value_(line, "WARC-Type"))) {
                rec->type = v;
            } else if ((v = warc_header_value_(line, "WARC-Target-URI"))) {
                if (v[0] == '<') { // WARC 1.0 drafts wrote <uri>
                    v++;
                    size_t n = strlen(v);
                    if (n && v[n - 1] == '>') {
                        v[n - 1] = '\0';
                    }
                }
                rec->uri = v;
            } else if ((v = warc_header_value_(line, "WARC-Date"))) {
                rec->date = v;
            } else if ((v = warc_header_value_(line, "WARC-Record-ID"))) {
                rec->id = v;
            } else if ((v = warc_header_value_(line, "Content-Type"))) {
                rec->content_type = v;
            } else if ((v = warc_header_value_(line, "Content-Length"))) {
                char *end = NULL;
                unsigned long long n = strtoull(v, &end, 10);
                if (end != v && *end == '\0' && v[0] != '-') {
                    rec->content_length = n;
                    have_len = 1;
                }
            }
            line = nl ? nl + 2 : NULL;
        }
        if (!have_len) {
            r->bad_header++;
            warc_resync_header_(r);
            continue;
        }
        r->start += hlen + 4;
        r->records++;
        if (rec->content_length > r->max_record) {
            // stream past the body without keeping it
            uint64_t left = rec->content_length;
            while (left > 0) {
                size_t avail = warc_fill_(r, 1);
                if (avail == 0) {
                    break;
                }
                size_t k = avail < left ? avail : (size_t)left;
                r->start += k;
                left -= k;
                if (r->start == r->end) {
                    r->out_base += r->end;
                    r->start = r->end = 0;
                }
            }
            rec->too_big = 1;
            if (left > 0) {
                r->truncated++;
                rec->damaged = 1;
            }
        } else {
            size_t len = (size_t)rec->content_length;
            have = warc_fill_(r, len);
            if (have < len) {
                r->truncated++;
                rec->damaged = 1;
                len = have;
            }
            rec->body = r->buf + r->start;
            rec->body_len = len;
            r->start += len;
        }
        if (warc_check_faults_(r, rec_start)) {
            rec->damaged = 1;
        }
        rec->offset = warc_offset(r);
        return 1;
    }
}

// ---- HTTP responses ------------------------------------------------------------------------

typedef struct {
    int status;               // 200, 404, ... (0: not an HTTP response)
    char content_type[128];   // lower-cased media type without parameters ("text/html")
    char charset[64];         // from the charset= parameter ("" when absent)
    char encoding[32];        // Content-Encoding ("" when identity)
    int chunked;              // Transfer-Encoding: chunked
    const char *body;         // payload (still chunked / encoded when flagged above)
    size_t body_len;
} HttpResponse;

// Copies a header value's media type and charset parameter, lower-cased.
static void http_parse_content_type(const char *v, size_t n, char *type, size_t type_cap, char *charset,
                                    size_t cs_cap) {
    size_t i = 0, k = 0;
    while (i < n && (v[i] == ' ' || v[i] == '\t')) {
        i++;
    }
    while (i < n && v[i] != ';' && v[i] != ' ' && k + 1 < type_cap) {
        char c = v[i++];
        type[k++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    type[k] = '\0';
    for (; i + 8 <= n; i++) {
        if (strncasecmp(v + i, "charset=", 8) == 0) {
            i += 8;
            k = 0;
            while (i < n && (v[i] == '"' || v[i] == '\'' || v[i] == ' ')) {
                i++;
            }
            while (i < n && v[i] != '"' && v[i] != '\'' && v[i] != ';' && v[i] != ' ' && v[i] != '\r' &&
                   k + 1 < cs_cap) {
                char c = v[i++];
                charset[k++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
            }
            charset[k] = '\0';
            break;
        }
    }
}

// Splits an HTTP response block into status, headers of interest and payload; 0 when the block
// does not start with an HTTP status line or has no end of headers.
static int http_parse_response(const char *p, size_t n, HttpResponse *h) {
    memset(h, 0, sizeof(*h));
    if (n < 12 || memcmp(p, "HTTP/", 5) != 0) {
        return 0;
    }
    const char *sp = (const char *)memchr(p, ' ', n < 32 ? n : 32);
    if (sp == NULL || sp + 4 > p + n) {
        return 0;
    }
    int status = 0;
    for (int i = 1; i <= 3; i++) {
        if (sp[i] < '0' || sp[i] > '9') {
            return 0;
        }
        status = status * 10 + (sp[i] - '0');
    }
    // end of headers: CRLFCRLF, or bare LFLF from sloppy servers
    const char *e = (const char *)memmem(p, n, "\r\n\r\n", 4);
    size_t sep = 4;
    const char *e2 = (const char *)memmem(p, e ? (size_t)(e - p) : n, "\n\n", 2);
    if (e2) {
        e = e2;
        sep = 2;
    }
    if (e == NULL) {
        return 0;
    }
    h->status = status;
    const char *line = (const char *)memchr(p, '\n', (size_t)(e - p));
    while (line && line < e) {
        line++;
        const char *nl = (const char *)memchr(line, '\n', (size_t)(e - line));
        size_t len = nl ? (size_t)(nl - line) : (size_t)(e - line);
        if (len >= 13 && strncasecmp(line, "Content-Type:", 13) == 0) {
            http_parse_content_type(line + 13, len - 13, h->content_type, sizeof(h->content_type), h->charset,
                                    sizeof(h->charset));
        } else if (len >= 17 && strncasecmp(line, "Content-Encoding:", 17) == 0) {
            size_t i = 17, k = 0;
            while (i < len && line[i] == ' ') {
                i++;
            }
            while (i < len && line[i] != '\r' && line[i] != ' ' && k + 1 < sizeof(h->encoding)) {
                char c = line[i++];
                h->encoding[k++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
            }
            h->encoding[k] = '\0';
            if (strcmp(h->encoding, "identity") == 0) {
                h->encoding[0] = '\0';
            }
        } else if (len >= 18 && strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
            for (size_t i = 18; i + 7 <= len; i++) {
                if (strncasecmp(line + i, "chunked", 7) == 0) {
                    h->chunked = 1;
                }
            }
        }
        line = nl;
    }
    h->body = e + sep;
    h->body_len = n - (size_t)(h->body - p);
    return 1;
}

// Removes chunked transfer coding into `out`; 0 when the chunk structure is broken.
static int http_dechunk(const char *p, size_t n, Buf *out) {
    size_t i = 0;
    buf_clear(out);
    for (;;) {
        uint64_t size = 0;
        int digits = 0;
        while (i < n) {
            char c = p[i];
            int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                    : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
            if (d < 0) {
                break;
            }
            if (size > (UINT64_MAX >> 4)) {
                return 0;
            }
            size = size * 16 + (uint64_t)d;
            digits++;
            i++;
        }
        if (!digits) {
            return 0;
        }
        const char *nl = (const char *)memchr(p + i, '\n', n - i);
        if (nl == NULL) {
            return 0;
        }
        i = (size_t)(nl - p) + 1;
        if (size == 0) {
            return 1;
        }
        if (size > n - i) {
            return 0;
        }
        buf_put(out, p + i, (size_t)size);
        i += (size_t)size;
        while (i < n && (p[i] == '\r' || p[i] == '\n')) {
            i++;
        }
    }
}

// Inflates a gzip or deflate Content-Encoding into `out`, at most `max_out` bytes; 0 on failure.
static int http_inflate(const char *p, size_t n, int gzip, size_t max_out, Buf *out) {
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, gzip ? 15 + 16 : 15 + 32) != Z_OK) {
        return 0;
    }
    buf_clear(out);
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)(n > UINT32_MAX ? UINT32_MAX : n);
    int rc = Z_OK;
    while (rc == Z_OK && out->len < max_out) {
        buf_reserve(out, 65536);
        z.next_out = (Bytef *)(out->data + out->len);
        z.avail_out = 65536;
        rc = inflate(&z, Z_NO_FLUSH);
        out->len += 65536 - z.avail_out;
        if (rc == Z_BUF_ERROR) {
            break;
        }
    }
    out->data[out->len] = '\0';
    inflateEnd(&z);
    return rc == Z_STREAM_END && out->len <= max_out;
}

#endif
