// llmc/tokenizer.h compiles as C++ (nvcc includes it from .cu files) and links.
#include "llmc/tokenizer.h"
int main() {
    Tokenizer t;
    TokenBuf b;
    tokenbuf_init(&b);
    if (tokenizer_try_init(&t, "x")) {
        tokenizer_encode(&t, "a", 1, 0, &b);
        tokenizer_free(&t);
    }
    tokenbuf_free(&b);
    return 0;
}
