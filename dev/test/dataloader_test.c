/*
 * dataloader_test.c: checks llmc/dataloader.h against independent computations.
 * Driven by dev/test/t_dataloader.sh. Modes:
 *   run DIR                      train-loader checks on synthetic shards written into DIR
 *   init PATTERN B T [P R V]     init a loader, read one epoch (V > 0: check token ids < V)
 *   state_corrupt | state_magic | state_mismatch DIR   (each must die with one line)
 *   evalinit PATH B T            init an eval loader, build every batch
 *   eval PATH EXPECT             compare the eval loader with the python-made expectations
 * Synthetic shard s holds token(s, pos) = s*2003 + pos, so a window's first token names it.
 */
#include "../../llmc/dataloader.h" // first: utils.h picks the POSIX feature macros

#include <time.h>

static char why[512];   // why the current check failed
static char inner[256]; // why identify() refused a batch
#define EXPECT(cond, ...)                                  \
    do {                                                   \
        if (!(cond)) {                                     \
            snprintf(why, sizeof(why), __VA_ARGS__);       \
            return 0;                                      \
        }                                                  \
    } while (0)

static int failures = 0;
static void report(const char *name, int passed) {
    if (passed) {
        printf("ok %s\n", name);
    } else {
        printf("not ok %s: %s\n", name, why);
        failures++;
    }
    fflush(stdout);
}

// ---------------------------------------------------------------------------- synthetic shards

#define NSH 4
static const size_t SHARD_N[NSH] = {1000, 777, 1301, 401};
static char shard_dir[1024];
static char shard_pattern[1100];

static int token_of(size_t s, size_t pos) { return (int)(s * 2003 + pos); }

static void shard_path(char *out, size_t n, size_t s) {
    snprintf(out, n, "%s/shard_%03zu.bin", shard_dir, s);
}

static void write_shards(const char *dir) {
    snprintf(shard_dir, sizeof(shard_dir), "%s", dir);
    snprintf(shard_pattern, sizeof(shard_pattern), "%s/shard_*.bin", dir);
    for (size_t k = 0; k < NSH; k++) {
        size_t s = NSH - 1 - k; // newest file sorts first: order must come from the names
        char path[1200];
        shard_path(path, sizeof(path), s);
        FILE *fp = fopen_check(path, "wb");
        int32_t header[256];
        memset(header, 0, sizeof(header));
        header[0] = 20240520;
        header[1] = 1;
        header[2] = (int32_t)SHARD_N[s];
        fwrite_check(header, sizeof(int32_t), 256, fp, path);
        for (size_t p = 0; p < SHARD_N[s]; p++) {
            uint16_t t = (uint16_t)token_of(s, p);
            fwrite_check(&t, 2, 1, fp, path);
        }
        fclose_check(fp, path);
    }
    char decoy[1200]; // must not match the pattern
    snprintf(decoy, sizeof(decoy), "%s/other.bin", dir);
    FILE *fp = fopen_check(decoy, "wb");
    fclose_check(fp, decoy);
}

// The test's own view of the windows: ids numbered shard by shard.
typedef struct {
    size_t BT, M;
    size_t nw[NSH], start[NSH + 1];
} Layout;

static Layout layout_of(size_t B, size_t T) {
    Layout L;
    memset(&L, 0, sizeof(L));
    L.BT = B * T;
    for (size_t s = 0; s < NSH; s++) {
        // windows [k*BT, k*BT+BT+1) must lie inside the shard: count them one by one
        size_t k = 0;
        while (k * L.BT + L.BT + 1 <= SHARD_N[s]) {
            k++;
        }
        L.nw[s] = k;
        L.start[s + 1] = L.start[s] + k;
    }
    L.M = L.start[NSH];
    return L;
}

