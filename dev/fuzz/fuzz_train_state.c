// Fuzzes the resume path (llmc/train_state.h): the input is the state file of step 1 in a
// directory that also holds a valid model_00000001.bin and DONE_00000001 (written once at
// start, model L1 C8 H1 V5 Vp8 maxT4), resumed into a data loader over a small valid shard.
// The state's two checksums (file [255], data-loader state) are set right before loading, so
// mutations reach the fields behind them (the mismatches themselves are tested in t_train and
// t_dataloader).
#include "dev/fuzz/fuzz.h"
#include "llmc/train_state.h"

static char dir[256];
static GPT2Config config;
static size_t n;
static float *params, *m, *v;
static DataLoader loader;
static uint8_t *fuzz_copy;

static void setup(void) {
    snprintf(dir, sizeof(dir), "%s/llmc_fuzz_%d_state", fuzz_tmpdir(), (int)getpid());
    make_dir_check(dir);
    config.max_seq_len = 4;
    config.vocab_size = 5;
    config.padded_vocab_size = 8;
    config.num_layers = 1;
    config.num_heads = 1;
    config.channels = 8;
    size_t sizes[NUM_PARAMETER_TENSORS];
    n = gpt2_param_sizes(&config, sizes);
    params = (float *)calloc_check(n, sizeof(float));
    m = (float *)calloc_check(n, sizeof(float));
    v = (float *)calloc_check(n, sizeof(float));
    char path[400];
    snprintf(path, sizeof(path), "%s/model_00000001.bin", dir);
    gpt2_write_checkpoint(path, &config, params, n, GPT2_CHECKPOINT_FP32);
    snprintf(path, sizeof(path), "%s/DONE_00000001", dir);
    FILE *fp = fopen_check(path, "wb");
    fclose_check(fp, path);
    // a shard of 200 tokens < 5: 12 windows of B*T = 2*8
    snprintf(path, sizeof(path), "%s/shard.bin", dir);
    fp = fopen_check(path, "wb");
    int32_t h[256] = {20240520, 1, 200};
    fwrite_check(h, sizeof(h), 1, fp, path);
    for (int i = 0; i < 200; i++) {
        uint16_t t = (uint16_t)(i % 5);
        fwrite_check(&t, sizeof(t), 1, fp, path);
    }
    fclose_check(fp, path);
    dataloader_init(&loader, path, 2, 8, 0, 1, 1, 42);
    dataloader_set_prefetch(&loader, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (params == NULL) setup();
    fuzz_copy = (uint8_t *)realloc(fuzz_copy, size ? size : 1);
    memcpy(fuzz_copy, data, size);
    if (size >= 1024 + DATALOADER_STATE_BYTES) {
        unsigned char *ds = fuzz_copy + 1024;
        dl_put_u64(ds + 120, fnv1a64(FNV1A64_INIT, ds, 120));
        int32_t h[LLMC_HEADER_INTS];
        memcpy(h, fuzz_copy, sizeof(h));
        h[255] = 0;
        uint32_t sum = fnv1a32(FNV1A32_INIT, h, sizeof(h));
        sum = fnv1a32(sum, fuzz_copy + 1024, size - 1024);
        h[255] = (int32_t)sum;
        memcpy(fuzz_copy, h, sizeof(h));
    }
    char path[400];
    snprintf(path, sizeof(path), "%s/state_00000001_00000.bin", dir);
    FILE *fp = fopen(path, "wb");
    if (fp == NULL || fwrite(fuzz_copy, 1, size, fp) != size || fclose(fp) != 0) abort();
    FUZZ_TRY({
        uint64_t rng;
        train_state_check_layout(dir, 1, 1, 0);
        (void)train_state_load(dir, 1, &config, m, v, params, n, 0, n, 0, &loader, &rng, 0, 1);
        dataloader_next_batch(&loader); // the restored position must be usable
    });
    return 0;
}
