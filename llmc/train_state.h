/*
 * train_state.h: checkpoints that a run can resume from, shared by both trainers.
 *
 * At step S the output directory gets, in this order:
 *   model_SSSSSSSS.bin          the model (llmc/gpt2.h format, in the trainer's precision)
 *   state_SSSSSSSS_RRRRR.bin    optimizer and data state of process R
 *   DONE_SSSSSSSS               an empty marker: the checkpoint is complete
 * Each file is written to a temporary name, fsync'ed and renamed, and the directory is fsync'ed
 * before the marker is written, so a run killed (or a machine losing power) at any moment
 * leaves the previous complete checkpoint intact. Every path is built by train_state_path().
 *
 * State file, version 2 (ours; llm.c's version 1 dumps C structs): int32 header[256], slots
 * named by TrainStateSlot below, [255] the FNV-1a 32-bit checksum of everything else (header
 * with [255] = 0, then the payload). Payload: data-loader state (llmc/dataloader.h
 * serialisation), AdamW m (float32, k), v (float32, k), master weights (float32, k) if present,
 * for the k = opt_count parameters from element opt_offset on: all n of them, or with ZeRO-1
 * (llmc/dist.h) this process's shard. Files written before the shard slots existed hold 0
 * there and mean the whole model.
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

typedef enum {
    STATE_MAGIC = 0,
    STATE_VERSION = 1,
    STATE_NUM_PROCESSES = 2,
    STATE_RANK = 3,
    STATE_HAS_MASTER = 4,     // 1 if master weights follow v
    STATE_SHUFFLE = 5,
    STATE_NUM_PARAMS_LO = 6,  // num_parameters, low and high 32 bits
    STATE_NUM_PARAMS_HI = 7,
    STATE_SAMPLE_RNG_LO = 8,  // the sampler's RNG state after this step's sample
    STATE_SAMPLE_RNG_HI = 9,
    STATE_STEP = 10,
    STATE_LOADER_BYTES = 11,  // DATALOADER_STATE_BYTES
    STATE_ZERO_STAGE = 12,    // 0: optimizer state of the whole model; 1: of this process's shard
    STATE_OPT_OFFSET_LO = 13, // first element the optimizer state covers, low and high 32 bits
    STATE_OPT_OFFSET_HI = 14,
    STATE_OPT_COUNT_LO = 15,  // elements it covers (0 in older files: all)
    STATE_OPT_COUNT_HI = 16,
    STATE_CHECKSUM = 255,
} TrainStateSlot;

typedef enum { CKPT_MODEL, CKPT_STATE, CKPT_DONE } CheckpointFile;

// The path of one file of the checkpoint at `step` (rank: the state file's process).
static inline void train_state_path(char *out, size_t size, const char *dir, CheckpointFile kind, int step, int rank) {
    int n = kind == CKPT_MODEL ? snprintf(out, size, "%s/model_%08d.bin", dir, step)
            : kind == CKPT_STATE ? snprintf(out, size, "%s/state_%08d_%05d.bin", dir, step, rank)
                                 : snprintf(out, size, "%s/DONE_%08d", dir, step);
    if (n < 0 || (size_t)n >= size) die("output directory path too long: %s", dir);
}

// Steps of the complete checkpoints (DONE markers) in dir, up to max of them; returns the count
// (0 when dir does not exist).
static inline int train_state_list(const char *dir, int *steps, int max) {
    DIR *d = opendir(dir);
    if (d == NULL) return 0;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count < max) {
        int s;
        char extra;
        if (sscanf(e->d_name, "DONE_%8d%c", &s, &extra) == 1 && s >= 0) steps[count++] = s;
    }
    closedir(d);
    return count;
}

// Newest step with a DONE marker in dir, or -1.
static inline int train_state_latest(const char *dir) {
    static int steps[65536];
    int count = train_state_list(dir, steps, 65536), best = -1;
    for (int i = 0; i < count; i++) best = steps[i] > best ? steps[i] : best;
    return best;
}

// Removes the model and state files of this run that belong to no complete checkpoint: what a
// kill left of a checkpoint being written (no DONE yet) or being pruned (DONE already gone).
static inline void train_state_remove_orphans(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) return;
    struct dirent *e;
    char path[4400], done[4200];
    while ((e = readdir(d)) != NULL) {
        int s, r;
        char extra;
        int is_model = sscanf(e->d_name, "model_%8d.bi%c", &s, &extra) == 2 && extra == 'n' &&
                       strlen(e->d_name) == strlen("model_00000000.bin");
        int is_state = sscanf(e->d_name, "state_%8d_%5d.bi%c", &s, &r, &extra) == 3 && extra == 'n' &&
                       strlen(e->d_name) == strlen("state_00000000_00000.bin");
        if (!is_model && !is_state) continue;
        train_state_path(done, sizeof(done), dir, CKPT_DONE, s, 0);
        FILE *fp = fopen(done, "rb");
        if (fp != NULL) {
            fclose(fp);
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (remove(path) != 0) die("cannot remove %s (left by an interrupted checkpoint)", path);
    }
    closedir(d);
}

// Gets the output directory ready (process 0, before anything is written): creates it, removes
// the temporary files a killed run left (names ending in ".tmp" next to our checkpoint files),
// and refuses a fresh run (-y 0) where an earlier run left checkpoints, so that a new run never
// writes into, deletes from or is later resumed as someone else's run. A resumed run (its own
// directory) also drops the files of checkpoints that never completed or were half pruned.
static inline void train_state_prepare_dir(const char *dir, int resume) {
    make_dir_check(dir);
    DIR *d = opendir(dir);
    if (d == NULL) die("cannot list %s", dir);
    struct dirent *e;
    char path[4400];
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        int ours = strncmp(e->d_name, "model_", 6) == 0 || strncmp(e->d_name, "state_", 6) == 0 ||
                   strncmp(e->d_name, "DONE_", 5) == 0;
        if (ours && len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            if (remove(path) != 0) die("cannot remove the partial file %s", path);
        }
    }
    closedir(d);
    int latest = train_state_latest(dir);
    if (!resume && latest >= 0) {
        die("flag -o: %s holds checkpoints of an earlier run (newest: step %d); resume it with -y 1, or choose another "
            "directory", dir, latest);
    }
    if (resume) train_state_remove_orphans(dir);
}

// Removes the complete checkpoints older than the newest `keep` (0 keeps all).
static inline void train_state_prune(const char *dir, int keep, int num_processes) {
    static int steps[65536];
    if (keep <= 0) return;
    int count = train_state_list(dir, steps, 65536);
    char path[4200];
    for (int i = 0; i < count; i++) {
        int newer = 0;
        for (int j = 0; j < count; j++) newer += steps[j] > steps[i];
        if (newer < keep) continue;
        train_state_path(path, sizeof(path), dir, CKPT_DONE, steps[i], 0);
        remove(path); // the marker first: a half-removed checkpoint is never "complete"
        train_state_path(path, sizeof(path), dir, CKPT_MODEL, steps[i], 0);
        remove(path);
        for (int r = 0; r < num_processes; r++) {
            train_state_path(path, sizeof(path), dir, CKPT_STATE, steps[i], r);
            remove(path);
        }
    }
}

static inline uint32_t train_state_checksum(int32_t h[LLMC_HEADER_INTS], const unsigned char *dl_bytes, const float *m,
                                            const float *v, const float *master, size_t n) {
    int32_t saved = h[STATE_CHECKSUM];
    h[STATE_CHECKSUM] = 0;
    uint32_t sum = fnv1a32(FNV1A32_INIT, h, LLMC_HEADER_INTS * sizeof(int32_t));
    h[STATE_CHECKSUM] = saved;
    sum = fnv1a32(sum, dl_bytes, DATALOADER_STATE_BYTES);
    sum = fnv1a32(sum, m, n * sizeof(float));
    sum = fnv1a32(sum, v, n * sizeof(float));
    if (master) sum = fnv1a32(sum, master, n * sizeof(float));
    return sum;
}

// Writes this process's part of the checkpoint at `step`: process 0 the model (params: fp32
// values, stored as `version`, 3 = fp32 or 5 = bf16), every process its state file. train may
// be NULL (a run without a data loader, rl: sample_rng is then its problem RNG). Then
// process 0 syncs the directory, writes the DONE marker and prunes to the newest `keep`.
// With several processes the caller puts a barrier before process 0's call, so all states exist.
// m, v and master (may be NULL) hold opt_count values from element opt_offset (ZeRO-1 shards;
// 0 and n otherwise); zero_stage is recorded so a resume under another -z is refused.
static inline void train_state_save(const char *dir, int step, const GPT2Config *config, const float *params,
                                    int version, const float *m, const float *v, const float *master, size_t n,
                                    size_t opt_offset, size_t opt_count, int zero_stage, const DataLoader *train,
                                    uint64_t sample_rng, int rank, int num_processes, int keep) {
    char path[4200], tmp[4300];
    if (rank == 0) {
        train_state_path(path, sizeof(path), dir, CKPT_MODEL, step, 0);
        gpt2_write_checkpoint(path, config, params, n, version);
    }
    DataLoaderState ds;
    memset(&ds, 0, sizeof(ds)); // no loader (rl: its problems come from the RNG): an empty state
    if (train != NULL) dataloader_get_state(train, &ds);
    unsigned char dl_bytes[DATALOADER_STATE_BYTES];
    dataloader_state_serialize(&ds, dl_bytes);
    int32_t h[LLMC_HEADER_INTS];
    memset(h, 0, sizeof(h));
    h[STATE_MAGIC] = TRAIN_STATE_MAGIC;
    h[STATE_VERSION] = TRAIN_STATE_VERSION;
    h[STATE_NUM_PROCESSES] = num_processes;
    h[STATE_RANK] = rank;
    h[STATE_HAS_MASTER] = master != NULL;
    h[STATE_SHUFFLE] = (int32_t)ds.shuffle;
    h[STATE_NUM_PARAMS_LO] = (int32_t)(uint32_t)(n & 0xffffffffu);
    h[STATE_NUM_PARAMS_HI] = (int32_t)(uint32_t)((uint64_t)n >> 32);
    h[STATE_SAMPLE_RNG_LO] = (int32_t)(uint32_t)(sample_rng & 0xffffffffu);
    h[STATE_SAMPLE_RNG_HI] = (int32_t)(uint32_t)(sample_rng >> 32);
    h[STATE_STEP] = step;
    h[STATE_LOADER_BYTES] = DATALOADER_STATE_BYTES;
    h[STATE_ZERO_STAGE] = zero_stage;
    h[STATE_OPT_OFFSET_LO] = (int32_t)(uint32_t)(opt_offset & 0xffffffffu);
    h[STATE_OPT_OFFSET_HI] = (int32_t)(uint32_t)((uint64_t)opt_offset >> 32);
    h[STATE_OPT_COUNT_LO] = (int32_t)(uint32_t)(opt_count & 0xffffffffu);
    h[STATE_OPT_COUNT_HI] = (int32_t)(uint32_t)((uint64_t)opt_count >> 32);
    h[STATE_CHECKSUM] = (int32_t)train_state_checksum(h, dl_bytes, m, v, master, opt_count);

    train_state_path(path, sizeof(path), dir, CKPT_STATE, step, rank);
    tmp_path_for(tmp, sizeof(tmp), path);
    FILE *fp = fopen_check(tmp, "wb");
    fwrite_check(h, sizeof(int32_t), LLMC_HEADER_INTS, fp, tmp);
    fwrite_check(dl_bytes, 1, sizeof(dl_bytes), fp, tmp);
    fwrite_check(m, sizeof(float), opt_count, fp, tmp);
    fwrite_check(v, sizeof(float), opt_count, fp, tmp);
    if (master) fwrite_check(master, sizeof(float), opt_count, fp, tmp);
    commit_file(fp, tmp, path);
    if (rank != 0) return;
    fsync_dir_check(dir); // the model and state names are durable before DONE can be
    train_state_path(path, sizeof(path), dir, CKPT_DONE, step, 0);
    tmp_path_for(tmp, sizeof(tmp), path);
    commit_file(fopen_check(tmp, "wb"), tmp, path);
    fsync_dir_check(dir);
    train_state_path(path, sizeof(path), dir, CKPT_MODEL, step, 0);
    printf("wrote checkpoint %s\n", path);
    if (step > 0) train_state_prune(dir, keep, num_processes);
}

// Reads this process's state file of the checkpoint at `step` in dir: m, v, the master weights
// into `master` when the file has them (returns 1; 0 when it has none and master is untouched),
// the train loader's position (train may be NULL) and the sampler RNG. Dies naming the file on any mismatch, a bad
// checksum or a non-finite value (naming the tensor).
// Before any process loads its state: dies with one line if the checkpoint at `step` was written
// by another number of processes or under another ZeRO stage (the data order and the optimizer
// shards depend on both), naming what to run instead. Reads only process 0's state header.
static inline void train_state_check_layout(const char *dir, int step, int num_processes, int zero_stage) {
    char path[4200];
    train_state_path(path, sizeof(path), dir, CKPT_STATE, step, 0);
    FILE *fp = fopen_check(path, "rb");
    int32_t h[LLMC_HEADER_INTS];
    read_header_check(fp, h, path);
    fclose_check(fp, path);
    if (h[STATE_MAGIC] != TRAIN_STATE_MAGIC) die("%s: not a training state file (magic %d, expected %d)", path, h[0], TRAIN_STATE_MAGIC);
    if (h[STATE_NUM_PROCESSES] != num_processes) {
        die("%s: checkpoint of a run with %d processes, this run has %d: resume with %d processes (mpirun -np %d), "
            "or start a new run in another directory", path, h[STATE_NUM_PROCESSES], num_processes,
            h[STATE_NUM_PROCESSES], h[STATE_NUM_PROCESSES]);
    }
    if (h[STATE_ZERO_STAGE] != zero_stage) {
        die("%s: checkpoint of a run with -z %d, this run has -z %d: resume with -z %d", path, h[STATE_ZERO_STAGE],
            zero_stage, h[STATE_ZERO_STAGE]);
    }
}

// m, v and master receive opt_count values from element opt_offset, which must be the range the
// file covers, written under the same zero_stage.
static inline int train_state_load(const char *dir, int step, const GPT2Config *config, float *m, float *v,
                                   float *master, size_t n, size_t opt_offset, size_t opt_count, int zero_stage,
                                   DataLoader *train, uint64_t *sample_rng, int rank, int num_processes) {
    char path[4200];
    train_state_path(path, sizeof(path), dir, CKPT_STATE, step, rank);
    FILE *fp = fopen_check(path, "rb");
    long long size = file_size_check(fp, path);
    int32_t h[LLMC_HEADER_INTS];
    read_header_check(fp, h, path);
    if (h[STATE_MAGIC] != TRAIN_STATE_MAGIC) die("%s: not a training state file (magic %d, expected %d)", path, h[0], TRAIN_STATE_MAGIC);
    if (h[STATE_VERSION] != TRAIN_STATE_VERSION) die("%s: unsupported training state version %d (expected %d)", path, h[1], TRAIN_STATE_VERSION);
    uint64_t file_n = (uint64_t)(uint32_t)h[STATE_NUM_PARAMS_LO] | ((uint64_t)(uint32_t)h[STATE_NUM_PARAMS_HI] << 32);
    if (h[STATE_NUM_PROCESSES] != num_processes || h[STATE_RANK] != rank) {
        die("%s: written by process %d of %d, this is process %d of %d", path, h[STATE_RANK], h[STATE_NUM_PROCESSES], rank,
            num_processes);
    }
    if (file_n != n) die("%s: holds %llu parameters, the model has %zu", path, (unsigned long long)file_n, n);
    uint64_t file_off = (uint64_t)(uint32_t)h[STATE_OPT_OFFSET_LO] | ((uint64_t)(uint32_t)h[STATE_OPT_OFFSET_HI] << 32);
    uint64_t file_count = (uint64_t)(uint32_t)h[STATE_OPT_COUNT_LO] | ((uint64_t)(uint32_t)h[STATE_OPT_COUNT_HI] << 32);
    if (file_count == 0) file_count = file_n; // written before shards existed: the whole model
    if (h[STATE_ZERO_STAGE] != zero_stage) {
        die("%s: written with ZeRO stage %d (-z), this run uses %d: resume with the same -z", path, h[STATE_ZERO_STAGE],
            zero_stage);
    }
    if (file_off != opt_offset || file_count != opt_count) {
        die("%s: optimizer state of elements [%llu, %llu), this process needs [%zu, %zu)", path,
            (unsigned long long)file_off, (unsigned long long)(file_off + file_count), opt_offset, opt_offset + opt_count);
    }
    if (h[STATE_LOADER_BYTES] != DATALOADER_STATE_BYTES) {
        die("%s: data-loader state of %d bytes, expected %d", path, h[STATE_LOADER_BYTES], DATALOADER_STATE_BYTES);
    }
    if (h[STATE_STEP] != step) die("%s: holds step %d, expected %d", path, h[STATE_STEP], step);
    int has_master = h[STATE_HAS_MASTER] != 0;
    long long expected = 1024 + DATALOADER_STATE_BYTES + (long long)opt_count * 4 * (has_master ? 3 : 2);
    if (size != expected) die("%s: file is %lld bytes, expected %lld%s", path, size, expected, size < expected ? " (truncated)" : "");
    unsigned char dl_bytes[DATALOADER_STATE_BYTES];
    fread_check(dl_bytes, 1, sizeof(dl_bytes), fp, path);
    fread_check(m, sizeof(float), opt_count, fp, path);
    fread_check(v, sizeof(float), opt_count, fp, path);
    float *master_tmp = NULL;
    if (has_master) {
        master_tmp = (float *)malloc_check(opt_count * sizeof(float)); // master is untouched until all checks pass
        fread_check(master_tmp, sizeof(float), opt_count, fp, path);
    }
    fclose_check(fp, path);
    if (train_state_checksum(h, dl_bytes, m, v, master_tmp, opt_count) != (uint32_t)h[STATE_CHECKSUM]) {
        die("%s: checksum mismatch (corrupt file)", path);
    }
    gpt2_check_finite_range(config, m, opt_offset, opt_count, path, "AdamW m of");
    gpt2_check_finite_range(config, v, opt_offset, opt_count, path, "AdamW v of");
    if (has_master) {
        gpt2_check_finite_range(config, master_tmp, opt_offset, opt_count, path, "master weights of");
        memcpy(master, master_tmp, opt_count * sizeof(float));
        free(master_tmp);
    }
    DataLoaderState ds;
    dataloader_state_deserialize(&ds, dl_bytes, path); // checked even when there is no loader to set
    if (train != NULL) dataloader_set_state(train, &ds);
    *sample_rng = (uint64_t)(uint32_t)h[STATE_SAMPLE_RNG_LO] | ((uint64_t)(uint32_t)h[STATE_SAMPLE_RNG_HI] << 32);
    return has_master;
}

#endif // LLMC_TRAIN_STATE_H
