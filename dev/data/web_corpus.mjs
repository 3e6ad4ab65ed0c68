// web_corpus.mjs: a WARC.gz test corpus from real pages (Debian's HTML documentation), written
// with npm's warcio (an independent WARC writer), with planted cases whose fate is known.
//
//   node dev/data/web_corpus.mjs OUTDIR [--full]
//
// Needs debian-reference-{en,de,fr,ja,zh-cn,es,it} and python3.11-doc installed, and warcio under
// dev/vendor/webclean (dev/test/t_webclean.sh installs it). Writes:
//   OUTDIR/main.warc.gz     warcinfo + request/response pairs of the sample, then planted records
//   OUTDIR/damaged.warc.gz  a gzip member cut short in the middle, a malformed WARC header
//   OUTDIR/cut.warc.gz      a file that ends inside its last record
//   OUTDIR/huge.warc.gz     a 40 MB page, then a normal one
//   OUTDIR/blocklist.txt    a domain and a URL, in the UT1 list format
//   OUTDIR/ref/*.html       UTF-8 / well-formed originals of the re-encoded and mangled pages
//   OUTDIR/expected.json    {url: {stage, reason} or {kept: true, ...}} for every planted record
//   OUTDIR/sample.json      the URLs of the plain sample pages, and the record counts per file
// --full takes every Debian-reference and Python 3.11 HTML page (the benchmark corpus) and plants
// nothing but the main sample.
// Both also write the same pages dressed as a crawl page (crawlPage below): OUTDIR/crawl.warc.gz
// with --full, a sample of 40 as OUTDIR/crawl/*.html otherwise.
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(path.join(repo, "dev/vendor/webclean/package.json"));
const { WARCRecord, WARCSerializer } = require("warcio");

const args = process.argv.slice(2);
const full = args.includes("--full");
const out = args.find((a) => !a.startsWith("--"));
if (!out) {
  console.error("error: usage: node dev/data/web_corpus.mjs OUTDIR [--full]");
  process.exit(1);
}
const DR = "/usr/share/debian-reference";
const PY = "/usr/share/doc/python3.11/html";
for (const d of [DR, PY]) {
  if (!fs.existsSync(d)) {
    console.error(`error: ${d} missing: apt-get install debian-reference-en debian-reference-de ` +
      `debian-reference-fr debian-reference-ja debian-reference-zh-cn debian-reference-es ` +
      `debian-reference-it python3.11-doc`);
    process.exit(1);
  }
}
fs.mkdirSync(path.join(out, "ref"), { recursive: true });

const DATE = "2024-05-01T12:00:00Z";
const read = (p) => fs.readFileSync(p);
const dr = (name) => read(path.join(DR, name));
const href = (u) => new URL(u).href;

async function response(url, body, { status = "HTTP/1.1 200 OK", ctype = "text/html; charset=utf-8", extra = {} } = {}) {
  const httpHeaders = { "Content-Type": ctype, ...extra };
  const rec = await WARCRecord.create(
    { url, date: DATE, type: "response", warcVersion: "WARC/1.1", statusline: status, httpHeaders },
    [new Uint8Array(body)]);
  return Buffer.from(await WARCSerializer.serialize(rec, { gzip: true }));
}

async function request(url) {
  const rec = await WARCRecord.create(
    { url, date: DATE, type: "request", warcVersion: "WARC/1.1", statusline: `GET ${new URL(url).pathname} HTTP/1.1`,
      httpHeaders: { Host: new URL(url).host, "User-Agent": "webclean-test" } }, []);
  return Buffer.from(await WARCSerializer.serialize(rec, { gzip: true }));
}

async function warcinfo(filename) {
  const rec = await WARCRecord.createWARCInfo({ filename, warcVersion: "WARC/1.1" },
    { software: "warcio.js (web_corpus.mjs)", format: "WARC File Format 1.1" });
  return Buffer.from(await WARCSerializer.serialize(rec, { gzip: true }));
}

// deterministic bytes (xorshift32), for the binary response
function noise(n, seed) {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

function listPages(dir, re) {
  const outList = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (re.test(e.name)) outList.push(p);
    }
  };
  walk(dir);
  return outList;
}

