// Prints what data parallelism costs per rank (llmc/dist.h dist_plan) for GPT-2 124M (d12) and
// 1.5B (d48) at N = 1, 8, 64 ranks, with and without ZeRO-1: the table in doc/distributed.md.
// Parameter counts come from the parameter table (llmc/gpt2.h), not from constants here.
//   make build/bench/dist_plan && build/bench/dist_plan
#include "llmc/dist.h"
#include "llmc/gpt2.h"

int main(void) {
    const char *models[] = {"d12", "d48"};
    const int ranks[] = {1, 8, 64};
    const struct { const char *name; int param_bytes, grad_bytes, master_bytes; } kinds[] = {
        {"GPU bf16 + fp32 master", 2, 2, 4},
        {"CPU fp32", 4, 4, 0},
    };
    const double gib = 1024.0 * 1024.0 * 1024.0;
    printf("| trainer | model | params | N | ZeRO | sent per rank per step | model state per rank |\n");
    printf("|---|---|---:|---:|---:|---:|---:|\n");
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        for (size_t mi = 0; mi < 2; mi++) {
            GPT2Config c;
            if (!gpt2_config_from_descriptor(&c, models[mi])) die("unknown model %s", models[mi]);
            size_t n = 0;
            for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) n += gpt2_param_numel(&c, i);
            for (size_t ri = 0; ri < 3; ri++) {
                for (int z = 0; z <= 1; z++) {
                    if (ranks[ri] == 1 && z == 1) continue; // ZeRO needs more than one rank
                    DistPlan p = dist_plan(n, ranks[ri], z, kinds[k].param_bytes, kinds[k].grad_bytes, kinds[k].master_bytes);
                    printf("| %s | %s | %.0fM | %d | %d | %.2f GiB | %.2f GiB |\n", kinds[k].name, models[mi], n / 1e6,
                           ranks[ri], z, p.sent_bytes / gib, (p.params + p.grads + p.master + p.m + p.v) / gib);
                }
            }
        }
    }
    printf("\nActivations come on top (they depend on B, T and recompute); the trainers print their "
           "estimate at start.\n");
    return 0;
}
