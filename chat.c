/*
 * chat: talk to a GPT-2 checkpoint, or continue text, on the CPU with a KV cache.
 *
 *   ./chat -e MODEL [--tokenizer FILE] [-p PROMPT] [--system TEXT] [--raw] [--temperature F]
 *          [--top_k N] [--top_p F] [-n MAX_NEW] [--seed N] [--samples N] [--prompts FILE]
 *
 * The model is any checkpoint the trainers write or read (fp32 or bf16, llmc/gpt2.h); the
 * layers are the CPU trainer's (train_gpt2.c), generation is llmc/generate.h, the chat format
 * llmc/chat.h. A chat prompt is rendered as
 *     <|endoftext|> [<|system_start|> SYSTEM <|system_end|>] <|user_start|> PROMPT <|user_end|>
 *     <|assistant_start|>
 * and the reply ends at <|assistant_end|> or <|endoftext|>. With --raw the prompt is plain text
 * after <|endoftext|> (a base model's continuation) and only <|endoftext|> stops it.
 * The prompt comes from -p, else from stdin when stdin is not a terminal; with a terminal and no
 * -p, chat is interactive and multi-turn (the conversation stays in the cache).
 * Batches: --samples N draws N replies to one prompt (sequence i uses seed + i, so it is what
 * --seed SEED+i alone would give); --prompts FILE takes one JSON string per line (the user's
 * message, or the text with --raw) and writes one JSON string per line, the reply, in order.
 * stdout carries only generated text; the statistics (tokens/s, time to first token, cache
 * memory) go to stderr. Every error is one line on stderr and exit status 1.
 */
#define TESTING
#include "train_gpt2.c"

#include <unistd.h>

#include "llmc/chat.h"
#include "llmc/generate.h"
#include "llmc/tokenizer.h"

typedef struct {
    const char *model, *tokenizer, *prompt, *system, *prompts_file;
    int raw, top_k, max_new, samples, batch;
    float temperature, top_p;
    uint64_t seed;
} ChatOptions;

static void usage(void) {
    fprintf(stderr,
            "usage: chat -e MODEL [--tokenizer FILE] [-p PROMPT] [--system TEXT] [--raw] [--temperature F]\n"
            "            [--top_k N] [--top_p F] [-n MAX_NEW] [--seed N] [--samples N] [--prompts FILE]\n"
            "  -e MODEL          checkpoint (.bin, fp32 or bf16)\n"
            "  --tokenizer FILE  tokenizer with the chat markers (default gpt2_tokenizer.bin)\n"
            "  -p PROMPT         the user's message (default: stdin if it is not a terminal, else interactive)\n"
            "  --system TEXT     system prompt (chat mode)\n"
            "  --raw             continue PROMPT as plain text, no chat markers\n"
            "  --temperature F   0 = greedy (default 0.8)\n"
            "  --top_k N         sample among the N most likely tokens, 0 = all (default 50)\n"
            "  --top_p F         nucleus sampling, in (0, 1], 1 = off (default 1)\n"
            "  -n MAX_NEW        tokens to generate at most (default 256)\n"
            "  --seed N          sampling seed (default 42)\n"
            "  --samples N       N replies to the one prompt, generated as a batch (default 1)\n"
            "  --prompts FILE    one JSON string per line; prints one JSON string reply per line\n"
            "  --batch N         sequences generated together with --prompts (default 8)\n");
}