// ---- crawl-style pages -------------------------------------------------------------------------
// Documentation pages carry almost no script, style or SVG (about 1% of their bytes); pages from a
// web crawl carry much more: inline CSS, analytics and framework scripts, JSON-LD, SVG icons,
// navigation, cookie banners, comments. crawlPage() wraps a page's body in such furniture built
// from real files that python3.11-doc depends on (jQuery, Underscore and Sphinx's scripts, CSS and
// SVG icons), cut at deterministic offsets, so the same text sits in a page that is about half
// script, style and SVG. The mix is ours, not measured on Common Crawl (no network here): it
// stands for a script-heavy CMS page, the other end from the documentation pages.
const STATIC = path.join(PY, "_static");
const JS = ["/usr/share/javascript/jquery/jquery.js", "/usr/share/javascript/underscore/underscore.js",
  path.join(STATIC, "searchtools.js"), path.join(STATIC, "doctools.js"), path.join(STATIC, "sidebar.js"),
  path.join(STATIC, "sphinx_highlight.js")].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f, "utf8"));
const CSS = ["basic.css", "classic.css", "pydoctheme.css", "pygments.css"].map((f) => path.join(STATIC, f))
  .filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f, "utf8"));
const SVG = ["py.svg", "caret-down.svg"].map((f) => path.join(STATIC, f)).filter((f) => fs.existsSync(f))
  .map((f) => fs.readFileSync(f, "utf8").replace(/<\?xml[^>]*>\s*/, ""));
function crawlPage(html, seed) {
  let x = (seed * 2654435761) >>> 0 || 1;
  const rnd = (n) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
  const slice = (text, min, max) => { // a piece of a real file, whole lines
    const len = Math.min(text.length, min + rnd(max - min));
    const at = rnd(Math.max(1, text.length - len));
    return text.slice(text.lastIndexOf("\n", at) + 1, at + len);
  };
  const script = (min, max) => `<script>\n${slice(JS[rnd(JS.length)], min, max)}\n</script>\n`;
  const scripts = (budget) => { // inline scripts of 5-40 KB until `budget` bytes
    let out = "";
    while (out.length < budget) out += script(5000, Math.max(5001, Math.min(40000, budget - out.length)));
    return out;
  };
  const styles = (budget) => {
    let out = "";
    while (out.length < budget) out += slice(CSS[rnd(CSS.length)], 2000, 15000) + "\n";
    return `<style>\n${out}</style>\n`;
  };
  const icon = () => SVG[rnd(SVG.length)];
  const s = html.toString("utf8");
  const title = (s.match(/<title>([^<]*)<\/title>/i) || ["", "Page"])[1];
  const body = (s.match(/<body[^>]*>([\s\S]*)<\/body>/i) || ["", s])[1];
  const n = body.length; // script and style in proportion: about half the page
  const links = (n, cls) => `<ul class="${cls}">` + Array.from({ length: n }, (_, i) =>
    `<li><a href="/section/${i}/">Section ${i}</a></li>`).join("") + "</ul>\n";
  const head = [`<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n<title>${title}</title>\n`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
    `<meta property="og:title" content="${title.replace(/"/g, "&quot;")}">\n`,
    "<!-- Global site tag: analytics -->\n", script(1000, 3000), styles(0.15 * n),
    `<script type="application/ld+json">{"@context":"https://schema.org","@type":"Article","headline":` +
    `${JSON.stringify(title)},"publisher":{"@type":"Organization","name":"Example"}}</script>\n`,
    scripts(0.3 * n), "</head>\n"].join("");
  const top = `<body class="page">\n<!-- header -->\n<header class="site-header"><a class="logo" href="/">${icon()}</a>\n` +
    `<nav class="main-nav">${links(25, "menu")}</nav><button class="search">${icon()}</button></header>\n` +
    `<div id="cookie-banner" class="cookie">We use cookies to improve your experience. <a href="/privacy">Learn more</a>` +
    `<button>Accept</button></div>\n<main>\n`;
  const bottom = `</main>\n<aside class="sidebar">${links(12, "related")}</aside>\n` +
    `<footer class="site-footer">${icon()}${icon()}${icon()}${links(10, "footer-links")}<p>Copyright Example</p></footer>\n` +
    scripts(0.45 * n) + script(1000, 5000) +
    `<noscript><iframe src="https://tracker.example/ns.html" height="0" width="0"></iframe></noscript>\n</body></html>\n`;
  return Buffer.from(head + top + body + bottom, "utf8");
}

const expected = {};
const counts = {};
function expect(url, fate) { expected[href(url)] = fate; }

// ---- main.warc.gz: the sample, then planted records ------------------------------------------
// Pages used by planted cases are kept out of the sample, so each planted fate has one cause.
const reserved = new Set(["ch08.en.html", "pr01.fr.html", "pr01.ja.html", "apa.en.html", "ch04.de.html",
  "ch06.de.html", "ch07.de.html", "ch08.de.html", "apa.de.html", "ch12.de.html", "ch04.zh-cn.html",
  "pr01.de.html", "ch07.zh-cn.html", "ch08.zh-cn.html"]);
