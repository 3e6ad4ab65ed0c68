#!/usr/bin/env bash
# webclean (web pages to clean JSON lines): the fate of every planted case in a WARC corpus
# written by npm's warcio from Debian's HTML docs (dev/data/web_corpus.mjs), the stage counters
# against an independent tally, the reader against warcio's record counts, charset conversion
# against the UTF-8 originals, determinism across thread counts, zstd output, tokenize shards,
# streaming memory on a 40 MB record, mutated inputs (no crash, no hang) and one-line errors.
source "$(dirname "$0")/lib.sh"
tmpdir webclean
rm -rf "$TMP"
mkdir -p "$TMP"
C="$TMP/corpus"
WC=./webclean
LANGS=en,de,fr,ja,zh

# ---- setup: build, npm's warcio, Debian's docs ---------------------------------------------------
if ! make -s webclean > "$TMP/build.log" 2>&1; then
    notok build "$(tail -n 5 "$TMP/build.log" | tr '\n' '|')"
    finish
fi
ok build
if [ ! -f dev/vendor/webclean/node_modules/warcio/package.json ]; then
    mkdir -p dev/vendor/webclean
    if ! npm install --prefix dev/vendor/webclean --no-audit --no-fund warcio@2.4.11 > "$TMP/npm.log" 2>&1; then
        notok npm_warcio "npm install warcio failed: $(tail -n 3 "$TMP/npm.log" | tr '\n' '|')"
        finish
    fi
fi
if ! node dev/data/web_corpus.mjs "$C" > "$TMP/corpus.log" 2>&1; then
    notok corpus "$(tail -n 3 "$TMP/corpus.log" | tr '\n' '|')"
    finish
fi
ok corpus

# py_checks CMD ARGS...: dev/test/webclean_check.py's lines, counted; a crash there is one failure
py_checks() {
    local out rc
    out=$("$PY" dev/test/webclean_check.py "$@" 2>&1)
    rc=$?
    printf '%s\n' "$out" | grep -E '^(ok|not ok) '
    local bad
    bad=$(printf '%s\n' "$out" | grep -c '^not ok')
    fails=$((fails + bad))
    if [ $rc -ne 0 ] && [ "$bad" -eq 0 ]; then
        notok "check_$1" "$(printf '%s' "$out" | tail -n 3 | tr '\n' '|')"
    fi
}

# ---- the run --------------------------------------------------------------------------------------
run() { "$WC" --quiet --lang $LANGS --blocklist "$C/blocklist.txt" "$@"; }
WARCS=("$C/main.warc.gz" "$C/damaged.warc.gz" "$C/cut.warc.gz" "$C/huge.warc.gz")
if run --threads 2 "${WARCS[@]}" -o "$TMP/out.jsonl" --stats "$TMP/stats.json" --rejects "$TMP/rejects.jsonl" \
    2> "$TMP/run.err"; then
    ok run
else
    notok run "$(tail -n 3 "$TMP/run.err" | tr '\n' '|')"
    finish
fi
# the reference texts: the UTF-8 / well-formed originals, through the same stages (no dedup: one
# of them is the malformed page's original, present in the corpus only in its mangled form)
check run_refs "webclean on ref/ failed" \
    run --skip exact,near "$C/ref" -o "$TMP/ref.jsonl"
py_checks fates "$C" "$TMP/out.jsonl" "$TMP/rejects.jsonl" "$TMP/ref.jsonl"
py_checks counters "$TMP/stats.json" "$TMP/rejects.jsonl" "$TMP/out.jsonl"
py_checks measures "$TMP/out.jsonl"
run --skip c4,pii,exact,near "$C/main.warc.gz" -o "$TMP/gopher.jsonl"
py_checks gopher "$TMP/gopher.jsonl"
# banned URL substrings (the second list format)
printf 'planted/short\n' > "$TMP/banned.txt"
run --banned-words "$TMP/banned.txt" "$C/main.warc.gz" -o "$TMP/banned.jsonl" --rejects "$TMP/banned_rej.jsonl"
check url_banned_substring "planted/short.html not dropped as url_banned_substring" \
    grep -q '"url":"https://docs.example.org/planted/short.html","stage":"url","reason":"url_banned_substring"' \
    "$TMP/banned_rej.jsonl"

# the reader against the writer: every record warcio wrote, nothing reported damaged
read -r RECORDS RESPONSES < <("$PY" -c "import json,sys; c=json.load(open(sys.argv[1]))['counts']['main.warc.gz']; \
print(c['records'], c['responses'])" "$C/sample.json")
run --skip url,extract,lang,gopher-rep,gopher,c4,fineweb,exact,near,pii "$C/main.warc.gz" -o "$TMP/main.jsonl" \
    --stats "$TMP/main_stats.json"
