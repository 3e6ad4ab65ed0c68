# The one Makefile: every program, test program, benchmark, CUDA target and fuzzer.
#
#   make                    the CPU programs (train_gpt2, test_gpt2, tokenize)
#   make test               builds what the tests need, runs every group: "N passed, N failed"
#   make test SAN=1         the CPU programs with ASan + UBSan, then the CPU test groups
#   make fuzz               every libFuzzer harness for FUZZ_SECONDS each (clang)
#   make gpu                the four CUDA trainers/tests and rlcu; `make cuda-bench` the kernel benchmarks
#   make bench-matmul / bench-tokenizer    CPU benchmarks (dev/bench/)
#   make clean
#
# Where things go: programs in the repository root (as llm.c), test programs in build/test/,
# benchmarks in build/bench/, kernel benchmarks in build/cuda/<precision>/, fuzzers in
# build/fuzz/. Adding a program: put NAME.c in the root and add NAME to PROGRAMS (and, if it
# links a library, NAME_LDLIBS = -lfoo). Adding a test program: dev/test/NAME.c, add NAME to
# TEST_PROGRAMS, and build it from its group with `make -s build/test/NAME`. Adding a test group:
# dev/test/t_GROUP.sh (it sources dev/test/lib.sh); CPU-only groups also go in CPU_GROUPS so the
# SAN suite runs them. Adding a fuzzer: dev/fuzz/fuzz_NAME.c and NAME in FUZZERS.

# ---- CPU programs -------------------------------------------------------------------------------
CC ?= gcc
CXX ?= g++
# -O3 unless the caller sets CFLAGS; the rest is added in any case
CFLAGS ?= -O3 -Wall -Wextra
CFLAGS += -std=c11 -D_DEFAULT_SOURCE
# Nothing reads errno after a math call; without this, sqrtf cannot vectorize (AdamW).
# It changes no results.
CFLAGS += -fno-math-errno
# Nothing tests floating-point exception flags; without this GCC keeps the branch of a select
# after a float compare (exp_vec: GELU, softmax, attention) and, lacking AVX-512's masks, leaves
# those loops scalar on AVX2. It changes no results either.
CFLAGS += -fno-trapping-math
LDLIBS = -lm -pthread

# -march=native where the compiler takes it (not on every ARM/Apple toolchain). ARCH is its own
# variable so one target can override it (the portable matmul test).
ifeq ($(shell echo 'int main(void){return 0;}' | $(CC) -march=native -x c - -o /dev/null 2>/dev/null && echo yes),yes)
  ARCH ?= -march=native
endif
CFLAGS += $(ARCH)
# OpenMP when available (gcc: -fopenmp; Apple clang needs libomp, so it builds without)
ifeq ($(NO_OMP),)
  ifeq ($(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo yes),yes)
    CFLAGS += -fopenmp
  else
    $(info OpenMP not found: building single-threaded)
  endif
endif

# USE_MPI=1: the CPU trainer for several processes (mpirun -np N ./train_gpt2 ...; llmc/dist.h),
# compiled with MPI's wrapper compiler (Debian: openmpi-bin libopenmpi-dev)
MPICC ?= mpicc
ifeq ($(USE_MPI),1)
  CC := $(MPICC)
  CFLAGS += -DUSE_MPI
endif

# SAN=1: AddressSanitizer + UndefinedBehaviorSanitizer, any undefined behaviour aborts.
# The flags go into build/cflags.stamp, so switching SAN on or off rebuilds what it affects.
# The optimisation level stays (-O3): at -O1 the training runs of the tests are ~10x slower.
SAN ?=
ifeq ($(SAN),1)
  SAN_FLAGS = -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  CFLAGS += $(SAN_FLAGS)
  LDLIBS += -fsanitize=address,undefined
endif