// Reads window w of shard s straight from the file (plain stdio, no loader code).
static void file_window(size_t s, size_t w, size_t BT, uint16_t *out) {
    char path[1200];
    shard_path(path, sizeof(path), s);
    FILE *fp = fopen_check(path, "rb");
    fseek_check(fp, 1024 + 2 * (long long)(w * BT), SEEK_SET, path);
    fread_check(out, 2, BT + 1, fp, path);
    fclose_check(fp, path);
}

// Which window the loader just returned, as a global id; -1 (and `why`) if it is not exactly
// one window of the data, checked against the token formula and against the file.
static long identify(const DataLoader *l, const Layout *L) {
    int v = l->inputs[0];
    size_t s = (size_t)v / 2003, pos = (size_t)v % 2003;
    if (s >= NSH || pos % L->BT != 0 || pos / L->BT >= L->nw[s]) {
        snprintf(inner, sizeof(inner), "first input token %d is not the start of a window", v);
        return -1;
    }
    size_t w = pos / L->BT;
    uint16_t *win = (uint16_t *)malloc_check((L->BT + 1) * sizeof(uint16_t));
    file_window(s, w, L->BT, win);
    for (size_t k = 0; k < L->BT; k++) {
        int ti = token_of(s, w * L->BT + k), tt = token_of(s, w * L->BT + k + 1);
        if (l->inputs[k] != ti || l->targets[k] != tt || win[k] != ti || win[k + 1] != tt) {
            snprintf(inner, sizeof(inner),
                     "shard %zu window %zu position %zu: inputs %d targets %d, expected %d %d",
                     s, w, k, l->inputs[k], l->targets[k], ti, tt);
            free(win);
            return -1;
        }
    }
    free(win);
    return (long)(L->start[s] + w);
}

// Loaders live on the heap: a failed check returns early and leaks its loaders, whose
// read-ahead threads then idle on memory nothing else reuses.
static DataLoader *new_loader(const char *pattern, size_t B, size_t T, int rank, int P,
                              int shuffle, uint64_t seed) {
    DataLoader *l = (DataLoader *)malloc_check(sizeof(DataLoader));
    dataloader_init(l, pattern, B, T, rank, P, shuffle, seed);
    return l;
}

static void drop_loader(DataLoader *l) {
    dataloader_free(l);
    free(l);
}

// The ids of `n` consecutive batches.
static int collect(DataLoader *l, const Layout *L, size_t n, long *ids) {
    for (size_t i = 0; i < n; i++) {
        dataloader_next_batch(l);
        ids[i] = identify(l, L);
        if (ids[i] < 0) {
            return 0;
        }
    }
    return 1;
}

// ---------------------------------------------------------------------------- checks

static int t_sequential(size_t B, size_t T) {
    Layout L = layout_of(B, T);
    DataLoader *l = new_loader(shard_pattern, B, T, 0, 1, 0, 7);
    size_t total = 0;
    for (size_t s = 0; s < NSH; s++) {
        total += SHARD_N[s];
    }
    EXPECT(dataloader_num_batches(l) == L.M, "num_batches %zu, expected %zu",
           dataloader_num_batches(l), L.M);
    EXPECT(dataloader_num_tokens(l) == total, "num_tokens %zu, expected %zu",
           dataloader_num_tokens(l), total);
    EXPECT(l->num_shards == NSH, "%zu shards, expected %d", l->num_shards, NSH);
    // shard by shard, window by window, then around again
    size_t i = 0;
    for (int epoch = 0; epoch < 2; epoch++) {
        for (size_t s = 0; s < NSH; s++) {
            for (size_t w = 0; w < L.nw[s]; w++, i++) {
                EXPECT(l->epoch == (uint64_t)epoch, "epoch %llu before batch %zu, expected %d",
                       (unsigned long long)l->epoch, i, epoch);
                dataloader_next_batch(l);
                long id = identify(l, &L);
                EXPECT(id >= 0, "batch %zu: %s", i, inner);
                EXPECT((size_t)id == L.start[s] + w, "batch %zu is window id %ld, expected %zu",
                       i, id, L.start[s] + w);
            }
        }
    }
    drop_loader(l);
    return 1;
}

