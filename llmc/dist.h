/*
 * dist.h: data-parallel processes for both trainers: who am I, the collectives, and timeouts.
 *
 * Launches:
 *   mpirun -np N ./train_gpt2 ...   or  srun ...    built with USE_MPI=1: rank, world size and the
 *                                                   local rank (processes on this node) from MPI
 *   RANK=r WORLD_SIZE=N LOCAL_RANK=l ./train_gpt2cu  no MPI (torchrun-style launchers): the GPU
 *                                                   trainer's NCCL joins through a rendezvous file
 *                                                   (dist_rendezvous_file); host collectives then
 *                                                   run on the GPU too. The CPU trainer needs MPI.
 *   plain ./train_gpt2                              rank 0 of 1; every collective is a no-op.
 *
 * Collectives act on host buffers (the CPU trainer's gradients; the GPU trainer's few host
 * numbers). Every wait has a deadline (Dist.timeout_s): collectives are started non-blocking and
 * polled, so a rank that died or hangs makes the others stop with a one-line error naming the
 * operation, and MPI_Abort ends every process with a non-zero status, instead of hanging forever.
 *
 * Sharding (ZeRO-1): a buffer of n elements is cut into N contiguous shards, the first n % N of
 * them one element longer (dist_shard). Ranks own equal shares up to one element, in rank order.
 *
 * MPI takes int counts: a buffer past INT_MAX elements is sent in pieces (all-reduce), and a
 * shard past INT_MAX elements is refused with an error (2^31 floats per rank: more than GPT-2 XL).
 */
#ifndef LLMC_DIST_H
#define LLMC_DIST_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "utils.h"

#ifdef USE_MPI
#define OMPI_SKIP_MPICXX 1 // the C API only: MPI's C++ bindings are deprecated and warn
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

typedef struct {
    int rank;         // this process, in [0, world)
    int world;        // number of processes
    int local_rank;   // among the processes on this node: the GPU this one uses
    int use_mpi;      // 1: collectives through MPI
    double timeout_s; // the longest any collective may wait for the other ranks
} Dist;

static inline double dist_now_(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// A fatal error in one rank: one line, then every rank ends (MPI_Abort) with status 1.
static inline LLMC_NORETURN LLMC_PRINTF(2, 3) void dist_die(const Dist *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fprintf(stderr, "error: rank %d of %d: ", d->rank, d->world);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
#ifdef USE_MPI
    if (d->use_mpi && d->world > 1) MPI_Abort(MPI_COMM_WORLD, 1);
#endif
    exit(1);
}

// An environment variable as a non-negative int, or -1 when unset; dies on garbage.
static inline int dist_env_int_(const char *name) {
    const char *s = getenv(name);
    if (s == NULL || *s == '\0') return -1;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v < 0 || v > INT_MAX) die("environment %s=%s is not a non-negative integer", name, s);
    return (int)v;
}

#ifdef USE_MPI
// Whether this process was started by an MPI launcher (mpirun, mpiexec, srun with PMI).
static inline int dist_launched_by_mpi_(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS", "SLURM_NTASKS"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        if (getenv(vars[i]) != NULL) return 1;
    }
    return 0;
}

// Waits for req until the deadline, polling (MPI_Test drives the progress of the collective).
static inline void dist_wait_(const Dist *d, MPI_Request *req, const char *what) {
    double deadline = dist_now_() + d->timeout_s;
    long nap_ns = 2000;
    for (;;) {
        int done = 0;
        if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) dist_die(d, "MPI failed in %s", what);
        if (done) return;
        if (dist_now_() > deadline) {
            dist_die(d, "%s: no answer from the other ranks within %.0f s (a rank died or hangs; "
                        "--dist_timeout sets the limit)", what, d->timeout_s);
        }
        struct timespec ts = {0, nap_ns};
        nanosleep(&ts, NULL);
        if (nap_ns < 1000000) nap_ns *= 2; // short waits stay fast, long ones cost no CPU
    }
}

static inline int dist_int_count_(const Dist *d, size_t n, const char *what) {
    if (n > (size_t)INT_MAX) dist_die(d, "%s: %zu elements in one piece, more than MPI's int counts allow", what, n);
    return (int)n;
}
#endif