py_checks reader "$TMP/main_stats.json" "$RECORDS" "$RESPONSES"

# ---- the parse shortcuts (llmc/html_blank.h's pre-pass, llmc/html_fast.h) change no text --------
# on the crawl-style pages (about half script, style and SVG), a sample of the documentation
# pages, and generated malformed pages; and the whole pipeline's output with and without them
if make -s build/test/html_blank_test > "$TMP/blank_build.log" 2>&1; then
    out=$(build/test/html_blank_test --fuzz 6000 --seed "${WEBCLEAN_SEED:-1}" --min-removed 20 --min-fast 60 "$C/crawl" \
        /usr/share/debian-reference/ch02.en.html /usr/share/debian-reference/apa.de.html \
        /usr/share/doc/python3.11/html/tutorial 2>&1)
    rc=$?
    printf '%s\n' "$out" | grep -E '^(ok|not ok) '
    [ $rc -eq 0 ] || notok html_blank_test "exit $rc: $(printf '%s' "$out" | grep -v '^ok' | head -n 2 | tr '\n' '|')"
else
    notok html_blank_build "$(tail -n 3 "$TMP/blank_build.log" | tr '\n' '|')"
fi
# a page whose text follows from the HTML standard by hand: a script hiding markup in a string
# and behind "<!--<script>", a comment, SVG text, <template> content and a <style> that <select>
# ignores all stay out; the four paragraphs come out, with the pre-pass and without
mkdir -p "$TMP/tricky"
printf '%s' '<!DOCTYPE html><html><head><title>t</title></head><body><p>one</p>' \
    '<script>var s = "</scr" + "ipt><p>no</p>";</script><p>two</p><!-- <p>no</p> -->' \
    '<svg viewBox="0 0 1 1"><title>no</title><text>no</text></svg><p>three</p>' \
    '<script><!--<script>x</script><p>no</p>--></script><template><p>no</p></template>' \
    '<select><style>no</style><option>no</option></select><p>four</p></body></html>' > "$TMP/tricky/page.html"
for mode in "" --plain-parse; do
    "$WC" --quiet --force $mode --skip url,lang,gopher-rep,gopher,c4,fineweb,exact,near,pii "$TMP/tricky" \
        -o "$TMP/tricky.jsonl"
    check "tricky_page_text${mode:+_plain}" "text is not one..four: $(head -c 200 "$TMP/tricky.jsonl")" "$PY" -c "
import json, sys
t = json.loads(open(sys.argv[1]).readline())['text']
sys.exit(t != 'one\\ntwo\\nthree\\nfour')" "$TMP/tricky.jsonl"
done
run --plain-parse --threads 2 "${WARCS[@]}" -o "$TMP/out_plain.jsonl"
check same_output_plain_parse "--plain-parse changes the output" cmp -s "$TMP/out.jsonl" "$TMP/out_plain.jsonl"

# ---- determinism, zstd, shards ------------------------------------------------------------------
# a page on which libgumbo fails one of its assertions (CDATA in an SVG <desc> inside a table;
# found by html_blank_test's generated pages): that page is dropped, the run goes on
mkdir -p "$TMP/gumbo_assert"
printf '<table><svg><desc><![CDATA[<]]>\n' > "$TMP/gumbo_assert/a.html"
printf '<p>The page after it is read as usual.</p>\n' > "$TMP/gumbo_assert/b.html"
if "$WC" --quiet --lang all --lang-score 0 --plain-parse --skip url,gopher-rep,gopher,c4,fineweb,exact,near,pii \
    "$TMP/gumbo_assert" -o "$TMP/gumbo_assert.jsonl" --stats "$TMP/gumbo_assert.json" 2> "$TMP/gumbo_assert.err"; then
    check gumbo_assert_dropped "the page libgumbo asserts on was not dropped as extract_parser_error" \
        grep -q '"extract_parser_error":1' "$TMP/gumbo_assert.json"
    check gumbo_assert_next_page "the page after it was not written" grep -q 'read as usual' "$TMP/gumbo_assert.jsonl"
else
    notok gumbo_assert_dropped "webclean exited non-zero: $(tail -n 2 "$TMP/gumbo_assert.err" | tr '\n' '|')"
