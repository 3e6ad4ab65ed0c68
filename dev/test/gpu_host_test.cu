/*
 * gpu_host_test.cu: the host-side parts of train_gpt2.cu, checked on a machine without a GPU.
 *
 *   gpu_host_test REF_MODEL.bin SEED
 *
 * REF_MODEL.bin is a version 3 checkpoint that train_gpt2.py wrote right after its random init
 * from SEED. Checks, one "ok NAME" / "not ok NAME: why" line each:
 *   - gpt2_init_random (llmc/gpt2.h, what train_gpt2.cu uses) reproduces PyTorch's init (torch's vectorised Box-Muller may differ from
 *     libm by 1-2 ulp, see llmc/rand.h, so up to 4 ulp or 1e-8 absolute is accepted; wte's
 *     padding rows must be exactly zero);
 *   - floats_to_floatX / floatX_to_floats round to nearest even like CUDA's own host conversion;
 *   - the activation sizing grows with B and largest_batch_that_fits inverts it.
 * No CUDA call is made, so no GPU is needed.
 */
#define TESTING
#include "../../train_gpt2.cu"

#include <sys/wait.h>

static int failures = 0;

static void check(int ok, const char *name, const char *why) {
    if (ok) printf("ok %s\n", name);
    else { printf("not ok %s: %s\n", name, why); failures++; }
}

// Distance in units in the last place between two finite floats of the same sign.
static long long ulps(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    if ((ia < 0) != (ib < 0)) return a == b ? 0 : (1LL << 40);
    long long d = (long long)ia - (long long)ib;
    return d < 0 ? -d : d;
}