static int t_shuffle_epochs(void) {
    Layout L = layout_of(2, 8);
    DataLoader *l = new_loader(shard_pattern, 2, 8, 0, 1, 1, 1234);
    long *ids = (long *)malloc_check(3 * L.M * sizeof(long));
    int *seen = (int *)malloc_check(L.M * sizeof(int));
    EXPECT(collect(l, &L, 3 * L.M, ids), "%s", inner);
    for (int e = 0; e < 3; e++) {
        memset(seen, 0, L.M * sizeof(int));
        size_t in_order = 0, shard_changes = 0;
        for (size_t i = 0; i < L.M; i++) {
            long id = ids[e * L.M + i];
            EXPECT(seen[id] == 0, "epoch %d: window id %ld seen twice", e, id);
            seen[id] = 1;
            in_order += (size_t)id == i;
            if (i > 0) {
                size_t a = 0, b = 0;
                while (L.start[a + 1] <= (size_t)ids[e * L.M + i - 1]) a++;
                while (L.start[b + 1] <= (size_t)id) b++;
                shard_changes += a != b;
            }
        }
        EXPECT(in_order < L.M / 4, "epoch %d: %zu of %zu windows in sequential place", e,
               in_order, L.M);
        // documented: the shards of an epoch are contiguous runs
        EXPECT(shard_changes == NSH - 1, "epoch %d: shard changes %zu, expected %d", e,
               shard_changes, NSH - 1);
    }
    // each shard's windows are reordered every epoch too (not only the shard order)
    for (size_t s = 0; s < NSH; s++) {
        size_t same = 1, k0 = 0, k1 = 0;
        const long *e0 = ids, *e1 = ids + L.M;
        const long lo = (long)L.start[s], hi = (long)L.start[s + 1];
        for (;;) { // walk shard s's windows in epoch 0 and epoch 1 side by side
            while (k0 < L.M && (e0[k0] < lo || e0[k0] >= hi)) k0++;
            while (k1 < L.M && (e1[k1] < lo || e1[k1] >= hi)) k1++;
            if (k0 >= L.M || k1 >= L.M) break;
            same &= e0[k0++] == e1[k1++];
        }
        EXPECT(!same, "shard %zu: its windows came in the same order in epochs 0 and 1", s);
    }
    EXPECT(memcmp(ids, ids + L.M, L.M * sizeof(long)) != 0, "epochs 0 and 1 have the same order");
    EXPECT(memcmp(ids + L.M, ids + 2 * L.M, L.M * sizeof(long)) != 0,
           "epochs 1 and 2 have the same order");
    free(ids);
    free(seen);
    drop_loader(l);
    return 1;
}

static int t_seeds(void) {
    Layout L = layout_of(3, 5);
    size_t n = 2 * L.M;
    long *a = (long *)malloc_check(n * sizeof(long));
    long *b = (long *)malloc_check(n * sizeof(long));
    long *c = (long *)malloc_check(n * sizeof(long));
    DataLoader *la, *lb, *lc;
    la = new_loader(shard_pattern, 3, 5, 0, 1, 1, 99);
    lb = new_loader(shard_pattern, 3, 5, 0, 1, 1, 99);
    lc = new_loader(shard_pattern, 3, 5, 0, 1, 1, 100);
    EXPECT(collect(la, &L, n, a) && collect(lb, &L, n, b) && collect(lc, &L, n, c), "%s", inner);
    EXPECT(memcmp(a, b, n * sizeof(long)) == 0, "same seed gave different orders");
    EXPECT(memcmp(a, c, L.M * sizeof(long)) != 0, "seeds 99 and 100 gave the same epoch 0");
    EXPECT(memcmp(a + L.M, c + L.M, L.M * sizeof(long)) != 0,
           "seeds 99 and 100 gave the same epoch 1");
    drop_loader(la);
    drop_loader(lb);
    drop_loader(lc);
    free(a);
    free(b);
    free(c);
    return 1;
}

