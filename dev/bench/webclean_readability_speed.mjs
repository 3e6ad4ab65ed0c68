// webclean_readability_speed.mjs: the alternative's speed on the benchmark WARC: main-text
// extraction with @mozilla/readability on jsdom (Firefox's reader view), records read with warcio.
// Prints "pages BYTES CPU_SECONDS" after at most LIMIT CPU seconds (default 40).
//
//   node dev/bench/webclean_readability_speed.mjs MAIN.warc.gz [LIMIT]
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(path.join(repo, "dev/vendor/webclean/package.json"));
const { WARCParser } = require("warcio");
const { Readability } = require("@mozilla/readability");
const { JSDOM, VirtualConsole } = require("jsdom");

const [warcPath, limitArg] = process.argv.slice(2);
const limit = Number(limitArg || 40);
const quiet = new VirtualConsole();
let pages = 0, bytes = 0, cpu = 0;
const t0 = process.cpuUsage();
for await (const record of new WARCParser(fs.createReadStream(warcPath))) {
  if (record.warcType !== "response") continue;
  const body = await record.readFully(false);
  const html = new TextDecoder().decode(body);
  const dom = new JSDOM(html, { url: record.warcTargetURI, virtualConsole: quiet });
  new Readability(dom.window.document).parse();
  dom.window.close();
  pages++;
  bytes += body.length;
  const u = process.cpuUsage(t0);
  cpu = (u.user + u.system) / 1e6;
  if (cpu > limit) break;
}
console.log(`${pages} ${bytes} ${cpu.toFixed(2)}`);
