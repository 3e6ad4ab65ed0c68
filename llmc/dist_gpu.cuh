/*
 * dist_gpu.cuh: the GPU trainer's collectives on device buffers, over the processes of
 * llmc/dist.h (rank, world, local rank, host collectives, timeouts).
 *
 * Two backends, chosen by --dist_backend (dist_gpu_pick_backend):
 *   NCCL  one GPU per rank (USE_MPI=1 builds link NCCL). The communicator joins through MPI (rank
 *         0's unique id broadcast) or, launched from the environment (RANK, WORLD_SIZE), through a
 *         file on a shared file system (--dist_rendezvous, dist_rendezvous_file). It is created
 *         non-blocking (ncclConfig_t.blocking = 0), so no NCCL call ever waits on the other ranks:
 *         every wait is a poll of ncclCommGetAsyncError / cudaStreamQuery against the deadline
 *         Dist.timeout_s, and on timeout or error the communicator is aborted (ncclCommAbort) and
 *         the rank exits with one line (MPI_Abort ends the others when MPI launched the job).
 *   MPI   several ranks on one GPU (NCCL refuses two ranks on one device): the device buffer is
 *         copied to pinned host memory, widened to fp32, summed / scattered / gathered by
 *         llmc/dist.h (bounded waits too), rounded back (nearest even) and copied back. Slow
 *         (PCIe both ways, host sums), meant for testing the algorithm on one GPU.
 *   auto  (default) MPI when ranks on a node share a GPU, else NCCL; one rank: no communication.
 *
 * Collectives run on their own stream: dist_gpu_start makes it wait for the compute stream's work
 * so far, dist_gpu_finish makes the compute stream wait for the collectives and then waits (with
 * the deadline) until they completed, so the host never blocks without a bound. Between the two,
 * the compute stream keeps running: the trainer reduces each layer's gradients while the backward
 * pass of the layers below runs (-z 0, NCCL).
 *
 * ZeRO-1 layout (dist_gpu_layout): the flat parameter and gradient buffers of n elements are padded
 * with zeros to N * S elements, S = ceil(n / N) rounded up to DIST_GPU_ALIGN elements, so that
 * NCCL's reduce-scatter and all-gather move equal shards and every shard starts 256-byte aligned.
 * Rank r owns [r S, (r + 1) S); its optimizer state covers that range cut at n (dist_gpu_shard),
 * which is empty for trailing ranks of a model smaller than N * S (tiny models only).
 */
#ifndef LLMC_DIST_GPU_CUH
#define LLMC_DIST_GPU_CUH

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cuda_common.h"
#include "dist.h"
#include "gpt2.h"

#ifdef USE_MPI
#include <nccl.h>
#define DIST_HAVE_NCCL 1
#else
#define DIST_HAVE_NCCL 0
#endif

typedef enum { DIST_BACKEND_LOCAL, DIST_BACKEND_NCCL, DIST_BACKEND_MPI } DistBackend;
static const char *const DIST_BACKEND_NAMES[] = {"none (one rank)", "NCCL", "MPI over host memory"};

#define DIST_GPU_ALIGN 64   // elements: 128 bytes of bf16, 256 of fp32
#define DIST_GPU_MAX_OPS 512 // timed collectives per step (d48: 49 groups); more go untimed

// ---- host-side arithmetic and choices (no CUDA call; dev/test/gpu_host_test.cu checks them) ----

// ZeRO-1 shard S and padded length N * S of a flat buffer of n elements over `world` ranks.
static inline void dist_gpu_layout(size_t n, int world, size_t *shard, size_t *padded) {
    size_t s = (n + (size_t)world - 1) / (size_t)world;
    s = (s + DIST_GPU_ALIGN - 1) / DIST_GPU_ALIGN * DIST_GPU_ALIGN;
    *shard = s;
    *padded = s * (size_t)world;
}

// The elements [*offset, *offset + *count) rank r's optimizer updates: its shard cut at n.
static inline void dist_gpu_shard(size_t n, int world, int r, size_t *offset, size_t *count) {
    size_t s, padded;
    dist_gpu_layout(n, world, &s, &padded);
    size_t lo = (size_t)r * s, hi = lo + s;
    if (lo > n) lo = n;
    if (hi > n) hi = n;
    *offset = lo;
    *count = hi - lo;
}

