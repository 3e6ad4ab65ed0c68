// Fuzzes the model checkpoint reader (llmc/gpt2.h), versions 3 (fp32) and 5 (bf16): header,
// config validation, size check, parameter read with bf16 conversion.
#include "dev/fuzz/fuzz.h"
#include "llmc/gpt2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_input(data, size);
    FUZZ_TRY({
        FILE *fp = fopen_check(path, "rb");
        GPT2Config c;
        int version = gpt2_read_checkpoint_header(fp, path, &c);
        size_t sizes[NUM_PARAMETER_TENSORS];
        size_t n = gpt2_param_sizes(&c, sizes);
        float *params = (float *)malloc_check(n * sizeof(float));
        gpt2_read_checkpoint_params(fp, path, version, params, n);
        fclose_check(fp, path);
        free(params);
    });
    return 0;
}