static void parse_options(ChatOptions *o, int argc, char **argv) {
    memset(o, 0, sizeof(*o));
    o->tokenizer = "gpt2_tokenizer.bin";
    o->temperature = 0.8f;
    o->top_k = 50;
    o->top_p = 1.0f;
    o->max_new = 256;
    o->seed = 42;
    o->samples = 1;
    o->batch = 8;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage();
            exit(0);
        }
        if (strcmp(a, "--raw") == 0) {
            o->raw = 1;
            continue;
        }
        if (i + 1 >= argc) die("flag %s needs a value (see chat --help)", a);
        const char *v = argv[++i];
        if (strcmp(a, "-e") == 0) o->model = v;
        else if (strcmp(a, "--tokenizer") == 0) o->tokenizer = v;
        else if (strcmp(a, "-p") == 0) o->prompt = v;
        else if (strcmp(a, "--system") == 0) o->system = v;
        else if (strcmp(a, "--prompts") == 0) o->prompts_file = v;
        else if (strcmp(a, "--temperature") == 0) o->temperature = (float)parse_float_or_die(v, 0, 100, "--temperature");
        else if (strcmp(a, "--top_k") == 0) o->top_k = (int)parse_int_or_die(v, 0, 1 << 20, "--top_k");
        else if (strcmp(a, "--top_p") == 0) o->top_p = (float)parse_float_or_die(v, 1e-6, 1, "--top_p");
        else if (strcmp(a, "-n") == 0) o->max_new = (int)parse_int_or_die(v, 1, 1 << 20, "-n");
        else if (strcmp(a, "--seed") == 0) o->seed = (uint64_t)parse_int_or_die(v, 0, INT64_MAX, "--seed");
        else if (strcmp(a, "--samples") == 0) o->samples = (int)parse_int_or_die(v, 1, 4096, "--samples");
        else if (strcmp(a, "--batch") == 0) o->batch = (int)parse_int_or_die(v, 1, 4096, "--batch");
        else die("unknown flag '%s' (see chat --help)", a);
    }
    if (o->model == NULL) die("flag -e: a model checkpoint is required (see chat --help)");
    if (o->raw && o->system) die("flag --system: has no meaning with --raw (plain text has no turns)");
    if (o->prompts_file && o->prompt) die("flag --prompts: give either -p or --prompts, not both");
    if (o->prompts_file && o->samples > 1) die("flag --samples: not with --prompts (one reply per prompt)");
}

// Loads only the weights (no gradients or optimizer state): fp32 or bf16 checkpoints.
static void load_model(GPT2 *model, const char *path) {
    memset(model, 0, sizeof(*model));
    FILE *fp = fopen_check(path, "rb");
    int version = gpt2_read_checkpoint_header(fp, path, &model->config);
    model->num_parameters = gpt2_param_offsets(&model->config, model->param_offsets);
    model->params = (float *)malloc_check(model->num_parameters * sizeof(float));
    gpt2_read_checkpoint_params(fp, path, version, model->params, model->num_parameters);
    fclose_check(fp, path);
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    const Tokenizer *tok;
    int stream;         // write tokens to stdout as they come
    double first_token; // time of the first token (0: none yet)
} StreamState;

static void on_token(void *user, int seq, int token) {
    StreamState *s = (StreamState *)user;
    (void)seq;
    if (s->first_token == 0.0) s->first_token = seconds();
    if (!s->stream) return;
    size_t n;
    const unsigned char *b = tokenizer_decode(s->tok, (uint32_t)token, &n);
    if (b) fwrite(b, 1, n, stdout);
    fflush(stdout);
}

// The prompt's tokens: the chat rendering (llmc/chat.h) or <|endoftext|> + plain text.
static void build_prompt(ChatBuf *cb, const ChatTokens *ct, const Tokenizer *tok, const ChatOptions *o, const char *text,
                         size_t n) {
    chatbuf_clear(cb);
    chat_begin(cb, ct);
    if (o->raw) {
        tokenizer_encode(tok, text, n, 0, &cb->ids);
        return;
    }
    if (o->system) chat_append_turn(cb, ct, tok, CHAT_SYSTEM, o->system, strlen(o->system));
    chat_append_turn(cb, ct, tok, CHAT_USER, text, n);
    chat_append_reply_start(cb, ct);
}