// The backend for --dist_backend `flag` (auto|nccl|mpi), or -1 with a one-line reason in err.
// launched_by_mpi: Dist.use_mpi; have_nccl: DIST_HAVE_NCCL; device_shared: some node runs more
// ranks than it has GPUs (the same on every rank, so every rank picks the same backend).
static inline int dist_gpu_pick_backend(const char *flag, int world, int launched_by_mpi, int have_nccl,
                                        int device_shared, char *err, size_t err_size) {
    err[0] = '\0';
    if (strcmp(flag, "nccl") == 0) {
        if (!have_nccl) {
            snprintf(err, err_size, "--dist_backend nccl: this build has no NCCL (make train_gpt2cu USE_MPI=1)");
            return -1;
        }
        if (world > 1 && device_shared) {
            snprintf(err, err_size, "--dist_backend nccl: ranks share a GPU, and NCCL needs one GPU per rank (use "
                                    "--dist_backend mpi, or as many ranks per node as GPUs)");
            return -1;
        }
        return DIST_BACKEND_NCCL;
    }
    if (strcmp(flag, "mpi") == 0) {
        if (world > 1 && !launched_by_mpi) {
            snprintf(err, err_size, "--dist_backend mpi: the job was started from RANK/WORLD_SIZE, not by mpirun or "
                                    "srun (use --dist_backend nccl, or launch with MPI)");
            return -1;
        }
        return DIST_BACKEND_MPI;
    }
    if (strcmp(flag, "auto") != 0) {
        snprintf(err, err_size, "--dist_backend: '%s' is not one of auto|nccl|mpi", flag);
        return -1;
    }
    if (world == 1) return DIST_BACKEND_LOCAL;
    if (device_shared) {
        if (launched_by_mpi) return DIST_BACKEND_MPI;
        snprintf(err, err_size, "ranks share a GPU, which needs the MPI backend, but the job was started from "
                                "RANK/WORLD_SIZE: launch with mpirun, or one rank per GPU");
        return -1;
    }
    if (have_nccl) return DIST_BACKEND_NCCL;
    if (launched_by_mpi) return DIST_BACKEND_MPI;
    snprintf(err, err_size, "%d ranks but this build has neither NCCL nor MPI (make train_gpt2cu USE_MPI=1)", world);
    return -1;
}

// ---- the communicator ------------------------------------------------------------------------

typedef struct {
    const Dist *d;         // timeouts are read from here at each wait (--dist_timeout)
    DistBackend backend;
    cudaStream_t stream;   // the collectives' stream
    cudaEvent_t handoff;   // one stream waits for the other's work up to here
    // time on the collectives' stream, per step (NCCL: event pairs around each collective;
    // MPI: host clock, the staged collectives block the host)
    cudaEvent_t op_start[DIST_GPU_MAX_OPS], op_end[DIST_GPU_MAX_OPS];
    int ops, in_group;
    double step_ms, total_ms; // this step's, and the sum over the counted steps
    double step_bytes, last_step_bytes; // bytes this rank sent this step, the last step (ring estimate)
    int steps_seen, steps_counted;
#if DIST_HAVE_NCCL
    ncclComm_t nccl;
    int nccl_live;
#endif
    float *host_f;         // (host_n) pinned, MPI backend: a buffer widened to fp32
    floatX *host_x;        // (host_n) pinned, MPI backend: the device buffer as copied
    size_t host_n;
    void *dev_scalars;     // 8 doubles on the device: host collectives through NCCL (no MPI)
    double *host_scalars;  // 8 doubles, pinned: a copy from pageable memory could block the host
                           // behind a hung collective, outside any deadline
} DistGPU;

static inline void dist_gpu_nap_(long *nap_ns) {
    struct timespec ts = {0, *nap_ns};
    nanosleep(&ts, NULL);
    if (*nap_ns < 1000000) *nap_ns *= 2;
}

