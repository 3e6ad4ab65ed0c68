#!/usr/bin/env bash
# Tokenizer, tokenize CLI and dataset scripts, checked against js-tiktoken (an independent
# implementation of OpenAI's GPT-2 encoding, with its own bundled ranks). One line per check.
# Runs from the repository root; env from dev/test/run_all.sh: PY, DATA_DIR, TEST_TMP.
source "$(dirname "$0")/lib.sh"
tmpdir tokenizer
T=$TMP
rm -rf "$T"; mkdir -p "$T"
TORTURE=dev/test/data/unicode_torture.txt
TS="$DATA_DIR/tinyshakespeare.txt"
HS="$DATA_DIR/hellaswag_val_full.txt"

# same_ids NAME OURS REF: two files of whitespace-separated ids must be equal
same_ids() {
    local why
    if why=$("$PY" - "$2" "$3" <<'EOF'
import sys
a = open(sys.argv[1]).read().split()
b = open(sys.argv[2]).read().split()
if a == b:
    sys.exit(0)
i = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
print("%d vs %d ids; first difference at %d: ours %s, reference %s" % (
    len(a), len(b), i, a[i:i + 5], b[i:i + 5]))
sys.exit(1)
EOF
    ); then ok "$1"; else notok "$1" "$why"; fi
}

# one_line_error NAME CMD...: CMD must exit 1 with exactly one stderr line "error: ..."
one_line_error() { local name=$1; shift; expect_die "$name" "" "$@"; }

# ---- setup: build, tokenizer file, js-tiktoken ----------------------------------------------
if ! make -s tokenize gpt2_tokenizer.bin build/test/tok_classes build/test/tok_api_test > "$T/build.log" 2>&1; then
    notok build "$(tail -n 5 "$T/build.log" | tr '\n' '|')"
    exit 1
fi
if [ ! -f dev/vendor/node/node_modules/js-tiktoken/package.json ]; then
    mkdir -p dev/vendor/node
    if ! npm install --prefix dev/vendor/node --no-audit --no-fund js-tiktoken@1.0.21 > "$T/npm.log" 2>&1; then
        notok js_tiktoken_install "$(tail -n 3 "$T/npm.log" | tr '\n' '|')"
        exit 1
    fi
fi
ok build

# the header compiles as C++ (nvcc includes it from .cu files)
if make -s build/test/cxx_tokenizer > "$T/cxx.log" 2>&1; then
    ok header_compiles_as_cxx
else
    notok header_compiles_as_cxx "$(head -n 3 "$T/cxx.log" | tr '\n' '|')"
fi

# ---- inputs, then every js-tiktoken reference in one node process (its ranks load once) ------
build/test/tok_classes > "$T/classes_ours_unicode.txt"
build/test/tok_classes js > "$T/classes_ours_js.txt"
# seeded random text over every code point our tables know, with GPT-2's tricky cases mixed in
"$PY" - "$T/classes_ours_unicode.txt" "$T/fuzz.txt" <<'EOF'
import random, sys
assigned = []
for line in open(sys.argv[1]):
    lo, hi, c = line.split()
    if c != "U":
        assigned.append((int(lo), int(hi)))
weights = [hi - lo + 1 for lo, hi in assigned]
rng = random.Random(20240520)
special = [" ", " ", "  ", "\t", "\n", "\r\n", "\n\n", "\u00a0", "\u0085", "\ufeff", "\u3000",
           "\u2028", "\u2009", "'", "'s", "'S", "'re", "'RE", "'ll", "I'M", "'ve", "'d", "'t",
           "'m", "\u0301", "\u200d", "!", "...", "123", "4567", "\U0001F600", "\U0001F44D\U0001F3FD",
           "<|endoftext|>", "\x00", "\x1c"]
words = "the quick brown fox jumps over lazy dog Hello WORLD don't naïve 日本語 Ελληνικά".split()
parts = []
for _ in range(60000):
    r = rng.random()
    if r < 0.35:
        parts.append(rng.choice(words))
    elif r < 0.65:
        parts.append(rng.choice(special))
    elif r < 0.8:
        parts.append(chr(rng.randrange(0x20, 0x7f)))
    else:
        lo, hi = rng.choices(assigned, weights)[0]
        cp = rng.randint(lo, hi)
        if not 0xD800 <= cp <= 0xDFFF:
            parts.append(chr(cp))
