// Fuzzes the tokenizer file reader (llmc/tokenizer.h), versions 1 to 3, then decodes every id
// and, when the file has merges, encodes a fixed text and the input's own bytes.
// A version 3 input gets its payload size [5] and checksum [6] set right before it is loaded,
// so mutations reach the decode table and the merges instead of stopping at the checksum
// (whose mismatch t_tokenizer tests).
#include "dev/fuzz/fuzz.h"
#include "llmc/tokenizer.h"

static uint8_t *fuzz_copy;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_copy = (uint8_t *)realloc(fuzz_copy, size ? size : 1);
    memcpy(fuzz_copy, data, size);
    uint32_t h[7];
    if (size >= 1024) {
        memcpy(h, fuzz_copy, sizeof(h));
        if (h[1] == 3) {
            h[5] = (uint32_t)(size - 1024);
            h[6] = tokenizer_fnv1a32_(fuzz_copy + 1024, size - 1024);
            memcpy(fuzz_copy, h, sizeof(h));
        }
    }
    const char *path = fuzz_write_input(fuzz_copy, size);
    FUZZ_TRY({
        Tokenizer t;
        if (tokenizer_try_init(&t, path)) {
            size_t len, total = 0;
            for (uint32_t id = 0; id <= t.vocab_size; id++) { // one past the end: NULL
                const unsigned char *p = tokenizer_decode(&t, id, &len);
                total += p != NULL ? len : 0;
            }
            if (t.can_encode) {
                static const char text[] = "Hello world! It's 2024, isn't it?\n\n  caf\xc3\xa9 \xff<|endoftext|>";
                TokenBuf b;
                tokenbuf_init(&b);
                tokenizer_encode(&t, text, sizeof(text) - 1, 1, &b);
                tokenizer_encode(&t, data, size < 256 ? size : 256, 0, &b);
                tokenbuf_free(&b);
            }
            tokenizer_free(&t);
            (void)total;
        }
    });
    return 0;
}