fi
run --threads 1 "${WARCS[@]}" -o "$TMP/out1.jsonl"
check same_output_1_and_2_threads "--threads 1 and --threads 2 outputs differ" cmp -s "$TMP/out.jsonl" "$TMP/out1.jsonl"
# small batches: many batches in flight while the next is read; the same output again
run --threads 2 --batch-mb 1 "${WARCS[@]}" -o "$TMP/out_b1.jsonl"
check same_output_small_batches "--batch-mb 1 changes the output" cmp -s "$TMP/out.jsonl" "$TMP/out_b1.jsonl"
run "${WARCS[@]}" -o "$TMP/out.jsonl.zst"
check zstd_output "the .zst output does not decompress to the plain output" \
    bash -c "zstd -dcq '$TMP/out.jsonl.zst' | cmp -s - '$TMP/out.jsonl'"
if make -s tokenize gpt2_tokenizer.bin > "$TMP/tok_build.log" 2>&1 &&
   ./tokenize shards --format jsonl "$TMP/out.jsonl" --out "$TMP/shards/web" > "$TMP/shards.log" 2>&1; then
    docs=$(wc -l < "$TMP/out.jsonl")
    eot=$(./tokenize info "$TMP"/shards/web_*.bin | grep -o '[0-9]* end-of-text' | awk '{s+=$1} END {print s}')
    # the shards decode back to exactly the documents' texts, each after an end-of-text
    if [ "$eot" = "$docs" ] && ./tokenize decode --shard "$TMP"/shards/web_*.bin > "$TMP/decoded.txt" &&
       "$PY" -c "
import json, sys
texts = [json.loads(l)['text'] for l in open(sys.argv[1], encoding='utf-8')]
sys.exit(open(sys.argv[2], encoding='utf-8').read() != ''.join('<|endoftext|>' + t for t in texts))" \
        "$TMP/out.jsonl" "$TMP/decoded.txt"; then
        ok tokenize_shards_roundtrip
    else
        notok tokenize_shards_roundtrip "$docs documents, $eot end-of-text tokens, or decoded text differs"
    fi
else
    notok tokenize_shards_roundtrip "$(tail -n 3 "$TMP/tok_build.log" "$TMP/shards.log" | tr '\n' '|')"
fi

# ---- memory: a 40 MB record is streamed past, not held ------------------------------------------
run "$C/huge.warc.gz" -o "$TMP/huge.jsonl" --stats "$TMP/huge_stats.json"
rss=$("$PY" -c "import json,sys; print(int(json.load(open(sys.argv[1]))['peak_rss_mb']))" "$TMP/huge_stats.json")
check huge_record_streamed "peak RSS ${rss} MB on a 40 MB record (expected < 40)" test "$rss" -lt 40

# ---- bad input: mutated and cut WARCs never crash or hang --------------------------------------
mkdir -p "$TMP/mut"
"$PY" - "$C/damaged.warc.gz" "$TMP/mut" <<'EOF'
import random, sys, zlib
data = open(sys.argv[1], 'rb').read()
plain = zlib.decompressobj(31).decompress(data)  # first member only is fine for seeds
rng = random.Random(1234)
for i in range(40):
    b = bytearray(data if i % 2 == 0 else plain + data)
    for _ in range(rng.randint(1, 40)):
        k = rng.randrange(len(b))
        b[k] = rng.randrange(256)
    if i % 5 == 0:
        b = b[:rng.randrange(1, len(b))]
    open('%s/m%02d.warc%s' % (sys.argv[2], i, '.gz' if i % 2 == 0 else ''), 'wb').write(bytes(b))
# a plain WARC with garbage headers and absurd lengths
open(sys.argv[2] + '/headers.warc', 'wb').write(
    b'WARC/1.1\r\nContent-Length: 99999999999999999999\r\n\r\nxx\r\n\r\n'
    b'WARC/1.1\r\nWARC-Type: response\r\nContent-Length: -5\r\n\r\n'
    b'WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 10\r\n\r\nHTTP/1.1 2'
    b'WARC/1.1\r\nWARC-Type: response\r\nContent-Length: 40\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n')
