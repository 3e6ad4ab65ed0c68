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

# ---- everyday use (owner: everyday): set-up, own text, TinyStories ---------------------------
.PHONY: setup tinystories
setup:
	bash scripts/setup.sh
tinystories: tokenize gpt2_tokenizer.bin
	bash dev/data/tinystories.sh