// Rank r of P must see items r, r+P, ... of the one-process sequence (same seed), so ranks are
// disjoint and together cover the epoch minus its last M mod P items.
static int t_ranks(int P, int shuffle) {
    Layout L = layout_of(2, 8);
    size_t nb = L.M / (size_t)P;
    long *ref = (long *)malloc_check(2 * L.M * sizeof(long));
    long *ids = (long *)malloc_check(2 * nb * sizeof(long));
    int *owner = (int *)malloc_check(L.M * sizeof(int));
    DataLoader *one = new_loader(shard_pattern, 2, 8, 0, 1, shuffle, 5);
    EXPECT(collect(one, &L, 2 * L.M, ref), "one process: %s", inner);
    drop_loader(one);
    for (size_t i = 0; i < L.M; i++) {
        owner[i] = -1;
    }
    size_t covered = 0;
    for (int r = 0; r < P; r++) {
        DataLoader *l = new_loader(shard_pattern, 2, 8, r, P, shuffle, 5);
        EXPECT(dataloader_num_batches(l) == nb, "rank %d: %zu batches per epoch, expected %zu",
               r, dataloader_num_batches(l), nb);
        EXPECT(collect(l, &L, 2 * nb, ids), "rank %d: %s", r, inner);
        for (int e = 0; e < 2; e++) {
            for (size_t j = 0; j < nb; j++) {
                long want = ref[e * L.M + j * (size_t)P + (size_t)r];
                EXPECT(ids[e * nb + j] == want, "rank %d epoch %d batch %zu: id %ld, expected %ld",
                       r, e, j, ids[e * nb + j], want);
            }
        }
        for (size_t j = 0; j < nb; j++) {
            long id = ids[j];
            EXPECT(owner[id] < 0, "window id %ld taken by ranks %d and %d", id, owner[id], r);
            owner[id] = r;
            covered++;
        }
        drop_loader(l);
    }
    EXPECT(covered == L.M - L.M % (size_t)P, "ranks cover %zu windows, expected %zu", covered,
           L.M - L.M % (size_t)P);
    for (size_t i = L.M - L.M % (size_t)P; i < L.M; i++) { // the ragged tail nobody takes
        EXPECT(owner[ref[i]] < 0, "tail window id %ld was taken by rank %d", ref[i],
               owner[ref[i]]);
    }
    free(ref);
    free(ids);
    free(owner);
    return 1;
}

static void tiny_sleep(uint64_t *rng) {
    struct timespec ts;
    ts.tv_sec = 0;
    ts.tv_nsec = (long)(dl_splitmix64(rng) % 200000);
    nanosleep(&ts, NULL);
}

// Save after k batches, restore into a loader that was elsewhere (and mid read-ahead), then both
// must return the same batches, across epoch boundaries.
static int t_state(int P, int r, int shuffle) {
    DataLoader *probe = new_loader(shard_pattern, 2, 8, r, P, shuffle, 11);
    size_t nb = dataloader_num_batches(probe);
    drop_loader(probe);
    size_t BT = 16;
    size_t ks[5] = {0, 5, nb - 1, nb, nb + nb / 2};
    for (int ki = 0; ki < 5; ki++) {
        size_t k = ks[ki];
        DataLoader *a, *b;
        a = new_loader(shard_pattern, 2, 8, r, P, shuffle, 11);
        b = new_loader(shard_pattern, 2, 8, r, P, shuffle, 999); // seed comes from state
        for (size_t i = 0; i < k; i++) {
            dataloader_next_batch(a);
        }
        for (int i = 0; i < 3; i++) {
            dataloader_next_batch(b);
        }
        DataLoaderState s, s2;
        dataloader_get_state(a, &s);
        EXPECT(s.epoch == k / nb && s.position == k % nb, "after %zu batches: epoch %llu "
               "position %llu, expected %zu %zu", k, (unsigned long long)s.epoch,
               (unsigned long long)s.position, k / nb, k % nb);
        unsigned char buf[DATALOADER_STATE_BYTES];
        dataloader_state_serialize(&s, buf);
        dataloader_state_deserialize(&s2, buf, "test state");
        EXPECT(memcmp(&s, &s2, sizeof(s)) == 0, "state changed in a serialise round trip");
        dataloader_set_state(b, &s2);
        for (size_t i = 0; i < 2 * nb + 3; i++) {
            dataloader_next_batch(a);
            dataloader_next_batch(b);
            EXPECT(memcmp(a->inputs, b->inputs, BT * sizeof(int)) == 0 &&
                       memcmp(a->targets, b->targets, BT * sizeof(int)) == 0,
                   "saved after %zu batches: batch %zu after restore differs", k, i);
        }
        drop_loader(a);
        drop_loader(b);
    }
    return 1;
}

