# dev/gpu.mk: the CUDA targets. Standalone: `make -f dev/gpu.mk` builds all four; the top-level
# Makefile includes it (after its own default target; this file leaves the default goal alone
# when included).
#
#   train_gpt2cu      trainer, bf16 (fp32 master weights and optimizer state)
#   test_gpt2cu       its check against the PyTorch reference
#   train_gpt2fp32cu  trainer, fp32 everywhere (-DENABLE_FP32), for exact testing
#   test_gpt2fp32cu   its check
#   gpu               all four
#   gpu-werror        all four rebuilt with every warning an error (what CI runs; needs no GPU)
#   gpu-clean         removes them
#
# USE_CUDNN=1 takes attention through cuDNN's fused flash-attention engines (llmc/cudnn_att.cuh;
# bf16 builds only, fp32 builds keep the own kernels): needs cudnn.h (9.x) and libcudnn, found
# under CUDA_HOME or the system paths (CUDNN_CFLAGS / CUDNN_LIBS to point elsewhere).
#
# USE_MPI=1 builds the trainers for several GPUs (one process per GPU, started by mpirun or srun;
# NCCL sums the gradients): needs an MPI (flags from `mpicxx --showme`, OpenMPI's; set MPI_CFLAGS
# and MPI_LIBS for another) and NCCL. The tests stay single-process.
#
# Variables: GPU_ARCHS (default "80 90": one SASS per architecture, sm_80 = A100, sm_90 = H100/H200;
# `make -f dev/gpu.mk gpu GPU_ARCHS=90` builds faster for one GPU), CUDA_HOME, NVCC, GPU_OUT
# (a directory prefix with a trailing slash for the binaries; default: the repository root).

GPU_MK_PREVIOUS_GOAL := $(.DEFAULT_GOAL)

CUDA_HOME ?= /usr/local/cuda
NVCC ?= $(if $(shell command -v nvcc 2>/dev/null),nvcc,$(CUDA_HOME)/bin/nvcc)
GPU_ARCHS ?= 80 90
GPU_GENCODE = $(foreach a,$(GPU_ARCHS),-gencode arch=compute_$(a),code=sm_$(a))
# -Wall for the host compiler too; --Werror all-warnings and -Werror under gpu-werror
GPU_WARN = -Xcompiler -Wall -Xcompiler -Wextra -Xcompiler -Wno-unused-parameter
GPU_WERROR ?=
GPU_WERROR_FLAGS = $(if $(GPU_WERROR),--Werror all-warnings -Xcompiler -Werror,)
# GPU_DEFINES: extra -D flags, e.g. GPU_DEFINES=-DATT_FAST=1 (see llmc/attention.cuh)
GPU_DEFINES ?=
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
MPI_CFLAGS ?= $(shell mpicxx --showme:compile 2>/dev/null)
MPI_LIBS ?= $(shell mpicxx --showme:link 2>/dev/null)
GPU_TRAIN_FLAGS = $(if $(USE_MPI),-DUSE_MPI $(MPI_CFLAGS),)
GPU_TRAIN_LIBS = $(if $(USE_MPI),-lnccl $(MPI_LIBS),)
GPU_HEADERS = $(wildcard llmc/*.h llmc/*.cuh)
GPU_OUT ?=
GPU_TARGETS = train_gpt2cu test_gpt2cu train_gpt2fp32cu test_gpt2fp32cu

.PHONY: gpu gpu-werror gpu-clean
gpu: $(addprefix $(GPU_OUT),$(GPU_TARGETS))

$(GPU_OUT)train_gpt2cu: train_gpt2.cu $(GPU_HEADERS)
	$(NVCC) $(GPU_FLAGS_BF16) $(GPU_TRAIN_FLAGS) -o $@ $< $(GPU_LIBS) $(GPU_TRAIN_LIBS)

$(GPU_OUT)test_gpt2cu: test_gpt2.cu train_gpt2.cu $(GPU_HEADERS)
	$(NVCC) $(GPU_FLAGS_BF16) -o $@ $< $(GPU_LIBS)

$(GPU_OUT)train_gpt2fp32cu: train_gpt2.cu $(GPU_HEADERS)
	$(NVCC) $(GPU_FLAGS_FP32) $(GPU_TRAIN_FLAGS) -o $@ $< $(GPU_LIBS) $(GPU_TRAIN_LIBS)

$(GPU_OUT)test_gpt2fp32cu: test_gpt2.cu train_gpt2.cu $(GPU_HEADERS)
	$(NVCC) $(GPU_FLAGS_FP32) -o $@ $< $(GPU_LIBS)

gpu-werror:
	$(MAKE) -f $(firstword $(MAKEFILE_LIST)) -B gpu GPU_WERROR=1

gpu-clean:
	rm -f $(addprefix $(GPU_OUT),$(GPU_TARGETS))

# When included, give the default goal back to the including Makefile (an empty value makes
# its next target the default).
ifneq ($(words $(MAKEFILE_LIST)),1)
.DEFAULT_GOAL := $(GPU_MK_PREVIOUS_GOAL)
endif