open(sys.argv[2], "w", encoding="utf-8", newline="").write("".join(parts))
EOF
# invalid UTF-8 where each bad byte is one WHATWG U+FFFD (so pieces compare one to one)
printf 'a\x80b  \x80\x80 c\x80 \x80!\x80\n\xff\xfe x\xc3y \xc0\xc1 '"'"'s\x80'"'"'s \xf8\xbf 1\x802 \x80\n\n\x80' > "$T/inv_small.bin"
# JSON lines for the shard writer: escapes, surrogate pairs, a lone surrogate, nested values
"$PY" - "$HS" "$T/docs.jsonl" <<'EOF'
import json, random, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
rng = random.Random(3)
extra = ["caf\u00e9 \U0001F600 \u65e5\u672c", "tab\there \"quoted\" back\\slash / \b\f\r",
         "lone \ud800 surrogate", "pair \U0001F44D\U0001F3FD end", ""]
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for i in range(0, 3000, 6):
        text = " ".join(lines[i:i + 6]) + " " + rng.choice(extra)
        rec = {"id": i, "meta": {"a": [1, -2.5e3, None, True, {"b": "x}"}]}, "text": text, "z": False}
        ascii_only = rng.random() < 0.5 or "\ud800" in text  # a lone surrogate needs an escape
        f.write(json.dumps(rec, ensure_ascii=ascii_only) + "\n")
        if i % 60 == 0:
            f.write("\n")  # blank lines are skipped
EOF
"$PY" -c "
import json,sys
# the reference gets the same texts, with lone surrogates as U+FFFD (what tokenize does)
with open(sys.argv[2],'w',encoding='utf-8') as f:
    for line in open(sys.argv[1],encoding='utf-8'):
        if line.strip():
            t=json.loads(line)['text'].encode('utf-16','surrogatepass').decode('utf-16','replace')
            f.write(json.dumps({'text':t})+'\n')" "$T/docs.jsonl" "$T/docs_ref.jsonl"
# the official jsonl form (ctx / endings / label)
"$PY" -c "
import json,sys
lines=open(sys.argv[1],encoding='utf-8').read().split('\n')
with open(sys.argv[2],'w') as f:
    for k in range(0,120,6):
        f.write(json.dumps({'ind':k,'activity_label':'x','ctx':lines[k]+' caf\u00e9 \U0001F600','endings':lines[k+2:k+6],'label':int(lines[k+1]),'split':'val'})+'\n')" "$HS" "$T/hs_official.jsonl"
