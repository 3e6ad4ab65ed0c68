// Test helper: prints the pre-tokenizer class of every code point as runs "first last class"
// (L letter, N number, S whitespace, O other, U unassigned in the tables' Unicode version), in the format of tiktoken_ref.cjs classes.
// Usage: tok_classes [js]   (js: JavaScript's \s instead of Unicode White_Space)
#include "../../llmc/tokenizer.h" // first: utils.h sets the feature macros

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
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
