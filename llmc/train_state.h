/*
 * train_state.h: checkpoints that a run can resume from, shared by both trainers.
 *
 * At step S the output directory gets, in this order:
 *   model_SSSSSSSS.bin          the model (gpt2.h format; fp32 version 3 written here)
 *   state_SSSSSSSS_RRRRR.bin    optimizer and data state of process R
 *   DONE_SSSSSSSS               an empty marker: the checkpoint is complete
 * Each file is written to a temporary name and renamed, and the marker comes last, so a run
 * killed at any moment leaves the previous complete checkpoint intact.
 *
 * State file, version 2 (ours; llm.c's version 1 dumps C structs): int32 header[256]
 *   [0] 20240527 [1] 2 [2] num_processes [3] rank [4] 1 if master weights follow [5] shuffle
 *   [6] num_parameters low 32 bits [7] high 32 bits [8] sampler RNG low [9] high
 *   [10] step [11] data-loader state bytes (DATALOADER_STATE_BYTES)
 *   [255] FNV-1a 32-bit checksum of everything else (header with [255] = 0, then the payload)
 * payload: data-loader state (llmc/dataloader.h serialisation), AdamW m (float32, n),
 *   v (float32, n), master weights (float32, n) if [4] is 1.
 */
#ifndef LLMC_TRAIN_STATE_H
#define LLMC_TRAIN_STATE_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dataloader.h"
#include "gpt2.h"
#include "utils.h"

#define TRAIN_STATE_MAGIC 20240527
#define TRAIN_STATE_VERSION 2

static inline uint32_t train_state_fnv1a(uint32_t h, const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

static inline void train_state_path(char *out, size_t size, const char *dir, const char *kind, int step) {
    int n = snprintf(out, size, "%s/%s_%08d", dir, kind, step);
    if (n < 0 || (size_t)n >= size) die("output directory path too long: %s", dir);
}

// Writes the model, this process's state and the DONE marker for `step`; then removes the
// checkpoints older than the newest `keep` (0 keeps all).
static inline void train_state_save(const char *dir, int step, const GPT2Config *config, const float *params,
                                    const float *m, const float *v, const float *master, size_t n,
                                    const DataLoader *train, uint64_t sample_rng, int rank, int num_processes,
                                    int keep) {
    char base[4096], path[4200], tmp[4300];
    train_state_path(base, sizeof(base), dir, "model", step);
    snprintf(path, sizeof(path), "%s.bin", base);
    if (rank == 0) gpt2_write_checkpoint(path, config, params, n, GPT2_CHECKPOINT_FP32);

    DataLoaderState ds;
    dataloader_get_state(train, &ds);
    unsigned char dl_bytes[DATALOADER_STATE_BYTES];
    dataloader_state_serialize(&ds, dl_bytes);
    int32_t h[LLMC_HEADER_INTS];
    memset(h, 0, sizeof(h));
    h[0] = TRAIN_STATE_MAGIC;
    h[1] = TRAIN_STATE_VERSION;
    h[2] = num_processes;
    h[3] = rank;
    h[4] = master != NULL;
    h[5] = (int32_t)ds.shuffle;
    h[6] = (int32_t)(uint32_t)(n & 0xffffffffu);
    h[7] = (int32_t)(uint32_t)((uint64_t)n >> 32);
    h[8] = (int32_t)(uint32_t)(sample_rng & 0xffffffffu);
    h[9] = (int32_t)(uint32_t)(sample_rng >> 32);
    h[10] = step;
    h[11] = DATALOADER_STATE_BYTES;
    uint32_t sum = train_state_fnv1a(2166136261u, h, sizeof(h));
    sum = train_state_fnv1a(sum, dl_bytes, sizeof(dl_bytes));
    sum = train_state_fnv1a(sum, m, n * sizeof(float));
    sum = train_state_fnv1a(sum, v, n * sizeof(float));
    if (master) sum = train_state_fnv1a(sum, master, n * sizeof(float));
    h[255] = (int32_t)sum;

    snprintf(path, sizeof(path), "%s/state_%08d_%05d.bin", dir, step, rank);
    tmp_path_for(tmp, sizeof(tmp), path);
    FILE *fp = fopen_check(tmp, "wb");
    fwrite_check(h, sizeof(int32_t), LLMC_HEADER_INTS, fp, tmp);
    fwrite_check(dl_bytes, 1, sizeof(dl_bytes), fp, tmp);
    fwrite_check(m, sizeof(float), n, fp, tmp);
    fwrite_check(v, sizeof(float), n, fp, tmp);
    if (master) fwrite_check(master, sizeof(float), n, fp, tmp);
    commit_file(fp, tmp, path);

    if (rank == 0) {
        // with several processes the caller puts a barrier before this, so all states exist
        train_state_path(path, sizeof(path), dir, "DONE", step);
        tmp_path_for(tmp, sizeof(tmp), path);
        commit_file(fopen_check(tmp, "wb"), tmp, path);
        printf("wrote checkpoint %s/model_%08d.bin\n", dir, step);
        if (keep > 0 && step > 0) {
            // remove complete checkpoints older than the newest `keep`
            DIR *d = opendir(dir);
            if (d == NULL) die("cannot list %s", dir);
            int steps[4096], count = 0;
            struct dirent *e;
            while ((e = readdir(d)) != NULL && count < 4096) {
                int s;
                char extra;
                if (sscanf(e->d_name, "DONE_%8d%c", &s, &extra) == 1) steps[count++] = s;
            }
            closedir(d);
            for (int i = 0; i < count; i++) {
                int newer = 0;
                for (int j = 0; j < count; j++) newer += steps[j] > steps[i];
                if (newer < keep) continue;
                train_state_path(path, sizeof(path), dir, "DONE", steps[i]);
                remove(path);  // the marker first: a half-removed checkpoint is never "complete"
                snprintf(path, sizeof(path), "%s/model_%08d.bin", dir, steps[i]);
                remove(path);
                for (int r = 0; r < num_processes; r++) {
                    snprintf(path, sizeof(path), "%s/state_%08d_%05d.bin", dir, steps[i], r);
                    remove(path);
                }
            }
        }
    }
}

// Newest step with a DONE marker in dir, or -1.
static inline int train_state_latest(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) return -1;
    int best = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int s;
        char extra;
        if (sscanf(e->d_name, "DONE_%8d%c", &s, &extra) == 1 && s > best) best = s;
    }
    closedir(d);
    return best;
}