#if DIST_HAVE_NCCL
static inline LLMC_NORETURN void dist_nccl_fail_(DistGPU *g, const char *what, const char *why) {
    if (g->nccl_live) {
        ncclCommAbort(g->nccl); // frees this rank's side without waiting for the others
        g->nccl_live = 0;
    }
    dist_die(g->d, "NCCL %s: %s", what, why);
}

// Waits until the communicator is idle (a non-blocking call returned ncclInProgress) and, when
// stream is not NULL, until the stream's work is done; errors and the deadline end the job.
static inline void dist_nccl_wait_(DistGPU *g, cudaStream_t stream, int check_stream, const char *what) {
    double deadline = dist_now_() + g->d->timeout_s;
    long nap_ns = 2000;
    for (;;) {
        ncclResult_t state = ncclSuccess;
        ncclResult_t r = ncclCommGetAsyncError(g->nccl, &state);
        if (r != ncclSuccess) dist_nccl_fail_(g, what, ncclGetErrorString(r));
        if (state != ncclSuccess && state != ncclInProgress) dist_nccl_fail_(g, what, ncclGetErrorString(state));
        int done = state == ncclSuccess;
        if (done && check_stream) {
            cudaError_t e = cudaStreamQuery(stream);
            if (e != cudaSuccess && e != cudaErrorNotReady) cudaCheck(e);
            done = e == cudaSuccess;
        }
        if (done) return;
        if (dist_now_() > deadline) {
            char why[200];
            snprintf(why, sizeof(why), "no answer from the other ranks within %.0f s (a rank died or hangs; "
                                       "--dist_timeout sets the limit)", g->d->timeout_s);
            dist_nccl_fail_(g, what, why);
        }
        dist_gpu_nap_(&nap_ns);
    }
}

// After a non-blocking NCCL call: an error ends the job, ncclInProgress is waited out.
static inline void dist_nccl_enqueued_(DistGPU *g, ncclResult_t r, const char *what) {
    if (r == ncclSuccess) return;
    if (r != ncclInProgress) dist_nccl_fail_(g, what, ncclGetErrorString(r));
    dist_nccl_wait_(g, NULL, 0, what);
}

static inline ncclDataType_t dist_nccl_floatx_(void) { return FLOATX_IS_FP32 ? ncclFloat32 : ncclBfloat16; }
#endif

// Joins the communicator of `backend` (after cudaSetDevice). rendezvous: the file through which
// ranks started without MPI share NCCL's id ("" when MPI launched the job).
static inline void dist_gpu_init(DistGPU *g, const Dist *d, DistBackend backend, const char *rendezvous) {
    memset(g, 0, sizeof(*g));
    g->d = d;
    g->backend = backend;
    cudaCheck(cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking));
    cudaCheck(cudaEventCreateWithFlags(&g->handoff, cudaEventDisableTiming));
    for (int i = 0; i < DIST_GPU_MAX_OPS; i++) {
        cudaCheck(cudaEventCreate(&g->op_start[i]));
        cudaCheck(cudaEventCreate(&g->op_end[i]));
    }
    cudaCheck(cudaMalloc(&g->dev_scalars, 8 * sizeof(double)));
    cudaCheck(cudaMallocHost((void **)&g->host_scalars, 8 * sizeof(double)));
    if (backend != DIST_BACKEND_NCCL) return;
#if DIST_HAVE_NCCL
    ncclUniqueId id;
    memset(&id, 0, sizeof(id));
    if (d->rank == 0) {
        ncclResult_t r = ncclGetUniqueId(&id);
        if (r != ncclSuccess) dist_die(d, "NCCL ncclGetUniqueId: %s", ncclGetErrorString(r));
    }
    if (d->use_mpi) {
        dist_broadcast(d, &id, sizeof(id), "sharing the NCCL id");
    } else if (d->world > 1) {
        if (rendezvous == NULL || rendezvous[0] == '\0') {
            die("flag --dist_rendezvous: %d ranks started without MPI need a path on a file system they all share "
                "(new for every job, e.g. with $SLURM_JOB_ID in it)", d->world);
        }
        dist_rendezvous_file(d, rendezvous, &id, sizeof(id));
    }
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0; // every wait is ours, with a deadline
    ncclResult_t r = ncclCommInitRankConfig(&g->nccl, d->world, id, d->rank, &config);
    if (r != ncclSuccess && r != ncclInProgress) dist_die(d, "NCCL ncclCommInitRankConfig: %s", ncclGetErrorString(r));
    g->nccl_live = 1;
    dist_nccl_wait_(g, NULL, 0, "joining the communicator");