// Joins the job. timeout_s bounds every later collective wait.
static inline void dist_init(Dist *d, int *argc, char ***argv, double timeout_s) {
    d->rank = 0;
    d->world = 1;
    d->local_rank = 0;
    d->use_mpi = 0;
    d->timeout_s = timeout_s;
#ifdef USE_MPI
    if (dist_launched_by_mpi_() || dist_env_int_("WORLD_SIZE") < 0) {
        if (MPI_Init(argc, argv) != MPI_SUCCESS) die("MPI_Init failed");
        d->use_mpi = 1;
        MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
        MPI_Comm_size(MPI_COMM_WORLD, &d->world);
        MPI_Comm local; // the processes sharing this node
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &local);
        MPI_Comm_rank(local, &d->local_rank);
        MPI_Comm_free(&local);
        return;
    }
#else
    (void)argc;
    (void)argv;
#endif
    int world = dist_env_int_("WORLD_SIZE"), rank = dist_env_int_("RANK"), local = dist_env_int_("LOCAL_RANK");
    if (world > 1 || rank > 0) {
        if (world < 1 || rank < 0 || rank >= world) {
            die("environment: RANK=%d WORLD_SIZE=%d: want 0 <= RANK < WORLD_SIZE", rank, world);
        }
        d->world = world;
        d->rank = rank;
        d->local_rank = local >= 0 ? local : rank;
    }
}

static inline void dist_finalize(Dist *d) {
#ifdef USE_MPI
    if (d->use_mpi) MPI_Finalize();
#endif
    (void)d;
}

// Element range [*offset, *offset + *count) of rank r's shard of n elements.
static inline void dist_shard(size_t n, int world, int r, size_t *offset, size_t *count) {
    size_t base = n / (size_t)world, extra = n % (size_t)world, ur = (size_t)r;
    *count = base + (ur < extra ? 1 : 0);
    *offset = ur * base + (ur < extra ? ur : extra);
}

// buf (n floats) = its sum over all ranks, on every rank.
static inline void dist_allreduce_sum(const Dist *d, float *buf, size_t n, const char *what) {
    if (d->world == 1) return;
#ifdef USE_MPI
    if (!d->use_mpi) dist_die(d, "%s: host collectives need MPI in this program", what);
    for (size_t at = 0; at < n; at += (size_t)INT_MAX) {
        size_t piece = n - at < (size_t)INT_MAX ? n - at : (size_t)INT_MAX;
        MPI_Request req;
        MPI_Iallreduce(MPI_IN_PLACE, buf + at, (int)piece, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
        dist_wait_(d, &req, what);
    }
#else
    (void)buf;
    (void)n;
    dist_die(d, "%s: %d processes but this build has no MPI (make ... USE_MPI=1)", what, d->world);
#endif
}

// v (n doubles) = its sum over all ranks, on every rank (losses, norms, counters).
static inline void dist_allreduce_sum_double(const Dist *d, double *v, int n, const char *what) {
    if (d->world == 1) return;
#ifdef USE_MPI
    if (!d->use_mpi) dist_die(d, "%s: host collectives need MPI in this program", what);
    MPI_Request req;
    MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &req);
    dist_wait_(d, &req, what);
#else
    (void)v;
    (void)n;
    dist_die(d, "%s: %d processes but this build has no MPI (make ... USE_MPI=1)", what, d->world);
#endif
}

