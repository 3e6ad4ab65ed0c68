// fuzz_warc.c: libFuzzer harness for webclean's record readers: the WARC reader (plain and gzip,
// llmc/warc.h), the HTTP response parser and dechunker, charset conversion (llmc/charset.h) and
// the HTML text extraction (llmc/html_text.h), on one memory buffer; and, differentially, the
// extraction with and without the parse pre-pass (llmc/html_blank.h), on each page and on the
// input itself taken as a page: the two texts must be equal. The WARC reader also runs twice,
// with and without libdeflate's whole-member inflation: the records and counts must be equal.
//
//   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. dev/fuzz/fuzz_warc.c -lgumbo -ldeflate -lz \
//       -o build/fuzz_warc && build/fuzz_warc -max_total_time=60 build/test/webclean/corpus/
#define _GNU_SOURCE // memmem
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "llmc/charset.h"
#include "llmc/html_text.h"
#include "llmc/warc.h"

static HtmlArena arena;
static Buf text, text_plain;

// html_extract's shortcuts (the html_blank.h pre-pass, the html_fast.h streaming tree
// construction, each alone and both) against Gumbo on the page as is: a difference is a bug
static void extract_all(const char *html, size_t n) {
    static const int ways[3][2] = {{0, 1}, {1, 0}, {0, 0}}; // {plain, gumbo}
    HtmlOptions ref = {0.5, 0, 1, 1};
    if (html_extract(html, n, &ref, &arena, &text_plain) < 0) {
        return; // libgumbo failed an assertion: the page is dropped, nothing to compare
    }
    for (int k = 0; k < 3; k++) {
        HtmlOptions ho = {0.5, 0, ways[k][0], ways[k][1]};
        if (html_extract(html, n, &ho, &arena, &text) < 0) {
            continue;
        }
        if (text.len != text_plain.len || (text.len && memcmp(text.data, text_plain.data, text.len) != 0)) {
            fprintf(stderr, "html_text.h: %s changed the extracted text\n",
                    k == 0 ? "the html_blank.h pre-pass" : k == 1 ? "the html_fast.h tree construction" : "pre-pass + fast path");
            abort();
        }
    }
}

// The same records from the reader with libdeflate and with zlib alone: a difference is a bug in
// warc.h's whole-member path.
static void warc_both_ways(const uint8_t *data, size_t size) {
    WarcReader a, b;
    warc_open_mem(&a, data, size, 1 << 20);
    warc_open_mem(&b, data, size, 1 << 20);
    b.zlib_only = 1;
    WarcRecord ra, rb;
    for (int n = 0; n < 64; n++) {
        int ha = warc_next(&a, &ra), hb = warc_next(&b, &rb);
        if (ha != hb || (ha && (strcmp(ra.type, rb.type) != 0 || strcmp(ra.uri, rb.uri) != 0 ||
                                ra.damaged != rb.damaged || ra.too_big != rb.too_big ||
                                ra.body_len != rb.body_len || memcmp(ra.body, rb.body, ra.body_len) != 0))) {
            fprintf(stderr, "warc.h: libdeflate and zlib read different records\n");
            abort();
        }
        if (!ha) {
            break;
        }
    }
    if (a.bad_gzip != b.bad_gzip || a.bad_header != b.bad_header || a.truncated != b.truncated) {
        fprintf(stderr, "warc.h: libdeflate and zlib count different faults\n");
        abort();
    }
    warc_close(&a);
    warc_close(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    warc_both_ways(data, size);
    static Charset cs;
    static Buf raw, utf8;
    WarcReader r;
    warc_open_mem(&r, data, size, 1 << 20);
    WarcRecord rec;
    int n = 0;
    while (warc_next(&r, &rec) && n++ < 64) {
        HttpResponse h;
        if (rec.damaged || !http_parse_response(rec.body, rec.body_len, &h)) {
            continue;
        }
        const char *p = h.body;
        size_t len = h.body_len;
        if (h.chunked) {
            if (!http_dechunk(p, len, &raw)) {
                continue;
            }
            p = raw.data ? raw.data : "";
            len = raw.len;
        }
        charset_to_utf8(&cs, h.charset, p, len, &utf8);
        extract_all(utf8.data ? utf8.data : "", utf8.len);
    }
    warc_close(&r);
    charset_to_utf8(&cs, "utf-8", (const char *)data, size, &utf8); // the input itself as a page
    extract_all(utf8.data ? utf8.data : "", utf8.len);
    return 0;
}