#else
    (void)rendezvous;
    dist_die(d, "NCCL backend: this build has no NCCL (make train_gpt2cu USE_MPI=1)");
#endif
}

// MPI backend: pinned host buffers for flat device buffers of up to n elements (host_f twice:
// the second half is the reduce-scatter's receive buffer).
static inline void dist_gpu_reserve(DistGPU *g, size_t n) {
    if (g->backend != DIST_BACKEND_MPI || n <= g->host_n) return;
    if (g->host_f) cudaCheck(cudaFreeHost(g->host_f));
    if (g->host_x) cudaCheck(cudaFreeHost(g->host_x));
    cudaCheck(cudaMallocHost((void **)&g->host_f, 2 * n * sizeof(float)));
    cudaCheck(cudaMallocHost((void **)&g->host_x, n * sizeof(floatX)));
    g->host_n = n;
}

static inline void dist_gpu_free(DistGPU *g) {
    cudaCheck(cudaStreamSynchronize(g->stream));
#if DIST_HAVE_NCCL
    if (g->nccl_live) { // finalize flushes this rank's work; destroy then frees without waiting
        dist_nccl_enqueued_(g, ncclCommFinalize(g->nccl), "closing the communicator");
        ncclResult_t r = ncclCommDestroy(g->nccl);
        if (r != ncclSuccess) dist_die(g->d, "NCCL ncclCommDestroy: %s", ncclGetErrorString(r));
        g->nccl_live = 0;
    }
#endif
    for (int i = 0; i < DIST_GPU_MAX_OPS; i++) {
        cudaCheck(cudaEventDestroy(g->op_start[i]));
        cudaCheck(cudaEventDestroy(g->op_end[i]));
    }
    cudaCheck(cudaEventDestroy(g->handoff));
    cudaCheck(cudaStreamDestroy(g->stream));
    cudaCheck(cudaFree(g->dev_scalars));
    cudaCheck(cudaFreeHost(g->host_scalars));
    if (g->host_f) cudaCheck(cudaFreeHost(g->host_f));
    if (g->host_x) cudaCheck(cudaFreeHost(g->host_x));
    memset(g, 0, sizeof(*g));
}

// ---- collectives on device buffers -------------------------------------------------------------

// The collectives' stream waits for the work queued on `compute` so far.
static inline void dist_gpu_start(DistGPU *g, cudaStream_t compute) {
    if (g->backend == DIST_BACKEND_LOCAL) return;
    cudaCheck(cudaEventRecord(g->handoff, compute));
    cudaCheck(cudaStreamWaitEvent(g->stream, g->handoff, 0));
}

static inline void dist_gpu_op_begin_(DistGPU *g) {
    if (g->backend == DIST_BACKEND_NCCL && g->ops < DIST_GPU_MAX_OPS) cudaCheck(cudaEventRecord(g->op_start[g->ops], g->stream));
}
static inline void dist_gpu_op_end_(DistGPU *g, double t0_host) {
    if (g->backend == DIST_BACKEND_NCCL && g->ops < DIST_GPU_MAX_OPS) {
        cudaCheck(cudaEventRecord(g->op_end[g->ops], g->stream));
        g->ops++;
    } else if (g->backend == DIST_BACKEND_MPI) {
        g->step_ms += (dist_now_() - t0_host) * 1e3;
    }
}

// Several NCCL collectives launched as one (dist_gpu_group_end); one event pair times them.
static inline void dist_gpu_group_begin(DistGPU *g) {
    if (g->backend != DIST_BACKEND_NCCL) return;
    dist_gpu_op_begin_(g);
    g->in_group = 1;
#if DIST_HAVE_NCCL
    dist_nccl_enqueued_(g, ncclGroupStart(), "ncclGroupStart");
#endif
}
static inline void dist_gpu_group_end(DistGPU *g) {
    if (g->backend != DIST_BACKEND_NCCL) return;
#if DIST_HAVE_NCCL
    dist_nccl_enqueued_(g, ncclGroupEnd(), "gradient all-reduce");
#endif
    g->in_group = 0;
    dist_gpu_op_end_(g, 0.0);
}