static void print_stats(long tokens, int prompt_tokens, double t0, double t_first, double t_end, const KVCache *kv) {
    double gen_time = t_end - (t_first > 0 ? t_first : t_end);
    fprintf(stderr, "\n[%ld tokens generated, %.1f tok/s after the first; prompt %d tokens, time to first token %.1f ms; "
            "KV cache %.1f MiB]\n", tokens, tokens > 1 && gen_time > 0 ? (tokens - 1) / gen_time : 0.0, prompt_tokens,
            t_first > 0 ? (t_first - t0) * 1e3 : 0.0, (double)kv_cache_bytes(kv) / (1 << 20));
}

// Writes s[0..n) as a JSON string and a newline.
static void print_json_string(const unsigned char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') printf("\\n");
        else if (c == '\t') printf("\\t");
        else if (c == '\r') printf("\\r");
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    printf("\"\n");
}

// Reads one JSON string (the whole line) into out (NUL-terminated); returns 0 on a malformed line.
static int parse_json_line(const char *s, size_t n, char *out, size_t *out_len) {
    size_t i = 0, k = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    if (i >= n || s[i] != '"') return 0;
    i++;
    for (; i < n && s[i] != '"'; i++) {
        if (s[i] != '\\') {
            out[k++] = s[i];
            continue;
        }
        if (++i >= n) return 0;
        switch (s[i]) {
        case 'n': out[k++] = '\n'; break;
        case 't': out[k++] = '\t'; break;
        case 'r': out[k++] = '\r'; break;
        case 'b': out[k++] = '\b'; break;
        case 'f': out[k++] = '\f'; break;
        case '/': case '\\': case '"': out[k++] = s[i]; break;
        case 'u': {
            if (i + 4 >= n) return 0;
            unsigned cp = 0;
            for (int j = 1; j <= 4; j++) {
                char h = s[i + j];
                cp = cp * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                          : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 99);
                if (cp > 0xFFFF) return 0;
            }
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDFFF) return 0; // surrogate pairs: not needed for prompts
            if (cp < 0x80) out[k++] = (char)cp;
            else if (cp < 0x800) { out[k++] = (char)(0xC0 | (cp >> 6)); out[k++] = (char)(0x80 | (cp & 0x3F)); }
            else { out[k++] = (char)(0xE0 | (cp >> 12)); out[k++] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[k++] = (char)(0x80 | (cp & 0x3F)); }
            break;
        }
        default: return 0;
        }
    }
    if (i >= n) return 0;
    i++;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
    if (i != n) return 0;
    out[k] = '\0';
    *out_len = k;
    return 1;
}