int main(int argc, char **argv) {
    if (argc != 3) die("usage: %s REF_MODEL.bin SEED", argv[0]);
    char why[512];

    // 1. random init vs PyTorch
    GPT2 ref;
    memset(&ref, 0, sizeof(ref));
    float *expected = gpt2_read_checkpoint(&ref, argv[1]);
    const GPT2Config *c = &ref.config;
    uint64_t seed = (uint64_t)parse_int_or_die(argv[2], 0, 4294967295LL, "SEED");
    size_t offsets[NUM_PARAMETER_TENSORS];
    size_t n = gpt2_param_offsets(c, offsets);
    float *ours = (float *)malloc_check(n * sizeof(float));
    gpt2_init_random(c, ours, seed);
    size_t exact = 0, worst_i = 0;
    long long worst_ulps = 0;
    int init_ok = 1;
    for (size_t i = 0; i < n; i++) {
        if (ours[i] == expected[i]) { exact++; continue; }
        long long u = ulps(ours[i], expected[i]);
        if (u > worst_ulps) { worst_ulps = u; worst_i = i; }
        if (u > 4 && fabsf(ours[i] - expected[i]) > 1e-8f) init_ok = 0;
    }
    snprintf(why, sizeof(why), "%zu of %zu values bitwise equal; worst %lld ulp at %zu (ours %.9g, torch %.9g)", exact, n,
             worst_ulps, worst_i, ours[worst_i], expected[worst_i]);
    check(init_ok, "gpu_random_init_matches_pytorch", why);
    printf("    %s\n", why);
    size_t C = (size_t)c->channels, V = (size_t)c->vocab_size, Vp = (size_t)c->padded_vocab_size;
    int pad_zero = 1;
    for (size_t i = V * C; i < Vp * C; i++) pad_zero &= ours[offsets[PARAM_WTE] + i] == 0.0f;
    check(pad_zero && Vp > V, "gpu_random_init_wte_padding_zero", "wte rows V..Vp-1 are not all zero (or the shape has no padding)");

    // 2. host conversions to floatX: round to nearest even, as __float2bfloat16_rn on the host
    int conv_ok = 1;
    uint64_t state = 12345;
    for (int i = 0; i < 100000 && conv_ok; i++) {
        uint32_t bits = random_u32(&state);
        float x;
        memcpy(&x, &bits, 4);
        if (x != x) continue;
        floatX fx;
        floats_to_floatX(&fx, &x, 1);
        float back;
        floatX_to_floats(&back, &fx, 1);
#if FLOATX_IS_FP32
        conv_ok = memcmp(&back, &x, 4) == 0;
#else
        float want = __bfloat162float(__float2bfloat16_rn(x));
        conv_ok = memcmp(&back, &want, 4) == 0;
#endif
        if (!conv_ok) snprintf(why, sizeof(why), "%.9g -> %.9g", x, back);
    }
    check(conv_ok, "gpu_host_floatX_conversion", why);

    // 3. activation sizing
    int size_ok = 1;
    for (int r = 0; r <= 2; r++) {
        size_t prev = 0;
        for (int B = 1; B <= 64; B++) {
            size_t bytes = activation_bytes(c, B, 64, r);
            size_ok &= bytes > prev;
            prev = bytes;
        }
        size_ok &= activation_bytes(c, 8, 64, 0) > activation_bytes(c, 8, 64, 1);
        size_ok &= activation_bytes(c, 8, 64, 1) > activation_bytes(c, 8, 64, 2);
        size_ok &= largest_batch_that_fits(c, 64, r, activation_bytes(c, 37, 64, r)) == 37;
        size_ok &= largest_batch_that_fits(c, 64, r, activation_bytes(c, 37, 64, r) - 1) == 36;
        size_ok &= largest_batch_that_fits(c, 64, r, activation_bytes(c, 1, 64, r) - 1) == 0;
    }
    check(size_ok, "gpu_activation_sizing", "activation_bytes is not increasing in B and decreasing in -r, or largest_batch_that_fits does not invert it");

    // 4. data parallel (llmc/dist_gpu.cuh): ZeRO-1 shards of the padded flat buffers, backend choice,
    // the rendezvous file
    {
        const size_t sizes[] = {1, 63, 64, 65, 1000, 4099, 124475904, 1557686400};
        const int worlds[] = {1, 2, 3, 7, 8, 64};
        int layout_ok = 1;
        for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
            for (size_t wi = 0; wi < sizeof(worlds) / sizeof(worlds[0]); wi++) {
                size_t nn = sizes[si], N = (size_t)worlds[wi], S, padded;
                dist_gpu_layout(nn, worlds[wi], &S, &padded);
                // equal shards, aligned, covering n, and the smallest such (padding < N * align)
                layout_ok &= S % DIST_GPU_ALIGN == 0 && padded == N * S && padded >= nn && S >= DIST_GPU_ALIGN;
                layout_ok &= S - DIST_GPU_ALIGN < (nn + N - 1) / N;
                size_t next = 0;
                for (int r = 0; r < worlds[wi]; r++) {
                    size_t off, cnt;
                    dist_gpu_shard(nn, worlds[wi], r, &off, &cnt);
                    layout_ok &= cnt <= S && (cnt == 0 || off == (size_t)r * S) && (cnt == 0 || off == next);
                    if (cnt) next = off + cnt;
                }
                layout_ok &= next == nn; // the optimizer ranges tile [0, n) in rank order
            }
        }
        check(layout_ok, "gpu_zero1_shard_layout", "shards not equal, aligned, minimal, or not tiling [0, n)");

        char err[512];
        struct { const char *flag; int world, mpi, nccl, shared, want; } cases[] = {
            {"auto", 1, 0, 0, 0, DIST_BACKEND_LOCAL}, {"auto", 1, 1, 1, 0, DIST_BACKEND_LOCAL},
            {"auto", 4, 1, 1, 0, DIST_BACKEND_NCCL},  {"auto", 2, 1, 1, 1, DIST_BACKEND_MPI},
            {"auto", 2, 0, 1, 0, DIST_BACKEND_NCCL},  {"auto", 2, 0, 1, 1, -1},
            {"auto", 2, 0, 0, 0, -1},                 {"nccl", 1, 0, 1, 0, DIST_BACKEND_NCCL},
            {"nccl", 1, 0, 0, 0, -1},                 {"nccl", 2, 1, 1, 1, -1},
            {"mpi", 2, 1, 1, 1, DIST_BACKEND_MPI},    {"mpi", 2, 1, 1, 0, DIST_BACKEND_MPI},
            {"mpi", 2, 0, 1, 0, -1},                  {"mpi", 1, 0, 0, 0, DIST_BACKEND_MPI},
            {"gloo", 2, 1, 1, 0, -1},
        };
        int pick_ok = 1;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            int got = dist_gpu_pick_backend(cases[i].flag, cases[i].world, cases[i].mpi, cases[i].nccl, cases[i].shared,
                                            err, sizeof(err));
            if (got != cases[i].want || (got < 0) != (err[0] != '\0') || strchr(err, '\n') != NULL) {
                snprintf(why, sizeof(why), "case %zu (%s, N=%d, mpi %d, nccl %d, shared %d): got %d, want %d (%s)", i,
                         cases[i].flag, cases[i].world, cases[i].mpi, cases[i].nccl, cases[i].shared, got, cases[i].want, err);
                pick_ok = 0;
                break;
            }
        }
        check(pick_ok, "gpu_dist_backend_choice", why);

        // the rendezvous file: rank 1 (a child process) reads what rank 0 writes, and rank 0
        // refuses a path that exists already (another job's)
        char path[256];
        snprintf(path, sizeof(path), "/tmp/gpu_host_test_rdv_%ld", (long)getpid());
        remove(path);
        unsigned char blob[128], got[128];
        for (int i = 0; i < 128; i++) blob[i] = (unsigned char)(i * 37 + 11);
        Dist d1 = {1, 2, 1, 0, 20.0}, d0 = {0, 2, 0, 0, 20.0};
        fflush(stdout);
        pid_t child = fork();
        if (child == 0) {
            memset(got, 0, sizeof(got));
            dist_rendezvous_file(&d1, path, got, sizeof(got));
            _exit(memcmp(got, blob, sizeof(blob)) == 0 ? 0 : 2);
        }
        usleep(200000); // the reader waits for the file
        dist_rendezvous_file(&d0, path, blob, sizeof(blob));
        int status = 0;
        waitpid(child, &status, 0);
        int rdv_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        pid_t again = fork();
        if (again == 0) {
            freopen("/dev/null", "w", stderr);
            dist_rendezvous_file(&d0, path, blob, sizeof(blob)); // exists: must die
            _exit(0);
        }
        waitpid(again, &status, 0);
        rdv_ok &= WIFEXITED(status) && WEXITSTATUS(status) == 1;
        remove(path);
        check(rdv_ok, "gpu_dist_rendezvous_file", "rank 1 did not read rank 0's bytes, or an existing path was not refused");
    }

    free(expected);
    free(ours);
    return failures == 0 ? 0 : 1;
}
