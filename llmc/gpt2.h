/*
 * gpt2.h: the GPT-2 model description shared by every program in this tree.
 *
 * One table (GPT2_PARAMS) lists the 16 parameter tensors in checkpoint order with their
 * shapes, weight decay and initialisation. Allocation, checkpoint I/O, random init, the
 * optimizer and the tests all walk this table, so no code uses magic tensor indices.
 *
 * Checkpoint format (doc/formats.md "Model checkpoint", llm.c compatible): 256 int32 header
 *   [0] 20240326 [1] version (3 = fp32, 5 = bf16) [2] max_seq_len [3] V [4] L [5] NH [6] C [7] Vp
 *   [254] GPT2_CHECKSUM_TAG and [255] FNV-1a of the payload when written here (optional)
 * then the 16 tensors back to back; per-layer tensors hold all L layers contiguously.
 */
#ifndef LLMC_GPT2_H
#define LLMC_GPT2_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rand.h"
#include "utils.h"

#define GPT2_CHECKPOINT_MAGIC 20240326
#define GPT2_CHECKPOINT_FP32 3
#define GPT2_CHECKPOINT_BF16 5

typedef struct {
    int max_seq_len;       // maxT, size of the position table (1024 for GPT-2)
    int vocab_size;        // V, real vocabulary (50257)
    int padded_vocab_size; // Vp, V rounded up to a multiple of 128 so the classifier tiles well
    int num_layers;        // L
    int num_heads;         // NH
    int channels;          // C, a multiple of NH
} GPT2Config;

// A dimension in the parameter table, resolved against a GPT2Config.
typedef enum { DIM_1, DIM_C, DIM_VP, DIM_MAXT } GPT2Dim;

typedef enum {
    INIT_NORMAL,          // N(0, 0.02)
    INIT_NORMAL_RESIDUAL, // N(0, 0.02 / sqrt(2L)): projections into the residual stream
    INIT_ZEROS,
    INIT_ONES,
} GPT2Init;

typedef struct {
    const char *name;
    int per_layer;    // 1: the tensor holds one (rows, cols) slice per layer
    int weight_decay; // 1: 2-D matrices, decayed by AdamW; biases and LayerNorm are not
    GPT2Init init;
    int rows_mult;    // slice shape = (rows_mult * rows, cols_mult * cols)
    GPT2Dim rows;
    int cols_mult;
    GPT2Dim cols;
} GPT2ParamSpec;

enum {
    PARAM_WTE, PARAM_WPE, PARAM_LN1W, PARAM_LN1B, PARAM_QKVW, PARAM_QKVB,
    PARAM_ATTPROJW, PARAM_ATTPROJB, PARAM_LN2W, PARAM_LN2B, PARAM_FCW, PARAM_FCB,
    PARAM_FCPROJW, PARAM_FCPROJB, PARAM_LNFW, PARAM_LNFB,
    NUM_PARAMETER_TENSORS
};

// Checkpoint order. Rows of wte past V are padding: zero at init and never trained.
static const GPT2ParamSpec GPT2_PARAMS[NUM_PARAMETER_TENSORS] = {
    // name        per_layer decay init                  rows          cols
    {"wte",        0, 1, INIT_NORMAL,          1, DIM_VP,   1, DIM_C},
    {"wpe",        0, 1, INIT_NORMAL,          1, DIM_MAXT, 1, DIM_C},
    {"ln1w",       1, 0, INIT_ONES,            1, DIM_1,    1, DIM_C},
    {"ln1b",       1, 0, INIT_ZEROS,           1, DIM_1,    1, DIM_C},
    {"qkvw",       1, 1, INIT_NORMAL,          3, DIM_C,    1, DIM_C},
    {"qkvb",       1, 0, INIT_ZEROS,           1, DIM_1,    3, DIM_C},
    {"attprojw",   1, 1, INIT_NORMAL_RESIDUAL, 1, DIM_C,    1, DIM_C},
    {"attprojb",   1, 0, INIT_ZEROS,           1, DIM_1,    1, DIM_C},
    {"ln2w",       1, 0, INIT_ONES,            1, DIM_1,    1, DIM_C},
    {"ln2b",       1, 0, INIT_ZEROS,           1, DIM_1,    1, DIM_C},
    {"fcw",        1, 1, INIT_NORMAL,          4, DIM_C,    1, DIM_C},
    {"fcb",        1, 0, INIT_ZEROS,           1, DIM_1,    4, DIM_C},
    {"fcprojw",    1, 1, INIT_NORMAL_RESIDUAL, 1, DIM_C,    4, DIM_C},
    {"fcprojb",    1, 0, INIT_ZEROS,           1, DIM_1,    1, DIM_C},
    {"lnfw",       0, 0, INIT_ONES,            1, DIM_1,    1, DIM_C},
    {"lnfb",       0, 0, INIT_ZEROS,           1, DIM_1,    1, DIM_C},
};

