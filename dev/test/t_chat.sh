#!/usr/bin/env bash
# Chat: the tokenizer file llm.c reads, chat markers, conversations to masked shards, the masked
# loss against PyTorch (gradients and 20 fine-tuning steps), KV-cache generation against the full
# forward, and the chat program's behavior and errors. Needs: chat, build/test/chat_kv_test,
# tokenize, train_gpt2, test_gpt2, gpt2_tokenizer.bin (make test builds them).
source "$(dirname "$0")/lib.sh"
tmpdir chat
if ! make -s chat tokenize train_gpt2 test_gpt2 gpt2_tokenizer.bin build/test/chat_kv_test > "$TMP/build.log" 2>&1; then
    notok build "$(tail -n 5 "$TMP/build.log" | tr '\n' ' ')"
    finish
fi
TOK=gpt2_tokenizer.bin

# ---- tokenizer file: llm.c's reader (version 1 or 2; V entries of length + bytes; nothing
# after them is read) takes the default file, and decodes every token as our v2 file does --------
"$PY" dev/data/gpt2_tokenizer.py --format v2 -o "$TMP/tok_v2.bin" > /dev/null
if why=$("$PY" - "$TOK" "$TMP/tok_v2.bin" <<'EOF'
import struct, sys
def llmc_read(path):  # what llm.c's tokenizer_init does, from its documented format
    d = open(path, "rb").read()
    h = struct.unpack("<256I", d[:1024])
    assert h[0] == 20240328, "magic"
    if h[1] not in (1, 2):
        raise SystemExit("llm.c would say: bad version: %d" % h[1])
    pos, toks = 1024, []
    for _ in range(h[2]):
        n = d[pos]; assert n > 0
        toks.append(d[pos + 1:pos + 1 + n]); pos += 1 + n
    return h, toks
h, ours = llmc_read(sys.argv[1])
_, plain = llmc_read(sys.argv[2])
if ours != plain or h[2] != 50257 or h[3] != 50256:
    raise SystemExit("decode table differs from llm.c's version 2 file")
EOF
); then ok tokenizer_file_reads_as_llmc_v2; else notok tokenizer_file_reads_as_llmc_v2 "$why"; fi
check tokenizer_info_extended "tokenize info does not report the extended file" \
  sh -c "./tokenize info $TOK | grep -q 'tokenizer v2, 50257 tokens.*50000 merges'"
# special tokens: encoded only with --special, decoded and shown as their names
printf 'Hi<|user_start|>x<|assistant_end|>' > "$TMP/sp.txt"
check special_encoded_when_asked "--special does not give ids 50259 and 50262" \
  sh -c "./tokenize encode --special $TMP/sp.txt | grep -q '^[0-9]* 50259 [0-9]* 50262\$'"
check special_plain_by_default "markers became special tokens without --special" \
  sh -c "! ./tokenize encode $TMP/sp.txt | grep -qE '5025[7-9]|5026[0-6]'"
check special_roundtrip "decode(encode --special) differs from the text" \
  sh -c "./tokenize encode --special $TMP/sp.txt | ./tokenize decode | cmp -s - $TMP/sp.txt"
"$PY" - "$TOK" "$TMP" <<'EOF'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read()); t = sys.argv[2]
x = bytearray(d); x[-3] ^= 0x20; open(t + "/tok_ext_flip.bin", "wb").write(x)   # special name byte
open(t + "/tok_ext_trunc.bin", "wb").write(d[:-5])
x = bytearray(d); x[40:44] = struct.pack("<I", 5000); open(t + "/tok_ext_nspecial.bin", "wb").write(x)
EOF
expect_error bad_ext_checksum "checksum" ./tokenize info "$TMP/tok_ext_flip.bin"
expect_error bad_ext_truncated "tok_ext_trunc.bin" ./tokenize info "$TMP/tok_ext_trunc.bin"
expect_error bad_ext_count "special" ./tokenize info "$TMP/tok_ext_nspecial.bin"