let samplePaths;
if (full) {
  samplePaths = [...listPages(DR, /\.html$/), ...listPages(PY, /\.html$/)];
} else {
  samplePaths = listPages(DR, /^(ch\d\d|apa|pr01|index)\.(en|de|fr|ja|zh-cn)\.html$/)
    .filter((p) => !reserved.has(path.basename(p)));
  samplePaths.push(...listPages(path.join(PY, "tutorial"), /\.html$/));
}
const sampleUrls = [];
const parts = [await warcinfo("main.warc.gz")];
let records = 1, responses = 0;
for (const p of samplePaths) {
  const rel = p.startsWith(DR) ? "debian-reference/" + path.relative(DR, p) : "python3.11/" + path.relative(PY, p);
  const url = `https://docs.example.org/${rel}`;
  parts.push(await request(url), await response(url, read(p)));
  records += 2;
  responses++;
  sampleUrls.push(href(url));
}

if (!full) {
  const planted = [];
  const add = async (url, body, opts, fate) => {
    planted.push(await response(url, body, opts));
    expect(url, fate);
  };
  // exact duplicate of a sample page under another URL: the copy goes, the first stays
  await add("https://mirror.example.net/debian-reference/ch04.en.html", dr("ch04.en.html"), {},
    { stage: "exact", reason: "exact_duplicate", original: href("https://docs.example.org/debian-reference/ch04.en.html") });
  // near duplicate: a few words changed and a sentence added
  let near = dr("ch06.en.html").toString("utf8");
  let changed = 0;
  near = near.replace(/ the system /g, (m) => (changed++ < 6 ? " this system " : m));
  near = near.replace("</body>", "<p>This copy was mirrored for offline reading.</p></body>");
  await add("https://copies.example.com/reference/chapter6.html", Buffer.from(near), {},
    { stage: "near", reason: "near_duplicate", original: href("https://docs.example.org/debian-reference/ch06.en.html") });
  // blocklisted domain (and a subdomain of it) and blocklisted URL
  await add("https://ads.blocked-domain.test/landing/page.html", dr("ch08.en.html"), {},
    { stage: "url", reason: "url_blocked_domain" });
  await add("https://blocked-domain.test/other.html", dr("ch08.de.html"), {},
    { stage: "url", reason: "url_blocked_domain" });
  await add("https://www.example.org/private/notes/secret.html", dr("ch08.en.html"), {},
    { stage: "url", reason: "url_blocked_url" });
  // PII: e-mails and public IPs replaced, private ones kept
  const pii = dr("ch08.en.html").toString("utf8").replace(/(<body[^>]*>)/,
    "$1<p>Questions about this chapter can be sent to the maintainer at jane.doe@lists.example.com or to " +
    "bob_smith+debian@mail.example.co.uk. The public mirror answers at 93.184.216.34 and at 8.8.4.4, while " +
    "the proxy at 192.168.1.10 and the loopback address 127.0.0.1 are private and stay as they are.</p>");
  await add("https://docs.example.org/planted/pii.html", Buffer.from(pii), {},
    { kept: true, absent: ["jane.doe@", "bob_smith", "93.184.216.34", "8.8.4.4"],
      present: ["email@example.com", "192.0.2.1", "192.168.1.10", "127.0.0.1"] });
  // Latin-1 page, charset only in the HTTP header (characters Latin-1 lacks are swapped first)
  let fr = dr("pr01.fr.html").toString("utf8").replace(/[\u2019\u2018]/g, "'").replace(/[\u201c\u201d]/g, '"')
    .replace(/\u0153/g, "oe").replace(/\u0152/g, "OE").replace(/[\u2013\u2014]/g, "-").replace(/\u2026/g, "...")
    .replace(/[^\u0000-\u00ff]/g, "?").replace(/charset=UTF-8/gi, "charset=ISO-8859-1");
  fs.writeFileSync(path.join(out, "ref/latin1.html"), fr.replace(/charset=ISO-8859-1/gi, "charset=UTF-8"));
  await add("https://docs.example.org/planted/latin1.html", Buffer.from(fr, "latin1"),
    { ctype: "text/html; charset=ISO-8859-1" }, { kept: true, language: "fr", same_text_as: "ref/latin1.html" });
  // Shift-JIS page, charset only in the <meta> tag; the reference is its round trip to UTF-8
  const jaUtf8 = dr("pr01.ja.html").toString("utf8").replace(/charset=UTF-8/gi, "charset=Shift_JIS");
  const sjis = execFileSync("iconv", ["-c", "-f", "UTF-8", "-t", "CP932"], { input: jaUtf8 });
  const back = execFileSync("iconv", ["-f", "CP932", "-t", "UTF-8"], { input: sjis }).toString("utf8");
  fs.writeFileSync(path.join(out, "ref/shift_jis.html"), back.replace(/charset=Shift_JIS/g, "charset=UTF-8"));
  await add("https://docs.example.org/planted/shift_jis.html", sjis, { ctype: "text/html" },
    { kept: true, language: "ja", same_text_as: "ref/shift_jis.html" });
  // malformed HTML: no html/head/body tags, closing tags dropped, misnested and stray tags
  const good = dr("apa.en.html").toString("utf8");
  fs.writeFileSync(path.join(out, "ref/malformed.html"), good);
  const bad = good.replace(/<\/?(html|head|body)[^>]*>/g, "").replace(/<\/(p|li|div|dd|dt|td|tr)>/g, "")
    .replace(/<p>/, "<p><b><i>Note</b></i> </table></span>") + "<div><p><ul><li>unclosed <a href=x";
  await add("https://docs.example.org/planted/malformed.html", Buffer.from(bad), {},
    { kept: true, similar_text_as: "ref/malformed.html", min_f1: 0.9 });
  // invalid UTF-8 bytes in a page declared UTF-8: repaired to U+FFFD, page kept
  const inv = dr("pr01.de.html");
  const at = inv.indexOf("<p>", inv.length >> 1) + 3;
  const invalid = Buffer.concat([inv.subarray(0, at), Buffer.from([0xff, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0xf8]),
    inv.subarray(at)]);
  await add("https://docs.example.org/planted/invalid_utf8.html", invalid, {},
    { kept: true, language: "de", present: ["\ufffd"] });
  // chunked transfer coding around a gzip content coding
  const gz = zlib.gzipSync(dr("ch07.zh-cn.html"));
  const chunks = [];
  for (let i = 0; i < gz.length; i += 1000) {
    const c = gz.subarray(i, i + 1000);
    chunks.push(Buffer.from(c.length.toString(16) + "\r\n"), c, Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from("0\r\n\r\n"));
  await add("https://docs.example.org/planted/chunked_gzip.html", Buffer.concat(chunks),
    { extra: { "Transfer-Encoding": "chunked", "Content-Encoding": "gzip" } }, { kept: true, language: "zh" });
  // a language not asked for (the test keeps en,de,fr,ja,zh)
  await add("https://docs.example.org/planted/spanish.html", dr("ch04.es.html"), {},
    { stage: "lang", reason: "lang_not_wanted" });
  // lorem ipsum in an otherwise good page
  await add("https://docs.example.org/planted/lorem.html",
    Buffer.from(dr("ch08.zh-cn.html").toString("utf8").replace(/(<body[^>]*>)/,
      "$1<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.</p>")), {},
    { stage: "c4", reason: "c4_lorem_ipsum" });
  // a page that is nothing but navigation and link lists
  let links = "<html><head><title>Links</title></head><body><nav><a href=/>Home</a> <a href=/a>About</a></nav><ul>";
  for (let i = 0; i < 60; i++) links += `<li><a href="/p${i}">Page number ${i} of the archive</a></li>`;
  links += "</ul><footer>Copyright the authors</footer></body></html>";
  await add("https://docs.example.org/planted/links_only.html", Buffer.from(links), {},
    { stage: "extract", reason: "extract_empty" });
  // a short page: too few words for Gopher
  await add("https://docs.example.org/planted/short.html",
    Buffer.from("<html><body><h1>Hello</h1><p>This page is short. It says almost nothing at all.</p></body></html>"), {},
    { stage: "gopher", reason: "gopher_too_few_words" });
  // binary bytes served as text/html, an image, a 404
  const bin = Buffer.concat([Buffer.from("\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), noise(20000, 7)]);
  await add("https://docs.example.org/planted/binary.html", bin, { ctype: "text/html" },
    { stage: "extract", reason: "extract_binary" });
  await add("https://docs.example.org/planted/image.png", bin, { ctype: "image/png" },
    { stage: "record", reason: "not_html" });
  await add("https://docs.example.org/planted/missing.html", dr("ch04.it.html"), { status: "HTTP/1.1 404 Not Found" },
    { stage: "record", reason: "http_status" });
  parts.push(...planted);
  records += planted.length;
  responses += planted.length;
}
fs.writeFileSync(path.join(out, "main.warc.gz"), Buffer.concat(parts));
counts["main.warc.gz"] = { records, responses };

// the same pages as crawl pages: all of them in crawl.warc.gz (--full), or 40 as files
if (full) {
  const crawl = [await warcinfo("crawl.warc.gz")];
  for (let i = 0; i < samplePaths.length; i++) {
    crawl.push(await response(sampleUrls[i].replace("docs.example.org", "www.example.com"), crawlPage(read(samplePaths[i]), i + 1)));
  }
  fs.writeFileSync(path.join(out, "crawl.warc.gz"), Buffer.concat(crawl));
} else {
  fs.mkdirSync(path.join(out, "crawl"), { recursive: true });
  for (let i = 0; i < samplePaths.length; i += Math.max(1, Math.floor(samplePaths.length / 40))) {
    fs.writeFileSync(path.join(out, "crawl", `page${String(i).padStart(3, "0")}.html`), crawlPage(read(samplePaths[i]), i + 1));
  }
}

if (!full) {
  // ---- damaged.warc.gz: a member cut in half, then a malformed WARC header -------------------
  const before = await response("https://damaged.test/before.html", dr("ch04.de.html"));
  const cutMember = await response("https://damaged.test/truncated.html", dr("ch06.de.html"));
  const after = await response("https://damaged.test/after.html", dr("ch07.de.html"));
  const badHeader = zlib.gzipSync(Buffer.from(
    "WARC/1.1\r\nWARC-Type: response\r\nWARC-Target-URI: https://damaged.test/bad-header.html\r\n" +
    "Content-Length: twelve\r\n\r\nHTTP/1.1 200 OK\r\n\r\n<p>x</p>\r\n\r\n"));
  const afterBad = await response("https://damaged.test/after-bad-header.html", dr("ch08.de.html"));
  fs.writeFileSync(path.join(out, "damaged.warc.gz"), Buffer.concat([await warcinfo("damaged.warc.gz"), before,
    cutMember.subarray(0, cutMember.length >> 1), after, badHeader, afterBad]));
  expect("https://damaged.test/before.html", { kept: true, language: "de" });
  expect("https://damaged.test/truncated.html", { stage: "record", reason: "damaged" });
  expect("https://damaged.test/after.html", { kept: true, language: "de" });
  expect("https://damaged.test/after-bad-header.html", { kept: true, language: "de" });

  // ---- cut.warc.gz: the file ends inside its last record --------------------------------------
  const ok = await response("https://cut.test/ok.html", dr("apa.de.html"));
  const last = await response("https://cut.test/cut.html", dr("ch12.de.html"));
  fs.writeFileSync(path.join(out, "cut.warc.gz"), Buffer.concat([ok, last.subarray(0, last.length - 2000)]));
  expect("https://cut.test/ok.html", { kept: true, language: "de" });
  expect("https://cut.test/cut.html", { stage: "record", reason: "damaged" });

  // ---- huge.warc.gz: a 40 MB page (over the 16 MB record limit), then a normal page ----------
  const para = Buffer.from("<p>" + "All work and no play makes a very dull page indeed. ".repeat(20) + "</p>\n");
  const hugeBody = Buffer.concat([Buffer.from("<html><body>"), ...Array(Math.ceil((40 << 20) / para.length)).fill(para),
    Buffer.from("</body></html>")]);
  fs.writeFileSync(path.join(out, "huge.warc.gz"), Buffer.concat([
    await response("https://planted.test/huge.html", hugeBody),
    await response("https://planted.test/after-huge.html", dr("ch04.zh-cn.html"))]));
  expect("https://planted.test/huge.html", { stage: "record", reason: "too_big" });
  expect("https://planted.test/after-huge.html", { kept: true, language: "zh" });

  fs.writeFileSync(path.join(out, "blocklist.txt"),
    "# UT1-style list: domains, and URLs without their scheme\nblocked-domain.test\nwww.example.org/private/\n");
  fs.writeFileSync(path.join(out, "expected.json"), JSON.stringify(expected, null, 1));
}
fs.writeFileSync(path.join(out, "sample.json"), JSON.stringify({ urls: sampleUrls, counts }, null, 1));
const mb = (f) => (fs.statSync(path.join(out, f)).size / 1e6).toFixed(1);
console.log(`web corpus: ${sampleUrls.length} sample pages, ${Object.keys(expected).length} planted; ` +
  `main.warc.gz ${mb("main.warc.gz")} MB`);
