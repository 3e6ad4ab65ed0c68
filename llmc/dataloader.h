/*
 * dataloader.h: token-shard loader (train/val) and multiple-choice eval loader (HellaSwag).
 *
 * Shared by train_gpt2.c (C11) and train_gpt2.cu (C++), so: void* results are cast, no
 * designated initializers, every function is static. Uses glob(3) and pthreads (link -pthread).
 * Under -std=c11 include this (or utils.h) before any system header, so the POSIX feature macros
 * utils.h sets take effect (or pass -D_DEFAULT_SOURCE, as the Makefile does).
 *
 * ---- DataLoader: token shards (llmc/shard.h; doc/formats.md "Token shards") ----
 * Version 1 (tokens) and version 2 (tokens + loss mask) shards load alike; with a mask,
 * targets[k] = -1 (ignored: the loss is the mean over the other targets, as PyTorch's
 * ignore_index) where the target token's mask byte is 0. Version 1 tokens always count.
 * The pattern is expanded with glob(3) and sorted by byte order (strcmp). Every shard's header
 * and size are checked at init. A shard of N tokens holds W = (N-1)/(B*T) windows; window k is
 * tokens [k*B*T, k*B*T + B*T + 1): inputs = its first B*T tokens, targets = its last B*T.
 * The M windows of all shards, in some order, are an epoch's sequence S[0..M).
 *   shuffle off: shards in sorted order, windows in order (the PyTorch reference's order).
 *   shuffle on:  per epoch, the shard order is a Fisher-Yates permutation, then the windows of
 *                each shard are permuted on their own; each permutation is drawn from a
 *                splitmix64 stream seeded only by (seed, epoch, shard index), so every rank
 *                and every run computes the same sequence (shards stay contiguous: one open
 *                file at a time, like reading in order).
 * Process r of P takes S[r], S[r+P], S[r+2P], ...: ranks never overlap within an epoch, and the
 * ragged tail (M mod P windows) is dropped so every rank has M/P batches per epoch. After its
 * last batch of epoch e a rank continues with epoch e+1 at position 0.
 * The loader's place is (seed, epoch, position); DataLoaderState holds it plus a fingerprint of
 * the data and layout, so a resume with other data, B, T or process layout is refused.
 * Read-ahead: a worker thread reads the next batch's window while the trainer computes; the
 * job names (seed, epoch, position), so what next_batch returns never depends on timing.
 *
 * ---- EvalLoader: multiple-choice file (doc/formats.md "HellaSwag eval file") ----
 * Each example takes 4 rows of T tokens (B must be a multiple of 4, B/4 examples a batch).
 * Row i is context ++ completion i, zero-padded; inputs[t] = seq[t], targets[t] = seq[t+1],
 * mask[t] = 1 where targets[t] is a completion token. A row of L tokens fits when L <= T+1.
 * Longer rows lose their first context tokens (the row keeps its last T+1 tokens; counted in
 * num_truncated). An example whose completion alone is longer than T cannot be scored and is
 * skipped (num_skipped); rank 0 prints one warning line at init if either count is non-zero.
 * Usable examples are dealt to ranks like cards (rank r: r, r+P, ...); every rank has the same
 * number of batches (the last ones may hold fewer or no examples), so collective ops line up.
 */
#ifndef LLMC_DATALOADER_H
#define LLMC_DATALOADER_H

#include "utils.h" // first: it selects the POSIX feature macros glob/pthreads/fseeko need
#include "shard.h"

#include <glob.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATALOADER_HEADER_BYTES SHARD_HEADER_BYTES
#define EVALLOADER_MAGIC 20240522
#define EVALLOADER_VERSION 1
#define DATALOADER_ERR_LEN 512

// ----------------------------------------------------------------------------
// small portable RNG: splitmix64 (Steele, Lea, Flood 2014), the same on every platform

static inline uint64_t dl_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// Uniform in [0, n), n >= 1, without modulo bias: reject the lowest (2^64 mod n) values.
static inline uint64_t dl_rand_below(uint64_t *state, uint64_t n) {
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = dl_splitmix64(state);
        if (x >= threshold) {
            return x % n;
        }
    }
}

// The stream for one permutation: tag 0 = shard order, tag s+1 = windows of shard s.
static inline uint64_t dl_stream_seed(uint64_t seed, uint64_t epoch, uint64_t tag) {
    uint64_t s = seed;
    uint64_t h = dl_splitmix64(&s);
    s = h ^ epoch;
    h = dl_splitmix64(&s);
    s = h ^ tag;
    return dl_splitmix64(&s);
}

