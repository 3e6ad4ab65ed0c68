/*
 * fuzz.h: what the libFuzzer harnesses in dev/fuzz/ share. Include it first, before any llmc/
 * header; build with -DLLMC_DIE_LONGJMP (the Makefile's build/fuzz/ targets do).
 *
 * The loaders refuse a bad file with die() (llmc/utils.h), which exits; a fuzzer must go on to
 * the next input instead. With LLMC_DIE_LONGJMP, die() jumps back to the harness (FUZZ_TRY).
 * What the loader had allocated or opened at that moment would leak, so the macros at the end
 * of this file route the llmc code's malloc/calloc/realloc/free and fopen/fclose through a
 * tracker, and FUZZ_TRY releases whatever is still live after a jump. Every die() message must
 * be one line (the tools' promise): FUZZ_TRY aborts, which the fuzzer reports, if it is not.
 *
 *   int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
 *       const char *path = fuzz_write_input(data, size);   // the input as a file
 *       FUZZ_TRY({ ...load path, use it, free it... });
 *       return 0;
 *   }
 */
#ifndef LLMC_FUZZ_H
#define LLMC_FUZZ_H

#ifndef LLMC_DIE_LONGJMP
#error "build the fuzz harnesses with -DLLMC_DIE_LONGJMP (make fuzzers)"
#endif
#if !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE
#endif

// every system header the llmc code uses, before the macros below rename its calls
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

// ---- tracked allocations: a doubly linked list of live blocks, each behind a 32-byte header
// (keeps malloc's 16-byte alignment). A mutex: the data loader's read-ahead thread opens files.
// Each block and file records the generation it was made in: FUZZ_TRY starts a new one, and
// after a die() only that generation is released, not what the harness set up once (gen 0).
typedef struct FuzzBlock {
    struct FuzzBlock *prev, *next;
    size_t size, gen;
} FuzzBlock;
static FuzzBlock fuzz_blocks = {&fuzz_blocks, &fuzz_blocks, 0, 0};
static pthread_mutex_t fuzz_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t fuzz_gen;
#define FUZZ_MAX_FILES 64
static FILE *fuzz_files[FUZZ_MAX_FILES];
static size_t fuzz_file_gen[FUZZ_MAX_FILES];

static void fuzz_link(FuzzBlock *b) {
    pthread_mutex_lock(&fuzz_lock);
    b->next = fuzz_blocks.next;
    b->prev = &fuzz_blocks;
    fuzz_blocks.next->prev = b;
    fuzz_blocks.next = b;
    pthread_mutex_unlock(&fuzz_lock);
}
static void fuzz_unlink(FuzzBlock *b) {
    pthread_mutex_lock(&fuzz_lock);
    b->prev->next = b->next;
    b->next->prev = b->prev;
    pthread_mutex_unlock(&fuzz_lock);
}
static void *fuzz_malloc(size_t n) {
    if (n > SIZE_MAX - sizeof(FuzzBlock)) return NULL;
    FuzzBlock *b = (FuzzBlock *)malloc(sizeof(FuzzBlock) + n);
    if (b == NULL) return NULL;
    b->size = n;
    b->gen = fuzz_gen;
    fuzz_link(b);
    return b + 1;
}
static void *fuzz_calloc(size_t n, size_t size) {
    if (size != 0 && n > SIZE_MAX / size) return NULL;
    void *p = fuzz_malloc(n * size);
    if (p != NULL) memset(p, 0, n * size);
    return p;
}
static void fuzz_free(void *p) {
    if (p == NULL) return;
    FuzzBlock *b = (FuzzBlock *)p - 1;
    fuzz_unlink(b);
    free(b);
}
static void *fuzz_realloc(void *p, size_t n) {
    if (p == NULL) return fuzz_malloc(n);
    if (n > SIZE_MAX - sizeof(FuzzBlock)) return NULL;
    FuzzBlock *b = (FuzzBlock *)p - 1;
    fuzz_unlink(b);
    FuzzBlock *nb = (FuzzBlock *)realloc(b, sizeof(FuzzBlock) + n);
    if (nb == NULL) {
        fuzz_link(b); // realloc failed: the old block is still live
        return NULL;
    }
    nb->size = n;
    fuzz_link(nb);
    return nb + 1;
}
static FILE *fuzz_fopen(const char *path, const char *mode) {
    FILE *fp = fopen(path, mode);
    if (fp == NULL) return NULL;
    pthread_mutex_lock(&fuzz_lock);
    int i = 0;
    while (i < FUZZ_MAX_FILES && fuzz_files[i] != NULL) i++;
    if (i == FUZZ_MAX_FILES) {
        fprintf(stderr, "fuzz.h: more than %d files open at once\n", FUZZ_MAX_FILES);
        abort();
    }
    fuzz_files[i] = fp;
    fuzz_file_gen[i] = fuzz_gen;
    pthread_mutex_unlock(&fuzz_lock);
    return fp;
}
static int fuzz_fclose(FILE *fp) {
    pthread_mutex_lock(&fuzz_lock);
    for (int i = 0; i < FUZZ_MAX_FILES; i++) {
        if (fuzz_files[i] == fp) fuzz_files[i] = NULL;
    }
    pthread_mutex_unlock(&fuzz_lock);
    return fclose(fp);
}

