/*
 * langid.h: language identification of UTF-8 text with Google's CLD2 (Compact Language
 * Detector 2, Debian's libcld2-dev; a C++ library, reached through the small shim
 * llmc/cld2_shim.cpp, which is the only C++ in the program).
 *
 *   LangResult r = langid_detect(text, n);
 *   r.code:  ISO 639-1 code, "zh" / "zh-Hant" for Chinese, "un" when unknown
 *   r.score: fraction (0..1) of the text's letters that CLD2 attributes to that language
 *   r.reliable: CLD2's own confidence flag
 *
 * CLD2 is thread-safe (its tables are constant), so workers call it concurrently.
 */
#ifndef LLMC_LANGID_H
#define LLMC_LANGID_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char code[12];
    double score;
    int reliable;
} LangResult;

LangResult langid_detect(const char *text, size_t n);

#ifdef __cplusplus
}
#endif

#endif
