/*
 * utils.h: checked wrappers around the C library calls that can fail.
 *
 * Every wrapper reports the source file:line of the call and exits with status 1,
 * so a failure is one line on stderr and never a crash. Two kinds of message:
 *   die(...)        a user-facing error (bad flag, bad file): "error: <message>"
 *   *_check(...)    a system call that failed: "error: <call> failed at file:line: <why>"
 * Header-only; every function is static so each translation unit gets its own copy.
 */
#ifndef LLMC_UTILS_H
#define LLMC_UTILS_H

// POSIX calls (fseeko, glob, pthreads) under -std=c11; effective when this header comes first,
// and the Makefile also passes it.
#if !defined(_DEFAULT_SOURCE) && !defined(__cplusplus)
#define _DEFAULT_SOURCE
#endif

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#if defined(__GNUC__)
#define LLMC_NORETURN __attribute__((noreturn))
#define LLMC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LLMC_NORETURN
#define LLMC_PRINTF(a, b)
#endif

// Several processes (llmc/dist.h): a rank other than 0 sets llmc_die_rank so its errors say which
// process failed, and llmc_die_quiet while it checks what every rank checks alike (flags, shared
// files), where rank 0's one line speaks for all.
static int llmc_die_rank = 0, llmc_die_quiet = 0;

#ifdef LLMC_DIE_LONGJMP
// Fuzzing builds only (dev/fuzz/fuzz.h): die() keeps the message in llmc_die_msg and jumps back
// to the harness's setjmp(llmc_die_jmp), so one rejected input ends one run, not the fuzzer.
#include <setjmp.h>
static jmp_buf llmc_die_jmp;
static char llmc_die_msg[1024];
#endif

// Prints "error: <message>" as one line on stderr and exits with status 1.
static inline LLMC_NORETURN LLMC_PRINTF(1, 2) void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
#ifdef LLMC_DIE_LONGJMP
    vsnprintf(llmc_die_msg, sizeof(llmc_die_msg), fmt, ap);
    va_end(ap);
    longjmp(llmc_die_jmp, 1);
#endif
    fflush(stdout);
    if (llmc_die_quiet) {
        va_end(ap);
        exit(1);
    }
    fputs("error: ", stderr);
    if (llmc_die_rank > 0) fprintf(stderr, "rank %d: ", llmc_die_rank);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static inline FILE *fopen_check_(const char *path, const char *mode, const char *file, int line) {
    FILE *fp = fopen(path, mode);
    if (fp == NULL) {
        die("cannot open %s (mode %s): %s [%s:%d]", path, mode, strerror(errno), file, line);
    }
    return fp;
}
#define fopen_check(path, mode) fopen_check_(path, mode, __FILE__, __LINE__)

// Reads exactly n items or dies naming `what` (usually the file's path): a short read
// means a truncated file, which is the user's problem, so the message says so.
static inline void fread_check_(void *ptr, size_t size, size_t n, FILE *fp, const char *what,
                         const char *file, int line) {
    if (n == 0) { // as in fwrite_check_: ptr may be NULL
        return;
    }
    size_t got = fread(ptr, size, n, fp);
    if (got != n) {
        if (ferror(fp)) {
            die("%s: read failed: %s [%s:%d]", what, strerror(errno), file, line);
        }
        die("%s: file is truncated (wanted %zu items of %zu bytes, got %zu) [%s:%d]", what, n,
            size, got, file, line);
    }
}
#define fread_check(ptr, size, n, fp, what) fread_check_(ptr, size, n, fp, what, __FILE__, __LINE__)

static inline void fwrite_check_(const void *ptr, size_t size, size_t n, FILE *fp, const char *what,
                          const char *file, int line) {
    if (n == 0) { // nothing to write; ptr may be NULL (an empty buffer), which fwrite must not get
        return;
    }
    if (fwrite(ptr, size, n, fp) != n) {
        die("%s: write failed: %s [%s:%d]", what, strerror(errno), file, line);
    }
}
#define fwrite_check(ptr, size, n, fp, what) fwrite_check_(ptr, size, n, fp, what, __FILE__, __LINE__)

static inline void fclose_check_(FILE *fp, const char *what, const char *file, int line) {
    if (fclose(fp) != 0) {
        die("%s: close failed: %s [%s:%d]", what, strerror(errno), file, line);
    }
}
#define fclose_check(fp, what) fclose_check_(fp, what, __FILE__, __LINE__)

static inline void fseek_check_(FILE *fp, long long off, int whence, const char *what, const char *file,
                         int line) {
#if defined(_WIN32)
    int rc = _fseeki64(fp, off, whence);
#else
    int rc = fseeko(fp, (off_t)off, whence);
#endif
    if (rc != 0) {
        die("%s: seek failed: %s [%s:%d]", what, strerror(errno), file, line);
    }
}
#define fseek_check(fp, off, whence, what) fseek_check_(fp, off, whence, what, __FILE__, __LINE__)