// Read-ahead on, with random delays, must equal read-ahead off (and identify() compares each
// batch with a plain read of the file).
static int t_prefetch(void) {
    Layout L = layout_of(2, 8);
    DataLoader *a, *b, *c;
    a = new_loader(shard_pattern, 2, 8, 0, 2, 1, 3);
    b = new_loader(shard_pattern, 2, 8, 0, 2, 1, 3);
    c = new_loader(shard_pattern, 2, 8, 0, 2, 1, 3);
    dataloader_set_prefetch(b, 0);
    uint64_t rng = 1;
    size_t n = 2 * dataloader_num_batches(a) + 5;
    for (size_t i = 0; i < n; i++) {
        if (i % 3 == 0) {
            tiny_sleep(&rng);
        }
        if (i % 17 == 5) {
            dataloader_set_prefetch(c, (int)((i / 17) % 2)); // switching mid-run changes nothing
        }
        dataloader_next_batch(a);
        dataloader_next_batch(b);
        dataloader_next_batch(c);
        long ia = identify(a, &L);
        EXPECT(ia >= 0, "read-ahead batch %zu: %s", i, inner);
        long ib = identify(b, &L);
        EXPECT(ib >= 0, "synchronous batch %zu: %s", i, inner);
        long ic = identify(c, &L);
        EXPECT(ic >= 0, "switched batch %zu: %s", i, inner);
        EXPECT(ia == ib && ib == ic, "batch %zu: read-ahead %ld, synchronous %ld, switched %ld",
               i, ia, ib, ic);
    }
    drop_loader(a);
    drop_loader(b);
    drop_loader(c);
    return 1;
}

static int t_reset(void) {
    Layout L = layout_of(2, 8);
    DataLoader *a, *b;
    a = new_loader(shard_pattern, 2, 8, 1, 2, 1, 8);
    b = new_loader(shard_pattern, 2, 8, 1, 2, 1, 8);
    long first[3], again[3];
    EXPECT(collect(b, &L, 3, first), "%s", inner);
    for (size_t i = 0; i < dataloader_num_batches(a) + 7; i++) {
        dataloader_next_batch(a);
    }
    EXPECT(a->epoch == 1, "epoch %llu, expected 1", (unsigned long long)a->epoch);
    dataloader_reset(a);
    EXPECT(a->epoch == 0 && a->position == 0, "reset left epoch %llu position %llu",
           (unsigned long long)a->epoch, (unsigned long long)a->position);
    EXPECT(collect(a, &L, 3, again), "%s", inner);
    EXPECT(memcmp(first, again, sizeof(first)) == 0,
           "after reset: %ld %ld %ld, expected %ld %ld %ld",
           again[0], again[1], again[2], first[0], first[1], first[2]);
    drop_loader(a);
    drop_loader(b);
    return 1;
}