static inline size_t gpt2_dim(const GPT2Config *c, GPT2Dim d) {
    switch (d) {
    case DIM_1: return 1;
    case DIM_C: return (size_t)c->channels;
    case DIM_VP: return (size_t)c->padded_vocab_size;
    case DIM_MAXT: return (size_t)c->max_seq_len;
    }
    return 0;
}

// Shape of one layer's slice of tensor i.
static inline size_t gpt2_param_rows(const GPT2Config *c, int i) {
    return (size_t)GPT2_PARAMS[i].rows_mult * gpt2_dim(c, GPT2_PARAMS[i].rows);
}
static inline size_t gpt2_param_cols(const GPT2Config *c, int i) {
    return (size_t)GPT2_PARAMS[i].cols_mult * gpt2_dim(c, GPT2_PARAMS[i].cols);
}
static inline size_t gpt2_param_layers(const GPT2Config *c, int i) {
    return GPT2_PARAMS[i].per_layer ? (size_t)c->num_layers : 1;
}
// Total elements of tensor i over all layers.
static inline size_t gpt2_param_numel(const GPT2Config *c, int i) {
    return gpt2_param_layers(c, i) * gpt2_param_rows(c, i) * gpt2_param_cols(c, i);
}

// Fills sizes[i] (elements of tensor i) and returns the total parameter count.
static inline size_t gpt2_param_sizes(const GPT2Config *c, size_t sizes[NUM_PARAMETER_TENSORS]) {
    size_t total = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        sizes[i] = gpt2_param_numel(c, i);
        total += sizes[i];
    }
    return total;
}

// Element offset of each tensor in the flat parameter buffer (checkpoint order).
static inline size_t gpt2_param_offsets(const GPT2Config *c, size_t offsets[NUM_PARAMETER_TENSORS]) {
    size_t total = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        offsets[i] = total;
        total += gpt2_param_numel(c, i);
    }
    return total;
}

static inline int gpt2_pad_vocab(int V) { return ((V + 127) / 128) * 128; }

// Checks a config for sanity; `what` names where it came from (a file, a flag).
static inline void gpt2_validate_config(const GPT2Config *c, const char *what) {
    if (c->num_layers < 1 || c->num_layers > 1000) die("%s: num_layers %d out of range [1, 1000]", what, c->num_layers);
    if (c->num_heads < 1 || c->num_heads > 1024) die("%s: num_heads %d out of range [1, 1024]", what, c->num_heads);
    if (c->channels < 1 || c->channels > 65536) die("%s: channels %d out of range [1, 65536]", what, c->channels);
    if (c->channels % c->num_heads != 0) die("%s: channels %d is not a multiple of num_heads %d", what, c->channels, c->num_heads);
    if (c->vocab_size < 1 || c->vocab_size > 65536) die("%s: vocab_size %d out of range [1, 65536] (tokens are uint16 in shards)", what, c->vocab_size);
    if (c->padded_vocab_size < c->vocab_size || c->padded_vocab_size > (1 << 20)) die("%s: padded_vocab_size %d must be >= vocab_size %d", what, c->padded_vocab_size, c->vocab_size);
    if (c->max_seq_len < 1 || c->max_seq_len > (1 << 20)) die("%s: max_seq_len %d out of range [1, 1048576]", what, c->max_seq_len);
}

