// Fuzzes the debug state reader (llmc/debug_state.h), versions 2 and 3, for the model of the
// seeds (dev/fuzz/make_seeds.py): L1 C8 H1 V5 Vp8 maxT4.
#include "dev/fuzz/fuzz.h"
#include "llmc/debug_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_input(data, size);
    GPT2Config c = {0};
    c.max_seq_len = 4;
    c.vocab_size = 5;
    c.padded_vocab_size = 8;
    c.num_layers = 1;
    c.num_heads = 1;
    c.channels = 8;
    FUZZ_TRY({
        DebugState d;
        debug_state_read(&d, path, &c);
        debug_state_free(&d);
    });
    return 0;
}
