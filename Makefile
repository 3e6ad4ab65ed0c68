# Builds the CPU trainer and its tests; `make test` runs every test group (dev/test/t_*.sh).
# CUDA targets (train_gpt2cu, test_gpt2cu, ...) come from dev/gpu.mk, the tokenizer and data
# targets from dev/tokenizer.mk.

CC ?= gcc
CFLAGS ?= -O3 -Wall -Wextra
CFLAGS += -std=c11 -D_DEFAULT_SOURCE
# Nothing reads errno after a math call; without this, sqrtf cannot vectorize (AdamW).
# It changes no results.
CFLAGS += -fno-math-errno
LDLIBS = -lm -pthread

# -march=native where the compiler takes it (not on every ARM/Apple toolchain)
ifeq ($(shell echo 'int main(void){return 0;}' | $(CC) -march=native -x c - -o /dev/null 2>/dev/null && echo yes),yes)
  CFLAGS += -march=native
endif
# OpenMP when available (gcc: -fopenmp; Apple clang needs libomp, so it builds without)
ifeq ($(NO_OMP),)
  ifeq ($(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo yes),yes)
    CFLAGS += -fopenmp
  else
    $(info OpenMP not found: building single-threaded)
  endif
endif

HEADERS = $(wildcard llmc/*.h)
CPU_TARGETS = train_gpt2 test_gpt2

.PHONY: all test clean
all: $(CPU_TARGETS)

train_gpt2: train_gpt2.c $(HEADERS)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

test_gpt2: test_gpt2.c train_gpt2.c $(HEADERS)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

-include dev/tokenizer.mk
-include dev/gpu.mk

# Builds everything the tests need, then runs every group; ends with "N passed, N failed".
test: all
	bash dev/test/run_all.sh

clean:
	rm -f $(CPU_TARGETS)
	rm -rf build

# ---- webclean: web pages (WARC / HTML) to clean JSON lines (issue 13) -----------------------
# Needs libgumbo-dev, libcld2-dev, libzstd-dev, zlib1g-dev (iconv is glibc's). CLD2 is C++:
# its shim is the one C++ file, compiled on its own and linked with g++'s runtime.
WEBCLEAN_HEADERS = llmc/buf.h llmc/charset.h llmc/html_text.h llmc/json_write.h llmc/langid.h \
                   llmc/minhash.h llmc/pii.h llmc/quality.h llmc/u64map.h llmc/urlfilter.h \
                   llmc/warc.h llmc/words.h llmc/utils.h
CXX ?= g++
build/cld2_shim.o: llmc/cld2_shim.cpp llmc/langid.h
	@mkdir -p build
	$(CXX) -O2 -Wall -c -o $@ $<
webclean: webclean.c build/cld2_shim.o $(WEBCLEAN_HEADERS)
	$(CC) -O2 -std=gnu11 -Wall -Wextra -Wno-unused-function $(filter -march=native,$(CFLAGS)) -pthread -o $@ webclean.c \
	    build/cld2_shim.o -lgumbo -lcld2 -lzstd -lz -lstdc++ -lm
# throughput on the Debian-docs WARC against Readability (dev/bench/webclean_bench.sh)
bench-webclean: webclean
	bash dev/bench/webclean_bench.sh
.PHONY: webclean-clean bench-webclean
webclean-clean:
	rm -f webclean build/cld2_shim.o
