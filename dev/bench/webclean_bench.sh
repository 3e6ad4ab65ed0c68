#!/usr/bin/env bash
# webclean throughput on the Debian-docs WARCs: MB/s per core of raw HTML and of WARC.gz input,
# peak memory, against Firefox's reader-view extraction (@mozilla/readability on jsdom) on the
# same records. CPU seconds (not wall time) make "per core": the machine may be shared.
#
#   bash dev/bench/webclean_bench.sh        (make bench-webclean)
#
# Two corpora, the same text: every HTML page of debian-reference (en de fr ja zh-cn es it) and
# python3.11-doc (documentation: ~1% of the bytes in script, style and SVG), and the same pages
# dressed as crawl pages (dev/data/web_corpus.mjs crawlPage: about half script, style and SVG, as
# script-heavy sites are). Both packed by warcio, one gzip member a record. The configurations
# run interleaved, REPEAT rounds (default 3), and each one's best CPU time counts (the machine may
# be shared); the load average is printed. --plain-parse rows are the same runs with Gumbo parsing
# every page as is (no html_blank.h pre-pass, no html_fast.h streaming tree construction): the
# reference the shortcuts are checked against, and the program as it was before them.
set -eu
cd "$(dirname "$0")/../.."
OUT=build/bench/webclean
REPEAT=${REPEAT:-3}
mkdir -p "$OUT"
make -s webclean
if [ ! -f dev/vendor/webclean/node_modules/jsdom/package.json ] ||
   [ ! -f dev/vendor/webclean/node_modules/warcio/package.json ]; then
    npm install --prefix dev/vendor/webclean --no-audit --no-fund warcio@2.4.11 @mozilla/readability@0.6.0 \
        jsdom@29.1.1 franc@6.2.0 > "$OUT/npm.log" 2>&1
fi
[ -f "$OUT/main.warc.gz" ] && [ -f "$OUT/crawl.warc.gz" ] || node dev/data/web_corpus.mjs "$OUT" --full
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
echo "CPU: $cpu, $(nproc) cores visible; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

PARSE_ONLY=url,lang,gopher-rep,gopher,c4,fineweb,exact,near,pii
try() { # NAME WARC THREADS ARGS...: one run; its stats become $OUT/NAME.json if its CPU time is the best
    local name=$1 warc=$2 threads=$3
    shift 3
    ./webclean --quiet --force --threads "$threads" --lang all "$@" "$warc" -o "$OUT/$name.jsonl" \
        --stats "$OUT/$name.try.json"
    if [ ! -f "$OUT/$name.json" ] || /usr/bin/python3 -c "import json, sys
c = [json.load(open(f))['cpu_seconds'] for f in sys.argv[1:]]
sys.exit(not c[0] < c[1])" "$OUT/$name.try.json" "$OUT/$name.json"; then
        mv "$OUT/$name.try.json" "$OUT/$name.json"
    fi
    rm -f "$OUT/$name.try.json"
}
# the configurations interleaved, REPEAT rounds: a busy spell on the machine hits all of them
rm -f "$OUT"/main_*.json "$OUT"/crawl_*.json
for r in $(seq "$REPEAT"); do
    for c in main crawl; do
        try "${c}_full1" "$OUT/$c.warc.gz" 1
        try "${c}_full1_plain" "$OUT/$c.warc.gz" 1 --plain-parse
        try "${c}_parse1" "$OUT/$c.warc.gz" 1 --skip $PARSE_ONLY
        try "${c}_parse1_plain" "$OUT/$c.warc.gz" 1 --skip $PARSE_ONLY --plain-parse
        try "${c}_full2" "$OUT/$c.warc.gz" 2
    done
done
for c in main crawl; do
    cmp -s "$OUT/${c}_full1.jsonl" "$OUT/${c}_full1_plain.jsonl" ||
        { echo "error: $c: output differs with --plain-parse" >&2; exit 1; }
done
read -r rpages rbytes rcpu < <(node dev/bench/webclean_readability_speed.mjs "$OUT/main.warc.gz" 40)
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

/usr/bin/python3 - "$OUT" "$rpages" "$rbytes" "$rcpu" <<'PYEOF'
import json, sys
out, rpages, rbytes, rcpu = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
rrate = rbytes / 1e6 / rcpu
names = {"main": "documentation pages", "crawl": "the same as crawl pages"}
for c in ("main", "crawl"):
    s = {k: json.load(open("%s/%s_%s.json" % (out, c, k))) for k in ("full1", "full1_plain", "parse1", "parse1_plain", "full2")}
    html, gz = float(s["full1"]["html_bytes"]), float(s["full1"]["input_bytes"])
    print("\n%s (%s.warc.gz): %d pages, %.1f MB of HTML in %.1f MB of WARC.gz" % (
        names[c], c, s["full1"]["documents"], html / 1e6, gz / 1e6))
    print("%-46s %8s %8s %14s %17s %10s" % ("", "CPU s", "wall s", "HTML MB/s/core", "WARC.gz MB/s/core", "peak RSS"))
    def row(name, st):
        print("%-46s %8.2f %8.2f %14.1f %17.2f %7.0f MB" % (name, st["cpu_seconds"], st["seconds"],
              html / 1e6 / st["cpu_seconds"], gz / 1e6 / st["cpu_seconds"], st["peak_rss_mb"]))
    row("webclean, all stages, 1 thread", s["full1"])
    row("  same, --plain-parse (Gumbo on every page)", s["full1_plain"])
    row("webclean, all stages, 2 threads", s["full2"])
    row("HTML parse + walk only, 1 thread", s["parse1"])
    row("  same, --plain-parse (Gumbo on every page)", s["parse1_plain"])
    full = html / 1e6 / s["full1"]["cpu_seconds"]
    print("pages whose tree html_fast.h built (the rest: Gumbo): %d of %d" % (
        s["full1"].get("html_fast_pages", 0), s["full1"]["documents"]))
    print("speed-up of the shortcuts: %.2fx (all stages), %.2fx (parse + walk); 2 threads: %.1f MB/s of HTML wall-clock" % (
        s["full1_plain"]["cpu_seconds"] / s["full1"]["cpu_seconds"], s["parse1_plain"]["cpu_seconds"] / s["parse1"]["cpu_seconds"],
        html / 1e6 / s["full2"]["seconds"]))
    print("target >= 20 MB/s of HTML per core, all stages: %s (%.1f)" % ("met" if full >= 20 else "NOT met", full))
print("\nReadability+jsdom, extraction only, %d documentation pages: %.2f CPU s, %.2f MB/s of HTML per core" % (rpages, rcpu, rrate))
m = json.load(open("%s/main_full1.json" % out))
print("webclean (all stages, documentation pages) / Readability (extraction only): %.0fx per core" % (
    m["html_bytes"] / 1e6 / m["cpu_seconds"] / rrate))
PYEOF