// The byte layout promised in dataloader.h, checked with the test's own FNV-1a.
static int t_state_layout(void) {
    DataLoaderState s;
    memset(&s, 0, sizeof(s));
    s.seed = 0x0102030405060708ULL;
    s.epoch = 3;
    s.position = 0xABCDULL;
    s.B = 4;
    s.T = 64;
    s.num_processes = 2;
    s.process_rank = 1;
    s.shuffle = 1;
    s.num_shards = 9;
    s.num_windows = 1000;
    s.num_tokens = 123456789012ULL;
    unsigned char buf[DATALOADER_STATE_BYTES];
    memset(buf, 0xEE, sizeof(buf));
    dataloader_state_serialize(&s, buf);
    uint64_t want[15] = {20240611, 1, s.seed, 3, 0xABCD, 4, 64, 2, 1, 1, 9, 1000, 123456789012ULL,
                         0, 0};
    for (int i = 0; i < 15; i++) {
        for (int k = 0; k < 8; k++) {
            unsigned char byte = (unsigned char)((want[i] >> (8 * k)) & 0xFF);
            EXPECT(buf[8 * i + k] == byte, "byte %d is %u, expected %u (field %d)", 8 * i + k,
                   buf[8 * i + k], byte, i);
        }
    }
    uint64_t h = 14695981039346656037ULL;
    for (int i = 0; i < 120; i++) {
        h = (h ^ buf[i]) * 1099511628211ULL;
    }
    for (int k = 0; k < 8; k++) {
        EXPECT(buf[120 + k] == (unsigned char)(h >> (8 * k)), "checksum byte %d wrong", k);
    }
    return 1;
}

