// llmc/dataloader.h compiles as C++ and under nvcc (every public function is used once).
#include "llmc/dataloader.h"
void use_all(const char *pattern, const char *eval_path, float *losses) {
    DataLoader l;
    dataloader_init(&l, pattern, 4, 64, 0, 1, 1, 42);
    dataloader_set_vocab_size(&l, 50257);
    dataloader_next_batch(&l);
    DataLoaderState s;
    dataloader_get_state(&l, &s);
    unsigned char buf[DATALOADER_STATE_BYTES];
    dataloader_state_serialize(&s, buf);
    dataloader_state_deserialize(&s, buf, "x");
    dataloader_set_state(&l, &s);
    dataloader_reset(&l);
    (void)dataloader_num_batches(&l);
    (void)dataloader_num_tokens(&l);
    dataloader_set_prefetch(&l, 0);
    dataloader_free(&l);
    EvalLoader e;
    evalloader_init(&e, eval_path, 8, 64, 0, 1);
    (void)evalloader_num_batches(&e);
    evalloader_reset(&e);
    evalloader_next_batch(&e);
    (void)evalloader_stat_losses(&e, losses);
    evalloader_free(&e);
}
int main(int argc, char **argv) {
    if (argc == 4) { // never run by the test: linking is the check
        float losses[8];
        use_all(argv[1], argv[2], losses);
    }
    return 0;
}