// Model descriptors: "d12" etc. are the GPT-2 sizes; the general form
//   "L<layers>:C<channels>:H<heads>[:V<vocab>][:T<max_seq_len>]"   e.g. "L3:C48:H3:V97:T64"
// builds any shape (V defaults to 50257, T to 1024). Returns 0 if `s` is not a descriptor
// (then it is taken as a checkpoint path); dies on a malformed general form.
static inline int gpt2_config_from_descriptor(GPT2Config *c, const char *s) {
    int L = 0, C = 0, NH = 0, V = 50257, T = 1024;
    if (strcmp(s, "d6") == 0) { L = 6; C = 384; NH = 6; }
    else if (strcmp(s, "d12") == 0) { L = 12; C = 768; NH = 12; }
    else if (strcmp(s, "d24") == 0) { L = 24; C = 1024; NH = 16; }
    else if (strcmp(s, "d36") == 0) { L = 36; C = 1280; NH = 20; }
    else if (strcmp(s, "d48") == 0) { L = 48; C = 1600; NH = 25; }
    else if (s[0] == 'L' && s[1] >= '0' && s[1] <= '9') {
        char buf[128];
        if (strlen(s) >= sizeof(buf)) die("model descriptor too long: %s", s);
        strcpy(buf, s);
        for (char *tok = strtok(buf, ":"); tok != NULL; tok = strtok(NULL, ":")) {
            char key = tok[0];
            char *end = NULL;
            long v = strtol(tok + 1, &end, 10);
            if (tok[1] == '\0' || *end != '\0' || v <= 0 || v > (1 << 20)) {
                die("model descriptor '%s': bad field '%s' (expected L<n>:C<n>:H<n>[:V<n>][:T<n>])", s, tok);
            }
            switch (key) {
            case 'L': L = (int)v; break;
            case 'C': C = (int)v; break;
            case 'H': NH = (int)v; break;
            case 'V': V = (int)v; break;
            case 'T': T = (int)v; break;
            default: die("model descriptor '%s': unknown field '%c' (expected L, C, H, V or T)", s, key);
            }
        }
        if (L == 0 || C == 0 || NH == 0) die("model descriptor '%s': L, C and H are required", s);
    } else {
        return 0;
    }
    c->num_layers = L;
    c->channels = C;
    c->num_heads = NH;
    c->vocab_size = V;
    c->padded_vocab_size = gpt2_pad_vocab(V);
    c->max_seq_len = T;
    gpt2_validate_config(c, s);
    return 1;
}

// The shape a run's -e names: a descriptor, or the header of a checkpoint file (validated,
// size included). Returns 1 for a descriptor (the model is created at random), 0 for a file.
static inline int gpt2_config_of(const char *load, GPT2Config *c);

// ----------------------------------------------------------------------------
// bf16 <-> fp32 on the CPU (checkpoints of version 5)

static inline float bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

// Round to nearest even, as torch's .to(torch.bfloat16); NaN stays NaN.
static inline uint16_t float_to_bf16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof(bits));
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

// ----------------------------------------------------------------------------
// Checkpoint I/O

// Reads and validates a checkpoint header: magic, version, config, and that the file size
// equals header + payload. Returns the version (3 or 5); leaves fp at the payload.
static inline int gpt2_read_checkpoint_header(FILE *fp, const char *path, GPT2Config *c) {
    long long size = file_size_check(fp, path);
    int32_t h[LLMC_HEADER_INTS];
    read_header_check(fp, h, path);
    if (h[0] != GPT2_CHECKPOINT_MAGIC) {
        die("%s: not a GPT-2 checkpoint (magic %d, expected %d)", path, h[0], GPT2_CHECKPOINT_MAGIC);
    }
    if (h[1] != GPT2_CHECKPOINT_FP32 && h[1] != GPT2_CHECKPOINT_BF16) {
        die("%s: unsupported checkpoint version %d (expected 3 = fp32 or 5 = bf16)", path, h[1]);
    }
    c->max_seq_len = h[2];
    c->vocab_size = h[3];
    c->num_layers = h[4];
    c->num_heads = h[5];
    c->channels = h[6];
    c->padded_vocab_size = h[7];
    gpt2_validate_config(c, path);
    size_t sizes[NUM_PARAMETER_TENSORS];
    size_t n = gpt2_param_sizes(c, sizes);
    long long expected = 1024 + (long long)n * (h[1] == GPT2_CHECKPOINT_FP32 ? 4 : 2);
    if (size != expected) {
        die("%s: file is %lld bytes, expected %lld for L=%d C=%d NH=%d Vp=%d maxT=%d (version %d)%s",
            path, size, expected, c->num_layers, c->channels, c->num_heads, c->padded_vocab_size,
            c->max_seq_len, h[1], size < expected ? ": truncated" : "");
    }
    return h[1];
}

// Integrity check (ours; llm.c's readers ignore header slots past [7]): a writer here puts
// GPT2_CHECKSUM_TAG in [254] and the FNV-1a checksum of the payload bytes in [255]. Files
// without the tag (llm.c's, PyTorch's) are read unchecked.
#define GPT2_CHECKSUM_TAG 0x46534b43 // "CKSF"

// Dies naming the tensor if any value of buf is NaN or infinite. buf holds the `count` elements
// of checkpoint layout starting at element `offset` (a ZeRO-1 shard; 0 and all for a whole model).
static inline void gpt2_check_finite_range(const GPT2Config *c, const float *buf, size_t offset, size_t count,
                                           const char *path, const char *what) {
    size_t start = 0, end = offset + count;
    for (int i = 0; i < NUM_PARAMETER_TENSORS && start < end; i++) {
        size_t n = gpt2_param_numel(c, i);
        size_t lo = start > offset ? start : offset, hi = start + n < end ? start + n : end;
        for (size_t j = lo; j < hi; j++) {
            if (!isfinite(buf[j - offset])) {
                die("%s: %s tensor %s holds a non-finite value (%g at element %zu)", path, what, GPT2_PARAMS[i].name,
                    (double)buf[j - offset], j - start);
            }
        }
        start += n;
    }
}

