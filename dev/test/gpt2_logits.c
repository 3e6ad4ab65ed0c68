/*
 * gpt2_logits.c: the C trainer's forward pass as a command, for tests that check a model file
 * against another implementation (dev/test/t_hf.sh checks Hugging Face exports with it).
 *
 *   gpt2_logits MODEL.bin TOKENS.bin OUT.bin
 *
 * TOKENS.bin: int32 B, int32 T, then B*T int32 token ids. OUT.bin: the logits (B,T,V) as
 * float32, the vocabulary cut back from the padded Vp to V. Runs train_gpt2.c's gpt2_forward.
 */
#define TESTING
#include "../../train_gpt2.c"

int main(int argc, char **argv) {
    if (argc != 4) die("usage: %s MODEL.bin TOKENS.bin OUT.bin", argv[0]);
    GPT2 model;
    gpt2_build_from_checkpoint(&model, argv[1]);
    FILE *fp = fopen_check(argv[2], "rb");
    int32_t bt[2];
    fread_check(bt, sizeof(int32_t), 2, fp, argv[2]);
    if (bt[0] < 1 || bt[1] < 1 || bt[1] > model.config.max_seq_len) {
        die("%s: B=%d T=%d (expected B >= 1, 1 <= T <= %d)", argv[2], bt[0], bt[1], model.config.max_seq_len);
    }
    int B = bt[0], T = bt[1];
    int *tokens = (int *)malloc_check((size_t)B * T * sizeof(int));
    fread_check(tokens, sizeof(int), (size_t)B * T, fp, argv[2]);
    fclose_check(fp, argv[2]);
    gpt2_alloc_activations(&model, B, T);
    gpt2_forward(&model, tokens, NULL, B, T);
    size_t V = (size_t)model.config.vocab_size, Vp = (size_t)model.config.padded_vocab_size;
    FILE *out = fopen_check(argv[3], "wb");
    for (size_t i = 0; i < (size_t)B * T; i++) fwrite_check(model.acts.logits + i * Vp, sizeof(float), V, out, argv[3]);
    fclose_check(out, argv[3]);
    free(tokens);
    gpt2_free(&model);
    return 0;
}