// a[0..n) = a Fisher-Yates permutation of 0..n-1 drawn from the stream `state`.
static inline void dl_permutation(size_t *a, size_t n, uint64_t state) {
    for (size_t i = 0; i < n; i++) {
        a[i] = i;
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)dl_rand_below(&state, (uint64_t)i);
        size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

// ----------------------------------------------------------------------------
// DataLoader

typedef struct {
    char *path;
    size_t num_tokens;  // N from the header (file size checked to match)
    size_t num_windows; // (N-1)/(B*T)
    int masked;         // version 2: a loss mask follows the tokens
} DataLoaderShard;

// Where a loader is, plus what it was reading, so set_state can refuse a mismatched resume.
typedef struct {
    uint64_t seed;
    uint64_t epoch;
    uint64_t position; // batches this rank has taken in `epoch`, < batches_per_epoch
    uint64_t B, T;
    uint64_t num_processes, process_rank, shuffle;
    uint64_t num_shards, num_windows, num_tokens;
} DataLoaderState;

// Serialised state: 16 little-endian uint64:
//   [0] magic 20240611 [1] version 1 [2] seed [3] epoch [4] position [5] B [6] T
//   [7] num_processes [8] process_rank [9] shuffle [10] num_shards [11] num_windows
//   [12] num_tokens [13] [14] zero [15] FNV-1a 64 of bytes 0..119
#define DATALOADER_STATE_BYTES 128
#define DATALOADER_STATE_MAGIC 20240611
#define DATALOADER_STATE_VERSION 1

// What reads windows: the worker thread while read-ahead is on, else the caller's thread.
// Only one thread touches it at a time; caches are keyed so a stale one is never used.
typedef struct {
    int order_valid;
    uint64_t order_seed, order_epoch;
    size_t *shard_order; // (num_shards) shard index at each place of the epoch
    size_t *shard_cum;   // (num_shards+1) windows before each place
    int wperm_valid;
    uint64_t wperm_seed, wperm_epoch;
    size_t wperm_shard;
    size_t *window_perm; // (max windows of a shard) window order inside wperm_shard
    FILE *fp;            // open shard, or NULL
    size_t fp_shard;
    unsigned char *raw;  // (2*(B*T+1)) bytes as read
    uint16_t *tokens;    // (B*T+1) the window
    uint8_t *mask;       // (B*T+1) its mask bytes (all 1 for a version 1 shard)
    size_t shard, window; // which window `tokens` holds
    char err[DATALOADER_ERR_LEN]; // non-empty when the read failed
} DataLoaderReader;

typedef struct {
    // layout
    size_t B, T;
    int process_rank, num_processes, shuffle;
    uint64_t seed;
    // output of next_batch
    int *inputs;  // (B, T)
    int *targets; // (B, T); -1 where a masked shard says the target does not count
    // data
    size_t num_shards;
    DataLoaderShard *shards;    // (num_shards) sorted by path
    size_t *shard_start;        // (num_shards+1) windows before each shard in sorted order
    size_t max_shard_windows;
    size_t num_tokens;          // over all shards
    size_t num_windows;         // M, over all shards
    size_t batches_per_epoch;   // M / P, for this (every) rank
    int vocab_size;             // > 0: next_batch dies on a token id >= vocab_size
    int masked;                 // some shard carries a loss mask (targets may hold -1)
    // place: the next batch next_batch returns
    uint64_t epoch, position;
    // the window just returned (for messages)
    size_t cur_shard, cur_window;
    // read-ahead
    DataLoaderReader reader;
    int prefetch; // worker thread running
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int job_state; // 0 none, 1 requested (worker busy), 2 done (reader holds the job's window)
    int quit;
    uint64_t job_seed, job_epoch, job_position;
} DataLoader;

static inline int dl_cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static inline char *dl_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = (char *)malloc_check(n);
    memcpy(d, s, n);
    return d;
}

// Opens one shard, checks its header and size (llmc/shard.h), checks it holds one batch.
static inline ShardInfo dl_check_shard(const char *path, size_t B, size_t T) {
    ShardInfo info = shard_check_file(path);
    if (info.num_tokens < B * T + 1) {
        die("%s: too small: %zu tokens, one batch needs B*T+1 = %zu (B=%zu, T=%zu)", path,
            info.num_tokens, B * T + 1, B, T);
    }
    return info;
}

