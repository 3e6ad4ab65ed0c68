/*
 * chat.h: the chat format: special tokens, and a conversation rendered to token ids plus a
 * loss mask. Used by tokenize (conversations to masked shards) and chat (prompts).
 *
 * The special tokens live in the tokenizer file (an extended version 2 file, llmc/tokenizer.h)
 * with ids right after the ordinary vocabulary: GPT-2's 50257..50266, inside its padded
 * vocabulary of 50304 rows, so a model needs no new rows, only V raised to 50267 (see
 * doc/chat.md for how fine-tuning initializes those rows).
 *   <|system_start|> <|system_end|> <|user_start|> <|user_end|>
 *   <|assistant_start|> <|assistant_end|>
 *   <|tool_call_start|> <|tool_call_end|> <|tool_output_start|> <|tool_output_end|> (reserved)
 *
 * A conversation renders as
 *   <|endoftext|> then, for each message: <|ROLE_start|> content <|ROLE_end|>
 * where content is encoded as ordinary text (marker names inside it stay plain text). The loss
 * mask is 1 on the tokens of each assistant reply's content and on its <|assistant_end|> (what
 * the model must learn to say, and when to stop) and 0 elsewhere: the end-of-text, system and
 * user turns, and <|assistant_start|>, which the prompt supplies at generation time.
 * To generate a reply, the prompt is the conversation so far followed by <|assistant_start|>;
 * generation stops at <|assistant_end|> or <|endoftext|>.
 *
 * Header-only; compiles as C11 and as C++ (nvcc).
 */
#ifndef LLMC_CHAT_H
#define LLMC_CHAT_H

#include "tokenizer.h"

#include <stdint.h>
#include <string.h>

typedef enum { CHAT_SYSTEM = 0, CHAT_USER = 1, CHAT_ASSISTANT = 2, CHAT_NUM_ROLES = 3 } ChatRole;

static const char *const CHAT_ROLE_NAMES[CHAT_NUM_ROLES] = {"system", "user", "assistant"};
static const char *const CHAT_START_NAMES[CHAT_NUM_ROLES] = {"<|system_start|>", "<|user_start|>",
                                                             "<|assistant_start|>"};
static const char *const CHAT_END_NAMES[CHAT_NUM_ROLES] = {"<|system_end|>", "<|user_end|>",
                                                           "<|assistant_end|>"};

typedef struct {
    uint32_t start[CHAT_NUM_ROLES], end[CHAT_NUM_ROLES];
    uint32_t eot;
    uint32_t vocab_size; // ordinary + special tokens: the V a chat model needs
} ChatTokens;

// Fills ct from the tokenizer's special tokens; returns 0 (with what is missing in *missing) if
// the tokenizer has no chat markers (a plain llm.c file or our version 3).
static inline int chat_tokens_init(ChatTokens *ct, const Tokenizer *t, const char **missing) {
    memset(ct, 0, sizeof(*ct));
    ct->eot = t->eot_token;
    ct->vocab_size = t->vocab_size + t->n_special;
    for (int r = 0; r < CHAT_NUM_ROLES; r++) {
        ct->start[r] = tokenizer_special_id(t, CHAT_START_NAMES[r]);
        ct->end[r] = tokenizer_special_id(t, CHAT_END_NAMES[r]);
        if (ct->start[r] == TOKENIZER_NONE || ct->end[r] == TOKENIZER_NONE) {
            if (missing != NULL) {
                *missing = ct->start[r] == TOKENIZER_NONE ? CHAT_START_NAMES[r] : CHAT_END_NAMES[r];
            }
            return 0;
        }
    }
    return 1;
}

// Role from its JSON name; -1 if unknown.
static inline int chat_role_from_name(const char *s, size_t n) {
    for (int r = 0; r < CHAT_NUM_ROLES; r++) {
        if (strlen(CHAT_ROLE_NAMES[r]) == n && memcmp(CHAT_ROLE_NAMES[r], s, n) == 0) {
            return r;
        }
    }
    return -1;
}

// Token ids with a parallel loss mask, growing as turns are appended.
typedef struct {
    TokenBuf ids;
    uint8_t *mask; // (ids.len) valid entries
    size_t mask_cap;
} ChatBuf;

static inline void chatbuf_init(ChatBuf *b) {
    tokenbuf_init(&b->ids);
    b->mask = NULL;
    b->mask_cap = 0;
}

static inline void chatbuf_free(ChatBuf *b) {
    tokenbuf_free(&b->ids);
    free(b->mask);
    b->mask = NULL;
    b->mask_cap = 0;
}

static inline void chatbuf_clear(ChatBuf *b) { b->ids.len = 0; }

// Marks every token appended since `from` with mask value m (growing the mask to ids.len).
static inline void chatbuf_mark_(ChatBuf *b, size_t from, uint8_t m) {
    if (b->ids.len > b->mask_cap) {
        size_t cap = b->mask_cap ? b->mask_cap : 1024;
        while (cap < b->ids.len) cap *= 2;
        uint8_t *p = (uint8_t *)realloc(b->mask, cap);
        if (p == NULL) die("out of memory growing a chat mask to %zu bytes", cap);
        b->mask = p;
        b->mask_cap = cap;
    }
    for (size_t i = from; i < b->ids.len; i++) b->mask[i] = m;
}

// The start of a conversation: <|endoftext|> (mask 0).
static inline void chat_begin(ChatBuf *b, const ChatTokens *ct) {
    size_t from = b->ids.len;
    tokenbuf_push(&b->ids, ct->eot);
    chatbuf_mark_(b, from, 0);
}

// One message: <|ROLE_start|> text <|ROLE_end|>, with the mask described at the top.
static inline void chat_append_turn(ChatBuf *b, const ChatTokens *ct, const Tokenizer *t, ChatRole role,
                                    const char *text, size_t n) {
    uint8_t counted = role == CHAT_ASSISTANT;
    size_t from = b->ids.len;
    tokenbuf_push(&b->ids, ct->start[role]);
    chatbuf_mark_(b, from, 0);
    from = b->ids.len;
    tokenizer_encode(t, text, n, 0, &b->ids);
    tokenbuf_push(&b->ids, ct->end[role]);
    chatbuf_mark_(b, from, counted);
}

// The prompt for the assistant's next reply: <|assistant_start|> (mask 0).
static inline void chat_append_reply_start(ChatBuf *b, const ChatTokens *ct) {
    size_t from = b->ids.len;
    tokenbuf_push(&b->ids, ct->start[CHAT_ASSISTANT]);
    chatbuf_mark_(b, from, 0);
}

// Counted (mask 1) tokens in ids[0..n).
static inline size_t chat_count_targets(const ChatBuf *b, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += b->mask[i];
    return c;
}

#endif // LLMC_CHAT_H