// MPI backend: count elements of the device buffer into host_f as fp32 (after the collectives'
// stream's earlier work), and back (rounded to nearest even).
static inline void dist_gpu_stage_in_(DistGPU *g, const floatX *buf, size_t count) {
    if (count > g->host_n) dist_die(g->d, "MPI backend: %zu elements staged, %zu reserved", count, g->host_n);
    cudaCheck(cudaMemcpyAsync(g->host_x, buf, count * sizeof(floatX), cudaMemcpyDeviceToHost, g->stream));
    cudaCheck(cudaStreamSynchronize(g->stream)); // local work only: the GPU always answers
#if FLOATX_IS_FP32
    memcpy(g->host_f, g->host_x, count * sizeof(float));
#else
    const uint16_t *raw = (const uint16_t *)g->host_x;
    for (size_t i = 0; i < count; i++) g->host_f[i] = bf16_to_float(raw[i]);
#endif
}
static inline void dist_gpu_stage_out_(DistGPU *g, floatX *buf, size_t from, size_t count) {
#if FLOATX_IS_FP32
    memcpy(g->host_x + from, g->host_f + from, count * sizeof(float));
#else
    uint16_t *raw = (uint16_t *)g->host_x;
    for (size_t i = from; i < from + count; i++) raw[i] = float_to_bf16(g->host_f[i]);
#endif
    cudaCheck(cudaMemcpyAsync(buf + from, g->host_x + from, count * sizeof(floatX), cudaMemcpyHostToDevice, g->stream));
    cudaCheck(cudaStreamSynchronize(g->stream)); // host_x is reused by the next collective
}

// buf (n elements, device) = its sum over all ranks.
static inline void dist_gpu_allreduce(DistGPU *g, floatX *buf, size_t n, const char *what) {
    int N = g->d->world;
    g->step_bytes += N > 1 ? 2.0 * (N - 1) / N * (double)n * sizeof(floatX) : 0.0;
    if (g->backend == DIST_BACKEND_NCCL) {
#if DIST_HAVE_NCCL
        if (!g->in_group) dist_gpu_op_begin_(g); // a group is timed as one
        dist_nccl_enqueued_(g, ncclAllReduce(buf, buf, n, dist_nccl_floatx_(), ncclSum, g->nccl, g->stream), what);
        if (!g->in_group) dist_gpu_op_end_(g, 0.0);
#endif
    } else if (g->backend == DIST_BACKEND_MPI) {
        double t0 = dist_now_();
        dist_gpu_stage_in_(g, buf, n);
        dist_allreduce_sum(g->d, g->host_f, n, what);
        dist_gpu_stage_out_(g, buf, 0, n);
        dist_gpu_op_end_(g, t0);
    }
}

// ZeRO-1 gradients: buf holds N * shard elements (dist_gpu_layout); afterwards this rank's shard
// [rank * shard, (rank + 1) * shard) holds the sum over ranks, the rest of buf is left as it was.
static inline void dist_gpu_reduce_scatter(DistGPU *g, floatX *buf, size_t shard, const char *what) {
    int N = g->d->world, r = g->d->rank;
    size_t total = shard * (size_t)N;
    g->step_bytes += (double)(N - 1) * (double)shard * sizeof(floatX);
    if (g->backend == DIST_BACKEND_NCCL) {
#if DIST_HAVE_NCCL
        dist_gpu_op_begin_(g);
        floatX *mine = buf + (size_t)r * shard; // in place: NCCL's rule for recvbuff
        dist_nccl_enqueued_(g, ncclReduceScatter(buf, mine, shard, dist_nccl_floatx_(), ncclSum, g->nccl, g->stream), what);
        dist_gpu_op_end_(g, 0.0);
#endif
    } else if (g->backend == DIST_BACKEND_MPI) {
        double t0 = dist_now_();
        dist_gpu_stage_in_(g, buf, total);
        // equal shards: dist.h's dist_shard of N * shard elements is exactly [r shard, (r+1) shard)
        float *scratch = g->host_f + g->host_n; // dist_gpu_reserve allocates a second half for this
        dist_reduce_scatter_sum(g->d, g->host_f, total, scratch, what);
        dist_gpu_stage_out_(g, buf, (size_t)r * shard, shard);
        dist_gpu_op_end_(g, t0);
    }
}

