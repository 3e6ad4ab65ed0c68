// fuzz_warc.c: libFuzzer harness for webclean's record readers: the WARC reader (plain and gzip,
// llmc/warc.h), the HTTP response parser and dechunker, charset conversion (llmc/charset.h) and
// the HTML text extraction (llmc/html_text.h), on one memory buffer.
//
//   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. dev/fuzz/fuzz_warc.c -lgumbo -lz \
//       -o build/fuzz_warc && build/fuzz_warc -max_total_time=60 build/test/webclean/corpus/
#define _GNU_SOURCE // memmem
#include <stddef.h>
#include <stdint.h>

#include "llmc/charset.h"
#include "llmc/html_text.h"
#include "llmc/warc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static Charset cs;
    static HtmlArena arena;
    static Buf raw, utf8, text;
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
        HtmlOptions ho = {0.5, 0};
        html_extract(utf8.data ? utf8.data : "", utf8.len, &ho, &arena, &text);
    }
    warc_close(&r);
    return 0;
}
