# ---- tokenizer and dataset targets (owner: tokenizer) ---------------------------------------
# Included by the top-level Makefile; also works alone: make -f dev/tokenizer.mk TARGET
#   tokenize            the tokenizer command line (tokenize.c)
#   vocab               fetch GPT-2's encoder.json + vocab.bpe into dev/vendor/gpt2 (sha256-checked)
#   gpt2_tokenizer.bin  tokenizer file: llm.c's version 2 + merges + chat special tokens
#   tinyshakespeare     data/tinyshakespeare/tiny_shakespeare_{val,train}.bin (llm.c's split)
#   hellaswag           data/hellaswag/hellaswag_val.bin
#   bench-tokenizer     encode MB/s against js-tiktoken, one core each
#   test-tokenizer      dev/test/t_tokenizer.sh
#   unicode-tables      regenerate llmc/unicode_tables.h from /usr/share/unicode (UCD=DIR)

TOK_CC ?= gcc
TOK_CFLAGS ?= -O3 -march=native -std=c11 -Wall -Wextra
PY ?= python3
DATA_DIR ?= $(abspath ../shared/data)
GPT2_VOCAB = dev/vendor/gpt2
UCD ?= /usr/share/unicode
TOKENIZER_HEADERS = llmc/tokenizer.h llmc/unicode_tables.h llmc/utils.h

.PHONY: vocab tinyshakespeare hellaswag bench-tokenizer test-tokenizer unicode-tables

tokenize: tokenize.c $(TOKENIZER_HEADERS)
	$(TOK_CC) $(TOK_CFLAGS) -pthread -o $@ tokenize.c

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

build/tokenizer_bench: dev/bench/tokenizer_bench.c $(TOKENIZER_HEADERS)
	@mkdir -p build
	$(TOK_CC) $(TOK_CFLAGS) -o $@ dev/bench/tokenizer_bench.c

bench-tokenizer: build/tokenizer_bench gpt2_tokenizer.bin
	bash dev/bench/tokenizer_bench.sh

test-tokenizer:
	bash dev/test/t_tokenizer.sh

unicode-tables:
	$(PY) dev/gen_unicode_tables.py $(UCD) > llmc/unicode_tables.h.tmp
	mv llmc/unicode_tables.h.tmp llmc/unicode_tables.h
# ---- end of tokenizer targets ----------------------------------------------------------------