// Size of an open file in bytes; leaves the position at the start.
static inline long long file_size_check_(FILE *fp, const char *what, const char *file, int line) {
    fseek_check_(fp, 0, SEEK_END, what, file, line);
    long long size = (long long)ftello(fp);
    if (size < 0) {
        die("%s: cannot tell file size: %s [%s:%d]", what, strerror(errno), file, line);
    }
    fseek_check_(fp, 0, SEEK_SET, what, file, line);
    return size;
}
#define file_size_check(fp, what) file_size_check_(fp, what, __FILE__, __LINE__)

static inline void *malloc_check_(size_t size, const char *file, int line) {
    void *p = malloc(size ? size : 1);
    if (p == NULL) {
        die("out of memory allocating %zu bytes [%s:%d]", size, file, line);
    }
    return p;
}
#define malloc_check(size) malloc_check_(size, __FILE__, __LINE__)

static inline void *calloc_check_(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) {
        die("out of memory allocating %zu x %zu bytes [%s:%d]", n, size, file, line);
    }
    return p;
}
#define calloc_check(n, size) calloc_check_(n, size, __FILE__, __LINE__)

// Writes a file atomically: callers write to tmp_path_for(path) and then call
// commit_file(), so a kill mid-write never leaves a half-written file under `path`.
static inline void tmp_path_for(char *out, size_t out_size, const char *path) {
    int n = snprintf(out, out_size, "%s.tmp", path);
    if (n < 0 || (size_t)n >= out_size) {
        die("path too long: %s", path);
    }
}

static inline void commit_file_(FILE *fp, const char *tmp_path, const char *path, const char *file,
                         int line) {
    // fsync before the rename: after a power cut the name never points at unwritten blocks
    if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
        die("%s: write failed: %s [%s:%d]", tmp_path, strerror(errno), file, line);
    }
    fclose_check_(fp, tmp_path, file, line);
    if (rename(tmp_path, path) != 0) {
        die("cannot rename %s to %s: %s [%s:%d]", tmp_path, path, strerror(errno), file, line);
    }
}
#define commit_file(fp, tmp_path, path) commit_file_(fp, tmp_path, path, __FILE__, __LINE__)

// Reads a 256 x int32 header (1024 bytes), the header of every llm.c file format.
#define LLMC_HEADER_INTS 256
static inline void read_header_check_(FILE *fp, int32_t header[LLMC_HEADER_INTS], const char *path,
                               const char *file, int line) {
    size_t got = fread(header, sizeof(int32_t), LLMC_HEADER_INTS, fp);
    if (got != LLMC_HEADER_INTS) {
        die("%s: file is shorter than its 1024-byte header [%s:%d]", path, file, line);
    }
}
#define read_header_check(fp, header, path) read_header_check_(fp, header, path, __FILE__, __LINE__)

// Parses a whole string as a number in [lo, hi]; dies naming `what` otherwise.
static inline long long parse_int_or_die(const char *s, long long lo, long long hi, const char *what) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0) {
        die("%s: expected an integer, got '%s'", what, s);
    }
    if (v < lo || v > hi) {
        die("%s: %lld is out of range [%lld, %lld]", what, v, lo, hi);
    }
    return v;
}

static inline double parse_float_or_die(const char *s, double lo, double hi, const char *what) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || v != v) {
        die("%s: expected a number, got '%s'", what, s);
    }
    if (v < lo || v > hi) {
        die("%s: %g is out of range [%g, %g]", what, v, lo, hi);
    }
    return v;
}

// Creates a directory and any missing parents (mkdir -p); fine if it exists already.
static inline void make_dir_check(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0) return;
    if (n >= sizeof(buf)) die("directory path too long: %s", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        struct stat st;
        if (stat(buf, &st) == 0) {
            if (!S_ISDIR(st.st_mode)) die("%s exists and is not a directory", buf);
        } else if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            die("cannot create directory %s: %s", buf, strerror(errno));
        }
        buf[i] = saved;
    }
}

// Makes the renames inside a directory durable (fsync of the directory itself).
static inline void fsync_dir_check(const char *dir) {
    int fd = open(dir, O_RDONLY);
    if (fd < 0) die("cannot open directory %s: %s", dir, strerror(errno));
    if (fsync(fd) != 0 && errno != EINVAL) die("cannot sync directory %s: %s", dir, strerror(errno));
    close(fd);
}

// FNV-1a, 32 bits, continued from h (start with 2166136261u): the checksum of the checkpoint
// and state formats.
static inline uint32_t fnv1a32(uint32_t h, const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}
#define FNV1A32_INIT 2166136261u

// FNV-1a, 64 bits, continued from h (start with FNV1A64_INIT): the data-loader state's check and
// the fingerprint the ranks of a run compare (llmc/dist.h).
static inline uint64_t fnv1a64(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001B3ULL;
    }
    return h;
}
#define FNV1A64_INIT 0xCBF29CE484222325ULL

#endif // LLMC_UTILS_H
