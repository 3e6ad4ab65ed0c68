// Encode throughput of llmc/tokenizer.h on one core.
// Usage: tokenizer_bench [--tokenizer PATH] [--repeat K] [--seconds S] FILE
// Reads FILE, concatenates K copies (default 1), encodes the buffer repeatedly for at least S
// seconds (default 3) and prints "<MB/s> MB/s <tokens> tokens <runs> runs <seconds> s" like
// dev/test/tiktoken_ref.cjs bench, so the two can be compared.
#include "../../llmc/tokenizer.h" // first: utils.h sets the feature macros

#include <stdio.h>
#include <string.h>
#include <time.h>

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const char *tok_path = "gpt2_tokenizer.bin", *path = NULL;
    long long repeat = 1;
    double min_seconds = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tokenizer") == 0 && i + 1 < argc) {
            tok_path = argv[++i];
        } else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            repeat = parse_int_or_die(argv[++i], 1, 1000, "--repeat");
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            min_seconds = parse_float_or_die(argv[++i], 0, 3600, "--seconds");
        } else if (argv[i][0] != '-' && path == NULL) {
            path = argv[i];
        } else {
            die("usage: tokenizer_bench [--tokenizer PATH] [--repeat K] [--seconds S] FILE");
        }
    }
    if (path == NULL) {
        die("usage: tokenizer_bench [--tokenizer PATH] [--repeat K] [--seconds S] FILE");
    }
    Tokenizer t;
    tokenizer_init(&t, tok_path);
    FILE *fp = fopen_check(path, "rb");
    size_t n = (size_t)file_size_check(fp, path);
    char *text = (char *)malloc_check(n * (size_t)repeat);
    fread_check(text, 1, n, fp, path);
    fclose_check(fp, path);
    for (long long k = 1; k < repeat; k++) {
        memcpy(text + (size_t)k * n, text, n);
    }
    size_t total = n * (size_t)repeat;
    TokenBuf tb;
    tokenbuf_init(&tb);
    tokenizer_encode(&t, text, total < 100000 ? total : 100000, 0, &tb); // warm up
    int runs = 0;
    double t0 = seconds_now(), dt;
    do {
        tb.len = 0;
        tokenizer_encode(&t, text, total, 0, &tb);
        runs++;
        dt = seconds_now() - t0;
    } while (dt < min_seconds);
    printf("%.3f MB/s %zu tokens %d runs %.2f s\n", (double)total * runs / dt / 1e6, tb.len, runs, dt);
    tokenbuf_free(&tb);
    tokenizer_free(&t);
    free(text);
    return 0;
}