EOF
crashed=""
for f in "$TMP"/mut/*; do
    timeout 20 "$WC" --quiet --lang all "$f" -o "$TMP/mut.jsonl" --force > "$TMP/mut.log" 2>&1
    rc=$?
    # exit 0, or a one-line error for a file that is not a WARC at all
    if [ $rc -ne 0 ] && { [ $rc -ge 124 ] || [ "$(grep -c . "$TMP/mut.log")" -ne 1 ] || ! grep -q '^error' "$TMP/mut.log"; }; then
        crashed="$crashed $(basename "$f"):rc=$rc"
    fi
done
check mutated_warcs_no_crash "crash, hang or messy error on:$crashed" test -z "$crashed"

# a directory crawl never dies on one bad file: a gzip cut after 100 bytes, a binary .html
mkdir -p "$TMP/dir/sub"
head -c 100 "$C/main.warc.gz" > "$TMP/dir/cut.warc.gz"
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10' > "$TMP/dir/sub/image.html"
cp "$C/ref/latin1.html" "$TMP/dir/sub/page.html"
if "$WC" --quiet --lang all "$TMP/dir" -o "$TMP/dir.jsonl" --stats "$TMP/dir_stats.json" 2> "$TMP/dir.err" &&
   "$PY" -c "
import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(not (s['stages']['extract']['why'].get('extract_binary') == 1 and s['written'] == 1))" "$TMP/dir_stats.json"; then
    ok directory_with_bad_files
else
    notok directory_with_bad_files "$(head -c 300 "$TMP/dir.err") $(head -c 600 "$TMP/dir_stats.json" | tr '\n' ' ')"
fi

# a URL with bytes that are not UTF-8 (and a control character) still makes a valid JSON line
{ printf 'WARC/1.1\r\nWARC-Type: response\r\nWARC-Target-URI: http://x.test/\xff\xfe\x01ab\r\n'
  body='HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>hello world</p>'
  printf 'Content-Length: %d\r\n\r\n' "$(printf "$body" | wc -c)"; printf "$body"; } > "$TMP/badurl.warc"
"$WC" --quiet --lang all --skip gopher-rep,gopher,c4,fineweb "$TMP/badurl.warc" -o "$TMP/badurl.jsonl"
check invalid_url_bytes_valid_json "the line is not valid UTF-8 JSON with the text" "$PY" -c "
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding='utf-8')]
sys.exit(not (len(rows) == 1 and rows[0]['text'] == 'hello world' and rows[0]['url'].startswith('http://x.test/')))" \
    "$TMP/badurl.jsonl"

# ---- bad flags and files: one-line errors -------------------------------------------------------
printf 'example.com\nnot a domain\n' > "$TMP/badlist.txt"
head -c 3000 /dev/urandom > "$TMP/random.bin"
printf 'just some words\n' | gzip > "$TMP/notwarc.gz"
touch "$TMP/exists.jsonl"
M="$C/main.warc.gz"
expect_error err_missing_input "nope.warc" "$WC" nope.warc -o "$TMP/x.jsonl"
expect_error err_binary_input "not a WARC" "$WC" "$TMP/random.bin" -o "$TMP/x.jsonl"
expect_error err_gzip_not_warc "not a WARC" "$WC" "$TMP/notwarc.gz" -o "$TMP/x.jsonl"
expect_error err_no_output "-o" "$WC" "$M"
expect_error err_no_input "INPUT" "$WC" -o "$TMP/x.jsonl"
expect_error err_unknown_option "--frobnicate" "$WC" --frobnicate "$M" -o "$TMP/x.jsonl"
expect_error err_threads_zero "--threads" "$WC" --threads 0 "$M" -o "$TMP/x.jsonl"
expect_error err_threads_word "--threads" "$WC" --threads many "$M" -o "$TMP/x.jsonl"
expect_error err_lang_score "--lang-score" "$WC" --lang-score 1.5 "$M" -o "$TMP/x.jsonl"
expect_error err_lang_list "--lang" "$WC" --lang 'en;de' "$M" -o "$TMP/x.jsonl"
expect_error err_skip_stage "--skip" "$WC" --skip url,nosuch "$M" -o "$TMP/x.jsonl"
expect_error err_min_above_max "--gopher-min-words" "$WC" --gopher-min-words 500 --gopher-max-words 100 "$M" -o "$TMP/x.jsonl"
expect_error err_nan_threshold "--fineweb-min-line-punct" "$WC" --fineweb-min-line-punct nan "$M" -o "$TMP/x.jsonl"
expect_error err_blocklist_line "badlist.txt:2" "$WC" --blocklist "$TMP/badlist.txt" "$M" -o "$TMP/x.jsonl"
expect_error err_blocklist_missing "nolist.txt" "$WC" --blocklist "$TMP/nolist.txt" "$M" -o "$TMP/x.jsonl"
expect_error err_output_exists "--force" "$WC" "$M" -o "$TMP/exists.jsonl"
expect_error err_output_dir_missing "no/such/dir" "$WC" "$M" -o "$TMP/no/such/dir/x.jsonl"
check existing_output_untouched "a refused run changed an existing file" test ! -s "$TMP/exists.jsonl"
check no_partial_outputs "a failed run left x.jsonl or x.jsonl.tmp" test ! -e "$TMP/x.jsonl" -a ! -e "$TMP/x.jsonl.tmp"

finish