static int mode_run(const char *dir) {
    write_shards(dir);
    report("sequential_order_B2_T8", t_sequential(2, 8));
    report("sequential_order_B3_T5", t_sequential(3, 5));
    report("shuffle_each_window_once_per_epoch", t_shuffle_epochs());
    report("shuffle_seed_determinism", t_seeds());
    char name[64];
    for (int shuffle = 0; shuffle < 2; shuffle++) {
        for (int P = 1; P <= 4; P++) {
            snprintf(name, sizeof(name), "ranks_disjoint_P%d_shuffle%d", P, shuffle);
            report(name, t_ranks(P, shuffle));
        }
    }
    report("state_restore_P1_shuffle", t_state(1, 0, 1));
    report("state_restore_P3_rank1_shuffle", t_state(3, 1, 1));
    report("state_restore_P2_rank1_sequential", t_state(2, 1, 0));
    report("state_serialised_layout", t_state_layout());
    report("prefetch_equals_synchronous", t_prefetch());
    report("reset_restarts_epoch0", t_reset());
    return failures == 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------- eval loader

static int eval_check(const char *path, const char *expect_path) {
    FILE *fp = fopen_check(expect_path, "rb");
    int32_t nconf;
    fread_check(&nconf, 4, 1, fp, expect_path);
    for (int ci = 0; ci < nconf; ci++) {
        int32_t h[7];
        fread_check(h, 4, 7, fp, expect_path);
        size_t B = (size_t)h[0], T = (size_t)h[1], E = B / 4;
        int P = h[2];
        // every rank's batches, then a second pass after reset must repeat them
        for (int r = 0; r < P; r++) {
            EvalLoader l;
            evalloader_init(&l, path, B, T, r, P);
            EXPECT(l.num_usable == (size_t)h[3] && l.num_truncated == (size_t)h[4] &&
                       l.num_skipped == (size_t)h[5],
                   "B=%zu T=%zu: usable/truncated/skipped %zu/%zu/%zu, expected %d/%d/%d", B, T,
                   l.num_usable, l.num_truncated, l.num_skipped, h[3], h[4], h[5]);
            EXPECT(evalloader_num_batches(&l) == (size_t)h[6], "B=%zu T=%zu P=%d: %zu batches, "
                   "expected %d", B, T, P, evalloader_num_batches(&l), h[6]);
            long start = ftell(fp);
            for (int pass = 0; pass < 2; pass++) {
                fseek_check(fp, start, SEEK_SET, expect_path);
                for (int32_t bi = 0; bi < h[6]; bi++) {
                    int32_t nc[2];
                    fread_check(nc, 4, 2, fp, expect_path);
                    int32_t *labels = (int32_t *)malloc_check(E * 4);
                    int32_t *inp = (int32_t *)malloc_check(B * T * 4);
                    int32_t *tgt = (int32_t *)malloc_check(B * T * 4);
                    unsigned char *msk = (unsigned char *)malloc_check(B * T);
                    float *loss = (float *)malloc_check(B * T * 4);
                    fread_check(labels, 4, E, fp, expect_path);
                    fread_check(inp, 4, B * T, fp, expect_path);
                    fread_check(tgt, 4, B * T, fp, expect_path);
                    fread_check(msk, 1, B * T, fp, expect_path);
                    fread_check(loss, 4, B * T, fp, expect_path);
                    evalloader_next_batch(&l);
                    const char *bad = NULL;
                    size_t at = 0;
                    for (size_t k = 0; k < B * T && !bad; k++) {
                        if (l.inputs[k] != inp[k]) bad = "inputs";
                        else if (l.targets[k] != tgt[k]) bad = "targets";
                        else if ((unsigned char)l.mask[k] != msk[k]) bad = "mask";
                        at = k;
                    }
                    for (size_t e = 0; e < E && !bad; e++) {
                        if (l.labels[e] != labels[e]) bad = "labels";
                    }
                    int correct = evalloader_stat_losses(&l, loss);
                    free(labels);
                    free(inp);
                    free(tgt);
                    free(msk);
                    free(loss);
                    EXPECT(!bad, "B=%zu T=%zu P=%d rank %d batch %d: %s differ (row %zu col %zu)",
                           B, T, P, r, bi, bad ? bad : "", at / T, at % T);
                    EXPECT(l.batch_examples == (size_t)nc[0], "B=%zu T=%zu P=%d rank %d batch "
                           "%d: %zu examples, expected %d", B, T, P, r, bi, l.batch_examples,
                           nc[0]);
                    EXPECT(correct == nc[1], "B=%zu T=%zu P=%d rank %d batch %d: %d correct, "
                           "expected %d", B, T, P, r, bi, correct, nc[1]);
                }
            }
            evalloader_free(&l);
        }
    }
    fclose_check(fp, expect_path);
    return 1;
}

// Hand-made losses for batch 0 at B=8 T=32 (examples 0 and 1 of dataloader_make_files.py:
// ex 0 context 3, completions of 1,4,2,3 tokens, label 1; ex 1 context 2, completions of 2
// tokens, label 2). A row with context c and completion m predicts its completion at
// positions c-1 .. c+m-2; every other position gets a huge loss that must be ignored.
static int eval_hand(const char *path) {
    const size_t T = 32;
    EvalLoader l;
    evalloader_init(&l, path, 8, T, 0, 1);
    evalloader_next_batch(&l);
    float *loss = (float *)malloc_check(8 * T * sizeof(float));
    const size_t ctx[2] = {3, 2};
    const size_t comp[2][4] = {{1, 4, 2, 3}, {2, 2, 2, 2}};
    // ex 0: means 2, 1, 3, 1.5 (sums 2, 4, 6, 4.5): lowest mean is row 1 = label; lowest sum
    // would be row 0. ex 1: row 2 (the label) lowest.
    const float val[2][4] = {{2.0f, 1.0f, 3.0f, 1.5f}, {2.0f, 2.0f, 1.0f, 2.0f}};
    for (int round = 0; round < 2; round++) {
        for (size_t k = 0; k < 8 * T; k++) {
            loss[k] = 1e6f;
        }
        for (size_t e = 0; e < 2; e++) {
            for (size_t c = 0; c < 4; c++) {
                float v = val[e][c];
                if (round == 1 && e == 0 && c == 0) {
                    v = 0.9f; // now row 0 has the lowest mean: example 0 is wrong
                }
                for (size_t t = ctx[e] - 1; t <= ctx[e] + comp[e][c] - 2; t++) {
                    loss[(4 * e + c) * T + t] = v;
                }
            }
        }
        int got = evalloader_stat_losses(&l, loss);
        int want = round == 0 ? 2 : 1;
        EXPECT(got == want, "round %d: %d correct, expected %d", round, got, want);
    }
    free(loss);
    evalloader_free(&l);
    return 1;
}

// ---------------------------------------------------------------------------- die() modes

static void state_die_mode(const char *kind, const char *dir) {
    write_shards(dir);
    DataLoader l;
    dataloader_init(&l, shard_pattern, 2, 8, 0, 1, 1, 1);
    DataLoaderState s;
    dataloader_get_state(&l, &s);
    unsigned char buf[DATALOADER_STATE_BYTES];
    dataloader_state_serialize(&s, buf);
    if (strcmp(kind, "state_corrupt") == 0) {
        buf[33] ^= 0x10; // position field
        dataloader_state_deserialize(&s, buf, "corrupt.bin");
    } else if (strcmp(kind, "state_magic") == 0) {
        buf[0] ^= 1;
        uint64_t h = 14695981039346656037ULL; // valid checksum, wrong magic
        for (int i = 0; i < 120; i++) {
            h = (h ^ buf[i]) * 1099511628211ULL;
        }
        for (int k = 0; k < 8; k++) {
            buf[120 + k] = (unsigned char)(h >> (8 * k));
        }
        dataloader_state_deserialize(&s, buf, "magic.bin");
    } else {
        DataLoader other;
        dataloader_init(&other, shard_pattern, 3, 5, 0, 1, 1, 1);
        dataloader_set_state(&other, &s);
    }
    printf("state accepted\n");
    exit(0);
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "run") == 0) {
        return mode_run(argv[2]);
    }
    if (argc >= 5 && strcmp(argv[1], "init") == 0) {
        size_t B = (size_t)parse_int_or_die(argv[3], 1, 1 << 20, "B");
        size_t T = (size_t)parse_int_or_die(argv[4], 1, 1 << 20, "T");
        int P = argc > 5 ? (int)parse_int_or_die(argv[5], 1, 64, "P") : 1;
        int R = argc > 6 ? (int)parse_int_or_die(argv[6], 0, 63, "rank") : 0;
        int V = argc > 7 ? (int)parse_int_or_die(argv[7], 0, 1 << 20, "V") : 0;
        DataLoader l;
        dataloader_init(&l, argv[2], B, T, R, P, 0, 0);
        dataloader_set_vocab_size(&l, V);
        for (size_t i = 0; i < dataloader_num_batches(&l); i++) {
            dataloader_next_batch(&l);
        }
        printf("loaded %zu shards, %zu tokens, %zu batches\n", l.num_shards, l.num_tokens,
               dataloader_num_batches(&l));
        dataloader_free(&l);
        return 0;
    }
    if (argc >= 3 && strncmp(argv[1], "state_", 6) == 0) {
        state_die_mode(argv[1], argv[2]);
    }
    if (argc >= 5 && strcmp(argv[1], "evalinit") == 0) {
        size_t B = (size_t)parse_int_or_die(argv[3], 1, 1 << 20, "B");
        size_t T = (size_t)parse_int_or_die(argv[4], 1, 1 << 20, "T");
        EvalLoader l;
        evalloader_init(&l, argv[2], B, T, 0, 1);
        for (size_t i = 0; i < evalloader_num_batches(&l); i++) {
            evalloader_next_batch(&l);
        }
        printf("loaded %zu examples, %zu batches\n", l.num_examples, evalloader_num_batches(&l));
        evalloader_free(&l);
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "eval") == 0) {
        report("eval_batches_match_reference", eval_check(argv[2], argv[3]));
        report("eval_mean_loss_scoring", eval_hand(argv[2]));
        return failures == 0 ? 0 : 1;
    }
    fprintf(stderr, "usage: dataloader_test run DIR | init PATTERN B T [P R V] | state_corrupt|"
                    "state_magic|state_mismatch DIR | evalinit PATH B T | eval PATH EXPECT\n");
    return 2;
}