// ZeRO-1 parameters: every rank's shard of buf (N * shard elements) copied to every other rank.
static inline void dist_gpu_allgather(DistGPU *g, floatX *buf, size_t shard, const char *what) {
    int N = g->d->world;
    size_t total = shard * (size_t)N;
    g->step_bytes += (double)(N - 1) * (double)shard * sizeof(floatX);
    if (g->backend == DIST_BACKEND_NCCL) {
#if DIST_HAVE_NCCL
        dist_gpu_op_begin_(g);
        floatX *mine = buf + (size_t)g->d->rank * shard;
        dist_nccl_enqueued_(g, ncclAllGather(mine, buf, shard, dist_nccl_floatx_(), g->nccl, g->stream), what);
        dist_gpu_op_end_(g, 0.0);
#endif
    } else if (g->backend == DIST_BACKEND_MPI) {
        double t0 = dist_now_();
        dist_gpu_stage_in_(g, buf, total); // widening and narrowing bf16 is exact
        dist_allgather(g->d, g->host_f, total, what);
        dist_gpu_stage_out_(g, buf, 0, total);
        dist_gpu_op_end_(g, t0);
    }
}

// *value (one device float, e.g. a squared norm) = its sum over ranks, in stream order.
static inline void dist_gpu_sum_device_float(DistGPU *g, float *value, const char *what) {
    if (g->backend == DIST_BACKEND_NCCL) {
#if DIST_HAVE_NCCL
        dist_nccl_enqueued_(g, ncclAllReduce(value, value, 1, ncclFloat32, ncclSum, g->nccl, g->stream), what);
#endif
    } else if (g->backend == DIST_BACKEND_MPI) {
        float v = 0.0f;
        cudaCheck(cudaMemcpyAsync(&v, value, sizeof(float), cudaMemcpyDeviceToHost, g->stream));
        cudaCheck(cudaStreamSynchronize(g->stream));
        dist_allreduce_sum(g->d, &v, 1, what);
        cudaCheck(cudaMemcpyAsync(value, &v, sizeof(float), cudaMemcpyHostToDevice, g->stream));
        cudaCheck(cudaStreamSynchronize(g->stream));
    }
}

// The compute stream waits for the collectives queued so far, and the host waits (bounded by the
// timeout) until they are done, so no later synchronisation can hang on a dead rank.
static inline void dist_gpu_finish(DistGPU *g, cudaStream_t compute, const char *what) {
    if (g->backend == DIST_BACKEND_LOCAL) return;
    cudaCheck(cudaEventRecord(g->handoff, g->stream));
    cudaCheck(cudaStreamWaitEvent(compute, g->handoff, 0));
    if (g->backend == DIST_BACKEND_NCCL) {
#if DIST_HAVE_NCCL
        dist_nccl_wait_(g, g->stream, 1, what);
#endif
        for (int i = 0; i < g->ops; i++) {
            float ms = 0.0f;
            cudaCheck(cudaEventElapsedTime(&ms, g->op_start[i], g->op_end[i]));
            g->step_ms += ms;
        }
        g->ops = 0;
    }
}

// Closes a training step's communication statistics (the first step, NCCL's warm-up, is not counted).
static inline void dist_gpu_step_end(DistGPU *g) {
    if (g->steps_seen++ > 0) {
        g->total_ms += g->step_ms;
        g->steps_counted++;
    }
    g->step_ms = 0.0;
    g->last_step_bytes = g->step_bytes;
    g->step_bytes = 0.0;
}

