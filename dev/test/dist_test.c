// Checks llmc/dist.h under mpirun: every collective against a sum computed locally from what
// each rank is known to hold, uneven shards, mismatch detection and the wait timeout.
//   mpirun -np N build/dist_test check N_ELEMENTS    exit 0 when every check holds
//   mpirun -np N build/dist_test mismatch            ranks disagree on a value: all exit 1
//   mpirun -np N build/dist_test hang SECONDS        the last rank sleeps; the others time out
#include <math.h>

#include "llmc/dist.h"

// The value rank r holds at element i: distinct per rank and element, exact in float sums.
static float value_at(int r, size_t i) { return (float)((i * 7 + (size_t)r * 13) % 1024) - 512.0f; }

static int check(Dist *d, size_t n) {
    int bad = 0;
    float *buf = (float *)malloc(n * sizeof(float)), *scratch = (float *)malloc((n / d->world + 1) * sizeof(float));
    if (buf == NULL || scratch == NULL) die("out of memory");
    for (size_t i = 0; i < n; i++) buf[i] = value_at(d->rank, i);
    dist_allreduce_sum(d, buf, n, "all-reduce");
    for (size_t i = 0; i < n && !bad; i++) {
        float want = 0.0f;
        for (int r = 0; r < d->world; r++) want += value_at(r, i);
        if (buf[i] != want) { fprintf(stderr, "rank %d: all-reduce [%zu] = %g, want %g\n", d->rank, i, buf[i], want); bad = 1; }
    }
    // reduce-scatter: my shard holds the sum, the rest is untouched
    for (size_t i = 0; i < n; i++) buf[i] = value_at(d->rank, i);
    dist_reduce_scatter_sum(d, buf, n, scratch, "reduce-scatter");
    size_t off, cnt, total = 0;
    dist_shard(n, d->world, d->rank, &off, &cnt);
    for (size_t i = 0; i < n && !bad; i++) {
        float want = value_at(d->rank, i);
        if (i >= off && i < off + cnt) {
            want = 0.0f;
            for (int r = 0; r < d->world; r++) want += value_at(r, i);
        }
        if (buf[i] != want) { fprintf(stderr, "rank %d: reduce-scatter [%zu] = %g, want %g\n", d->rank, i, buf[i], want); bad = 1; }
    }
    // shards tile [0, n) in rank order, sizes differ by at most one
    for (int r = 0; r < d->world; r++) {
        size_t o, c, c0, o0;
        dist_shard(n, d->world, r, &o, &c);
        dist_shard(n, d->world, 0, &o0, &c0);
        if (o != total || c0 - c > 1) { fprintf(stderr, "shard %d: offset %zu count %zu\n", r, o, c); bad = 1; }
        total += c;
    }
    if (total != n) { fprintf(stderr, "shards cover %zu of %zu\n", total, n); bad = 1; }
    // all-gather: everyone writes its rank into its shard; afterwards every element names its owner
    for (size_t i = 0; i < n; i++) buf[i] = -1.0f;
    for (size_t i = off; i < off + cnt; i++) buf[i] = (float)d->rank;
    dist_allgather(d, buf, n, "all-gather");
    for (int r = 0; r < d->world && !bad; r++) {
        size_t o, c;
        dist_shard(n, d->world, r, &o, &c);
        for (size_t i = o; i < o + c; i++) {
            if (buf[i] != (float)r) { fprintf(stderr, "rank %d: all-gather [%zu] = %g, want %d\n", d->rank, i, buf[i], r); bad = 1; break; }
        }
    }
    double v[2] = {(double)d->rank, 1.0};
    dist_allreduce_sum_double(d, v, 2, "sum of doubles");
    if (v[0] != d->world * (d->world - 1) / 2.0 || v[1] != d->world) { fprintf(stderr, "double sum %g %g\n", v[0], v[1]); bad = 1; }
    dist_check_same(d, 0x1234abcdULL, "values");
    dist_barrier(d, "barrier");
    double all_bad = bad;
    dist_allreduce_sum_double(d, &all_bad, 1, "result");
    free(buf);
    free(scratch);
    return all_bad != 0.0;
}

int main(int argc, char **argv) {
    Dist d;
    dist_init(&d, &argc, &argv, argc > 2 && strcmp(argv[1], "hang") == 0 ? 2.0 : 60.0);
    if (argc < 2) die("usage: dist_test check N | mismatch | hang SECONDS");
    int rc = 0;
    if (strcmp(argv[1], "check") == 0 && argc == 3) {
        rc = check(&d, (size_t)strtoull(argv[2], NULL, 10));
        if (d.rank == 0) printf("%s: %d ranks, %s elements\n", rc ? "FAIL" : "OK", d.world, argv[2]);
    } else if (strcmp(argv[1], "mismatch") == 0) {
        dist_check_same(&d, d.rank == d.world - 1 ? 2 : 1, "options");
        if (d.rank == 0) printf("no mismatch found\n");
    } else if (strcmp(argv[1], "hang") == 0 && argc == 3) {
        if (d.rank == d.world - 1) sleep((unsigned)atoi(argv[2]));
        dist_barrier(&d, "barrier after the hang");
        if (d.rank == 0) printf("no timeout\n");
    } else {
        die("usage: dist_test check N | mismatch | hang SECONDS");
    }
    dist_finalize(&d);
    return rc;
}