// Largest i with cum[i] <= x, for cum[0] = 0 <= x < cum[n].
static inline size_t dl_find_slot(const size_t *cum, size_t n, size_t x) {
    size_t lo = 0, hi = n; // answer in [lo, hi)
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (cum[mid] <= x) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

// Item i (0 <= i < M) of epoch `epoch`'s sequence: which shard, which window.
static inline void dl_locate(const DataLoader *l, DataLoaderReader *r, uint64_t seed,
                             uint64_t epoch, size_t i, size_t *shard, size_t *window) {
    if (!l->shuffle) {
        size_t s = dl_find_slot(l->shard_start, l->num_shards, i);
        *shard = s;
        *window = i - l->shard_start[s];
        return;
    }
    if (!r->order_valid || r->order_seed != seed || r->order_epoch != epoch) {
        dl_permutation(r->shard_order, l->num_shards, dl_stream_seed(seed, epoch, 0));
        r->shard_cum[0] = 0;
        for (size_t j = 0; j < l->num_shards; j++) {
            r->shard_cum[j + 1] = r->shard_cum[j] + l->shards[r->shard_order[j]].num_windows;
        }
        r->order_valid = 1;
        r->order_seed = seed;
        r->order_epoch = epoch;
    }
    size_t j = dl_find_slot(r->shard_cum, l->num_shards, i);
    size_t s = r->shard_order[j];
    if (!r->wperm_valid || r->wperm_seed != seed || r->wperm_epoch != epoch ||
        r->wperm_shard != s) {
        dl_permutation(r->window_perm, l->shards[s].num_windows,
                       dl_stream_seed(seed, epoch, (uint64_t)s + 1));
        r->wperm_valid = 1;
        r->wperm_seed = seed;
        r->wperm_epoch = epoch;
        r->wperm_shard = s;
    }
    *shard = s;
    *window = r->window_perm[i - r->shard_cum[j]];
}

// Reads the window of (seed, epoch, position) for this rank into r->tokens. On failure fills
// r->err instead of dying, because it may run on the worker thread.
static inline void dl_read_batch(const DataLoader *l, DataLoaderReader *r, uint64_t seed,
                                 uint64_t epoch, uint64_t position) {
    r->err[0] = '\0';
    size_t i = (size_t)position * (size_t)l->num_processes + (size_t)l->process_rank;
    size_t s, w;
    dl_locate(l, r, seed, epoch, i, &s, &w);
    r->shard = s;
    r->window = w;
    const char *path = l->shards[s].path;
    if (r->fp == NULL || r->fp_shard != s) {
        if (r->fp != NULL) {
            fclose(r->fp);
        }
        r->fp = fopen(path, "rb");
        if (r->fp == NULL) {
            snprintf(r->err, DATALOADER_ERR_LEN, "cannot open %s: %s", path, strerror(errno));
            return;
        }
        r->fp_shard = s;
    }
    size_t BT = l->B * l->T;
    long long off = (long long)DATALOADER_HEADER_BYTES + 2LL * (long long)(w * BT);
    if (fseeko(r->fp, (off_t)off, SEEK_SET) != 0) {
        snprintf(r->err, DATALOADER_ERR_LEN, "%s: seek to byte %lld failed: %s", path, off,
                 strerror(errno));
        return;
    }
    size_t got = fread(r->raw, 2, BT + 1, r->fp);
    if (got != BT + 1) {
        snprintf(r->err, DATALOADER_ERR_LEN,
                 "%s: read of %zu tokens at byte %lld got %zu (file changed since init?)", path,
                 BT + 1, off, got);
        return;
    }
    shard_decode_tokens(r->tokens, r->raw, BT + 1);
    if (!l->shards[s].masked) {
        memset(r->mask, 1, BT + 1);
        return;
    }
    ShardInfo info;
    info.version = SHARD_VERSION_MASKED;
    info.num_tokens = l->shards[s].num_tokens;
    off = shard_mask_offset(&info, w * BT);
    if (fseeko(r->fp, (off_t)off, SEEK_SET) != 0 || fread(r->mask, 1, BT + 1, r->fp) != BT + 1) {
        snprintf(r->err, DATALOADER_ERR_LEN,
                 "%s: read of %zu mask bytes at byte %lld failed (file changed since init?)", path,
                 BT + 1, off);
    }
}

static inline void *dl_worker(void *arg) {
    DataLoader *l = (DataLoader *)arg;
    pthread_mutex_lock(&l->mutex);
    for (;;) {
        while (!l->quit && l->job_state != 1) {
            pthread_cond_wait(&l->cond, &l->mutex);
        }
        if (l->quit) {
            break;
        }
        uint64_t seed = l->job_seed, epoch = l->job_epoch, position = l->job_position;
        pthread_mutex_unlock(&l->mutex);
        dl_read_batch(l, &l->reader, seed, epoch, position);
        pthread_mutex_lock(&l->mutex);
        l->job_state = 2;
        pthread_cond_broadcast(&l->cond);
    }
    pthread_mutex_unlock(&l->mutex);
    return NULL;
}

static inline int dl_job_matches(const DataLoader *l) {
    return l->job_seed == l->seed && l->job_epoch == l->epoch && l->job_position == l->position;
}

// Asks the worker for the batch at the loader's current place unless it has it or is busy
// (a busy worker is re-asked by next_batch once it finishes). Caller holds the mutex.
static inline void dl_request_locked(DataLoader *l) {
    if (l->job_state == 1 || (l->job_state == 2 && dl_job_matches(l))) {
        return;
    }
    l->job_seed = l->seed;
    l->job_epoch = l->epoch;
    l->job_position = l->position;
    l->job_state = 1;
    pthread_cond_broadcast(&l->cond);
}

static inline void dl_request(DataLoader *l) {
    if (!l->prefetch) {
        return;
    }
    pthread_mutex_lock(&l->mutex);
    dl_request_locked(l);
    pthread_mutex_unlock(&l->mutex);
}

// Turns read-ahead on (the default) or off; off runs every read on the caller's thread.
static inline void dataloader_set_prefetch(DataLoader *l, int on) {
    if (on && !l->prefetch) {
        l->quit = 0;
        l->job_state = 0;
        if (pthread_mutex_init(&l->mutex, NULL) != 0 || pthread_cond_init(&l->cond, NULL) != 0) {
            die("dataloader: cannot create the read-ahead mutex");
        }
        int rc = pthread_create(&l->thread, NULL, dl_worker, l);
        if (rc != 0) {
            die("dataloader: cannot start the read-ahead thread: %s", strerror(rc));
        }
        l->prefetch = 1;
        dl_request(l);
    } else if (!on && l->prefetch) {
        pthread_mutex_lock(&l->mutex);
        l->quit = 1;
        pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->mutex);
        pthread_join(l->thread, NULL);
        pthread_mutex_destroy(&l->mutex);
        pthread_cond_destroy(&l->cond);
        l->prefetch = 0;
        l->job_state = 0;
    }
}