// One line on stdout (the caller prints from rank 0): time on the collectives' stream per step.
static inline void dist_gpu_print_stats(const DistGPU *g) {
    double step_bytes = g->last_step_bytes;
    if (g->backend == DIST_BACKEND_LOCAL) return;
    if (g->steps_counted == 0) {
        printf("communication: %s, no step after the first was timed\n", DIST_BACKEND_NAMES[g->backend]);
        return;
    }
    printf("communication: %s, %.3f ms per step in collectives (mean of %d steps after the first), %.1f MiB sent "
           "per rank per step\n", DIST_BACKEND_NAMES[g->backend], g->total_ms / g->steps_counted, g->steps_counted,
           step_bytes / (1024.0 * 1024.0));
}

// ---- host numbers: through MPI when it launched the job, else through NCCL ---------------------

// v (n <= 8 doubles) = its sum over all ranks, on every rank.
static inline void dist_gpu_sum_doubles(DistGPU *g, double *v, int n, const char *what) {
    const Dist *d = g->d;
    if (d->world == 1) return;
    if (d->use_mpi) {
        dist_allreduce_sum_double(d, v, n, what);
        return;
    }
#if DIST_HAVE_NCCL
    if (n > 8) dist_die(d, "%s: %d numbers, at most 8", what, n);
    memcpy(g->host_scalars, v, (size_t)n * sizeof(double));
    cudaCheck(cudaMemcpyAsync(g->dev_scalars, g->host_scalars, (size_t)n * sizeof(double), cudaMemcpyHostToDevice, g->stream));
    dist_nccl_enqueued_(g, ncclAllReduce(g->dev_scalars, g->dev_scalars, (size_t)n, ncclFloat64, ncclSum, g->nccl, g->stream), what);
    cudaCheck(cudaMemcpyAsync(g->host_scalars, g->dev_scalars, (size_t)n * sizeof(double), cudaMemcpyDeviceToHost, g->stream));
    dist_nccl_wait_(g, g->stream, 1, what);
    memcpy(v, g->host_scalars, (size_t)n * sizeof(double));
#else
    dist_die(d, "%s: host collectives need MPI or NCCL", what);
#endif
}

static inline void dist_gpu_barrier(DistGPU *g, const char *what) {
    double one = 1.0;
    if (g->d->use_mpi) dist_barrier(g->d, what);
    else dist_gpu_sum_doubles(g, &one, 1, what);
}

// Every rank must agree on value (llmc/dist.h dist_check_same): all exit 1 otherwise.
static inline void dist_gpu_check_same(DistGPU *g, uint64_t value, const char *what) {
    const Dist *d = g->d;
    if (d->world == 1) return;
    if (d->use_mpi) {
        dist_check_same(d, value, what);
        return;
    }
#if DIST_HAVE_NCCL
    uint64_t *host = (uint64_t *)g->host_scalars, *dev = (uint64_t *)g->dev_scalars;
    host[0] = host[1] = value;
    cudaCheck(cudaMemcpyAsync(dev, host, 2 * sizeof(uint64_t), cudaMemcpyHostToDevice, g->stream));
    dist_gpu_group_begin(g);
    dist_nccl_enqueued_(g, ncclAllReduce(dev, dev, 1, ncclUint64, ncclMax, g->nccl, g->stream), what);
    dist_nccl_enqueued_(g, ncclAllReduce(dev + 1, dev + 1, 1, ncclUint64, ncclMin, g->nccl, g->stream), what);
    dist_gpu_group_end(g);
    g->ops = 0; // not a training step's communication
    cudaCheck(cudaMemcpyAsync(host, dev, 2 * sizeof(uint64_t), cudaMemcpyDeviceToHost, g->stream));
    dist_nccl_wait_(g, g->stream, 1, what);
    if (host[0] != host[1]) {
        if (d->rank == 0) {
            fflush(stdout);
            fprintf(stderr, "error: some of the %d ranks run with other %s than the others: every rank must be started "
                            "with the same flags and files\n", d->world, what);
        }
        dist_gpu_free(g);
        exit(1);
    }
#else
    (void)value;
    dist_die(d, "%s: host collectives need MPI or NCCL", what);
#endif
}

#endif // LLMC_DIST_GPU_CUH