int main(int argc, char **argv) {
    ChatOptions o;
    parse_options(&o, argc, argv);
    GPT2 model;
    load_model(&model, o.model);
    const GPT2Config *c = &model.config;
    Tokenizer tok;
    tokenizer_init(&tok, o.tokenizer);
    if (!tok.can_encode) die("%s: this tokenizer cannot encode (no merges); build one with `make gpt2_tokenizer.bin`", o.tokenizer);
    ChatTokens ct;
    const char *missing = NULL;
    int have_chat = chat_tokens_init(&ct, &tok, &missing);
    if (!o.raw) {
        if (!have_chat) die("%s: has no chat markers (%s missing); use --raw, or `make gpt2_tokenizer.bin`", o.tokenizer, missing);
        if ((int)ct.vocab_size > c->vocab_size) {
            die("%s: vocabulary %d has no rows for the chat markers (needs %u: fine-tune with --chat_vocab %u, or use --raw)",
                o.model, c->vocab_size, ct.vocab_size, ct.vocab_size);
        }
    }
    if (tok.eot_token >= (uint32_t)c->vocab_size) die("%s: vocabulary %d does not hold the end-of-text token %u of %s", o.model, c->vocab_size, tok.eot_token, o.tokenizer);
    int stop[2] = {(int)tok.eot_token, o.raw ? (int)tok.eot_token : (int)ct.end[CHAT_ASSISTANT]};
    GenSettings g = {o.temperature, o.top_k, o.top_p, o.max_new, stop, 2};
    ChatBuf cb;
    chatbuf_init(&cb);
    int maxT = c->max_seq_len;

    // ---- batch of prompts from a file: one JSON string per line in, one reply per line out
    if (o.prompts_file) {
        FILE *fp = fopen_check(o.prompts_file, "rb");
        char *line = NULL, *text = NULL;
        size_t cap = 0, lineno = 0;
        ssize_t got;
        int nb_max = o.batch;
        int **prompts = (int **)calloc_check((size_t)nb_max, sizeof(int *));
        int *lens = (int *)calloc_check((size_t)nb_max, sizeof(int));
        int **out = (int **)calloc_check((size_t)nb_max, sizeof(int *));
        int *out_len = (int *)calloc_check((size_t)nb_max, sizeof(int)), *done = (int *)calloc_check((size_t)nb_max, sizeof(int));
        uint64_t *rngs = (uint64_t *)calloc_check((size_t)nb_max, sizeof(uint64_t));
        for (int i = 0; i < nb_max; i++) {
            prompts[i] = (int *)malloc_check((size_t)maxT * sizeof(int));
            out[i] = (int *)malloc_check((size_t)o.max_new * sizeof(int));
        }
        KVCache kv;
        kv_init(&kv, &model, nb_max, maxT);
        long total = 0, index = 0;
        double t0 = seconds();
        int eof = 0;
        while (!eof) {
            int nb = 0;
            while (nb < nb_max) {
                got = getline(&line, &cap, fp);
                if (got < 0) { eof = 1; break; }
                lineno++;
                size_t n = (size_t)got;
                while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
                if (n == 0) continue;
                text = (char *)realloc(text, n + 1);
                if (text == NULL) die("out of memory");
                size_t tlen;
                if (!parse_json_line(line, n, text, &tlen)) die("%s:%zu: expected one JSON string per line", o.prompts_file, lineno);
                build_prompt(&cb, &ct, &tok, &o, text, tlen);
                if (cb.ids.len + 1 > (size_t)maxT) die("%s:%zu: prompt of %zu tokens does not fit the context of %d", o.prompts_file, lineno, cb.ids.len, maxT);
                for (size_t t = 0; t < cb.ids.len; t++) prompts[nb][t] = (int)cb.ids.ids[t];
                lens[nb] = (int)cb.ids.len;
                rngs[nb] = o.seed + (uint64_t)index++;
                nb++;
            }
            if (nb == 0) break;
            total += generate(&model, &kv, (const int *const *)prompts, lens, nb, &g, rngs, out, out_len, done, NULL, NULL);
            for (int i = 0; i < nb; i++) {
                {
                    size_t cap_b = 0, len_b = 0;
                    unsigned char *buf = NULL;
                    for (int t = 0; t < out_len[i]; t++) {
                        size_t nbytes;
                        const unsigned char *b = tokenizer_decode(&tok, (uint32_t)out[i][t], &nbytes);
                        if (!b) continue;
                        if (len_b + nbytes > cap_b) {
                            cap_b = (len_b + nbytes) * 2;
                            buf = (unsigned char *)realloc(buf, cap_b);
                            if (buf == NULL) die("out of memory");
                        }
                        memcpy(buf + len_b, b, nbytes);
                        len_b += nbytes;
                    }
                    print_json_string(buf ? buf : (const unsigned char *)"", len_b);
                    free(buf);
                }
            }
            fflush(stdout);
        }
        double dt = seconds() - t0;
        fprintf(stderr, "[%ld prompts, %ld tokens generated in %.2f s, %.1f tok/s, batch %d; KV cache %.1f MiB]\n", index,
                total, dt, dt > 0 ? total / dt : 0.0, nb_max, (double)kv_cache_bytes(&kv) / (1 << 20));
        fclose_check(fp, o.prompts_file);
        free(line);
        free(text);
        kv_free(&kv);
        return 0;
    }

    // ---- interactive: multi-turn, the conversation stays in slot 0 of the cache
    if (o.prompt == NULL && isatty(0)) {
        if (o.raw) die("flag --raw: interactive mode is a chat; give the text with -p or on stdin");
        KVCache kv;
        kv_init(&kv, &model, 1, maxT);
        fprintf(stderr, "chat with %s (L=%d C=%d, context %d); an empty line or Ctrl-D ends\n", o.model, c->num_layers,
                c->channels, maxT);
        uint64_t rng = o.seed;
        float *scratch = (float *)malloc_check((size_t)c->vocab_size * sizeof(float));
        int *idx = (int *)malloc_check((size_t)c->vocab_size * sizeof(int));
        char *line = NULL;
        size_t cap = 0;
        int first = 1;
        for (;;) {
            fprintf(stderr, "> ");
            ssize_t got = getline(&line, &cap, stdin);
            if (got <= 0) break;
            size_t n = (size_t)got;
            while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
            if (n == 0) break;
            // the new turn's tokens: (start of conversation) user turn, assistant start
            chatbuf_clear(&cb);
            if (first) {
                chat_begin(&cb, &ct);
                if (o.system) chat_append_turn(&cb, &ct, &tok, CHAT_SYSTEM, o.system, strlen(o.system));
            }
            chat_append_turn(&cb, &ct, &tok, CHAT_USER, line, n);
            chat_append_reply_start(&cb, &ct);
            if (kv.len[0] + (int)cb.ids.len + 1 >= maxT) {
                fprintf(stderr, "[context full: starting a new conversation]\n");
                kv_reset(&kv, 0);
                if (!first) { // re-render as a first turn
                    first = 1;
                    chatbuf_clear(&cb);
                    chat_begin(&cb, &ct);
                    if (o.system) chat_append_turn(&cb, &ct, &tok, CHAT_SYSTEM, o.system, strlen(o.system));
                    chat_append_turn(&cb, &ct, &tok, CHAT_USER, line, n);
                    chat_append_reply_start(&cb, &ct);
                }
                if ((int)cb.ids.len + 1 >= maxT) die("message of %zu tokens does not fit the context of %d", cb.ids.len, maxT);
            }
            first = 0;
            int *rows = (int *)malloc_check(cb.ids.len * sizeof(int)), *slots = (int *)calloc_check(cb.ids.len, sizeof(int));
            for (size_t t = 0; t < cb.ids.len; t++) rows[t] = (int)cb.ids.ids[t];
            double t0 = seconds(), t_first = 0;
            kv_forward(&model, &kv, rows, slots, (int)cb.ids.len, 0);
            int prompt_n = (int)cb.ids.len;
            const float *logits = kv.logits + (size_t)(prompt_n - 1) * c->padded_vocab_size;
            long produced = 0;
            for (;;) {
                int next = sample_token_p(logits, c->vocab_size, o.temperature, o.top_k, o.top_p, &rng, scratch, idx);
                int is_stop = next == stop[0] || next == stop[1];
                if (!is_stop) {
                    if (t_first == 0) t_first = seconds();
                    size_t nbytes;
                    const unsigned char *b = tokenizer_decode(&tok, (uint32_t)next, &nbytes);
                    if (b) fwrite(b, 1, nbytes, stdout);
                    fflush(stdout);
                    produced++;
                }
                int zero = 0, end = (int)ct.end[CHAT_ASSISTANT];
                if (is_stop) { // the reply is over: its end marker goes into the cache
                    if (kv.len[0] < maxT) kv_forward(&model, &kv, &end, &zero, 1, 0);
                    break;
                }
                if (kv.len[0] >= maxT) break; // context full: the next turn starts over
                kv_forward(&model, &kv, &next, &zero, 1, 0);
                logits = kv.logits;
                if (produced >= o.max_new) { // cut at -n: close the reply all the same
                    if (kv.len[0] < maxT) kv_forward(&model, &kv, &end, &zero, 1, 0);
                    break;
                }
            }
            printf("\n");
            fflush(stdout);
            print_stats(produced, prompt_n, t0, t_first, seconds(), &kv);
            free(rows);
            free(slots);
        }
        free(line);
        free(scratch);
        free(idx);
        kv_free(&kv);
        return 0;
    }

    // ---- one prompt (-p or stdin), --samples replies generated together
    char *stdin_text = NULL;
    size_t text_len;
    const char *text = o.prompt;
    if (text == NULL) {
        size_t cap = 0;
        text_len = 0;
        for (;;) {
            if (text_len + 4096 + 1 > cap) {
                cap = (cap + 4096) * 2;
                stdin_text = (char *)realloc(stdin_text, cap);
                if (stdin_text == NULL) die("out of memory reading stdin");
            }
            size_t got = fread(stdin_text + text_len, 1, 4096, stdin);
            text_len += got;
            if (got == 0) break;
        }
        while (text_len && (stdin_text[text_len - 1] == '\n' || stdin_text[text_len - 1] == '\r')) text_len--;
        stdin_text[text_len] = '\0';
        text = stdin_text;
    } else {
        text_len = strlen(text);
    }
    build_prompt(&cb, &ct, &tok, &o, text, text_len);
    int n_prompt = (int)cb.ids.len;
    if (n_prompt + 1 > maxT) die("prompt of %d tokens does not fit the model's context of %d (one token must be left to generate)", n_prompt, maxT);
    int ns = o.samples;
    int want_T = n_prompt + o.max_new < maxT ? n_prompt + o.max_new : maxT;
    KVCache kv;
    kv_init(&kv, &model, ns, want_T);
    int *prompt = (int *)malloc_check((size_t)n_prompt * sizeof(int));
    for (int t = 0; t < n_prompt; t++) prompt[t] = (int)cb.ids.ids[t];
    const int **prompts = (const int **)malloc_check((size_t)ns * sizeof(int *));
    int *lens = (int *)malloc_check((size_t)ns * sizeof(int)), *out_len = (int *)malloc_check((size_t)ns * sizeof(int));
    int *done = (int *)malloc_check((size_t)ns * sizeof(int));
    int **out = (int **)malloc_check((size_t)ns * sizeof(int *));
    uint64_t *rngs = (uint64_t *)malloc_check((size_t)ns * sizeof(uint64_t));
    for (int i = 0; i < ns; i++) {
        prompts[i] = prompt;
        lens[i] = n_prompt;
        out[i] = (int *)malloc_check((size_t)o.max_new * sizeof(int));
        rngs[i] = o.seed + (uint64_t)i;
    }
    StreamState st = {&tok, ns == 1, 0.0};
    double t0 = seconds();
    long total = generate(&model, &kv, prompts, lens, ns, &g, rngs, out, out_len, done, on_token, &st);
    double t_end = seconds();
    if (ns == 1) {
        printf("\n");
    } else {
        for (int i = 0; i < ns; i++) { // the samples in order, separated by lines
            if (i > 0) printf("\n---\n");
            for (int t = 0; t < out_len[i]; t++) {
                size_t nbytes;
                const unsigned char *b = tokenizer_decode(&tok, (uint32_t)out[i][t], &nbytes);
                if (b) fwrite(b, 1, nbytes, stdout);
            }
        }
        printf("\n");
    }
    fflush(stdout);
    print_stats(total, n_prompt, t0, st.first_token, t_end, &kv);
    for (int i = 0; i < ns; i++) free(out[i]);
    free(out);
    free(rngs);
    free(prompts);
    free(prompt);
    free(lens);
    free(out_len);
    free(done);
    free(stdin_text);
    kv_free(&kv);
    chatbuf_free(&cb);
    tokenizer_free(&tok);
    free(model.params);
    return 0;
}