static inline void dataloader_init(DataLoader *l, const char *pattern, size_t B, size_t T,
                                   int process_rank, int num_processes, int shuffle,
                                   uint64_t seed) {
    memset(l, 0, sizeof(*l));
    if (B == 0 || T == 0) {
        die("dataloader: B and T must be positive (got B=%zu, T=%zu)", B, T);
    }
    if (num_processes < 1 || process_rank < 0 || process_rank >= num_processes) {
        die("dataloader: process rank %d is not in [0, %d)", process_rank, num_processes);
    }
    l->B = B;
    l->T = T;
    l->process_rank = process_rank;
    l->num_processes = num_processes;
    l->shuffle = shuffle ? 1 : 0;
    l->seed = seed;

    glob_t g;
    memset(&g, 0, sizeof(g));
    int rc = glob(pattern, 0, NULL, &g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
        die("%s: no files match the pattern", pattern);
    }
    if (rc != 0) {
        die("%s: cannot expand the pattern (glob error %d)", pattern, rc);
    }
    l->num_shards = g.gl_pathc;
    char **paths = (char **)malloc_check(l->num_shards * sizeof(char *));
    for (size_t i = 0; i < l->num_shards; i++) {
        paths[i] = dl_strdup(g.gl_pathv[i]);
    }
    globfree(&g);
    qsort(paths, l->num_shards, sizeof(char *), dl_cmp_str); // byte order, whatever the locale

    l->shards = (DataLoaderShard *)calloc_check(l->num_shards, sizeof(DataLoaderShard));
    l->shard_start = (size_t *)calloc_check(l->num_shards + 1, sizeof(size_t));
    for (size_t i = 0; i < l->num_shards; i++) {
        DataLoaderShard *sh = &l->shards[i];
        sh->path = paths[i];
        ShardInfo info = dl_check_shard(sh->path, B, T);
        sh->num_tokens = info.num_tokens;
        sh->masked = info.version == SHARD_VERSION_MASKED;
        l->masked |= sh->masked;
        sh->num_windows = (sh->num_tokens - 1) / (B * T);
        l->shard_start[i + 1] = l->shard_start[i] + sh->num_windows;
        l->num_tokens += sh->num_tokens;
        if (sh->num_windows > l->max_shard_windows) {
            l->max_shard_windows = sh->num_windows;
        }
    }
    free(paths);
    l->num_windows = l->shard_start[l->num_shards];
    l->batches_per_epoch = l->num_windows / (size_t)num_processes;
    if (l->batches_per_epoch == 0) {
        die("%s: only %zu batches of B*T = %zu tokens in all, fewer than the %d processes",
            pattern, l->num_windows, B * T, num_processes);
    }

    DataLoaderReader *r = &l->reader;
    r->shard_order = (size_t *)calloc_check(l->num_shards, sizeof(size_t));
    r->shard_cum = (size_t *)calloc_check(l->num_shards + 1, sizeof(size_t));
    r->window_perm = (size_t *)calloc_check(l->shuffle ? l->max_shard_windows : 1, sizeof(size_t));
    r->raw = (unsigned char *)malloc_check(2 * (B * T + 1));
    r->tokens = (uint16_t *)malloc_check((B * T + 1) * sizeof(uint16_t));
    r->mask = (uint8_t *)malloc_check(B * T + 1);
    l->inputs = (int *)calloc_check(B * T, sizeof(int));
    l->targets = (int *)calloc_check(B * T, sizeof(int));
    dataloader_set_prefetch(l, 1);
}

// Die on token ids >= vocab_size in the batches returned from now on (0: no check).
static inline void dataloader_set_vocab_size(DataLoader *l, int vocab_size) {
    l->vocab_size = vocab_size;
}