// Restores the newest complete checkpoint in dir: params (from the model file, or the master
// copy in the state when there is one), m, v, master (may be NULL), the train loader's position
// and the sampler RNG. Returns its step, or -1 when dir holds no complete checkpoint.
static inline int train_state_resume(const char *dir, const GPT2Config *config, float *params, float *m, float *v,
                                     float *master, size_t n, DataLoader *train, uint64_t *sample_rng, int rank,
                                     int num_processes) {
    int step = train_state_latest(dir);
    if (step < 0) return -1;
    char path[4200];
    snprintf(path, sizeof(path), "%s/model_%08d.bin", dir, step);
    FILE *fp = fopen_check(path, "rb");
    GPT2Config file_config;
    int version = gpt2_read_checkpoint_header(fp, path, &file_config);
    if (memcmp(&file_config, config, sizeof(GPT2Config)) != 0) {
        die("%s: the checkpoint's model shape differs from the model given with -e", path);
    }
    gpt2_read_checkpoint_params(fp, path, version, params, n);
    fclose_check(fp, path);

    snprintf(path, sizeof(path), "%s/state_%08d_%05d.bin", dir, step, rank);
    fp = fopen_check(path, "rb");
    long long size = file_size_check(fp, path);
    int32_t h[LLMC_HEADER_INTS];
    read_header_check(fp, h, path);
    if (h[0] != TRAIN_STATE_MAGIC) die("%s: not a training state file (magic %d, expected %d)", path, h[0], TRAIN_STATE_MAGIC);
    if (h[1] != TRAIN_STATE_VERSION) die("%s: unsupported training state version %d (expected %d)", path, h[1], TRAIN_STATE_VERSION);
    uint64_t file_n = (uint64_t)(uint32_t)h[6] | ((uint64_t)(uint32_t)h[7] << 32);
    if (h[2] != num_processes || h[3] != rank) die("%s: written by process %d of %d, this is process %d of %d", path, h[3], h[2], rank, num_processes);
    if (file_n != n) die("%s: holds %llu parameters, the model has %zu", path, (unsigned long long)file_n, n);
    if (h[11] != DATALOADER_STATE_BYTES) die("%s: data-loader state of %d bytes, expected %d", path, h[11], DATALOADER_STATE_BYTES);
    int has_master = h[4] != 0;
    long long expected = 1024 + DATALOADER_STATE_BYTES + (long long)n * 4 * (has_master ? 3 : 2);
    if (size != expected) die("%s: file is %lld bytes, expected %lld%s", path, size, expected, size < expected ? " (truncated)" : "");
    unsigned char dl_bytes[DATALOADER_STATE_BYTES];
    fread_check(dl_bytes, 1, sizeof(dl_bytes), fp, path);
    fread_check(m, sizeof(float), n, fp, path);
    fread_check(v, sizeof(float), n, fp, path);
    if (has_master) {
        float *dst = master != NULL ? master : params;
        fread_check(dst, sizeof(float), n, fp, path);
        if (master != NULL) memcpy(params, master, n * sizeof(float));
    }
    fclose_check(fp, path);
    uint32_t want = (uint32_t)h[255];
    h[255] = 0;
    uint32_t sum = train_state_fnv1a(2166136261u, h, sizeof(h));
    sum = train_state_fnv1a(sum, dl_bytes, sizeof(dl_bytes));
    sum = train_state_fnv1a(sum, m, n * sizeof(float));
    sum = train_state_fnv1a(sum, v, n * sizeof(float));
    if (has_master) sum = train_state_fnv1a(sum, master != NULL ? master : params, n * sizeof(float));
    if (sum != want) die("%s: checksum mismatch (corrupt file)", path);
    DataLoaderState ds;
    dataloader_state_deserialize(&ds, dl_bytes, path);
    dataloader_set_state(train, &ds);
    *sample_rng = (uint64_t)(uint32_t)h[8] | ((uint64_t)(uint32_t)h[9] << 32);
    if (step != h[10]) die("%s: holds step %d, expected %d", path, h[10], step);
    return step;
}

#endif // LLMC_TRAIN_STATE_H