# ---- conversations to masked shards: ids and mask against an independent rendering ----------
cat > "$TMP/conv.jsonl" <<'EOF'
{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+3?"}, {"role": "assistant", "content": "5"}]}

{"id": 7, "messages": [{"role": "user", "content": "Hi <|user_end|> there"}, {"role": "assistant", "content": "Hello, \u00e9t\u00e9!"}, {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Bye.\nSee you."}]}
EOF
if ./tokenize chat "$TMP/conv.jsonl" --out "$TMP/conv" --quiet && why=$("$PY" - "$TMP" <<'EOF'
import json, struct, subprocess, sys
t = sys.argv[1]
ids = {"system": (50257, 50258), "user": (50259, 50260), "assistant": (50261, 50262)}
want_tok, want_mask = [], []
for line in open(t + "/conv.jsonl"):
    if not line.strip():
        continue
    want_tok.append(50256); want_mask.append(0)
    for m in json.loads(line)["messages"]:
        enc = subprocess.run(["./tokenize", "encode"], input=m["content"].encode(), capture_output=True).stdout.split()
        s, e = ids[m["role"]]
        counted = int(m["role"] == "assistant")
        want_tok += [s] + [int(x) for x in enc] + [e]
        want_mask += [0] + [counted] * (len(enc) + 1)
d = open(t + "/conv_train.bin", "rb").read()
h = struct.unpack("<256i", d[:1024])
n = h[2]
if h[0] != 20240520 or h[1] != 2 or len(d) != 1024 + 3 * n:
    raise SystemExit("header/size wrong: %s" % (h[:3],))
tok = list(struct.unpack("<%dH" % n, d[1024:1024 + 2 * n])); mask = list(d[1024 + 2 * n:])
if tok != want_tok: raise SystemExit("tokens differ: %s vs %s" % (tok, want_tok))
if mask != want_mask: raise SystemExit("mask differs: %s vs %s" % (mask, want_mask))
EOF
); then ok chat_shard_tokens_and_mask; else notok chat_shard_tokens_and_mask "$why"; fi
# truncation: --max-tokens N keeps each conversation's first N tokens; one with nothing counted
# left is dropped (checked against the full rendering above, cut independently)
for N in 16 17 12; do
  ./tokenize chat "$TMP/conv.jsonl" --out "$TMP/cut$N" --max-tokens $N 2> "$TMP/cut$N.log"
done
if why=$("$PY" - "$TMP" <<'EOF'
import struct, sys
t = sys.argv[1]
def read(p):
    d = open(p, "rb").read(); n = struct.unpack("<3i", d[:12])[2]
    return list(struct.unpack("<%dH" % n, d[1024:1024 + 2 * n])), list(d[1024 + 2 * n:])
tok, mask = read(t + "/conv_train.bin")
starts = [i for i, x in enumerate(tok) if x == 50256] + [len(tok)]
convs = [(tok[a:b], mask[a:b]) for a, b in zip(starts, starts[1:])]
for N in (16, 17, 12):
    want_t, want_m, cut, dropped = [], [], 0, 0
    for ct, cm in convs:
        cut += len(ct) > N
        if sum(cm[:N]) == 0:
            dropped += 1; continue
        want_t += ct[:N]; want_m += cm[:N]
    got = read(t + "/cut%d_train.bin" % N)
    if got != (want_t, want_m): raise SystemExit("--max-tokens %d: shard differs from the cut rendering" % N)
    if "%d cut to %d tokens, %d dropped" % (cut, N, dropped) not in open(t + "/cut%d.log" % N).read():
        raise SystemExit("--max-tokens %d: summary does not say %d cut, %d dropped" % (N, cut, dropped))
EOF
); then ok chat_truncation_first_n_tokens; else notok chat_truncation_first_n_tokens "$why"; fi
printf '{"messages": [{"role": "bot", "content": "x"}]}\n' > "$TMP/bad_role.jsonl"
expect_error chat_bad_role "bad_role.jsonl:1" ./tokenize chat "$TMP/bad_role.jsonl" --out "$TMP/bad"
printf '{"messages": [{"role": "user"}]}\n' > "$TMP/bad_msg.jsonl"
expect_error chat_missing_content "content" ./tokenize chat "$TMP/bad_msg.jsonl" --out "$TMP/bad"
printf '{"messages": []}\n' > "$TMP/empty.jsonl"
expect_error chat_empty_messages "empty" ./tokenize chat "$TMP/empty.jsonl" --out "$TMP/bad"
"$PY" dev/data/gpt2_tokenizer.py --format v3 -o "$TMP/tok_v3.bin" > /dev/null
expect_error chat_needs_markers "chat special tokens" ./tokenize chat "$TMP/conv.jsonl" --out "$TMP/bad" --tokenizer "$TMP/tok_v3.bin"
# the masked shard's header: a reader of version 1 only (llm.c's check) refuses it
check masked_shard_refused_by_v1_reader "a v1-only reader accepted version 2" \
  "$PY" -c "import struct,sys; h=struct.unpack('<3i', open('$TMP/conv_train.bin','rb').read(12)); sys.exit(0 if h[1] != 1 else 1)"
# a damaged mask byte (not 0/1) or size is named
cp "$TMP/conv_train.bin" "$TMP/mask_bad.bin"; printf '\x07' | dd of="$TMP/mask_bad.bin" bs=1 seek=$(( $(stat -c %s "$TMP/mask_bad.bin") - 1 )) conv=notrunc 2> /dev/null
expect_error masked_shard_bad_mask_byte "mask byte 7" ./tokenize info --vocab-size 50267 "$TMP/mask_bad.bin"
head -c -1 "$TMP/conv_train.bin" > "$TMP/mask_trunc.bin"
expect_error masked_shard_truncated "truncated" ./train_gpt2 -e L1:C8:H1:V50267:T8 -i "$TMP/mask_trunc.bin" -j "" -b 1 -t 4 -x 1

# ---- masked loss: gradients vs PyTorch (30% and 100% of targets ignored), 20 fine-tuning steps --
for entry in "mask_L2_C32_V300|--n_layer 2 --n_head 2 --n_embd 32 --vocab_size 300 --block_size 32 --batch_size 3 --seq_len 16 --ignore_frac 0.3 --seed 4" \
             "mask_L3_H3_C48_V97_chatvocab|--n_layer 3 --n_head 3 --n_embd 48 --vocab_size 97 --block_size 64 --batch_size 2 --seq_len 37 --ignore_frac 0.7 --chat_vocab 110 --seed 5 --weight_decay 0.1" \
             "mask_all_ignored|--n_layer 1 --n_head 1 --n_embd 8 --vocab_size 20 --block_size 8 --batch_size 2 --seq_len 4 --ignore_frac 1.0 --seed 6"; do
  name=${entry%%|*}; flags=${entry#*|}
  mkdir -p "$TMP/$name"
  if "$PY" train_gpt2.py $flags --steps 5 --output_dir "$TMP/$name" > "$TMP/$name/ref.log" 2>&1 &&
     ./test_gpt2 -e "$TMP/$name/model.bin" -s "$TMP/$name/debug_state.bin" > "$TMP/$name/test.log" 2>&1; then
    ok "test_gpt2_$name"
  else
    notok "test_gpt2_$name" "$(grep -E 'FAIL|error' "$TMP/$name/ref.log" "$TMP/$name/test.log" | head -n 3 | tr '\n' ' ')"
  fi
done
"$PY" train_gpt2.py --n_layer 2 --n_head 4 --n_embd 64 --vocab_size 97 --block_size 64 --steps 0 --seed 3 \
  --output_dir "$TMP/base" > /dev/null
if "$PY" dev/compare_train.py --init "$TMP/base/model.bin" --chat_vocab 107 --masked --workdir "$TMP/sft" > "$TMP/sft.log" 2>&1; then
  ok finetune_parity_20_steps_masked_from_checkpoint
else
  notok finetune_parity_20_steps_masked_from_checkpoint "$(tail -n 2 "$TMP/sft.log" | tr '\n' ' ')"
fi
expect_error chat_vocab_beyond_padding "grow the vocabulary" ./train_gpt2 -e "$TMP/base/model.bin" --chat_vocab 200 -i "$TMP/sft/train.bin" -j "" -b 1 -t 8 -x 1

# ---- KV cache vs full forward, batched vs single, seeds ----------------------------------------
./build/test/chat_kv_test > "$TMP/kv.log"; kv_rc=$?
cat "$TMP/kv.log"
fails=$((fails + $(grep -c '^not ok' "$TMP/kv.log")))
[ $kv_rc -eq 0 ] || grep -q '^not ok' "$TMP/kv.log" || notok chat_kv_test "exit $kv_rc"

# ---- the chat program ----------------------------------------------------------------------
"$PY" train_gpt2.py --n_layer 2 --n_head 2 --n_embd 32 --vocab_size 50267 --block_size 64 --steps 0 --seed 8 \
  --output_dir "$TMP/cm" > /dev/null
M=$TMP/cm/model.bin
./chat -e "$M" -p "Hello there" -n 12 --seed 5 > "$TMP/one.out" 2> "$TMP/one.err"
check chat_stdout_only_text "stats leaked to stdout or none on stderr" \
  sh -c "! grep -q 'tok/s' $TMP/one.out && grep -q 'tok/s' $TMP/one.err && grep -q 'time to first token' $TMP/one.err"
./chat -e "$M" -p "Hello there" -n 12 --seed 5 > "$TMP/two.out" 2> /dev/null
check chat_seed_reproduces "two runs with --seed 5 differ" cmp -s "$TMP/one.out" "$TMP/two.out"
./chat -e "$M" -p "Hello there" -n 12 --seed 5 --samples 3 > "$TMP/batch.out" 2> /dev/null
./chat -e "$M" -p "Hello there" -n 12 --seed 7 > "$TMP/seed7.out" 2> /dev/null
check chat_samples_equal_single_runs "--samples 3: sample 0 != --seed 5 or sample 2 != --seed 7" \
  "$PY" -c "
import sys
parts = open('$TMP/batch.out', 'rb').read()[:-1].split(b'\n---\n')
a = open('$TMP/one.out', 'rb').read()[:-1]; c = open('$TMP/seed7.out', 'rb').read()[:-1]
sys.exit(0 if len(parts) == 3 and parts[0] == a and parts[2] == c else 1)"
printf '"Hello there"\n"What is 2 + 2?"\n' > "$TMP/prompts.jsonl"
./chat -e "$M" --prompts "$TMP/prompts.jsonl" --temperature 0 -n 10 --batch 2 > "$TMP/prompts.out" 2> /dev/null
./chat -e "$M" -p "What is 2 + 2?" --temperature 0 -n 10 > "$TMP/p2.out" 2> /dev/null
check chat_prompts_file_equals_p "--prompts reply 2 differs from -p" \
  "$PY" -c "
import json, sys
r = [json.loads(l) for l in open('$TMP/prompts.out')]
sys.exit(0 if len(r) == 2 and r[1].encode() == open('$TMP/p2.out', 'rb').read()[:-1] else 1)"
printf 'Hello there' | ./chat -e "$M" -n 12 --seed 5 > "$TMP/stdin.out" 2> /dev/null
check chat_prompt_from_stdin "stdin prompt differs from -p" cmp -s "$TMP/one.out" "$TMP/stdin.out"
./chat -e "$M" -p "Once upon a time" --raw -n 8 --temperature 0 > "$TMP/raw.out" 2> /dev/null
check chat_raw_mode "--raw produced nothing" test -s "$TMP/raw.out"
# interactive (a terminal on stdin, through script(1)): two turns, the second continuing the cache
if command -v script > /dev/null; then
  printf 'Hello\nHow are you?\n\n' | timeout 120 script -qfec "./chat -e $M -n 5 --seed 1" /dev/null > "$TMP/tty.out" 2>&1
  check chat_interactive_two_turns "not two replies, or the second prompt did not continue the conversation" \
    sh -c "[ \$(grep -c 'tokens generated' $TMP/tty.out) -eq 2 ] && grep -q 'prompt 7 tokens' $TMP/tty.out"
fi
# bf16 checkpoint of the same weights loads
check chat_bf16_checkpoint "bf16 checkpoint failed" sh -c "./chat -e $TMP/cm/model_bf16.bin -p hi -n 4 > /dev/null 2>&1"
# errors: one line each
expect_error chat_missing_model "nope.bin" ./chat -e "$TMP/nope.bin" -p hi
head -c 3000 "$M" > "$TMP/trunc.bin"
expect_error chat_truncated_model "trunc.bin" ./chat -e "$TMP/trunc.bin" -p hi
expect_error chat_tokenizer_missing "nope_tok.bin" ./chat -e "$M" --tokenizer "$TMP/nope_tok.bin" -p hi
expect_error chat_tokenizer_no_markers "chat markers" ./chat -e "$M" --tokenizer "$TMP/tok_v3.bin" -p hi
expect_error chat_tokenizer_decode_only "cannot encode" ./chat -e "$M" --tokenizer "$TMP/tok_v2.bin" -p hi
expect_error chat_base_model_no_rows "--chat_vocab" ./chat -e "$TMP/base/model.bin" -p hi
"$PY" -c "print('word ' * 200)" > "$TMP/long.txt"
expect_error chat_prompt_too_long "does not fit" ./chat -e "$M" -p "$(cat "$TMP/long.txt")"
expect_error chat_bad_temperature "--temperature" ./chat -e "$M" -p hi --temperature -1
expect_error chat_bad_top_p "--top_p" ./chat -e "$M" -p hi --top_p 1.5
expect_error chat_bad_n "-n" ./chat -e "$M" -p hi -n 0
expect_error chat_unknown_flag "--bogus" ./chat -e "$M" -p hi --bogus 1
expect_error chat_system_with_raw "--system" ./chat -e "$M" -p hi --raw --system x
printf 'not json\n' > "$TMP/badprompts.jsonl"
expect_error chat_bad_prompts_file "badprompts.jsonl:1" ./chat -e "$M" --prompts "$TMP/badprompts.jsonl"

# ---- synthetic data and the evaluator ------------------------------------------------------------
"$PY" dev/data/chat_synth.py --out "$TMP/syn" --train 300 --heldout 10 > /dev/null
check synth_heldout_not_in_train "a held-out prompt occurs in train.jsonl" "$PY" -c "
import json, sys
train = {m['content'] for l in open('$TMP/syn/train.jsonl') for m in json.loads(l)['messages'] if m['role'] == 'user'}
held = [json.loads(l) for l in open('$TMP/syn/heldout.jsonl')]
sys.exit(1 if any(h['prompt'] in train for h in held) or len({h['task'] for h in held}) != 5 else 0)"
check synth_answers_correct "an answer is wrong" "$PY" -c "
import json, re, sys
bad = 0
for l in open('$TMP/syn/heldout.jsonl'):
    h = json.loads(l); p, a = h['prompt'], h['answer']
    if h['task'] == 'arithmetic':
        x, op, y = re.search(r'(\d+) ([-+x]) (\d+)', p).groups(); x, y = int(x), int(y)
        bad += int(a) != (x + y if op == '+' else x - y if op == '-' else x * y)
    elif h['task'] == 'reverse':
        w = re.search(r'(?:Spell|Reverse the word|What is) (\w+)', p).group(1); bad += a != w[::-1]
    elif h['task'] == 'count':
        m = re.search(r'letter (\w) (?:appear in|in the word) (\w+)', p); bad += int(a) != m.group(2).count(m.group(1))
sys.exit(1 if bad else 0)"
# the evaluator scores replies exactly: a file of known replies through a fake chat
printf '%s\n' '#!/bin/sh' "echo '\"5\"'; echo '\" 7 \"'; echo '\"x\"'" > "$TMP/fakechat"
chmod +x "$TMP/fakechat"
printf '%s\n' '{"task": "a", "prompt": "p1", "answer": "5"}' '{"task": "a", "prompt": "p2", "answer": "7"}' \
  '{"task": "b", "prompt": "p3", "answer": "y"}' > "$TMP/fake_heldout.jsonl"
check eval_exact_match "evaluator did not report a 2/2, b 0/1, accuracy 0.667" sh -c \
  "$PY dev/eval_chat.py -e x --chat $TMP/fakechat --heldout $TMP/fake_heldout.jsonl > $TMP/fake_eval.out &&
   grep -q 'task a *2/2' $TMP/fake_eval.out && grep -q 'task b *0/1' $TMP/fake_eval.out && grep -q '^accuracy 0.667' $TMP/fake_eval.out"
finish