// Fills inputs/targets with the batch at (epoch, position), then advances the place.
static inline void dataloader_next_batch(DataLoader *l) {
    DataLoaderReader *r = &l->reader;
    if (l->prefetch) {
        pthread_mutex_lock(&l->mutex);
        for (;;) {
            while (l->job_state == 1) {
                pthread_cond_wait(&l->cond, &l->mutex);
            }
            if (l->job_state == 2 && dl_job_matches(l)) {
                break;
            }
            dl_request_locked(l); // stale read-ahead (after reset/set_state): read ours
        }
        pthread_mutex_unlock(&l->mutex);
    } else {
        dl_read_batch(l, r, l->seed, l->epoch, l->position);
    }
    // the worker is idle now (job done), so r is ours until the next request
    if (r->err[0] != '\0') {
        die("%s", r->err);
    }
    size_t BT = l->B * l->T;
    for (size_t k = 0; k < BT; k++) {
        l->inputs[k] = (int)r->tokens[k];
        l->targets[k] = r->mask[k + 1] ? (int)r->tokens[k + 1] : -1;
    }
    l->cur_shard = r->shard;
    l->cur_window = r->window;
    if (l->vocab_size > 0) {
        for (size_t k = 0; k <= BT; k++) {
            if ((int)r->tokens[k] >= l->vocab_size) {
                die("%s: token id %d at token %zu is >= vocab_size %d (%s)",
                    l->shards[r->shard].path, (int)r->tokens[k], r->window * BT + k,
                    l->vocab_size, l->shards[r->shard].masked ? "a chat shard: grow the vocabulary with --chat_vocab"
                                                               : "wrong tokenizer?");
            }
        }
    }
    l->position++;
    if (l->position >= l->batches_per_epoch) {
        l->position = 0;
        l->epoch++;
    }
    dl_request(l); // start reading the next batch while the caller computes
}

// Back to epoch 0, position 0 (same seed): what a val evaluation does first.
static inline void dataloader_reset(DataLoader *l) {
    l->epoch = 0;
    l->position = 0;
    dl_request(l);
}

static inline size_t dataloader_num_batches(const DataLoader *l) {
    return l->batches_per_epoch;
}

static inline size_t dataloader_num_tokens(const DataLoader *l) {
    return l->num_tokens;
}

static inline void dataloader_get_state(const DataLoader *l, DataLoaderState *s) {
    memset(s, 0, sizeof(*s));
    s->seed = l->seed;
    s->epoch = l->epoch;
    s->position = l->position;
    s->B = l->B;
    s->T = l->T;
    s->num_processes = (uint64_t)l->num_processes;
    s->process_rank = (uint64_t)l->process_rank;
    s->shuffle = (uint64_t)l->shuffle;
    s->num_shards = l->num_shards;
    s->num_windows = l->num_windows;
    s->num_tokens = l->num_tokens;
}

// Continue from a saved place. The seed is taken from the state (the data order of the run
// being resumed); everything else must match this loader or the order would not continue.
static inline void dataloader_set_state(DataLoader *l, const DataLoaderState *s) {
    if (s->B != l->B || s->T != l->T) {
        die("data-loader state: saved with B=%llu T=%llu, this run has B=%zu T=%zu; the data "
            "order cannot be continued",
            (unsigned long long)s->B, (unsigned long long)s->T, l->B, l->T);
    }
    if (s->num_processes != (uint64_t)l->num_processes ||
        s->process_rank != (uint64_t)l->process_rank) {
        die("data-loader state: saved by rank %llu of %llu processes, this is rank %d of %d",
            (unsigned long long)s->process_rank, (unsigned long long)s->num_processes,
            l->process_rank, l->num_processes);
    }
    if (s->shuffle != (uint64_t)l->shuffle) {
        die("data-loader state: saved with shuffle %llu, this run has shuffle %d",
            (unsigned long long)s->shuffle, l->shuffle);
    }
    if (s->num_shards != l->num_shards || s->num_windows != l->num_windows ||
        s->num_tokens != l->num_tokens) {
        die("data-loader state: saved for %llu shards / %llu tokens / %llu windows, the data now "
            "has %zu / %zu / %zu; the data changed",
            (unsigned long long)s->num_shards, (unsigned long long)s->num_tokens,
            (unsigned long long)s->num_windows, l->num_shards, l->num_tokens, l->num_windows);
    }
    if (s->position >= l->batches_per_epoch) {
        die("data-loader state: position %llu is not below the %zu batches of an epoch",
            (unsigned long long)s->position, l->batches_per_epoch);
    }
    l->seed = s->seed;
    l->epoch = s->epoch;
    l->position = s->position;
    dl_request(l);
}

static inline void dl_put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

