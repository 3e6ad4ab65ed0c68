// Fuzzes the token shard reader (llmc/dataloader.h): header and size checks at init, then
// three batches (B=2, T=8, shuffled) with the vocabulary check on.
#include "dev/fuzz/fuzz.h"
#include "llmc/dataloader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_input_as(data, size, "shard.bin");
    FUZZ_TRY({
        static DataLoader l; // static: the read-ahead thread must be stopped after a die()
        dataloader_init(&l, path, 2, 8, 0, 1, 1, 1234);
        dataloader_set_prefetch(&l, 0);
        dataloader_set_vocab_size(&l, 50257);
        for (int i = 0; i < 3; i++) {
            dataloader_next_batch(&l);
        }
        dataloader_free(&l);
    });
    return 0;
}