"$PY" -c "
import json,sys; print(json.dumps(json.loads(open(sys.argv[1]).readline())['ctx']))" "$T/hs_official.jsonl" > "$T/hs2_ctx.jsonl"
# every 25th HellaSwag example: context (line 1) and the 4 endings with a leading space
"$PY" -c "
import json,sys
lines=open(sys.argv[1],encoding='utf-8').read().split('\n')
with open(sys.argv[2],'w') as f:
    for k in range(0,len(lines)//6,25):
        for t in [lines[6*k]]+[' '+e for e in lines[6*k+2:6*k+6]]:
            f.write(json.dumps(t)+'\n')" "$HS" "$T/hs_sample.jsonl"
tab=$'\t'
{
    for flavor in unicode js; do echo "$T/classes_ref_$flavor.txt${tab}classes${tab}x${tab}--ws${tab}$flavor"; done
    echo "$T/ts_ref.txt${tab}encode${tab}$TS"
    echo "$T/tor_ref.txt${tab}encode${tab}$TORTURE${tab}--ws${tab}unicode"
    echo "$T/tor_ref_js.txt${tab}encode${tab}$TORTURE"
    echo "$T/tor_ref_sp.txt${tab}encode${tab}$TORTURE${tab}--ws${tab}unicode${tab}--special"
    echo "$T/hs_ref.txt${tab}encode${tab}$HS"
    echo "$T/fuzz_ref.txt${tab}encode${tab}$T/fuzz.txt${tab}--ws${tab}unicode"
    echo "$T/fuzz_ref_js.txt${tab}encode${tab}$T/fuzz.txt"
    echo "$T/pieces_ref_inv.txt${tab}pieces${tab}$T/inv_small.bin${tab}--ws${tab}unicode"
    echo "$T/pieces_ref_tor.txt${tab}pieces${tab}$TORTURE${tab}--ws${tab}unicode"
    echo "$T/pieces_ref_tor_js.txt${tab}pieces${tab}$TORTURE${tab}--ws${tab}js"
    echo "$T/pieces_ref_fuzz.txt${tab}pieces${tab}$T/fuzz.txt${tab}--ws${tab}unicode"
    echo "$T/ts_recipe_ref.txt${tab}tinyshakespeare${tab}$TS"
    echo "$T/fw_ref.txt${tab}docs-jsonl${tab}$T/docs_ref.jsonl${tab}--ws${tab}unicode"
    echo "$T/hs_sample_ref.txt${tab}encode-jsonl${tab}$T/hs_sample.jsonl"
    echo "$T/hs2_ctx_ref.txt${tab}encode-jsonl${tab}$T/hs2_ctx.jsonl${tab}--ws${tab}unicode"
} > "$T/ref_jobs.txt"
if ! node dev/test/tiktoken_ref.cjs multi < "$T/ref_jobs.txt" 2> "$T/ref.err"; then
    notok js_tiktoken_reference "$(tail -n 3 "$T/ref.err" | tr '\n' '|')"
    exit 1
fi

# ---- Unicode tables ---------------------------------------------------------------------------
if [ -f /usr/share/unicode/UnicodeData.txt ] && [ -f /usr/share/unicode/PropList.txt ]; then
    "$PY" dev/gen_unicode_tables.py /usr/share/unicode > "$T/unicode_tables.h"
    if cmp -s "$T/unicode_tables.h" llmc/unicode_tables.h; then ok unicode_tables_regenerate
    else notok unicode_tables_regenerate "llmc/unicode_tables.h differs from the generator's output"; fi
else
    ok "unicode_tables_regenerate # skipped: no /usr/share/unicode (apt-get install unicode-data)"
fi
# Our \p{L} \p{N} \s per code point against Node's RegExp: they may differ only where our tables
# (Unicode 15.0) have no character yet and Node's newer Unicode has one.
for flavor in unicode js; do
    if why=$("$PY" - "$T/classes_ours_$flavor.txt" "$T/classes_ref_$flavor.txt" <<'EOF'
import sys
def load(p):
    a = bytearray(0x110000)
    for line in open(p):
        lo, hi, c = line.split()
        a[int(lo):int(hi) + 1] = c.encode() * (int(hi) - int(lo) + 1)
    return a
ours, ref = load(sys.argv[1]), load(sys.argv[2])
bad = [cp for cp in range(0x110000) if ours[cp] != ref[cp] and ours[cp] != ord("U")
       and not (ours[cp] == ord("U") and ref[cp] == ord("O"))]
newer = sum(1 for cp in range(0x110000) if ours[cp] == ord("U") and ref[cp] != ord("O"))
if bad:
    print("%d assigned code points differ, e.g. %s" % (len(bad), ", ".join(
        "U+%04X ours %s node %s" % (cp, chr(ours[cp]), chr(ref[cp])) for cp in bad[:5])))
    sys.exit(1)
print(newer)
EOF
    ); then ok "unicode_classes_match_node_$flavor (only $why code points newer than our tables differ)"
    else notok "unicode_classes_match_node_$flavor" "$why"; fi
done

# ---- ids against js-tiktoken ------------------------------------------------------------------
./tokenize encode "$TS" > "$T/ts_ours.txt"
same_ids tinyshakespeare_ids "$T/ts_ours.txt" "$T/ts_ref.txt"

./tokenize encode "$TORTURE" > "$T/tor_ours.txt"
same_ids torture_ids_tiktoken_whitespace "$T/tor_ours.txt" "$T/tor_ref.txt"
./tokenize encode --js-whitespace "$TORTURE" > "$T/tor_ours_js.txt"
same_ids torture_ids_js_tiktoken "$T/tor_ours_js.txt" "$T/tor_ref_js.txt"
if cmp -s "$T/tor_ref.txt" "$T/tor_ref_js.txt"; then
    notok torture_covers_both_whitespace_meanings "the file does not tell U+0085/U+FEFF apart"
else ok torture_covers_both_whitespace_meanings; fi
./tokenize encode --special "$TORTURE" > "$T/tor_ours_sp.txt"
same_ids torture_ids_special "$T/tor_ours_sp.txt" "$T/tor_ref_sp.txt"
grep -qw 50256 "$T/tor_ours_sp.txt" && ! grep -qw 50256 "$T/tor_ours.txt" &&
    ok special_only_when_asked || notok special_only_when_asked "50256 presence wrong"

# unseen text: all of HellaSwag's text, and seeded random text over the whole Unicode range
./tokenize encode "$HS" > "$T/hs_ours.txt"
same_ids hellaswag_text_ids "$T/hs_ours.txt" "$T/hs_ref.txt"

./tokenize encode "$T/fuzz.txt" > "$T/fuzz_ours.txt"
same_ids random_unicode_ids "$T/fuzz_ours.txt" "$T/fuzz_ref.txt"
./tokenize encode --js-whitespace "$T/fuzz.txt" > "$T/fuzz_ours_js.txt"
same_ids random_unicode_ids_js "$T/fuzz_ours_js.txt" "$T/fuzz_ref_js.txt"

# ---- round trips, invalid UTF-8 -----------------------------------------------------------
rt_bad=""
for f in "$TORTURE" "$TS" "$T/fuzz.txt"; do
    ./tokenize encode "$f" | ./tokenize decode | cmp -s - "$f" || rt_bad="$rt_bad $f"
done
[ -z "$rt_bad" ] && ok roundtrip_text || notok roundtrip_text "decode(encode(x)) != x for$rt_bad"
"$PY" - "$T/invalid.bin" <<'EOF'
import random, sys
rng = random.Random(7)
cases = [b"\xff", b"\xfe\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf",
         b"\xe0\x80\xaf", b"\x80\x80\x80", b"\xf0\x9f\x98", b"\xf8\x88\x80\x80\x80", b"\xbf"]
out = bytearray()
for _ in range(3000):
    out += rng.choice(cases + [b" ", b"a", b"'s", b" x", b"\n", "é".encode(), "日".encode(), b"  ", b"1"])
out += bytes(rng.randrange(256) for _ in range(200000))
out += b"\xe2\x82"  # ends inside a character
open(sys.argv[1], "wb").write(out)
EOF
./tokenize encode "$T/invalid.bin" > "$T/inv_ids.txt" 2> "$T/inv_err.txt"
rc=$?
if [ $rc -eq 0 ] && ./tokenize decode "$T/inv_ids.txt" | cmp -s - "$T/invalid.bin"; then ok invalid_utf8_roundtrip
else notok invalid_utf8_roundtrip "rc=$rc $(head -c 200 "$T/inv_err.txt")"; fi
./tokenize show --color never "$T/invalid.bin" > /dev/null 2>&1 &&
    ./tokenize show --color always "$T/invalid.bin" > /dev/null 2>&1 &&
    ./tokenize encode --special --js-whitespace "$T/invalid.bin" > /dev/null 2>&1 &&
    ok invalid_utf8_show_no_crash || notok invalid_utf8_show_no_crash "show/encode failed"
# Pre-tokenizer pieces against the JavaScript regex, directly. In the invalid input every bad byte
# is one that WHATWG decoding turns into exactly one U+FFFD, so pieces must match one to one:
# an invalid byte splits text the way U+FFFD does.
same_pieces() { # NAME FILE FLAVOR REF_FILE
    local arg=""; [ "$3" = js ] && arg=js
    build/test/tok_classes pieces "$2" $arg > "$T/pieces_ours.txt"
    if why=$("$PY" - "$T/pieces_ours.txt" "$4" <<'EOF2'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
b = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
if a != b:
    i = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
    print("%d vs %d pieces; first difference at %d: ours %r, regex %r" % (len(a), len(b), i, a[i:i + 3], b[i:i + 3]))
    sys.exit(1)
EOF2
    ); then ok "$1"; else notok "$1" "$why"; fi
}
same_pieces invalid_utf8_pieces_match_js "$T/inv_small.bin" unicode "$T/pieces_ref_inv.txt"
same_pieces torture_pieces_match_regex "$TORTURE" unicode "$T/pieces_ref_tor.txt"
same_pieces torture_pieces_match_regex_js "$TORTURE" js "$T/pieces_ref_tor_js.txt"
same_pieces random_unicode_pieces_match_regex "$T/fuzz.txt" unicode "$T/pieces_ref_fuzz.txt"

# ---- tokenizer files: v2 (llm.c), the default (v2 extended), API ----------------------------
"$PY" dev/data/gpt2_tokenizer.py --version 2 -o "$T/tok_v2.bin" > /dev/null
if cmp -s <(./tokenize decode --tokenizer "$T/tok_v2.bin" "$T/ts_ours.txt") "$TS"; then ok v2_file_decodes
else notok v2_file_decodes "decode with the version 2 file differs"; fi
"$PY" -c "
import struct,sys
d=bytearray(open(sys.argv[1],'rb').read()); d[4:8]=struct.pack('<i',1); d[12:16]=struct.pack('<i',0)
open(sys.argv[2],'wb').write(d)" "$T/tok_v2.bin" "$T/tok_v1.bin"
if cmp -s <(./tokenize decode --tokenizer "$T/tok_v1.bin" "$T/tor_ours_sp.txt") <(./tokenize decode "$T/tor_ours_sp.txt"); then
    ok v1_file_decodes; else notok v1_file_decodes "decode with a version 1 file differs"; fi
head -c "$(stat -c %s "$T/tok_v2.bin")" gpt2_tokenizer.bin | tail -c +1025 | cmp -s - <(tail -c +1025 "$T/tok_v2.bin") &&
    ok default_keeps_v2_decode_table || notok default_keeps_v2_decode_table "payload prefix differs"
build/test/tok_api_test gpt2_tokenizer.bin "$T/tok_v2.bin" "$TORTURE" 2> "$T/api.err" | tee "$T/api.out"
grep -q '^not ok' "$T/api.out" && fails=$((fails + 1))
one_line_error v2_file_cannot_encode ./tokenize encode --tokenizer "$T/tok_v2.bin" "$TORTURE"

# bad tokenizer files
head -c 500000 gpt2_tokenizer.bin > "$T/tok_trunc.bin"
head -c 1500 "$T/tok_v2.bin" > "$T/tok_v2_trunc.bin"
head -c 100 gpt2_tokenizer.bin > "$T/tok_short.bin"
: > "$T/tok_empty.bin"
"$PY" - gpt2_tokenizer.bin "$T" <<'EOF'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
t = sys.argv[2]
x = bytearray(d); x[2000] ^= 1; open(t + "/tok_flip.bin", "wb").write(x)
x = bytearray(d); x[0:4] = struct.pack("<i", 20240326); open(t + "/tok_magic.bin", "wb").write(x)
x = bytearray(d); x[4:8] = struct.pack("<i", 9); open(t + "/tok_version.bin", "wb").write(x)
x = bytearray(d); x[12:16] = struct.pack("<i", 60000); open(t + "/tok_eot.bin", "wb").write(x)
open(t + "/tok_extra.bin", "wb").write(d + b"\0")
EOF
for bad in trunc v2_trunc short empty flip magic version eot extra; do
    one_line_error "bad_tokenizer_${bad}_info" ./tokenize info "$T/tok_$bad.bin"
    one_line_error "bad_tokenizer_${bad}_encode" ./tokenize encode --tokenizer "$T/tok_$bad.bin" "$TORTURE"
done
one_line_error missing_tokenizer ./tokenize encode --tokenizer "$T/nope.bin" "$TORTURE"

# ---- TinyShakespeare: llm.c's recipe ------------------------------------------------------
bash dev/data/tinyshakespeare.sh --from "$TS" --out "$T/ts" > "$T/ts.log" 2>&1 ||
    notok tinyshakespeare_script "$(tail -n 2 "$T/ts.log" | tr '\n' '|')"
if why=$("$PY" - "$T/ts" "$T/ts_recipe_ref.txt" <<'EOF'
import os, struct, sys
d, ref = sys.argv[1], [int(x) for x in open(sys.argv[2]).read().split()]
toks = {}
for split in ("val", "train"):
    p = os.path.join(d, "tiny_shakespeare_%s.bin" % split)
    data = open(p, "rb").read()
    h = struct.unpack("<256i", data[:1024])
    if h[0] != 20240520 or h[1] != 1 or len(data) != 1024 + 2 * h[2]:
        print("%s: bad header or size" % p); sys.exit(1)
    toks[split] = list(struct.unpack("<%dH" % h[2], data[1024:]))
if (len(toks["val"]), len(toks["train"])) != (32768, 305260):
    print("sizes %d + %d, expected 32768 + 305260" % (len(toks["val"]), len(toks["train"]))); sys.exit(1)
if toks["val"] + toks["train"] != ref:
    print("token stream differs from js-tiktoken with llm.c's recipe"); sys.exit(1)
EOF
); then ok tinyshakespeare_shards_llmc_recipe; else notok tinyshakespeare_shards_llmc_recipe "$why"; fi

# ---- shards from JSON lines (FineWeb path) ------------------------------------------------
bash dev/data/fineweb.sh --shard-tokens 20000 --out "$T/fw" --from "$T/docs.jsonl" > "$T/fw.log" 2>&1 ||
    notok fineweb_script "$(tail -n 2 "$T/fw.log" | tr '\n' '|')"
if why=$("$PY" - "$T/fw" "$T/fw_ref.txt" <<'EOF'
import glob, os, struct, sys
d, ref = sys.argv[1], [int(x) for x in open(sys.argv[2]).read().split()]
files = sorted(glob.glob(os.path.join(d, "fineweb_*.bin")), key=lambda p: p.rsplit("_", 1)[1])
names = [os.path.basename(p) for p in files]
want = ["fineweb_val_000000.bin"] + ["fineweb_train_%06d.bin" % i for i in range(1, len(files))]
if names != want:
    print("files %s" % names); sys.exit(1)
stream = []
for i, p in enumerate(files):
    data = open(p, "rb").read()
    h = struct.unpack("<256i", data[:1024])
    if h[0] != 20240520 or h[1] != 1 or len(data) != 1024 + 2 * h[2]:
        print("%s: bad header or size" % p); sys.exit(1)
    if i < len(files) - 1 and h[2] != 20000:
        print("%s has %d tokens, expected 20000" % (p, h[2])); sys.exit(1)
    stream += struct.unpack("<%dH" % h[2], data[1024:])
if list(stream) != ref:
    print("stream of %d tokens differs from js-tiktoken's %d" % (len(stream), len(ref))); sys.exit(1)
EOF
); then ok shards_jsonl_match_js; else notok shards_jsonl_match_js "$why"; fi
./tokenize shards --quiet --format jsonl --threads 1 --shard-tokens 20000 --val-tokens 20000 --out "$T/fw1/fineweb" "$T/docs.jsonl"
if diff -r -q "$T/fw" "$T/fw1" > /dev/null; then ok shards_deterministic_across_threads
else notok shards_deterministic_across_threads "1 thread and all threads wrote different files"; fi
./tokenize shards --quiet --doc line --val-docs 7 --single --out "$T/vd/lines" "$HS" &&
    "$PY" -c "
import struct,sys
v=open(sys.argv[1],'rb').read(); n=struct.unpack('<3i',v[:12])[2]
t=struct.unpack('<%dH'%n, v[1024:])
sys.exit(0 if t.count(50256)==7 and t[0]==50256 else 1)" "$T/vd/lines_val.bin" &&
    ok shards_val_docs || notok shards_val_docs "val split does not hold exactly 7 documents"

# ---- HellaSwag eval file ----------------------------------------------------------------------
"$PY" dev/data/hellaswag.py --from "$HS" --out "$T/hs" > "$T/hs.log" 2>&1 ||
    notok hellaswag_script "$(tail -n 2 "$T/hs.log" | tr '\n' '|')"
./tokenize info "$T/hs/hellaswag_val.bin" > "$T/hs_info.txt" 2>&1 &&
    ok hellaswag_info_validates || notok hellaswag_info_validates "$(head -c 300 "$T/hs_info.txt")"
# structure checked independently in Python, and a sample of examples against js-tiktoken
"$PY" - "$HS" "$T/hs/hellaswag_val.bin" "$T/hs_sample_ours.txt" <<'EOF' > "$T/hs_struct.txt" 2>&1
import json, struct, sys
src, binp, ours_out = sys.argv[1:4]
lines = open(src, encoding="utf-8").read().split("\n")[:-1]
n_src = len(lines) // 6
data = open(binp, "rb").read()
h = struct.unpack("<256i", data[:1024])
assert h[0] == 20240522 and h[1] == 1 and h[2] == n_src, "header %s" % (h[:4],)
v = struct.unpack("<%dH" % ((len(data) - 1024) // 2), data[1024:])
i, longest, ex = 0, 0, []
for k in range(h[2]):
    assert v[i] == 65535, "example %d marker" % k
    size, idx, label, nc = v[i + 1], v[i + 2], v[i + 3], v[i + 4]
    assert idx == k and nc == 4 and label == int(lines[6 * k + 1]), "example %d fields" % k
    j = i + 5
    parts = []
    for _ in range(5):
        L = v[j]; parts.append(list(v[j + 1:j + 1 + L])); j += 1 + L
    assert 2 * (j - i) == size, "example %d size" % k
    longest = max(longest, size)
    ex.append(parts)
    i = j
assert i == len(v) and longest == h[3], "trailing data or longest"
with open(ours_out, "w") as fo:  # the examples of hs_sample.jsonl, in its order
    for k in range(0, n_src, 25):
        for p in ex[k]:
            fo.write(" ".join(map(str, p)) + "\n")
print("ok")
EOF
if grep -qx ok "$T/hs_struct.txt"; then ok hellaswag_structure
else notok hellaswag_structure "$(tail -n 1 "$T/hs_struct.txt")"; fi
same_ids hellaswag_sample_match_js "$T/hs_sample_ours.txt" "$T/hs_sample_ref.txt"
"$PY" dev/data/hellaswag.py --from "$T/hs_official.jsonl" --out "$T/hs2" > /dev/null 2>&1 &&
    ./tokenize info "$T/hs2/hellaswag_val.bin" > /dev/null 2>&1 &&
    "$PY" -c "
import json,struct,sys
d=open(sys.argv[1],'rb').read(); v=struct.unpack('<%dH'%((len(d)-1024)//2), d[1024:])
L=v[5]; print(' '.join(map(str,v[6:6+L])))" "$T/hs2/hellaswag_val.bin" > "$T/hs2_ctx.txt" &&
    same_ids hellaswag_official_jsonl "$T/hs2_ctx.txt" "$T/hs2_ctx_ref.txt" ||
    notok hellaswag_official_jsonl "script or info failed"

# ---- bad shards, eval files, inputs -------------------------------------------------------
V="$T/ts/tiny_shakespeare_val.bin"
head -c 5000 "$V" > "$T/sh_trunc.bin"
head -c 600 "$V" > "$T/sh_short.bin"
"$PY" - "$V" "$T/hs/hellaswag_val.bin" "$T" <<'EOF'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read()); e = bytearray(open(sys.argv[2], "rb").read()); t = sys.argv[3]
x = bytearray(d); x[0:4] = struct.pack("<i", 1); open(t + "/sh_magic.bin", "wb").write(x)
x = bytearray(d); x[8:12] = struct.pack("<i", 40000); open(t + "/sh_count.bin", "wb").write(x)
x = bytearray(d); x[4:8] = struct.pack("<i", 2); open(t + "/sh_version.bin", "wb").write(x)
x = bytearray(d); x[1024:1026] = struct.pack("<H", 60000); open(t + "/sh_token.bin", "wb").write(x)
open(t + "/ev_trunc.bin", "wb").write(e[:len(e) // 2])
x = bytearray(e); x[1024:1026] = struct.pack("<H", 7); open(t + "/ev_marker.bin", "wb").write(x)
x = bytearray(e); x[8:12] = struct.pack("<i", 10043); open(t + "/ev_count.bin", "wb").write(x)
x = bytearray(e); x[1030:1032] = struct.pack("<H", 9); open(t + "/ev_label.bin", "wb").write(x)
open(t + "/ev_extra.bin", "wb").write(e + b"\xff\xff")
EOF
for bad in trunc short magic count version token; do
    one_line_error "bad_shard_${bad}_info" ./tokenize info "$T/sh_$bad.bin"
done
one_line_error bad_shard_decode ./tokenize decode --shard "$T/sh_trunc.bin"
for bad in trunc marker count label extra; do
    one_line_error "bad_eval_${bad}_info" ./tokenize info "$T/ev_$bad.bin"
done
printf '{"text": "fine"}\n{"text": "broken \\x"}\n' > "$T/bad.jsonl"
one_line_error bad_jsonl_line ./tokenize shards --quiet --format jsonl --out "$T/badj/x" "$T/bad.jsonl"
printf '{"other": "no text"}\n' > "$T/bad2.jsonl"
one_line_error jsonl_missing_field ./tokenize shards --quiet --format jsonl --out "$T/badj/x" "$T/bad2.jsonl"
printf '15496 995 notanumber\n' > "$T/bad_ids.txt"
one_line_error decode_bad_id_text ./tokenize decode "$T/bad_ids.txt"
printf '15496 50267\n' > "$T/bad_ids2.txt"
one_line_error decode_id_out_of_range ./tokenize decode "$T/bad_ids2.txt"
one_line_error cli_unknown_option ./tokenize encode --nope
one_line_error cli_option_wrong_command ./tokenize decode --val-tokens 5
one_line_error cli_unknown_command ./tokenize frobnicate
one_line_error cli_shards_needs_out ./tokenize shards "$TS"

# ---- CLI odds and ends ------------------------------------------------------------------------
./tokenize --help > "$T/help.txt"
missing=$(grep -o '{"--[a-z-]*"' tokenize.c | tr -d '{"' | while read -r o; do grep -q -- "$o" "$T/help.txt" || echo "$o"; done)
[ -z "$missing" ] && ok cli_help_lists_every_option || notok cli_help_lists_every_option "missing: $missing"
printf '' | ./tokenize encode > "$T/empty.txt" && [ "$(cat "$T/empty.txt")" = "" ] &&
    ok cli_encode_empty || notok cli_encode_empty "empty input"
printf 'Hello world!! [x] \\ y\n' > "$T/show_in.txt"
./tokenize show --color never "$T/show_in.txt" > "$T/show_out.txt"
if "$PY" - "$T/show_in.txt" "$T/show_out.txt" "$T/show_ids.txt" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
first = open(sys.argv[2]).read().split("\n")[0]
pieces = re.findall(r"\[((?:\\.|[^\]\\])*)\](\d+)", first)
def unesc(s):
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), s)
assert "".join(unesc(p) for p, _ in pieces) == text
open(sys.argv[3], "w").write(" ".join(i for _, i in pieces))
EOF
then
    ./tokenize encode "$T/show_in.txt" > "$T/show_enc.txt"
    same_ids cli_show_plain "$T/show_ids.txt" "$T/show_enc.txt"
else notok cli_show_plain "brackets do not reassemble the text"; fi

# ---- empty inputs: every command takes them without a crash; nothing to write is an error ------
: > "$T/empty.txt"
printf '""\n{"text": ""}\n   \n' > "$T/empty_strings.jsonl"
if ./tokenize encode --jsonl "$T/empty_strings.jsonl" > "$T/es_out.txt" 2> "$T/es_err.txt" &&
    [ "$(od -An -c "$T/es_out.txt" | tr -d ' ')" = '\n\n\n' ] && [ ! -s "$T/es_err.txt" ]; then
    ok empty_json_strings_encode_to_empty_lines
else
    notok empty_json_strings_encode_to_empty_lines "$(od -An -c "$T/es_out.txt" | head -c 100) $(head -c 200 "$T/es_err.txt")"
fi
./tokenize show --color never "$T/empty.txt" > /dev/null 2>&1 && ok empty_show || notok empty_show "show of an empty file failed"
./tokenize decode "$T/empty.txt" > "$T/empty_dec.txt" 2>&1 && [ ! -s "$T/empty_dec.txt" ] &&
    ok empty_decode || notok empty_decode "$(head -c 200 "$T/empty_dec.txt")"
one_line_error empty_file_no_shards ./tokenize shards --quiet --out "$T/es1/x" "$T/empty.txt"
one_line_error empty_json_strings_no_shards ./tokenize shards --quiet --format jsonl --out "$T/es2/x" "$T/empty_strings.jsonl"
printf '{"text": ""}\n{"text": "Hello there"}\n{"text": ""}\n' > "$T/mixed.jsonl"
printf '{"text": "Hello there"}\n' > "$T/one.jsonl"
./tokenize shards --quiet --format jsonl --single --out "$T/es3/x" "$T/mixed.jsonl" &&
    ./tokenize shards --quiet --format jsonl --single --out "$T/es4/x" "$T/one.jsonl" &&
    cmp -s "$T/es3/x_train.bin" "$T/es4/x_train.bin" && ok empty_documents_skipped ||
    notok empty_documents_skipped "shards of empty + one document differ from the one document's"
[ -z "$(find "$T/es1" "$T/es2" -type f 2> /dev/null)" ] && ok refused_shards_leave_no_files ||
    notok refused_shards_leave_no_files "$(find "$T/es1" "$T/es2" -type f | tr "\n" " ")"
one_line_error empty_info ./tokenize info "$T/empty.txt"
one_line_error cli_no_command ./tokenize
one_line_error hellaswag_missing_input "$PY" dev/data/hellaswag.py --from "$T/none.txt" --out "$T/hsx"
one_line_error vocab_missing "$PY" dev/data/gpt2_tokenizer.py --vocab-dir "$T/none" -o "$T/none.bin"

finish