// Frees every block and closes every file of the current generation still live (after a die()).
static void fuzz_release(void) {
    for (FuzzBlock *b = fuzz_blocks.next, *next; b != &fuzz_blocks; b = next) {
        next = b->next;
        if (b->gen == fuzz_gen) fuzz_free(b + 1);
    }
    for (int i = 0; i < FUZZ_MAX_FILES; i++) {
        if (fuzz_files[i] != NULL && fuzz_file_gen[i] == fuzz_gen) fuzz_fclose(fuzz_files[i]);
    }
}

// FUZZ_TRY({ BODY }): runs BODY; if the code in it calls die(), checks the message and releases what was left.
// BODY's locals are not read after the jump, so they need not be volatile.
#define FUZZ_TRY(...)                                                                              \
    do {                                                                                           \
        llmc_die_msg[0] = '\0';                                                                    \
        fuzz_gen++;                                                                                \
        if (setjmp(llmc_die_jmp) == 0) {                                                           \
            __VA_ARGS__                                                                            \
        } else {                                                                                   \
            fuzz_check_message();                                                                  \
            fuzz_release();                                                                        \
        }                                                                                          \
    } while (0)

// Scratch directory for the inputs as files: $TMPDIR, else /dev/shm (memory: a disk-backed /tmp
// can make every run wait on writeback), else /tmp.
static const char *fuzz_tmpdir(void) {
    struct stat st;
    if (getenv("TMPDIR") != NULL) return getenv("TMPDIR");
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0) return "/dev/shm";
    return "/tmp";
}

// Writes the input to a per-process scratch file (the loaders take paths) and returns its path.
static const char *fuzz_write_input_as(const uint8_t *data, size_t size, const char *name) {
    static char path[256];
    snprintf(path, sizeof(path), "%s/llmc_fuzz_%d_%s", fuzz_tmpdir(), (int)getpid(), name);
    FILE *fp = fopen(path, "wb");
    if (fp == NULL || fwrite(data, 1, size, fp) != size || fclose(fp) != 0) {
        fprintf(stderr, "fuzz.h: cannot write %s\n", path);
        abort();
    }
    return path;
}
static const char *fuzz_write_input(const uint8_t *data, size_t size) {
    return fuzz_write_input_as(data, size, "input.bin");
}

// From here on, the llmc code's allocations and files are tracked.
#define malloc(n) fuzz_malloc(n)
#define calloc(n, s) fuzz_calloc(n, s)
#define realloc(p, n) fuzz_realloc(p, n)
#define free(p) fuzz_free(p)
#define fopen(p, m) fuzz_fopen(p, m)
#define fclose(fp) fuzz_fclose(fp)

#include "llmc/utils.h" // after the macros: its malloc_check and fopen_check are tracked too

// The message of a rejected input must be one non-empty line.
static void fuzz_check_message(void) {
    if (llmc_die_msg[0] == '\0' || strchr(llmc_die_msg, '\n') != NULL) {
        fprintf(stderr, "fuzz.h: die() message is not one line: '%s'\n", llmc_die_msg);
        abort();
    }
    if (getenv("FUZZ_VERBOSE") != NULL) { // to see why a seed or regression input is refused
        fprintf(stderr, "rejected: error: %s\n", llmc_die_msg);
    }
}


#endif // LLMC_FUZZ_H
