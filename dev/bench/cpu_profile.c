/*
 * cpu_profile.c: where the CPU trainer's training step goes, layer kind by layer kind.
 *
 * Runs the trainer's own step (train_gpt2.c: gpt2_forward, gpt2_backward, gpt2_grad_norm,
 * gpt2_update; gradient zeroing where the step still has it) on random tokens, with the step
 * profile of train_gpt2.c switched on after the warm-up steps, and prints per layer kind the
 * milliseconds per step in forward and backward, the share of the whole step, and for the
 * matmuls and attention their GFLOP/s and the fraction of this machine's FMA peak
 * (dev/bench/fma_peak at the same thread count, best of 3 runs, run here unless -p gives it).
 * Timing adds two clock reads per layer call (~100 per step at d12): well under 0.1%.
 *
 *   make build/bench/cpu_profile build/bench/fma_peak
 *   OMP_NUM_THREADS=2 build/bench/cpu_profile -e d12 -b 4 -t 64 -n 10
 * -e: a model descriptor (d12, L4:C256:H4, ...; random weights) or a checkpoint file.
 */
#define TESTING
#include "../../train_gpt2.c"

// The FMA peak at `threads` threads from build/bench/fma_peak (the best of 3 runs: a busy machine
// only lowers it), or 0 if it cannot be run.
static double fma_peak_gflops(int threads) {
    FILE *fp = popen("build/bench/fma_peak 0.5 2>/dev/null; build/bench/fma_peak 0.5 2>/dev/null; "
                     "build/bench/fma_peak 0.5 2>/dev/null", "r");
    if (fp == NULL) return 0.0;
    char line[256];
    double peak = 0.0, best = 0.0;
    while (fgets(line, sizeof(line), fp)) {
        int n;
        double g;
        if (sscanf(line, "threads=%d gflops=%lf", &n, &g) == 2) {
            if (n == threads && g > peak) peak = g;
            if (g > best) best = g;
        }
    }
    pclose(fp);
    return peak > 0.0 ? peak : best;
}

static int int_flag(const char *flag, const char *v, int lo, int hi) {
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || x < lo || x > hi) die("flag %s: '%s' is not an integer in [%d, %d]", flag, v, lo, hi);
    return (int)x;
}

int main(int argc, char **argv) {
    const char *load = "d12";
    int B = 4, T = 64, steps = 10, warmup = 2;
    double peak = -1.0;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) die("flag %s needs a value", argv[i]);
        const char *f = argv[i], *v = argv[i + 1];
        if (strcmp(f, "-e") == 0) load = v;
        else if (strcmp(f, "-b") == 0) B = int_flag(f, v, 1, 1 << 16);
        else if (strcmp(f, "-t") == 0) T = int_flag(f, v, 1, 1 << 20);
        else if (strcmp(f, "-n") == 0) steps = int_flag(f, v, 1, 100000);
        else if (strcmp(f, "-w") == 0) warmup = int_flag(f, v, 0, 100000);
        else if (strcmp(f, "-p") == 0) {
            char *end;
            peak = strtod(v, &end);
            if (*v == '\0' || *end != '\0' || !(peak > 0.0)) die("flag -p: '%s' is not a positive GFLOP/s figure", v);
        }
        else die("unknown flag '%s' (flags: -e model, -b, -t, -n steps, -w warm-up steps, -p FMA peak GFLOP/s)", f);
    }
    GPT2Config config;
    GPT2 model;
    if (gpt2_config_of(load, &config)) gpt2_build_from_random(&model, &config, 1);
    else gpt2_build_from_checkpoint(&model, load);
    const GPT2Config *c = &model.config;
    if (T > c->max_seq_len) die("flag -t: %d exceeds the model's max_seq_len %d", T, c->max_seq_len);
    gpt2_alloc_activations(&model, B, T);
    int nthreads = 1;
#ifdef _OPENMP
    nthreads = omp_get_max_threads();