// The same for a whole model's worth of values in checkpoint layout.
static inline void gpt2_check_finite(const GPT2Config *c, const float *params, const char *path, const char *what) {
    size_t sizes[NUM_PARAMETER_TENSORS];
    gpt2_check_finite_range(c, params, 0, gpt2_param_sizes(c, sizes), path, what);
}

// Loads all parameters as fp32 into params (num_parameters floats), converting bf16 files;
// verifies the checksum when the file has one and refuses non-finite values.
static inline void gpt2_read_checkpoint_params(FILE *fp, const char *path, int version, float *params,
                                        size_t num_parameters) {
    uint32_t sum = FNV1A32_INIT;
    if (version == GPT2_CHECKPOINT_FP32) {
        fread_check(params, sizeof(float), num_parameters, fp, path);
        sum = fnv1a32(sum, params, num_parameters * sizeof(float));
    } else {
        // bf16: convert in chunks so no second full-size buffer is needed
        uint16_t buf[8192];
        for (size_t i = 0; i < num_parameters; i += 8192) {
            size_t n = num_parameters - i < 8192 ? num_parameters - i : 8192;
            fread_check(buf, sizeof(uint16_t), n, fp, path);
            sum = fnv1a32(sum, buf, n * sizeof(uint16_t));
            for (size_t j = 0; j < n; j++) params[i + j] = bf16_to_float(buf[j]);
        }
    }
    int32_t h[LLMC_HEADER_INTS];
    if (fseek(fp, 0, SEEK_SET) != 0) die("%s: cannot seek back to the header", path);
    read_header_check(fp, h, path);
    if (h[254] == GPT2_CHECKSUM_TAG && (uint32_t)h[255] != sum) {
        die("%s: checksum mismatch: the parameters are damaged", path);
    }
    GPT2Config c;
    c.max_seq_len = h[2], c.vocab_size = h[3], c.num_layers = h[4], c.num_heads = h[5], c.channels = h[6];
    c.padded_vocab_size = h[7];
    gpt2_check_finite(&c, params, path, "parameter");
}

static inline void gpt2_fill_checkpoint_header(int32_t h[LLMC_HEADER_INTS], const GPT2Config *c, int version) {
    memset(h, 0, LLMC_HEADER_INTS * sizeof(int32_t));
    h[0] = GPT2_CHECKPOINT_MAGIC;
    h[1] = version;
    h[2] = c->max_seq_len;
    h[3] = c->vocab_size;
    h[4] = c->num_layers;
    h[5] = c->num_heads;
    h[6] = c->channels;
    h[7] = c->padded_vocab_size;
}

// Writes fp32 parameters as a version 3 (fp32) or 5 (bf16) checkpoint, atomically, with the
// payload checksum in the header (written last, once the payload is known).
static inline void gpt2_write_checkpoint(const char *path, const GPT2Config *c, const float *params,
                                  size_t num_parameters, int version) {
    char tmp[4096];
    tmp_path_for(tmp, sizeof(tmp), path);
    FILE *fp = fopen_check(tmp, "wb");
    int32_t h[LLMC_HEADER_INTS];
    gpt2_fill_checkpoint_header(h, c, version);
    fwrite_check(h, sizeof(int32_t), LLMC_HEADER_INTS, fp, tmp);
    uint32_t sum = FNV1A32_INIT;
    if (version == GPT2_CHECKPOINT_FP32) {
        fwrite_check(params, sizeof(float), num_parameters, fp, tmp);
        sum = fnv1a32(sum, params, num_parameters * sizeof(float));
    } else {
        uint16_t buf[8192];
        for (size_t i = 0; i < num_parameters; i += 8192) {
            size_t n = num_parameters - i < 8192 ? num_parameters - i : 8192;
            for (size_t j = 0; j < n; j++) buf[j] = float_to_bf16(params[i + j]);
            fwrite_check(buf, sizeof(uint16_t), n, fp, tmp);
            sum = fnv1a32(sum, buf, n * sizeof(uint16_t));
        }
    }
    h[254] = GPT2_CHECKSUM_TAG;
    h[255] = (int32_t)sum;
    if (fseek(fp, 0, SEEK_SET) != 0) die("%s: cannot seek back to the header", tmp);
    fwrite_check(h, sizeof(int32_t), LLMC_HEADER_INTS, fp, tmp);
    commit_file(fp, tmp, path);
}