HEADERS = $(wildcard llmc/*.h)
PROGRAMS = train_gpt2 test_gpt2 tokenize chat rl

.PHONY: all test clean print-fuzzers gpu gpu-werror gpu-clean cuda-bench fuzz fuzzers fuzz-replay \
        bench-matmul bench-tokenizer vocab tinyshakespeare hellaswag test-tokenizer unicode-tables
all: $(PROGRAMS)

# Rewritten only when the compiler or its flags change; everything compiled with them depends
# on it. (A file whose content is the flags: make compares times, not flags.)
FLAGS_STAMP = build/cflags.stamp
FLAGS_NOW = $(CC) $(CFLAGS) $(LDLIBS)
$(FLAGS_STAMP): FORCE
	@mkdir -p build
	@if [ "$$(cat $@ 2>/dev/null)" != "$(FLAGS_NOW)" ]; then echo "$(FLAGS_NOW)" > $@; fi
FORCE:

$(PROGRAMS): %: %.c $(HEADERS) $(FLAGS_STAMP)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS) $($@_LDLIBS)
test_gpt2: train_gpt2.c
rl: train_gpt2.c

# ---- test programs (build/test/) ------------------------------------------------------------------
# -Werror: the tests hold the headers to no warnings
TEST_CFLAGS = $(CFLAGS) -Werror -Wno-unused-function
# (the x86 variants of the matmul test, cpu_matmul_test_{avx512,avx2,portable}, are built by
# t_cpu_matmul where the machine is x86-64)
TEST_PROGRAMS = dataloader_test tok_api_test tok_classes chat_kv_test cpu_matmul_test_native rl_tasks_test \
                cpu_bf16_test gpt2_bf16_test
TEST_BINS = $(addprefix build/test/,$(TEST_PROGRAMS))

build/test/%: dev/test/%.c $(HEADERS) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -I. -o $@ $< $(LDLIBS)

# llmc/cpu_matmul.h for each micro-kernel this machine can run: the native one, AVX2+FMA, and
# the portable C one
build/test/cpu_matmul_test_%: dev/test/cpu_matmul_test.c train_gpt2.c $(HEADERS) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $(MATMUL_ARCH_$*) -I. -o $@ $< $(LDLIBS)
MATMUL_ARCH_native =
MATMUL_ARCH_avx2 = -mno-avx512f
MATMUL_ARCH_portable = -march=x86-64
# AVX-512 whatever this CPU has: built everywhere (the kernel must compile), run where it can
MATMUL_ARCH_avx512 = -march=x86-64-v4

# llmc/cpu_matmul_bf16.h picks its kernels at run time: a baseline x86-64 build (no AVX2 at
# compile time) must find and pass the same ones (built by t_cpu_bf16 on x86-64)
build/test/cpu_bf16_test_portable: dev/test/cpu_bf16_test.c $(HEADERS) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -march=x86-64 -I. -o $@ $< $(LDLIBS)

# llmc/dist.h under MPI, and the CPU trainer built for several processes: with OpenMPI's mpicc,
# only by their group (t_dist skips without MPI)
build/test/train_gpt2_mpi: train_gpt2.c $(HEADERS) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(MPICC) $(CFLAGS) -DUSE_MPI -o $@ $< $(LDLIBS)
build/test/dist_test: dev/test/dist_test.c $(HEADERS) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(MPICC) $(TEST_CFLAGS) -DUSE_MPI -I. -o $@ $< $(LDLIBS)

# Shared headers must also compile as C++ (nvcc compiles them from .cu files): one translation
# unit per header, dev/test/cxx_NAME.cpp, linked where it has a main.
CXX_CHECKS = cxx_cpu_matmul cxx_dataloader cxx_tokenizer
# (cpu_matmul at -O2 as the trainer builds it; the others at -O0, as GCC's -O2 array-bounds
# analysis warns falsely on the tokenizer's constant test input)
CXXFLAGS_CHECK = -std=c++17 -Wall -Wextra -Werror -Wno-unused-function $(ARCH) -fopenmp -I.
CXX_OPT_cxx_cpu_matmul = -O2
build/test/cxx_%: dev/test/cxx_%.cpp $(HEADERS)
	@mkdir -p $(@D)
	$(CXX) $(or $(CXX_OPT_cxx_$*),-O0) $(CXXFLAGS_CHECK) -o $@ $< $(LDLIBS)

# ---- benchmarks (build/bench/) ----------------------------------------------------------------
BENCH_PROGRAMS = fma_peak matmul_bench tokenizer_bench dist_plan chat_bench cpu_profile
build/bench/%: dev/bench/%.c $(HEADERS) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Wno-unused-function -I. -o $@ $< $(LDLIBS)

bench-matmul: build/bench/fma_peak build/bench/matmul_bench
	bash dev/bench/matmul_bench.sh
bench-tokenizer: build/bench/tokenizer_bench gpt2_tokenizer.bin
	bash dev/bench/tokenizer_bench.sh

# ---- tokenizer files and datasets ----------------------------------------------------------------
#   vocab               GPT-2's encoder.json + vocab.bpe into dev/vendor/gpt2 (sha256-checked)
#   gpt2_tokenizer.bin  tokenizer file: llm.c's version 2 + merges + chat special tokens
#   tinyshakespeare     data/tinyshakespeare/tiny_shakespeare_{val,train}.bin (llm.c's split)
#   hellaswag           data/hellaswag/hellaswag_val.bin
#   unicode-tables      regenerate llmc/unicode_tables.h from /usr/share/unicode (UCD=DIR)
PY ?= python3
DATA_DIR ?= $(abspath ../shared/data)
GPT2_VOCAB = dev/vendor/gpt2
UCD ?= /usr/share/unicode

$(GPT2_VOCAB)/encoder.json:
	bash dev/data/fetch_gpt2_vocab.sh --out $(GPT2_VOCAB)
$(GPT2_VOCAB)/vocab.bpe: $(GPT2_VOCAB)/encoder.json
vocab: $(GPT2_VOCAB)/encoder.json $(GPT2_VOCAB)/vocab.bpe

gpt2_tokenizer.bin: $(GPT2_VOCAB)/encoder.json $(GPT2_VOCAB)/vocab.bpe dev/data/gpt2_tokenizer.py
	$(PY) dev/data/gpt2_tokenizer.py --vocab-dir $(GPT2_VOCAB) -o $@

tinyshakespeare: tokenize gpt2_tokenizer.bin
	bash dev/data/tinyshakespeare.sh $(if $(wildcard $(DATA_DIR)/tinyshakespeare.txt),--from $(DATA_DIR)/tinyshakespeare.txt)

hellaswag: tokenize gpt2_tokenizer.bin
	$(PY) dev/data/hellaswag.py $(if $(wildcard $(DATA_DIR)/hellaswag_val_full.txt),--fallback $(DATA_DIR)/hellaswag_val_full.txt)

unicode-tables:
	$(PY) dev/gen_unicode_tables.py $(UCD) > llmc/unicode_tables.h.tmp
	mv llmc/unicode_tables.h.tmp llmc/unicode_tables.h

# ---- CUDA (nvcc; compiles and links without a GPU) ----------------------------------------------
#   train_gpt2cu      trainer, bf16 (fp32 master weights and optimizer state)
#   test_gpt2cu       its check against the PyTorch reference
#   train_gpt2fp32cu  trainer, fp32 everywhere (-DENABLE_FP32), for exact testing
#   test_gpt2fp32cu   its check
#   gpu               all four; gpu-werror: all four rebuilt with every warning an error
#   cuda-bench        the kernel benchmarks dev/cuda/*.cu into build/cuda/$(PRECISION)/
#                     (PRECISION=BF16 or FP32; dev/cuda/run_all.sh runs them)
#   build/test/gpu_host_test   host-side checks of train_gpt2.cu (t_gpu)
# USE_MPI=1 builds the trainers for several GPUs (one process per GPU, started by mpirun or srun;
# NCCL sums the gradients): needs an MPI (flags from `mpicxx --showme`, OpenMPI's; set MPI_CFLAGS
# and MPI_LIBS for another) and NCCL. The tests stay single-process.
# Variables: GPU_ARCHS (default "80 90": one SASS per architecture, sm_80 = A100, sm_90 =
# H100/H200; GPU_ARCHS=90 builds faster for one GPU), CUDA_HOME, NVCC, GPU_OUT (a directory
# prefix with a trailing slash for the trainers; default: the repository root), GPU_DEFINES
# (extra -D flags, e.g. -DATT_FAST=1, see llmc/attention.cuh), GPU_WERROR=1.
CUDA_HOME ?= /usr/local/cuda
NVCC ?= $(if $(shell command -v nvcc 2>/dev/null),nvcc,$(CUDA_HOME)/bin/nvcc)
GPU_ARCHS ?= 80 90
GPU_GENCODE = $(foreach a,$(GPU_ARCHS),-gencode arch=compute_$(a),code=sm_$(a))
# -Wall for the host compiler too; --Werror all-warnings and -Werror under GPU_WERROR=1
GPU_WARN = -Xcompiler -Wall -Xcompiler -Wextra -Xcompiler -Wno-unused-parameter
GPU_WERROR ?=
GPU_WERROR_FLAGS = $(if $(GPU_WERROR),--Werror all-warnings -Xcompiler -Werror,)
GPU_DEFINES ?=
# USE_CUDNN=1 takes attention through cuDNN's fused flash-attention engines (llmc/cudnn_att.cuh;
# bf16 builds only, fp32 builds keep the own kernels): needs cudnn.h (9.x) and libcudnn, found
# under CUDA_HOME or the system paths (CUDNN_CFLAGS / CUDNN_LIBS to point elsewhere).
USE_CUDNN ?=
CUDNN_CFLAGS ?=
CUDNN_LIBS ?= -lcudnn
GPU_CUDNN_FLAGS = $(if $(USE_CUDNN),-DUSE_CUDNN $(CUDNN_CFLAGS),)
GPU_FLAGS = -O3 -std=c++17 -lineinfo $(GPU_GENCODE) $(GPU_WARN) $(GPU_WERROR_FLAGS) $(GPU_DEFINES) $(GPU_CUDNN_FLAGS)
# bf16 builds use fast math (exp in attention and the classifier, tanh in GELU); fp32 builds are
# the exact reference and keep IEEE math
GPU_FLAGS_BF16 = $(GPU_FLAGS) --use_fast_math
GPU_FLAGS_FP32 = $(GPU_FLAGS) -DENABLE_FP32
GPU_LIBS = -lcublasLt -lpthread $(if $(USE_CUDNN),$(CUDNN_LIBS),)
USE_MPI ?=
MPI_CFLAGS ?= $(if $(USE_MPI),$(shell mpicxx --showme:compile 2>/dev/null))
MPI_LIBS ?= $(if $(USE_MPI),$(shell mpicxx --showme:link 2>/dev/null))
GPU_TRAIN_FLAGS = $(if $(USE_MPI),-DUSE_MPI $(MPI_CFLAGS),)
GPU_TRAIN_LIBS = $(if $(USE_MPI),-lnccl $(MPI_LIBS),)
GPU_HEADERS = $(wildcard llmc/*.h llmc/*.cuh)
GPU_OUT ?=
GPU_TARGETS = train_gpt2cu test_gpt2cu train_gpt2fp32cu test_gpt2fp32cu rlcu

gpu: $(addprefix $(GPU_OUT),$(GPU_TARGETS))

$(GPU_OUT)train_gpt2cu: train_gpt2.cu $(GPU_HEADERS)
	$(NVCC) $(GPU_FLAGS_BF16) $(GPU_TRAIN_FLAGS) -o $@ $< $(GPU_LIBS) $(GPU_TRAIN_LIBS)

$(GPU_OUT)test_gpt2cu: test_gpt2.cu train_gpt2.cu $(GPU_HEADERS)
	$(NVCC) $(GPU_FLAGS_BF16) -o $@ $< $(GPU_LIBS)

$(GPU_OUT)train_gpt2fp32cu: train_gpt2.cu $(GPU_HEADERS)
	$(NVCC) $(GPU_FLAGS_FP32) $(GPU_TRAIN_FLAGS) -o $@ $< $(GPU_LIBS) $(GPU_TRAIN_LIBS)

$(GPU_OUT)test_gpt2fp32cu: test_gpt2.cu train_gpt2.cu $(GPU_HEADERS)
	$(NVCC) $(GPU_FLAGS_FP32) -o $@ $< $(GPU_LIBS)

# RL on the GPU (doc/rl.md): rl.c's loop (llmc/rl_loop.h) on the GPU trainer's model
$(GPU_OUT)rlcu: rl.cu train_gpt2.cu $(GPU_HEADERS)
	$(NVCC) $(GPU_FLAGS_BF16) -o $@ $< $(GPU_LIBS)

# the GPU KV cache against the full forward (a GPU check: dev/test/gpu_check.sh), bf16 and fp32
$(GPU_OUT)kv_gpu_test: dev/test/kv_gpu_test.cu train_gpt2.cu $(GPU_HEADERS)
	$(NVCC) $(GPU_FLAGS_BF16) -o $@ $< $(GPU_LIBS)
$(GPU_OUT)kv_gpu_testfp32: dev/test/kv_gpu_test.cu train_gpt2.cu $(GPU_HEADERS)
	$(NVCC) $(GPU_FLAGS_FP32) -o $@ $< $(GPU_LIBS)

gpu-werror:
	$(MAKE) -B gpu GPU_WERROR=1

gpu-clean:
	rm -f $(addprefix $(GPU_OUT),$(GPU_TARGETS))

# kernel benchmarks: one program per llmc/ kernel header, checked against the CPU layers of
# train_gpt2.c (which uses OpenMP, hence -fopenmp / -lgomp)
CUDA_BENCHES = encoder layernorm matmul attention gelu classifier global_norm adamw kv_attention
PRECISION ?= BF16
CUDA_BENCH_DIR ?= build/cuda/$(PRECISION)
ifeq ($(PRECISION),FP32)
  CUDA_BENCH_FLAGS = $(GPU_FLAGS_FP32)
else
  CUDA_BENCH_FLAGS = $(GPU_FLAGS_BF16)
endif
cuda-bench: $(addprefix $(CUDA_BENCH_DIR)/,$(CUDA_BENCHES))
$(CUDA_BENCH_DIR)/%: dev/cuda/%.cu dev/cuda/common.h train_gpt2.c $(GPU_HEADERS)
	@mkdir -p $(@D)
	$(NVCC) $(CUDA_BENCH_FLAGS) -Xcompiler -fopenmp -o $@ $< -lcublasLt -lgomp $(if $(USE_CUDNN),$(CUDNN_LIBS),)

# the cuDNN attention graphs validated by cuDNN itself, no GPU needed (t_gpu, where cuDNN is installed)
build/test/cudnn_graph_test: dev/test/cudnn_graph_test.cu $(GPU_HEADERS)
	@mkdir -p $(@D)
	$(NVCC) -O1 -std=c++17 -gencode arch=compute_80,code=sm_80 -o $@ $< -lcudnn

build/test/gpu_host_test: dev/test/gpu_host_test.cu train_gpt2.cu $(GPU_HEADERS)
	@mkdir -p $(@D)
	$(NVCC) -O2 -std=c++17 -gencode arch=compute_80,code=sm_80 -o $@ $< $(GPU_LIBS)

# build/test/dataloader_nvcc.o: llmc/dataloader.h as nvcc compiles it (no GPU needed)
build/test/%_nvcc.o: dev/test/cxx_%.cpp $(HEADERS)
	@mkdir -p $(@D)
	$(NVCC) -x cu -std=c++17 -I. -Xcompiler -Wall,-Wextra,-Werror -c $< -o $@

# ---- fuzzing (clang's libFuzzer) ----------------------------------------------------------------
# One harness per file loader, dev/fuzz/fuzz_NAME.c, with seeds from dev/fuzz/make_seeds.py and
# regression inputs (crashers found and fixed) in dev/fuzz/regress/NAME/, which `make test`
# replays (t_fuzz). `make fuzz` runs each for FUZZ_SECONDS (default 60).
FUZZ_CC ?= clang
FUZZERS = checkpoint train_state debug_state tokenizer shard eval jsonl warc
# harness-specific libraries (webclean's readers use Gumbo, libdeflate and zlib)
FUZZ_LIBS_warc = -lgumbo -ldeflate -lz
FUZZ_SECONDS ?= 60
FUZZ_FLAGS = -O1 -g -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Wno-unused-function -I. \
             -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -DLLMC_DIE_LONGJMP
FUZZ_BINS = $(addprefix build/fuzz/fuzz_,$(FUZZERS))

build/fuzz/fuzz_%: dev/fuzz/fuzz_%.c dev/fuzz/fuzz.h $(HEADERS) tokenize.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< -lm -pthread $(FUZZ_LIBS_$*)

fuzzers: $(FUZZ_BINS)
print-fuzzers:
	@echo $(FUZZERS)

# runs every harness for FUZZ_SECONDS on its seeds (and what earlier runs found, build/fuzz/corpus)
fuzz: $(FUZZ_BINS)
	bash dev/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZERS)

# ---- tests -------------------------------------------------------------------------------------
# Groups that need no GPU and no nvcc: the SAN suite runs these.
CPU_GROUPS = cpu_matmul dataloader gpt2_cpu train tinyshakespeare tokenizer fuzz cpu_bf16

# Builds what the tests need up front (in parallel under -j), then runs every group; ends with
# "N passed, N failed". The '+' hands make's job slots to the groups' own `make` calls.
test: $(PROGRAMS) $(TEST_BINS)
ifeq ($(SAN),1)
	+ASAN_OPTIONS=detect_leaks=0 CPU_MATMUL_QUICK=1 bash dev/test/run_all.sh $(CPU_GROUPS)
else
	+bash dev/test/run_all.sh
endif

clean:
	rm -f $(PROGRAMS) $(GPU_TARGETS) kv_gpu_test kv_gpu_testfp32
	rm -rf build

# ---- set-up and datasets for everyday use ----------------------------------------------------
.PHONY: setup tinystories
setup:
	bash scripts/setup.sh
tinystories: tokenize gpt2_tokenizer.bin
	bash dev/data/tinystories.sh

# ---- webclean: web pages (WARC / HTML) to clean JSON lines ------------------------------------
# Needs libgumbo-dev, libcld2-dev, libzstd-dev, libdeflate-dev, zlib1g-dev (iconv is glibc's). CLD2 is C++:
# its shim is the one C++ file, compiled on its own and linked with g++'s runtime.
WEBCLEAN_HEADERS = llmc/buf.h llmc/charset.h llmc/html_blank.h llmc/html_fast.h llmc/html_text.h llmc/html_walk.h \
                   llmc/json_write.h llmc/langid.h \
                   llmc/minhash.h llmc/pii.h llmc/quality.h llmc/u64map.h llmc/urlfilter.h \
                   llmc/warc.h llmc/words.h llmc/utils.h
CXX ?= g++
build/cld2_shim.o: llmc/cld2_shim.cpp llmc/langid.h
	@mkdir -p build
	$(CXX) -O2 -Wall -c -o $@ $<
webclean: webclean.c build/cld2_shim.o $(WEBCLEAN_HEADERS)
	$(CC) -O2 -std=gnu11 -Wall -Wextra -Wno-unused-function $(filter -march=native,$(CFLAGS)) -pthread -o $@ webclean.c \
	    build/cld2_shim.o -lgumbo -lcld2 -lzstd -ldeflate -lz -lstdc++ -lm
# the text extraction with and without the pre-pass and the fast path, for equality (t_webclean runs it)
build/test/html_blank_test: dev/test/html_blank_test.c $(WEBCLEAN_HEADERS)
	@mkdir -p $(@D)
	$(CC) -O2 -std=gnu11 -Wall -Wextra -Werror -Wno-unused-function -I. -o $@ $< -lgumbo
# throughput on the Debian-docs WARC against Readability (dev/bench/webclean_bench.sh)
bench-webclean: webclean
	bash dev/bench/webclean_bench.sh
.PHONY: webclean-clean bench-webclean
webclean-clean:
	rm -f webclean build/cld2_shim.o

# ---- chat: generation with a KV cache (doc/chat.md) ----------------------------------------------
# chat is in PROGRAMS; it and its KV-cache test include train_gpt2.c's layers
chat: train_gpt2.c
build/test/chat_kv_test: train_gpt2.c
build/bench/chat_bench: train_gpt2.c
build/bench/cpu_profile: train_gpt2.c
.PHONY: bench-chat
bench-chat: chat build/bench/chat_bench
	bash dev/bench/chat_bench.sh