#endif
    if (peak < 0.0) peak = fma_peak_gflops(nthreads);

    int N = B * T;
    int *tokens = (int *)malloc_check((size_t)(N + 1) * sizeof(int));
    uint64_t state = 12345;
    AdamWSettings adamw = {0.9f, 0.95f, 1e-8f, 0.1f, 1.0f};
    double step_s = 0.0, zero_s = 0.0, norm_s = 0.0, update_s = 0.0, loss = 0.0;
    for (int step = 0; step < warmup + steps; step++) {
        for (int i = 0; i <= N; i++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            tokens[i] = (int)((state >> 33) % (uint64_t)c->vocab_size);
        }
        if (step == warmup) {
            memset(&step_profile, 0, sizeof(step_profile));
            step_profile.on = 1;
        }
        double t0 = now_seconds();
        gpt2_zero_grad(&model);
        double t1 = now_seconds();
        gpt2_forward(&model, tokens, tokens + 1, B, T);
        gpt2_backward(&model, tokens, tokens + 1, B, T, 1.0f / (float)N);
        double t2 = now_seconds();
        float norm = gpt2_grad_norm(&model);
        double t3 = now_seconds();
        gpt2_update(&model, &adamw, 3e-4f, norm, step + 1);
        double t4 = now_seconds();
        if (step >= warmup) {
            step_s += t4 - t0;
            zero_s += t1 - t0;
            norm_s += t3 - t2;
            update_s += t4 - t3;
            loss += model.mean_loss;
        }
    }
    double per = 1e3 / steps; // seconds summed over the timed steps -> ms per step
    double L = c->num_layers, C = c->channels, Vp = c->padded_vocab_size;
    double flops_fwd[PROF_LAYER_KINDS] = {0}; // forward FLOPs per step; backward is twice that
    flops_fwd[PROF_MM_QKV] = 2.0 * N * L * C * 3 * C;
    flops_fwd[PROF_MM_ATTPROJ] = 2.0 * N * L * C * C;
    flops_fwd[PROF_MM_FC] = 2.0 * N * L * C * 4 * C;
    flops_fwd[PROF_MM_FCPROJ] = 2.0 * N * L * 4 * C * C;
    flops_fwd[PROF_MM_LOGITS] = 2.0 * N * Vp * C;
    flops_fwd[PROF_ATTENTION] = 2.0 * N * L * T * C; // QK^T and PV over the causal half
    double step_ms = step_s * per;
    printf("step profile: %s, L=%d C=%d H=%d Vp=%d, B=%d T=%d, %d threads, %d timed steps after %d warm-up\n",
           load, c->num_layers, c->channels, c->num_heads, c->padded_vocab_size, B, T, nthreads, steps, warmup);
    if (peak > 0.0) printf("FMA peak %.1f GFLOP/s (dev/bench/fma_peak, %d threads); mean loss %.4f\n\n", peak, nthreads, loss / steps);
    else printf("FMA peak unknown (make build/bench/fma_peak, or pass -p GFLOP/s); mean loss %.4f\n\n", loss / steps);
    printf("%-16s %9s %9s %9s %7s %9s %7s\n", "layer kind", "fwd ms", "bwd ms", "total ms", "share", "GFLOP/s", "%peak");
    double listed = 0.0, flops_all = 0.0;
    for (int k = 0; k < PROF_LAYER_KINDS; k++) {
        double f = step_profile.seconds[k][0] * per, b = step_profile.seconds[k][1] * per;
        listed += f + b;
        printf("%-16s %9.2f %9.2f %9.2f %6.1f%%", prof_name(k), f, b, f + b, 100.0 * (f + b) / step_ms);
        if (flops_fwd[k] > 0.0 && f + b > 0.0) {
            double gf = 3.0 * flops_fwd[k] / ((f + b) * 1e-3) * 1e-9;
            flops_all += 3.0 * flops_fwd[k];
            printf(" %9.1f %6.1f%%", gf, peak > 0.0 ? 100.0 * gf / peak : 0.0);
        }
        printf("\n");
    }
    const char *names[] = {"zero grads", "grad norm", "adamw"};
    double ms[] = {zero_s * per, norm_s * per, update_s * per};
    for (int k = 0; k < 3; k++) {
        listed += ms[k];
        printf("%-16s %9s %9s %9.2f %6.1f%%\n", names[k], "", "", ms[k], 100.0 * ms[k] / step_ms);
    }
    double other = step_ms - listed;
    printf("%-16s %9s %9s %9.2f %6.1f%%\n", "(not listed)", "", "", other, 100.0 * other / step_ms);
    double gf = flops_all / (step_ms * 1e-3) * 1e-9;
    printf("%-16s %9s %9s %9.2f %6.1f%% %9.1f %6.1f%%   (GFLOP/s: matmuls + attention over the whole step)\n", "step", "",
           "", step_ms, 100.0, gf, peak > 0.0 ? 100.0 * gf / peak : 0.0);
    free(tokens);
    gpt2_free(&model);
    return 0;
}