// ZeRO-1 gradients: every rank passes its full buffer buf (n floats); afterwards this rank's
// shard of buf (dist_shard) holds the sum over ranks. The rest of buf is left as it was.
// scratch: at least this rank's shard count of floats.
static inline void dist_reduce_scatter_sum(const Dist *d, float *buf, size_t n, float *scratch, const char *what) {
    if (d->world == 1) return;
#ifdef USE_MPI
    if (!d->use_mpi) dist_die(d, "%s: host collectives need MPI in this program", what);
    int *counts = (int *)malloc(sizeof(int) * (size_t)d->world);
    if (counts == NULL) dist_die(d, "%s: out of memory", what);
    for (int r = 0; r < d->world; r++) {
        size_t off, cnt;
        dist_shard(n, d->world, r, &off, &cnt);
        counts[r] = dist_int_count_(d, cnt, what);
    }
    size_t off, cnt;
    dist_shard(n, d->world, d->rank, &off, &cnt);
    MPI_Request req;
    MPI_Ireduce_scatter(buf, scratch, counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
    dist_wait_(d, &req, what);
    memcpy(buf + off, scratch, cnt * sizeof(float));
    free(counts);
#else
    (void)buf;
    (void)n;
    (void)scratch;
    dist_die(d, "%s: %d processes but this build has no MPI (make ... USE_MPI=1)", what, d->world);
#endif
}

// ZeRO-1 parameters: each rank's shard of buf (n floats) is copied to every other rank.
static inline void dist_allgather(const Dist *d, float *buf, size_t n, const char *what) {
    if (d->world == 1) return;
#ifdef USE_MPI
    if (!d->use_mpi) dist_die(d, "%s: host collectives need MPI in this program", what);
    dist_int_count_(d, n, what); // displacements are ints too
    int *counts = (int *)malloc(sizeof(int) * 2 * (size_t)d->world);
    if (counts == NULL) dist_die(d, "%s: out of memory", what);
    int *displs = counts + d->world;
    for (int r = 0; r < d->world; r++) {
        size_t off, cnt;
        dist_shard(n, d->world, r, &off, &cnt);
        counts[r] = (int)cnt;
        displs[r] = (int)off;
    }
    MPI_Request req;
    MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT, MPI_COMM_WORLD, &req);
    dist_wait_(d, &req, what);
    free(counts);
#else
    (void)buf;
    (void)n;
    dist_die(d, "%s: %d processes but this build has no MPI (make ... USE_MPI=1)", what, d->world);
#endif
}

// The fingerprint dist_check_same compares: FNV-1a 64 (llmc/utils.h) continued from h, starting
// at DIST_HASH_INIT.
#define DIST_HASH_INIT FNV1A64_INIT
static inline uint64_t dist_hash(uint64_t h, const void *data, size_t n) { return fnv1a64(h, data, n); }

// Every rank must agree on `value` (a hash of the options, the data, the checkpoint...): if any
// rank differs, every rank exits 1 and rank 0 names the first rank that differs.
static inline void dist_check_same(const Dist *d, uint64_t value, const char *what) {
    if (d->world == 1) return;
#ifdef USE_MPI
    if (!d->use_mpi) dist_die(d, "%s: host collectives need MPI in this program", what);
    uint64_t *all = (uint64_t *)malloc(sizeof(uint64_t) * (size_t)d->world);
    if (all == NULL) dist_die(d, "%s: out of memory", what);
    MPI_Request req;
    MPI_Iallgather(&value, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD, &req);
    dist_wait_(d, &req, what);
    int differs = -1;
    for (int r = 1; r < d->world && differs < 0; r++) {
        if (all[r] != all[0]) differs = r;
    }
    free(all);
    if (differs >= 0) {
        if (d->rank == 0) {
            fflush(stdout);
            fprintf(stderr, "error: rank %d of %d runs with other %s than rank 0: every rank must be "
                            "started with the same flags and files\n", differs, d->world, what);
        }
        MPI_Finalize(); // all ranks know: a clean exit, no abort storm
        exit(1);
    }
#else
    (void)value;
    dist_die(d, "%s: %d processes but this build has no MPI (make ... USE_MPI=1)", what, d->world);
#endif
}

static inline void dist_barrier(const Dist *d, const char *what) {
    if (d->world == 1) return;
#ifdef USE_MPI
    if (!d->use_mpi) dist_die(d, "%s: host collectives need MPI in this program", what);
    MPI_Request req;
    MPI_Ibarrier(MPI_COMM_WORLD, &req);
    dist_wait_(d, &req, what);
#else
    dist_die(d, "%s: %d processes but this build has no MPI (make ... USE_MPI=1)", what, d->world);
#endif
}

// Rank 0's `size` bytes (an NCCL unique id) copied to every rank, through MPI.
static inline void dist_broadcast(const Dist *d, void *blob, size_t size, const char *what) {
    if (d->world == 1) return;
#ifdef USE_MPI
    if (!d->use_mpi) dist_die(d, "%s: host collectives need MPI in this program", what);
    MPI_Request req;
    MPI_Ibcast(blob, dist_int_count_(d, size, what), MPI_BYTE, 0, MPI_COMM_WORLD, &req);
    dist_wait_(d, &req, what);
#else
    (void)blob;
    (void)size;
    dist_die(d, "%s: %d processes but this build has no MPI (make ... USE_MPI=1)", what, d->world);
#endif
}

