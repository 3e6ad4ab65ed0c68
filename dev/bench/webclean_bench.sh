#!/usr/bin/env bash
# webclean throughput on the Debian-docs WARC: MB/s per core of raw HTML and of WARC.gz input,
# peak memory, against Firefox's reader-view extraction (@mozilla/readability on jsdom) on the
# same records. CPU seconds (not wall time) make "per core": the machine may be shared.
#
#   bash dev/bench/webclean_bench.sh        (make bench-webclean)
#
# Corpus: every HTML page of debian-reference (en de fr ja zh-cn es it) and python3.11-doc,
# packed into one WARC.gz by dev/data/web_corpus.mjs --full (warcio, one gzip member a record).
set -eu
cd "$(dirname "$0")/../.."
OUT=build/bench/webclean
mkdir -p "$OUT"
make -s webclean
if [ ! -f dev/vendor/webclean/node_modules/jsdom/package.json ] ||
   [ ! -f dev/vendor/webclean/node_modules/warcio/package.json ]; then
    npm install --prefix dev/vendor/webclean --no-audit --no-fund warcio@2.4.11 @mozilla/readability@0.6.0 \
        jsdom@29.1.1 franc@6.2.0 > "$OUT/npm.log" 2>&1
fi
[ -f "$OUT/main.warc.gz" ] || node dev/data/web_corpus.mjs "$OUT" --full
W="$OUT/main.warc.gz"
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
echo "CPU: $cpu, $(nproc) cores visible (shared with other jobs: expect noise)"

field() { /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }
run() { # NAME THREADS ARGS...: one webclean run, stats in $OUT/NAME.json
    local name=$1 threads=$2
    shift 2
    ./webclean --quiet --force --threads "$threads" --lang all "$@" "$W" -o "$OUT/$name.jsonl" --stats "$OUT/$name.json"
}
run full1 1
run parse1 1 --skip url,lang,gopher-rep,gopher,c4,fineweb,exact,near,pii
run full2 2
html=$(field "$OUT/full1.json" html_bytes)
gz=$(field "$OUT/full1.json" input_bytes)
read -r rpages rbytes rcpu < <(node dev/bench/webclean_readability_speed.mjs "$W" 40)

/usr/bin/python3 - "$OUT" "$html" "$gz" "$rpages" "$rbytes" "$rcpu" <<'PYEOF'
import json, sys
out, html, gz, rpages, rbytes, rcpu = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
s = {k: json.load(open("%s/%s.json" % (out, k))) for k in ("full1", "parse1", "full2")}
print("corpus: %d pages, %.1f MB of HTML in %.1f MB of WARC.gz" % (s["full1"]["documents"], html / 1e6, gz / 1e6))
print("%-44s %8s %8s %14s %16s %10s" % ("", "CPU s", "wall s", "HTML MB/s/core", "WARC.gz MB/s/core", "peak RSS"))
def row(name, st):
    print("%-44s %8.2f %8.2f %14.1f %16.2f %8.0f MB" % (name, st["cpu_seconds"], st["seconds"],
          html / 1e6 / st["cpu_seconds"], gz / 1e6 / st["cpu_seconds"], st["peak_rss_mb"]))
row("webclean, all stages, 1 thread", s["full1"])
row("webclean, all stages, 2 threads", s["full2"])
row("webclean, Gumbo parse + walk only, 1 thread", s["parse1"])
rrate = rbytes / 1e6 / rcpu
print("%-44s %8.2f %8s %14.2f %16s %10s" % ("Readability+jsdom, extraction only (%d pages)" % rpages, rcpu, "-", rrate, "-", "-"))
full = html / 1e6 / s["full1"]["cpu_seconds"]
print("webclean (all stages) / Readability (extraction only): %.0fx per core" % (full / rrate))
print("2 threads: %.1f MB/s of HTML wall-clock; dedup index %.1f KB for %d documents" % (
    html / 1e6 / s["full2"]["seconds"], s["full2"]["dedup_index_bytes"] / 1e3, s["full2"]["documents"]))
print("target >= 20 MB/s of HTML per core: %s (%.1f); the Gumbo parse alone runs at %.1f MB/s per core here" % (
    "met" if full >= 20 else "NOT met", full, html / 1e6 / s["parse1"]["cpu_seconds"]))
PYEOF