static inline uint64_t dl_get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static inline void dataloader_state_serialize(const DataLoaderState *s,
                                              unsigned char out[DATALOADER_STATE_BYTES]) {
    uint64_t v[16];
    memset(v, 0, sizeof(v));
    v[0] = DATALOADER_STATE_MAGIC;
    v[1] = DATALOADER_STATE_VERSION;
    v[2] = s->seed;
    v[3] = s->epoch;
    v[4] = s->position;
    v[5] = s->B;
    v[6] = s->T;
    v[7] = s->num_processes;
    v[8] = s->process_rank;
    v[9] = s->shuffle;
    v[10] = s->num_shards;
    v[11] = s->num_windows;
    v[12] = s->num_tokens;
    for (int i = 0; i < 15; i++) {
        dl_put_u64(out + 8 * i, v[i]);
    }
    dl_put_u64(out + 120, fnv1a64(FNV1A64_INIT, out, 120));
}

// Parses a serialised state; dies naming `what` (e.g. the resume file) if it is not one.
static inline void dataloader_state_deserialize(DataLoaderState *s,
                                                const unsigned char in[DATALOADER_STATE_BYTES],
                                                const char *what) {
    if (dl_get_u64(in + 120) != fnv1a64(FNV1A64_INIT, in, 120)) {
        die("%s: data-loader state checksum mismatch (corrupt file)", what);
    }
    if (dl_get_u64(in) != DATALOADER_STATE_MAGIC) {
        die("%s: data-loader state has magic %llu, expected %d", what,
            (unsigned long long)dl_get_u64(in), DATALOADER_STATE_MAGIC);
    }
    if (dl_get_u64(in + 8) != DATALOADER_STATE_VERSION) {
        die("%s: data-loader state version %llu, expected %d", what,
            (unsigned long long)dl_get_u64(in + 8), DATALOADER_STATE_VERSION);
    }
    memset(s, 0, sizeof(*s));
    s->seed = dl_get_u64(in + 16);
    s->epoch = dl_get_u64(in + 24);
    s->position = dl_get_u64(in + 32);
    s->B = dl_get_u64(in + 40);
    s->T = dl_get_u64(in + 48);
    s->num_processes = dl_get_u64(in + 56);
    s->process_rank = dl_get_u64(in + 64);
    s->shuffle = dl_get_u64(in + 72);
    s->num_shards = dl_get_u64(in + 80);
    s->num_windows = dl_get_u64(in + 88);
    s->num_tokens = dl_get_u64(in + 96);
}

static inline void dataloader_free(DataLoader *l) {
    dataloader_set_prefetch(l, 0);
    DataLoaderReader *r = &l->reader;
    if (r->fp != NULL) {
        fclose(r->fp); // read-only: nothing to lose
    }
    free(r->shard_order);
    free(r->shard_cum);
    free(r->window_perm);
    free(r->raw);
    free(r->tokens);
    free(r->mask);
    for (size_t i = 0; i < l->num_shards; i++) {
        free(l->shards[i].path);
    }
    free(l->shards);
    free(l->shard_start);
    free(l->inputs);
    free(l->targets);
    memset(l, 0, sizeof(*l));
}

// ----------------------------------------------------------------------------
// EvalLoader

typedef struct {
    size_t B, T;
    int process_rank, num_processes;
    // output of next_batch
    int *inputs;  // (B, T)
    int *targets; // (B, T)
    char *mask;   // (B, T) 1 where targets[b,t] is a token of row b's completion
    int *labels;  // (B/4) correct completion of each example in the batch
    size_t batch_examples; // examples in the current batch (<= B/4; rows after them are zero)
    // data
    size_t num_examples;   // in the file
    size_t num_usable;     // scored examples over all ranks (num_examples - num_skipped)
    size_t num_truncated;  // usable examples whose rows lost leading context tokens
    size_t num_skipped;    // examples with a completion longer than T
    size_t rank_examples;  // usable examples of this rank
    size_t num_batches;    // per pass, the same on every rank
    size_t batch;          // the batch next_batch builds
    uint16_t *data;        // the file after the header, as tokens
    size_t *usable;        // (num_usable) offset (in tokens) of each usable example in data
} EvalLoader;