// Rank 0 hands `size` bytes (an NCCL unique id) to every rank through a file on a file system
// all ranks share: written under a temporary name and renamed, so readers never see half of it.
// Used when the job was started without MPI (RANK/WORLD_SIZE from the environment). The path must
// be new for every job (put the job id in it, e.g. $SLURM_JOB_ID): rank 0 refuses one that exists,
// since other ranks could already have read a previous job's id from it.
static inline void dist_rendezvous_file(const Dist *d, const char *path, void *blob, size_t size) {
    if (d->world == 1) return;
    if (d->rank == 0) {
        if (access(path, F_OK) == 0) die("--dist_rendezvous: %s exists (a previous job's?): use a new path per job", path);
        char tmp[4096];
        if (snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
            die("--dist_rendezvous: path too long: %s", path);
        }
        FILE *fp = fopen(tmp, "wb");
        if (fp == NULL || fwrite(blob, 1, size, fp) != size || fclose(fp) != 0 || rename(tmp, path) != 0) {
            die("--dist_rendezvous: cannot write %s: %s", path, strerror(errno));
        }
        return;
    }
    double deadline = dist_now_() + d->timeout_s;
    for (;;) {
        FILE *fp = fopen(path, "rb");
        if (fp != NULL) {
            size_t got = fread(blob, 1, size, fp);
            fclose(fp);
            if (got == size) return;
        }
        if (dist_now_() > deadline) {
            die("rank %d: --dist_rendezvous %s: rank 0 did not write it within %.0f s", d->rank, path, d->timeout_s);
        }
        usleep(100000);
    }
}

// ---- what data parallelism costs: bytes on the wire and model-state memory per rank -----------
// Ring collectives (what NCCL and MPI use for large buffers): an all-reduce of n elements sends
// 2(N-1)/N * n elements from every rank, a reduce-scatter or an all-gather (N-1)/N * n each.
// ZeRO-1 replaces the gradient all-reduce by a reduce-scatter of gradients plus an all-gather of
// parameters: the same bytes when both have the same width, and the optimizer state (AdamW m, v
// and fp32 master weights) is stored 1/N per rank.
typedef struct {
    double sent_bytes;    // per rank per optimizer step
    double params, grads; // bytes per rank
    double master, m, v;  // bytes per rank (master: 0 when the parameters are already fp32)
} DistPlan;

// param_bytes, grad_bytes: width of the parameters and gradients as communicated (4 fp32, 2 bf16);
// master_bytes: 4 when fp32 master weights are kept beside lower-precision parameters, else 0.
static inline DistPlan dist_plan(size_t num_params, int world, int zero_stage, int param_bytes, int grad_bytes,
                                 int master_bytes) {
    DistPlan p;
    double n = (double)num_params, N = (double)world, share = zero_stage >= 1 ? 1.0 / N : 1.0;
    double ring = world > 1 ? (N - 1.0) / N * n : 0.0;
    p.sent_bytes = zero_stage >= 1 ? ring * (grad_bytes + param_bytes) : 2.0 * ring * grad_bytes;
    p.params = n * param_bytes;
    p.grads = n * grad_bytes;
    p.master = n * master_bytes * share;
    p.m = p.v = n * 4.0 * share;
    return p;
}

// The one-line summary every multi-rank run prints at start (rank 0).
static inline void dist_print_plan(const Dist *d, size_t num_params, int zero_stage, int param_bytes, int grad_bytes,
                                   int master_bytes) {
    if (d->rank != 0 || d->world == 1) return;
    DistPlan p = dist_plan(num_params, d->world, zero_stage, param_bytes, grad_bytes, master_bytes);
    double mib = 1024.0 * 1024.0;
    printf("| data parallel         | %d ranks, ZeRO-%d: %.1f MiB sent per rank per step; model state %.1f MiB per rank"
           " (params %.1f, grads %.1f, master %.1f, AdamW m+v %.1f)\n",
           d->world, zero_stage, p.sent_bytes / mib, (p.params + p.grads + p.master + p.m + p.v) / mib, p.params / mib,
           p.grads / mib, p.master / mib, (p.m + p.v) / mib);
}

#endif // LLMC_DIST_H
