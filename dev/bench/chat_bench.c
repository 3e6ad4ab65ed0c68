// Generation speed of llmc/generate.h (the chat program's path): a prompt of P random tokens per
// sequence, then N new tokens per sequence, greedy, B sequences decoding together.
// Usage: chat_bench MODEL.bin B P N SEED; prints one line:
//   c B=.. prompt_ms=.. decode_tok_s=.. kv_mib=..
// prompt_ms: prefill of all B prompts and the first token (time to first token at batch B);
// decode_tok_s: the B*(N-1) later tokens over their time. dev/bench/chat_bench.sh runs it
// against dev/bench/chat_bench.py (PyTorch with a KV cache, same weights).
#define TESTING
#include "../../train_gpt2.c"

#include "../../llmc/generate.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    double first;
    long count;
} Timing;

static void on_token(void *user, int seq, int token) {
    (void)seq;
    (void)token;
    Timing *t = (Timing *)user;
    if (t->count++ == 0) t->first = now_s();
}

int main(int argc, char **argv) {
    if (argc != 6) die("usage: chat_bench MODEL.bin B PROMPT_TOKENS NEW_TOKENS SEED");
    int B = (int)parse_int_or_die(argv[2], 1, 4096, "B");
    int P = (int)parse_int_or_die(argv[3], 1, 1 << 20, "PROMPT_TOKENS");
    int N = (int)parse_int_or_die(argv[4], 2, 1 << 20, "NEW_TOKENS");
    uint64_t seed = (uint64_t)parse_int_or_die(argv[5], 0, INT64_MAX, "SEED");
    GPT2 model;
    memset(&model, 0, sizeof(model));
    FILE *fp = fopen_check(argv[1], "rb");
    int version = gpt2_read_checkpoint_header(fp, argv[1], &model.config);
    model.num_parameters = gpt2_param_offsets(&model.config, model.param_offsets);
    model.params = (float *)malloc_check(model.num_parameters * sizeof(float));
    gpt2_read_checkpoint_params(fp, argv[1], version, model.params, model.num_parameters);
    fclose_check(fp, argv[1]);
    if (P + N > model.config.max_seq_len) die("P + N = %d exceeds the context %d", P + N, model.config.max_seq_len);
    int *prompt = (int *)malloc_check((size_t)B * P * sizeof(int));
    uint64_t rng = seed;
    for (int i = 0; i < B * P; i++) prompt[i] = (int)(random_u32(&rng) % (uint32_t)model.config.vocab_size);
    const int **prompts = (const int **)malloc_check((size_t)B * sizeof(int *));
    int *lens = (int *)malloc_check((size_t)B * sizeof(int)), *out_len = (int *)malloc_check((size_t)B * sizeof(int));
    int *done = (int *)malloc_check((size_t)B * sizeof(int));
    int **out = (int **)malloc_check((size_t)B * sizeof(int *));
    uint64_t *rngs = (uint64_t *)malloc_check((size_t)B * sizeof(uint64_t));
    for (int i = 0; i < B; i++) {
        prompts[i] = prompt + (size_t)i * P;
        lens[i] = P;
        out[i] = (int *)malloc_check((size_t)N * sizeof(int));
        rngs[i] = seed + (uint64_t)i;
    }
    KVCache kv;
    kv_init(&kv, &model, B, P + N);
    GenSettings g = {0.0f, 0, 1.0f, N, NULL, 0};
    Timing t = {0, 0};
    double t0 = now_s();
    long total = generate(&model, &kv, prompts, lens, B, &g, rngs, out, out_len, done, on_token, &t);
    double t1 = now_s();
    // the first token of every sequence comes right after its prefill; the callback sees the
    // first one only after all prefills, so prompt_ms covers all B prompts
    printf("c B=%d prompt_ms=%.1f decode_tok_s=%.2f kv_mib=%.1f tokens=%ld\n", B, (t.first - t0) * 1e3,
           (double)(total - B) / (t1 - t.first), (double)kv_cache_bytes(&kv) / (1 << 20), total);
    return 0;
}