static inline void evalloader_init(EvalLoader *l, const char *path, size_t B, size_t T,
                                   int process_rank, int num_processes) {
    memset(l, 0, sizeof(*l));
    if (B == 0 || B % 4 != 0 || T == 0) {
        die("%s: eval batch B must be a positive multiple of 4 (4 completions per example) and "
            "T positive, got B=%zu T=%zu", path, B, T);
    }
    if (num_processes < 1 || process_rank < 0 || process_rank >= num_processes) {
        die("evalloader: process rank %d is not in [0, %d)", process_rank, num_processes);
    }
    l->B = B;
    l->T = T;
    l->process_rank = process_rank;
    l->num_processes = num_processes;

    FILE *fp = fopen_check(path, "rb");
    long long size = file_size_check(fp, path);
    if (size < DATALOADER_HEADER_BYTES) {
        die("%s: truncated: %lld bytes, shorter than the %d-byte header", path, size,
            DATALOADER_HEADER_BYTES);
    }
    int32_t header[LLMC_HEADER_INTS];
    read_header_check(fp, header, path);
    if (header[0] != EVALLOADER_MAGIC) {
        die("%s: wrong magic %d, expected %d (not a multiple-choice eval file)", path,
            (int)header[0], EVALLOADER_MAGIC);
    }
    if (header[1] != EVALLOADER_VERSION) {
        die("%s: unsupported eval file version %d, expected %d", path, (int)header[1],
            EVALLOADER_VERSION);
    }
    if (header[2] <= 0) {
        die("%s: header says %d examples, expected at least 1", path, (int)header[2]);
    }
    if ((size - DATALOADER_HEADER_BYTES) % 2 != 0) {
        die("%s: size mismatch: %lld bytes after the header, expected an even number (uint16 "
            "tokens)", path, size - DATALOADER_HEADER_BYTES);
    }
    l->num_examples = (size_t)header[2];
    long long longest = header[3];
    size_t nw = (size_t)((size - DATALOADER_HEADER_BYTES) / 2);
    // every example takes at least 6 words: check the count before allocating by it
    if (l->num_examples > nw / 6) {
        die("%s: truncated: header says %zu examples, the %zu bytes after the header hold at "
            "most %zu", path, l->num_examples, 2 * nw, nw / 6);
    }
    unsigned char *raw = (unsigned char *)malloc_check(2 * nw);
    fread_check(raw, 1, 2 * nw, fp, path);
    fclose_check(fp, path);
    l->data = (uint16_t *)malloc_check((nw ? nw : 1) * sizeof(uint16_t));
    for (size_t k = 0; k < nw; k++) {
        l->data[k] = (uint16_t)(raw[2 * k] | ((unsigned)raw[2 * k + 1] << 8));
    }
    free(raw);

    // walk and check every example; keep the ones that can be scored at this T
    const uint16_t *d = l->data;
    l->usable = (size_t *)malloc_check(l->num_examples * sizeof(size_t));
    size_t o = 0; // offset of the current example, in tokens
    for (size_t i = 0; i < l->num_examples; i++) {
        long long byte = DATALOADER_HEADER_BYTES + 2LL * (long long)o;
        if (o + 6 > nw) {
            die("%s: truncated: example %zu of %zu starts at byte %lld, past the end of the data",
                path, i, l->num_examples, byte);
        }
        if (d[o] != 65535) {
            die("%s: example %zu at byte %lld: start marker %u, expected 65535", path, i, byte,
                (unsigned)d[o]);
        }
        size_t ex_bytes = d[o + 1];
        if (ex_bytes % 2 != 0 || ex_bytes < 12) {
            die("%s: example %zu at byte %lld: size %zu bytes, expected an even number >= 12",
                path, i, byte, ex_bytes);
        }
        size_t ex_words = ex_bytes / 2;
        if (o + ex_words > nw) {
            die("%s: truncated: example %zu at byte %lld says %zu bytes, the file ends %lld "
                "bytes later", path, i, byte, ex_bytes, (long long)(2 * (nw - o)));
        }
        if ((long long)ex_bytes > longest) {
            die("%s: example %zu at byte %lld is %zu bytes, more than the header's longest "
                "example %lld", path, i, byte, ex_bytes, longest);
        }
        unsigned label = d[o + 3], ncomp = d[o + 4];
        if (ncomp != 4) {
            die("%s: example %zu at byte %lld has %u completions, expected 4", path, i, byte,
                ncomp);
        }
        if (label > 3) {
            die("%s: example %zu at byte %lld has label %u, expected 0..3", path, i, byte, label);
        }
        size_t ctx = d[o + 5];
        size_t k = 6 + ctx; // words used so far
        size_t longest_comp = 0, longest_row = 0;
        int lens_ok = k <= ex_words;
        for (int c = 0; c < 4 && lens_ok; c++) {
            if (k + 1 > ex_words) {
                lens_ok = 0;
                break;
            }
            size_t m = d[o + k];
            if (m == 0) {
                die("%s: example %zu at byte %lld: completion %d is empty", path, i, byte, c);
            }
            k += 1 + m;
            if (m > longest_comp) {
                longest_comp = m;
            }
            if (ctx + m > longest_row) {
                longest_row = ctx + m;
            }
        }
        if (!lens_ok || k != ex_words) {
            if (lens_ok) {
                die("%s: example %zu at byte %lld: size field says %zu bytes, but its fields "
                    "(context of %zu tokens, 4 completions) take %zu", path, i, byte, ex_bytes,
                    ctx, 2 * k);
            }
            die("%s: example %zu at byte %lld: size field says %zu bytes, but its context of %zu "
                "tokens and completions run past that", path, i, byte, ex_bytes, ctx);
        }
        if (ctx == 0) {
            die("%s: example %zu at byte %lld has an empty context", path, i, byte);
        }
        if (longest_comp > T) {
            l->num_skipped++;
        } else {
            if (longest_row > T + 1) {
                l->num_truncated++;
            }
            l->usable[l->num_usable++] = o;
        }
        o += ex_words;
    }
    if (o != nw) {
        die("%s: size mismatch: %lld bytes after the last of the header's %zu examples", path,
            (long long)(2 * (nw - o)), l->num_examples);
    }
    if (l->num_usable == 0) {
        die("%s: no example fits T=%zu (every one has a completion longer than T)", path, T);
    }
    if (process_rank == 0 && (l->num_skipped > 0 || l->num_truncated > 0)) {
        fprintf(stderr, "warning: %s: T=%zu: %zu of %zu examples skipped (a completion longer "
                "than T), %zu truncated (leading context dropped)\n", path, T, l->num_skipped,
                l->num_examples, l->num_truncated);
    }
    size_t P = (size_t)num_processes, r = (size_t)process_rank;
    l->rank_examples = l->num_usable > r ? (l->num_usable - r + P - 1) / P : 0;
    size_t per_rank_max = (l->num_usable + P - 1) / P;
    size_t per_batch = B / 4;
    l->num_batches = (per_rank_max + per_batch - 1) / per_batch;
    l->inputs = (int *)calloc_check(B * T, sizeof(int));
    l->targets = (int *)calloc_check(B * T, sizeof(int));
    l->mask = (char *)calloc_check(B * T, sizeof(char));
    l->labels = (int *)calloc_check(per_batch, sizeof(int));
}

