// Test helper for dev/test/t_tokenizer.sh: the llmc/tokenizer.h API as the trainers use it.
// Usage: tok_api_test V3_FILE V2_FILE TEXT_FILE; prints "ok NAME" / "not ok NAME: why" lines.
#include "../../llmc/tokenizer.h" // first: utils.h sets the feature macros

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

static void check(int cond, const char *name, const char *why) {
    if (cond) {
        printf("ok %s\n", name);
    } else {
        printf("not ok %s: %s\n", name, why);
        failures++;
    }
}

typedef struct {
    const Tokenizer *t;
    const char *text;
    size_t n;
    TokenBuf out;
} Job;

static void *encode_job(void *p) {
    Job *j = (Job *)p;
    tokenbuf_init(&j->out);
    tokenizer_encode(j->t, j->text, j->n, 0, &j->out);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        die("usage: tok_api_test V3_FILE V2_FILE TEXT_FILE");
    }
    Tokenizer t, t2, none;
    check(tokenizer_try_init(&none, "/nonexistent/gpt2_tokenizer.bin") == 0, "api_try_init_missing",
          "tokenizer_try_init did not return 0 for a missing file");
    tokenizer_init(&t, argv[1]);
    check(t.vocab_size == 50257 && t.eot_token == 50256 && t.can_encode == 1 && t.version == 2 && t.extended == 1 &&
              t.n_special == 10, "api_default_file_fields",
          "vocab_size/eot_token/can_encode/version/extended/n_special wrong for the default (extended v2) file");
    check(tokenizer_try_init(&t2, argv[2]) == 1 && t2.can_encode == 0 && t2.version == 2 &&
              t2.vocab_size == 50257, "api_v2_decode_only", "v2 file should load with can_encode 0");

    size_t len = 99;
    const unsigned char *p = tokenizer_decode(&t, 50256, &len);
    check(p != NULL && len == 13 && memcmp(p, "<|endoftext|>", 13) == 0, "api_decode_eot",
          "decode(50256) is not <|endoftext|>");
    len = 99;
    p = tokenizer_decode(&t, 50257, &len);
    check(p != NULL && len == 16 && memcmp(p, "<|system_start|>", 16) == 0 &&
              tokenizer_special_id(&t, "<|assistant_end|>") == 50262 &&
              tokenizer_special_id(&t, "<|nope|>") == TOKENIZER_NONE, "api_special_tokens",
          "special token 50257 / lookup by name wrong");
    len = 99;
    check(tokenizer_decode(&t, 50267, &len) == NULL && len == 0 &&
              tokenizer_decode(&t, 0xFFFFFFFFu, &len) == NULL && tokenizer_decode(&t2, 50257, &len) == NULL,
          "api_decode_out_of_range_null", "out-of-range ids must return NULL with len 0");
    int same = 1;
    for (uint32_t id = 0; id < t.vocab_size; id++) {
        size_t a, b;
        const unsigned char *pa = tokenizer_decode(&t, id, &a), *pb = tokenizer_decode(&t2, id, &b);
        same &= a == b && memcmp(pa, pb, a) == 0;
    }
    check(same, "api_v2_default_same_decode_table", "v2 and default decode tables differ");

    TokenBuf b;
    tokenbuf_init(&b);
    tokenizer_encode(&t, "", 0, 0, &b);
    check(b.len == 0, "api_encode_empty", "empty text gave tokens");
    tokenizer_encode(&t, "<|endoftext|>", 13, TOKENIZER_ALLOW_SPECIAL, &b);
    check(b.len == 1 && b.ids[0] == 50256, "api_encode_special", "<|endoftext|> with ALLOW_SPECIAL");
    b.len = 0;
    tokenizer_encode(&t, "<|endoftext|>", 13, 0, &b);
    check(b.len > 1, "api_encode_special_as_text", "without ALLOW_SPECIAL it must be plain text");
    size_t before = b.len;
    tokenizer_encode(&t, " hello", 6, 0, &b);
    check(b.len == before + 1, "api_encode_appends", "encode must append to the buffer");
    tokenbuf_free(&b);

    // the same text encoded by two threads (own TokenBufs) and by one gives the same ids
    FILE *fp = fopen_check(argv[3], "rb");
    size_t n = (size_t)file_size_check(fp, argv[3]);
    char *text = (char *)malloc_check(n);
    fread_check(text, 1, n, fp, argv[3]);
    fclose_check(fp, argv[3]);
    Job jobs[3];
    pthread_t th[2];
    for (int k = 0; k < 3; k++) {
        jobs[k].t = &t;
        jobs[k].text = text;
        jobs[k].n = n;
    }
    for (int k = 0; k < 2; k++) {
        pthread_create(&th[k], NULL, encode_job, &jobs[k]);
    }
    encode_job(&jobs[2]);
    for (int k = 0; k < 2; k++) {
        pthread_join(th[k], NULL);
    }
    int agree = 1;
    for (int k = 0; k < 2; k++) {
        agree &= jobs[k].out.len == jobs[2].out.len &&
                 memcmp(jobs[k].out.ids, jobs[2].out.ids, jobs[2].out.len * 4) == 0;
    }
    check(agree, "api_threads_agree", "threads gave different ids");
    // the piece cache must not leak ids between flavors or tokenizers: js flavor, then back
    TokenBuf c;
    tokenbuf_init(&c);
    tokenizer_encode(&t, text, n, 0, &c);
    tokenizer_set_js_whitespace(&t, 1);
    c.len = 0;
    tokenizer_encode(&t, text, n, 0, &c);
    tokenizer_set_js_whitespace(&t, 0);
    c.len = 0;
    tokenizer_encode(&t, text, n, 0, &c);
    check(c.len == jobs[2].out.len && memcmp(c.ids, jobs[2].out.ids, c.len * 4) == 0,
          "api_cache_flavor_switch", "ids changed after switching flavors");
    tokenbuf_free(&c);
    for (int k = 0; k < 3; k++) {
        tokenbuf_free(&jobs[k].out);
    }
    free(text);
    tokenizer_free(&t);
    tokenizer_free(&t2);
    return failures ? 1 : 0;
}
