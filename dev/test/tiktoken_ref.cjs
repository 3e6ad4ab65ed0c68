// Independent reference for the tokenizer tests and benchmark: js-tiktoken's GPT-2 encoding
// (its bundled ranks, so it works offline). Installed by dev/test/t_tokenizer.sh into
// dev/vendor/node (or $JS_TIKTOKEN_DIR).
//
//   node tiktoken_ref.cjs encode FILE [--special] [--ws js|unicode]   ids on one line
//   node tiktoken_ref.cjs encode-jsonl FILE [--ws js|unicode]  one line of ids per JSON-string line
//   node tiktoken_ref.cjs tinyshakespeare FILE       llm.c's recipe: split on "\n\n", 50256 first
//   node tiktoken_ref.cjs docs-jsonl FILE [--field F]  50256 + ids of each JSON line's field F
//   node tiktoken_ref.cjs bench FILE [--seconds S]   encode throughput, MB/s, one core
//   node tiktoken_ref.cjs multi < JOBS               many of the above in one process: each stdin
//                                                    line is OUTFILE<TAB>command<TAB>args...
//   node tiktoken_ref.cjs classes                    runs of \p{L}, \p{N}, \s over all code points
//   node tiktoken_ref.cjs pieces FILE                the regex's pieces, one JSON string a line
//
// --ws js (default) is js-tiktoken as published. --ws unicode swaps its JavaScript \s for
// \p{White_Space}, the meaning of \s in OpenAI's tiktoken (Rust regex), keeping everything else.
'use strict';
const fs = require('fs');
const path = require('path');

const vendor = process.env.JS_TIKTOKEN_DIR || path.join(__dirname, '..', 'vendor', 'node');
const paths = { paths: [path.join(vendor, 'node_modules'), vendor] };
const { Tiktoken } = require(require.resolve('js-tiktoken/lite', paths));
const gpt2 = require(require.resolve('js-tiktoken/ranks/gpt2', paths));
const ranks = gpt2.default || gpt2;

function makeEncoder(ws) {
    if (ws === 'unicode') {
        const pat = ranks.pat_str.replace(/\\s/g, '\\p{White_Space}').replace(/\\S/g, '\\P{White_Space}');
        return new Tiktoken({ ...ranks, pat_str: pat });
    }
    return new Tiktoken(ranks);
}

const encoders = {};
function makeEncoderCached(ws) {
    if (!encoders[ws]) encoders[ws] = makeEncoder(ws);
    return encoders[ws];
}

function readText(file) {
    // invalid UTF-8 becomes U+FFFD here, as for any JavaScript string
    return fs.readFileSync(file, 'utf8');
}

// Runs one command; returns its output text (without the final newline).
function run(argv) {
    const arg = (name, def) => {
        const i = argv.indexOf(name);
        return i >= 0 ? argv[i + 1] : def;
    };
    const cmd = argv[0];
    const file = argv[1];
    const ws = arg('--ws', 'js');
    const makeEncoder = makeEncoderCached;
    let result = '';
    const out = (text) => { result = text; };
    if (cmd === 'encode') {
        const enc = makeEncoder(ws);
        const special = argv.includes('--special');
        const ids = enc.encode(readText(file), special ? 'all' : [], special ? [] : []);
        out(ids.join(' '));
    } else if (cmd === 'encode-jsonl') {
        const enc = makeEncoder(ws);
        const lines = readText(file).split('\n').filter((l) => l.length > 0);
        const res = lines.map((l) => enc.encode(JSON.parse(l), [], []).join(' '));
        out(res.join('\n'));
    } else if (cmd === 'tinyshakespeare') {
        const enc = makeEncoder(ws);
        const sections = readText(file).split('\n\n');
        const ids = [];
        sections.forEach((s, i) => {
            ids.push(50256);
            const text = i === sections.length - 1 ? s : s + '\n\n';
            for (const id of enc.encode(text, [], [])) ids.push(id);
        });
        out(ids.join(' '));
    } else if (cmd === 'docs-jsonl') {
        const enc = makeEncoder(ws);
        const field = arg('--field', 'text');
        const ids = [];
        for (const line of readText(file).split('\n')) {
            if (line.trim().length === 0) continue;
            ids.push(50256);
            for (const id of enc.encode(JSON.parse(line)[field], [], [])) ids.push(id);
        }
        out(ids.join(' '));
    } else if (cmd === 'bench') {
        const enc = makeEncoder(ws);
        const text = readText(file);
        const bytes = Buffer.byteLength(text, 'utf8');
        const seconds = Number(arg('--seconds', '3'));
        enc.encode(text.slice(0, 100000), [], []); // warm up the JIT
        let runs = 0;
        let n = 0;
        const t0 = process.hrtime.bigint();
        let dt = 0;
        do {
            n = enc.encode(text, [], []).length;
            runs++;
            dt = Number(process.hrtime.bigint() - t0) / 1e9;
        } while (dt < seconds);
        out(`${(bytes * runs / dt / 1e6).toFixed(3)} MB/s ${n} tokens ${runs} runs ${dt.toFixed(2)} s`);
    } else if (cmd === 'pieces') {
        const enc = makeEncoder(ws);
        const re = new RegExp(enc.patStr, 'ug');
        const res = [];
        for (const m of readText(file).matchAll(re)) res.push(JSON.stringify(m[0]));
        out(res.join('\n'));
    } else if (cmd === 'classes') {
        // one line per run of equal class: "first last class", class = L, N, S (\s) or O
        const reL = /^\p{L}$/u, reN = /^\p{N}$/u;
        const reS = ws === 'unicode' ? /^\p{White_Space}$/u : /^\s$/u;
        let runStart = 0, runCls = null;
        const lines = [];
        for (let cp = 0; cp <= 0x110000; cp++) {
            let cls = 'END';
            if (cp < 0x110000) {
                const c = String.fromCodePoint(cp);
                cls = reS.test(c) ? 'S' : reL.test(c) ? 'L' : reN.test(c) ? 'N' : 'O';
            }
            if (cls !== runCls) {
                if (runCls !== null) lines.push(`${runStart} ${cp - 1} ${runCls}`);
                runStart = cp;
                runCls = cls;
            }
        }
        out(lines.join('\n'));
    } else {
        throw new Error('unknown command ' + cmd + ' (encode, encode-jsonl, tinyshakespeare, docs-jsonl, pieces, bench, classes, multi)');
    }
    return result;
}

if (process.argv[2] === 'multi') {
    // stdin: one job a line, "OUTFILE<TAB>command<TAB>arg<TAB>...": one process, ranks loaded once
    const jobs = fs.readFileSync(0, 'utf8').split('\n').filter((l) => l.length > 0);
    for (const job of jobs) {
        const [outFile, ...argv] = job.split('\t');
        fs.writeFileSync(outFile, run(argv) + '\n');
    }
} else {
    fs.writeSync(1, run(process.argv.slice(2)) + '\n');
}