static inline size_t evalloader_num_batches(const EvalLoader *l) {
    return l->num_batches;
}

static inline void evalloader_reset(EvalLoader *l) {
    l->batch = 0;
}

// Builds batch `batch` (then advances, wrapping after num_batches): rows 4e..4e+3 are the four
// completions of the batch's example e.
static inline void evalloader_next_batch(EvalLoader *l) {
    size_t B = l->B, T = l->T, per_batch = B / 4;
    memset(l->inputs, 0, B * T * sizeof(int));
    memset(l->targets, 0, B * T * sizeof(int));
    memset(l->mask, 0, B * T * sizeof(char));
    l->batch_examples = 0;
    for (size_t e = 0; e < per_batch; e++) {
        l->labels[e] = -1;
        size_t j = l->batch * per_batch + e; // index among this rank's examples
        if (j >= l->rank_examples) {
            continue;
        }
        size_t u = (size_t)l->process_rank + j * (size_t)l->num_processes; // dealt like cards
        const uint16_t *ex = l->data + l->usable[u];
        l->labels[e] = (int)ex[3];
        size_t ctx = ex[5];
        const uint16_t *ctx_tok = ex + 6;
        const uint16_t *comp = ex + 6 + ctx; // length, tokens, length, tokens, ...
        for (size_t c = 0; c < 4; c++) {
            size_t m = comp[0];
            const uint16_t *comp_tok = comp + 1;
            size_t L = ctx + m;
            size_t drop = L > T + 1 ? L - (T + 1) : 0; // leading context tokens that do not fit
            size_t n = L - drop;                       // row tokens kept, <= T+1
            size_t first_target = ctx - drop;          // first completion token's index in row
            size_t row = (4 * e + c) * T;
            for (size_t t = 0; t < T && t < n; t++) {
                size_t a = t + drop; // index into context ++ completion
                l->inputs[row + t] = a < ctx ? (int)ctx_tok[a] : (int)comp_tok[a - ctx];
                if (t + 1 < n) {
                    size_t b = a + 1;
                    l->targets[row + t] = b < ctx ? (int)ctx_tok[b] : (int)comp_tok[b - ctx];
                    l->mask[row + t] = (char)(t + 1 >= first_target);
                }
            }
            comp += 1 + m;
        }
        l->batch_examples++;
    }
    l->batch++;
    if (l->batch >= l->num_batches) {
        l->batch = 0;
    }
}

// losses: (B, T), the loss of predicting targets[b,t] at position t. Returns how many of the
// batch's examples are right: the completion with the lowest mean loss over its own tokens
// (ties: the lower index) is the label.
static inline int evalloader_stat_losses(const EvalLoader *l, const float *losses) {
    size_t T = l->T;
    int correct = 0;
    for (size_t e = 0; e < l->batch_examples; e++) {
        int best = -1;
        double best_loss = 0.0;
        for (int c = 0; c < 4; c++) {
            size_t row = (4 * e + (size_t)c) * T;
            double sum = 0.0;
            size_t n = 0;
            for (size_t t = 0; t < T; t++) {
                if (l->mask[row + t]) {
                    sum += losses[row + t];
                    n++;
                }
            }
            double mean = n > 0 ? sum / (double)n : 0.0;
            if (mean != mean) { // a NaN loss never wins
                mean = 1e300;
            }
            if (best < 0 || mean < best_loss) {
                best = c;
                best_loss = mean;
            }
        }
        if (best == l->labels[e]) {
            correct++;
        }
    }
    return correct;
}

static inline void evalloader_free(EvalLoader *l) {
    free(l->inputs);
    free(l->targets);
    free(l->mask);
    free(l->labels);
    free(l->data);
    free(l->usable);
    memset(l, 0, sizeof(*l));
}

#endif // LLMC_DATALOADER_H
