// cld2_shim.cpp: the C entry point of llmc/langid.h over CLD2's C++ API. Nothing else here.
#include <cstdio> // before CLD2: its header uses FILE without including it
#include <cstring>

#include <cld2/public/compact_lang_det.h>

#include "langid.h"

extern "C" LangResult langid_detect(const char *text, size_t n) {
    LangResult r;
    std::memset(&r, 0, sizeof(r));
    // CLD2 samples long texts itself; 256 KiB is far more than it needs and keeps int lengths safe
    int len = n > (256u << 10) ? (256 << 10) : (int)n;
    // do not cut a UTF-8 sequence in two
    while (len > 0 && len < (int)n && (static_cast<unsigned char>(text[len]) & 0xC0) == 0x80) {
        len--;
    }
    CLD2::Language lang3[3];
    int percent3[3];
    int text_bytes = 0;
    bool reliable = false;
    CLD2::Language lang = CLD2::DetectLanguageSummary(text, len, true, lang3, percent3, &text_bytes,
                                                      &reliable);
    std::snprintf(r.code, sizeof(r.code), "%s", CLD2::LanguageCode(lang));
    r.score = lang == CLD2::UNKNOWN_LANGUAGE ? 0.0 : percent3[0] / 100.0;
    r.reliable = reliable;
    return r;
}
