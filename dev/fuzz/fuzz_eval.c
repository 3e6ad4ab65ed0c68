// Fuzzes the multiple-choice eval file reader (HellaSwag layout, llmc/dataloader.h): every
// example's fields at init, then every batch (B=8, T=32) and the scoring of made-up losses.
#include "dev/fuzz/fuzz.h"
#include "llmc/dataloader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_input(data, size);
    FUZZ_TRY({
        EvalLoader e;
        evalloader_init(&e, path, 8, 32, 0, 1);
        float *losses = (float *)malloc_check(8 * 32 * sizeof(float));
        for (size_t i = 0; i < 8 * 32; i++) losses[i] = (float)(i % 7);
        for (size_t b = 0; b < evalloader_num_batches(&e); b++) {
            evalloader_next_batch(&e);
            (void)evalloader_stat_losses(&e, losses);
        }
        free(losses);
        evalloader_free(&e);
    });
    return 0;
}
