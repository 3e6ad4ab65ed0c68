// Test helper for dev/test/t_tokenizer.sh, comparing the pre-tokenizer with JavaScript's regex.
//   tok_classes [js]              the class of every code point as runs "first last class" (L letter,
//                                 N number, S whitespace, O other, U unassigned in our tables'
//                                 Unicode version), like tiktoken_ref.cjs classes
//   tok_classes pieces FILE [js]  the pre-tokenizer pieces of FILE, one JSON string a line; a byte
//                                 that is not valid UTF-8 prints as U+FFFD, as JavaScript decodes it
// js: JavaScript's \s instead of Unicode White_Space.
#include "../../llmc/tokenizer.h" // first: utils.h sets the feature macros

#include <stdio.h>
#include <string.h>

static void print_pieces(const char *path, unsigned ws) {
    Tokenizer t;
    memset(&t, 0, sizeof(t));
    t.ws_bit = ws;
    FILE *fp = fopen_check(path, "rb");
    size_t n = (size_t)file_size_check(fp, path);
    unsigned char *s = (unsigned char *)malloc_check(n);
    fread_check(s, 1, n, fp, path);
    fclose_check(fp, path);
    size_t i = 0;
    while (i < n) {
        size_t j = tokenizer_piece_end(&t, s, i, n);
        putchar('"');
        for (size_t k = i; k < j;) {
            uint32_t cp;
            k += tokenizer_utf8_(s, k, j, &cp);
            if (cp == TOKENIZER_NONE) {
                cp = 0xFFFD;
            }
            if (cp >= 0x10000) {
                printf("\\u%04x\\u%04x", 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF));
            } else {
                printf("\\u%04x", cp);
            }
        }
        printf("\"\n");
        i = j;
    }
    free(s);
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "pieces") == 0) {
        print_pieces(argv[2], (argc > 3 && strcmp(argv[3], "js") == 0) ? UCLASS_WS_JS : UCLASS_WS);
        return 0;
    }
    unsigned ws = (argc > 1 && strcmp(argv[1], "js") == 0) ? UCLASS_WS_JS : UCLASS_WS;
    char run = 0;
    unsigned long start = 0;
    for (unsigned long cp = 0; cp <= 0x110000; cp++) {
        char c = 'E';
        if (cp < 0x110000) {
            unsigned b = tokenizer_ucd_bits((uint32_t)cp);
            c = !(b & UCLASS_ASSIGNED) ? 'U' : (b & ws) ? 'S' : (b & UCLASS_L) ? 'L' : (b & UCLASS_N) ? 'N' : 'O';
        }
        if (c != run) {
            if (run) {
                printf("%lu %lu %c\n", start, cp - 1, run);
            }
            start = cp;
            run = c;
        }
    }
    return 0;
}
