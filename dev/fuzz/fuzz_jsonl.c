// Fuzzes tokenize's JSON-lines reader (json_extract in tokenize.c): each line of the input as a
// record whose "text" field is wanted, and as a bare JSON string.
#define _GNU_SOURCE // tokenize.c uses memmem; fuzz.h includes the system headers first
#include "dev/fuzz/fuzz.h"
#define main tokenize_main // the program around the reader is not under test
#include "tokenize.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FUZZ_TRY({
        Bytes out = {0};
        const char *s = (const char *)data;
        size_t start = 0;
        while (start <= size) {
            const char *nl = (const char *)memchr(s + start, '\n', size - start);
            size_t end = nl != NULL ? (size_t)(nl - s) : size;
            out.len = 0;
            (void)json_extract(s + start, end - start, "text", &out);
            out.len = 0;
            (void)json_extract(s + start, end - start, NULL, &out);
            start = end + 1;
        }
        free(out.data);
    });
    return 0;
}