// GPT-2 init from a seed into params (num_parameters floats, checkpoint layout), drawing exactly
// what train_gpt2.py draws after torch.manual_seed(seed): tensors in table order, each layer's
// slice as its own normal_() call; wte's padding rows stay 0 (llmc/rand.h says which bits match).
static inline void gpt2_init_random(const GPT2Config *c, float *params, uint64_t seed) {
    size_t offsets[NUM_PARAMETER_TENSORS];
    size_t n = gpt2_param_offsets(c, offsets);
    memset(params, 0, n * sizeof(float));
    TorchRng rng;
    torch_rng_seed(&rng, seed);
    double residual_std = 0.02 / sqrt(2.0 * c->num_layers);
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        size_t rows = gpt2_param_rows(c, i), cols = gpt2_param_cols(c, i);
        size_t init_rows = GPT2_PARAMS[i].rows == DIM_VP ? (size_t)c->vocab_size : rows; // real rows only
        for (size_t l = 0; l < gpt2_param_layers(c, i); l++) {
            float *p = params + offsets[i] + l * rows * cols;
            size_t count = init_rows * cols;
            switch (GPT2_PARAMS[i].init) {
            case INIT_NORMAL: torch_rng_normal(&rng, p, count, 0.0, 0.02); break;
            case INIT_NORMAL_RESIDUAL: torch_rng_normal(&rng, p, count, 0.0, residual_std); break;
            case INIT_ONES: for (size_t j = 0; j < count; j++) p[j] = 1.0f; break;
            case INIT_ZEROS: break;
            }
        }
    }
}

static inline int gpt2_config_of(const char *load, GPT2Config *c) {
    if (gpt2_config_from_descriptor(c, load)) return 1;
    FILE *fp = fopen_check(load, "rb");
    gpt2_read_checkpoint_header(fp, load, c);
    fclose_check(fp, load);
    return 0;
}

// ----------------------------------------------------------------------------
// Training FLOPs per token, for tok/s -> FLOP/s and MFU: 6 per parameter that takes part in
// a matmul (embeddings' lookups excluded, the tied classifier included) plus attention's
// 6 * 2 * L * T * C / 2 (QK^T and AV, causal half) for forward + backward.
static inline double gpt2_flops_per_token(const GPT2Config *c, int T) {
    double C = c->channels, L = c->num_layers, Vp = c->padded_vocab_size;
    double matmul_params = L * (12.0 * C * C) + Vp * C;
    return 6.0 * matmul_params + 6.0 * L * T * C;
}

// Grows the vocabulary from V = c->vocab_size to new_V <= Vp (for the chat special tokens,
// llmc/chat.h), in the padded rows wte (Vp, C) already has; sets c->vocab_size = new_V.
// New row r = mean of the V old rows + 0.02 * z, where z is a deterministic standard-normal-ish
// value (sum of 12 uniforms from splitmix64 seeded 20251203, minus 6) drawn row by row, column by
// column; the mean is summed in double in row order. So the new tokens start near the average
// token, distinct from each other; train_gpt2.py --chat_vocab computes the same bits
// (doc/chat.md). Both trainers call this on fp32 host weights.
static inline void gpt2_grow_vocab(GPT2Config *c, float *wte, int new_V) {
    if (new_V == c->vocab_size) return;
    if (new_V < c->vocab_size || new_V > c->padded_vocab_size) {
        die("cannot grow the vocabulary from %d to %d (must be in [%d, Vp = %d])", c->vocab_size, new_V, c->vocab_size,
            c->padded_vocab_size);
    }
    int C = c->channels, V = c->vocab_size;
    double *mean = (double *)calloc_check((size_t)C, sizeof(double));
    for (int v = 0; v < V; v++) {
        for (int j = 0; j < C; j++) mean[j] += wte[(size_t)v * C + j];
    }
    uint64_t state = 20251203;
    for (int v = V; v < new_V; v++) {
        for (int j = 0; j < C; j++) {
            double z = -6.0;
            for (int k = 0; k < 12; k++) {
                uint64_t x = (state += 0x9E3779B97F4A7C15ULL);
                x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
                x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
                x ^= x >> 31;
                z += (double)(x >> 11) * (1.0 / 9007199254740992.0);
            }
            wte[(size_t)v * C + j] = (float)(mean[j] / V + 0.02 * z);
        }
    }
    free(mean);
    c->vocab_size = new_V;
}

#endif // LLMC_GPT2_H
