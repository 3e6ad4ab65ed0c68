// webclean_compare.mjs: webclean's main text and language against Firefox's reader view
// (npm's @mozilla/readability on jsdom) and npm's franc, page by page; prints a Markdown report.
//
//   node dev/bench/webclean_compare.mjs MAIN.warc.gz WEBCLEAN_OUT.jsonl > report.md
//
// WEBCLEAN_OUT.jsonl: webclean run with extraction and language on and the filters off, so every
// page has a text (doc/webclean.md has the command). Pages are read back from the WARC with
// warcio. The score is token-overlap F1 (bag of tokens; a token is a whitespace-separated word,
// or one CJK character), Readability's text taken as the reference.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const vendor = path.join(repo, "dev/vendor/webclean");
const require = createRequire(path.join(vendor, "package.json"));
const { WARCParser } = require("warcio");
const { Readability } = require("@mozilla/readability");
const { JSDOM, VirtualConsole } = require("jsdom");
const { franc } = await import(pathToFileURL(path.join(vendor, "node_modules/franc/index.js")).href);

const [warcPath, outPath] = process.argv.slice(2);
if (!warcPath || !outPath) {
  console.error("error: usage: node dev/bench/webclean_compare.mjs MAIN.warc.gz WEBCLEAN_OUT.jsonl");
  process.exit(1);
}
const ours = new Map();
for (const line of fs.readFileSync(outPath, "utf8").split("\n")) {
  if (line.trim()) {
    const d = JSON.parse(line);
    ours.set(d.url, d);
  }
}

function tokens(text) {
  const out = [];
  for (const w of text.split(/\s+/)) {
    let buf = "";
    for (const ch of w) {
      if (/[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]/u.test(ch)) {
        if (buf) { out.push(buf); buf = ""; }
        out.push(ch);
      } else buf += ch;
    }
    if (buf) out.push(buf);
  }
  return out;
}

function f1(a, b) {
  const ca = new Map();
  for (const t of tokens(a)) ca.set(t, (ca.get(t) || 0) + 1);
  let common = 0, nb = 0, na = 0;
  for (const v of ca.values()) na += v;
  const cb = new Map();
  for (const t of tokens(b)) { cb.set(t, (cb.get(t) || 0) + 1); nb++; }
  for (const [t, v] of cb) common += Math.min(v, ca.get(t) || 0);
  if (!common) return { f1: 0, p: 0, r: 0 };
  const p = common / na, r = common / nb;
  return { f1: (2 * p * r) / (p + r), p, r };
}

// franc answers ISO 639-3; CLD2 answers ISO 639-1
const ISO3 = { eng: "en", deu: "de", fra: "fr", jpn: "ja", cmn: "zh", spa: "es", ita: "it", por: "pt", nld: "nl",
  rus: "ru", ind: "id", sco: "sco", und: "un" };

const rows = [];
const quiet = new VirtualConsole(); // jsdom's CSS parse warnings are noise here
const stream = fs.createReadStream(warcPath);
for await (const record of new WARCParser(stream)) {
  if (record.warcType !== "response") continue;
  const url = record.warcTargetURI;
  const html = await record.contentText();
  const d = ours.get(url);
  if (!d) continue;
  let ref = "";
  try {
    const dom = new JSDOM(html, { url, virtualConsole: quiet });
    const art = new Readability(dom.window.document).parse();
    ref = art && art.textContent ? art.textContent : "";
    dom.window.close();
  } catch (e) {
    ref = "";
  }
  const score = f1(d.text, ref);
  const fr = franc(d.text, { minLength: 10 });
  rows.push({ url, lang: d.language, score: d.language_score, franc: ISO3[fr] || fr, ...score,
    ours: tokens(d.text).length, theirs: tokens(ref).length });
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const byLang = {};
for (const r of rows) (byLang[r.lang] ||= []).push(r);
const agree = rows.filter((r) => r.lang === r.franc).length;
console.log(`## Main text against Readability (${rows.length} pages)\n`);
console.log(`Token-overlap F1 of webclean's text against Readability's, Readability as the reference: ` +
  `mean **${mean(rows.map((r) => r.f1)).toFixed(3)}** (precision ${mean(rows.map((r) => r.p)).toFixed(3)}, ` +
  `recall ${mean(rows.map((r) => r.r)).toFixed(3)}), median ${rows.map((r) => r.f1).sort((a, b) => a - b)[rows.length >> 1].toFixed(3)}.\n`);
console.log("| language (CLD2) | pages | mean F1 | mean precision | mean recall |");
console.log("|---|---|---|---|---|");
for (const [l, rs] of Object.entries(byLang).sort()) {
  console.log(`| ${l} | ${rs.length} | ${mean(rs.map((r) => r.f1)).toFixed(3)} | ${mean(rs.map((r) => r.p)).toFixed(3)} | ${mean(rs.map((r) => r.r)).toFixed(3)} |`);
}
console.log(`\n## Language against franc\n`);
console.log(`CLD2 (webclean) and franc agree on **${agree} of ${rows.length}** pages (${(100 * agree / rows.length).toFixed(1)}%).\n`);
const dis = rows.filter((r) => r.lang !== r.franc);
if (dis.length) {
  console.log("| page | CLD2 | CLD2 score | franc |");
  console.log("|---|---|---|---|");
  for (const r of dis) console.log(`| ${r.url.replace(/^https?:\/\/[^/]+\//, "")} | ${r.lang} | ${r.score} | ${r.franc} |`);
}
console.log(`\n## Per page\n`);
console.log("| page | CLD2 | franc | F1 | precision | recall | tokens (webclean / Readability) |");
console.log("|---|---|---|---|---|---|---|");
for (const r of rows) {
  console.log(`| ${r.url.replace(/^https?:\/\/[^/]+\//, "")} | ${r.lang} | ${r.franc} | ${r.f1.toFixed(3)} | ` +
    `${r.p.toFixed(3)} | ${r.r.toFixed(3)} | ${r.ours} / ${r.theirs} |`);
}
