"""Checks of a webclean run on the planted corpus (dev/data/web_corpus.mjs); one line per check,
"ok NAME" or "not ok NAME: WHY", for dev/test/t_webclean.sh.

usage: webclean_check.py fates CORPUS OUT.jsonl REJECTS.jsonl REFOUT.jsonl
       webclean_check.py counters STATS.json REJECTS.jsonl OUT.jsonl
       webclean_check.py reader STATS.json RECORDS RESPONSES
"""
import json
import re
import sys
import unicodedata
from collections import Counter

fails = 0


def ok(name):
    print("ok " + name)


def notok(name, why):
    global fails
    print("not ok %s: %s" % (name, why))
    fails += 1


def check(name, cond, why):
    ok(name) if cond else notok(name, why)


def load_lines(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            rows.append(json.loads(line))
    return rows


def tokens(text):
    # words, and each CJK character on its own (as the pages in other scripts)
    out = []
    for w in text.split():
        buf = ""
        for ch in w:
            if unicodedata.category(ch) == "Lo" and ord(ch) > 0x2E80:
                if buf:
                    out.append(buf)
                    buf = ""
                out.append(ch)
            else:
                buf += ch
        if buf:
            out.append(buf)
    return out


def f1(a, b):
    ca, cb = Counter(tokens(a)), Counter(tokens(b))
    common = sum((ca & cb).values())
    if common == 0:
        return 0.0
    p, r = common / sum(ca.values()), common / sum(cb.values())
    return 2 * p * r / (p + r)


def fates(corpus, out_path, rej_path, ref_out_path):
    expected = json.load(open(corpus + "/expected.json"))
    sample = json.load(open(corpus + "/sample.json"))
    out = load_lines(out_path)
    kept = {d["url"]: d for d in out}
    rejects = {}
    for r in load_lines(rej_path):
        rejects.setdefault(r["url"], []).append(r)
    refs = {d["url"].split("/ref/")[-1]: d for d in load_lines(ref_out_path)}
    check("output_urls_unique", len(kept) == len(out), "%d lines, %d distinct urls" % (len(out), len(kept)))
    for url, want in expected.items():
        name = "fate " + url.split("//", 1)[1]
        if want.get("kept"):
            if url not in kept:
                notok(name, "expected kept, got %s" % [(r["stage"], r["reason"]) for r in rejects.get(url, [])])
                continue
            d = kept[url]
            why = []
            if "language" in want and d.get("language") != want["language"]:
                why.append("language %s, expected %s" % (d.get("language"), want["language"]))
            for s in want.get("absent", []):
                if s in d["text"]:
                    why.append("text still contains %r" % s)
            for s in want.get("present", []):
                if s not in d["text"]:
                    why.append("text lacks %r" % s)
            if "same_text_as" in want:
                ref = refs.get(want["same_text_as"].split("/")[-1])
                if ref is None:
                    why.append("reference %s not extracted" % want["same_text_as"])
                elif ref["text"] != d["text"]:
                    i = next((k for k in range(min(len(ref["text"]), len(d["text"])))
                              if ref["text"][k] != d["text"][k]), 0)
                    why.append("text differs from the UTF-8 original at char %d: %r vs %r" % (
                        i, d["text"][i:i + 30], ref["text"][i:i + 30]))
            if "similar_text_as" in want:
                ref = refs.get(want["similar_text_as"].split("/")[-1])
                score = f1(d["text"], ref["text"]) if ref else 0.0
                if score < want["min_f1"]:
                    why.append("token F1 %.3f against the well-formed original, expected >= %.2f" % (
                        score, want["min_f1"]))
            check(name, not why, "; ".join(why))
        else:
            got = [(r["stage"], r["reason"]) for r in rejects.get(url, [])]
            if url in kept:
                notok(name, "expected dropped by %s/%s, but it was written" % (want["stage"], want["reason"]))
            else:
                check(name, got == [(want["stage"], want["reason"])],
                      "expected %s/%s, got %s" % (want["stage"], want["reason"], got))
            if "original" in want:
                check(name + " (original kept)", want["original"] in kept,
                      "the first copy %s was not written" % want["original"])
    # every sample page is accounted for exactly once
    # (request records come back as record/not_response under the same URL: not pages)
    seen = Counter(d["url"] for d in out) + Counter(r["url"] for rs in rejects.values() for r in rs
                                                    if r["reason"] != "not_response")
    missing = [u for u in sample["urls"] if seen[u] != 1]
    check("every_sample_page_once", not missing, "%d sample pages not seen exactly once: %s" % (
        len(missing), missing[:3]))


def counters(stats_path, rej_path, out_path):
    st = json.load(open(stats_path))
    out = load_lines(out_path)
    rejects = load_lines(rej_path)
    order = ["url", "extract", "lang", "gopher-rep", "gopher", "c4", "fineweb", "exact", "near"]
    stages = st["stages"]
    live = [s for s in order if stages[s] != "skipped"]
    why = []
    if stages[live[0]]["in"] != st["documents"]:
        why.append("first stage in %d != documents %d" % (stages[live[0]]["in"], st["documents"]))
    for a, b in zip(live, live[1:]):
        if stages[a]["kept"] != stages[b]["in"]:
            why.append("%s kept %d != %s in %d" % (a, stages[a]["kept"], b, stages[b]["in"]))
    for s in live:
        x = stages[s]
        if x["in"] != x["kept"] + x["dropped"]:
            why.append("%s: in %d != kept %d + dropped %d" % (s, x["in"], x["kept"], x["dropped"]))
        if sum(x["why"].values()) != x["dropped"]:
            why.append("%s: reasons sum to %d, dropped %d" % (s, sum(x["why"].values()), x["dropped"]))
    if stages[live[-1]]["kept"] != st["written"]:
        why.append("last stage kept %d != written %d" % (stages[live[-1]]["kept"], st["written"]))
    check("stage_counters_chain", not why, "; ".join(why))
    # the counters against an independent tally of the rejects file and the output
    tally = Counter((r["stage"], r["reason"]) for r in rejects)
    want = Counter()
    for s in live:
        for reason, n in stages[s]["why"].items():
            want[(s, reason)] = n
    for reason, n in st["records"]["skipped"].items():
        if reason != "bad_header":  # a malformed header has no URL to write down
            want[("record", reason)] = n
    check("stage_counters_match_rejects", tally == want, "rejects file %s vs stats %s" % (
        dict(tally - want), dict(want - tally)))
    check("written_matches_output", st["written"] == len(out), "stats written %d, output has %d lines" % (
        st["written"], len(out)))
    langs = Counter(d.get("language", "none") for d in out)
    check("languages_match_output", langs == Counter(st["languages"]), "output %s vs stats %s" % (
        dict(langs), st["languages"]))
    pii_e = sum(d["pii"]["emails"] for d in out)
    pii_i = sum(d["pii"]["ips"] for d in out)
    check("pii_counters", (pii_e, pii_i) == (stages["pii"]["emails"], stages["pii"]["ips"]),
          "output says %d emails %d ips, stats %d %d" % (pii_e, pii_i, stages["pii"]["emails"], stages["pii"]["ips"]))
    bad = [d["url"] for d in out if not d.get("text") or not isinstance(d.get("url"), str)
           or "\ufffd" in d["text"] and "invalid_utf8" not in d["url"]]
    check("output_lines_have_text_and_url", not bad, "bad lines: %s" % bad[:3])


TERMINAL = tuple(".!?\"'") + ("\u3002", "\uff01", "\uff1f", "\u201d", "\u2019", "\u300d", "\u300f", "\u00bb",
                                "\uff0e")
CJK = [(0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xFF00, 0xFFEF), (0x3001, 0x303F),
       (0x20000, 0x2FFFF)]


def words(text):
    # words.h's rule, written again: whitespace (and U+3000, U+00A0) separates, CJK chars stand alone
    out, buf = [], ""
    for ch in text:
        cp = ord(ch)
        if ch in " \n\t\r\f\v\u3000\u00a0":
            if buf:
                out.append(buf)
            buf = ""
        elif any(a <= cp <= b for a, b in CJK):
            if buf:
                out.append(buf)
            buf = ""
            out.append(ch)
        else:
            buf += ch
    if buf:
        out.append(buf)
    return out


def measures(out_path):
    """FineWeb's measures recomputed from each written text (they are measured on the text as
    written: after C4's line removal; pages where PII replacement changed the text are skipped),
    and C4's line rules must hold on every written line."""
    bad_fw, bad_c4, n = [], [], 0
    for d in load_lines(out_path):
        text, f = d["text"], d["filters"]
        lines = [l for l in text.split("\n") if l.strip(" \t\r")]
        for l in lines:
            lw = words(l)
            if len(lw) < 3 or "javascript" in l.lower() or "{" in l or "lorem ipsum" in l.lower():
                bad_c4.append((d["url"], l[:60]))
        if d["pii"]["emails"] or d["pii"]["ips"]:
            continue
        n += 1
        seen, dup = set(), 0
        for l in text.split("\n"):
            if not l.strip(" \t\r"):
                continue
            if l in seen:
                dup += len(l)
            seen.add(l)
        want = {
            "line_punct": sum(l.rstrip(" \t\r").endswith(TERMINAL) for l in lines) / len(lines),
            "short_lines": sum(len(l) <= 30 for l in lines) / len(lines),
            "dup_line_chars": dup / len(text),
            "newline_per_word": text.count("\n") / len(words(text)),
        }
        for k, v in want.items():
            if abs(f[k] - v) > 1e-3 * max(1.0, abs(v)):
                bad_fw.append("%s %s: %g, recomputed %g" % (d["url"], k, f[k], v))
    check("fineweb_measures_recomputed", not bad_fw and n > 0, "%d pages checked; %s" % (n, bad_fw[:3]))
    check("c4_line_rules_hold_on_output", not bad_c4, "lines breaking C4's rules: %s" % bad_c4[:3])


def gopher_measures(out_path):
    """Gopher's repetition and quality measures recomputed from each written text (run with C4 and
    PII off, so the text written is the text the Gopher rules measured)."""
    from collections import Counter as C
    stop = {"the", "be", "to", "of", "and", "that", "have", "with"}
    bad, n = [], 0
    for d in load_lines(out_path):
        text, f = d["text"], d["filters"]
        n += 1
        got = {}
        # duplicate lines and paragraphs, by count and by characters
        for key, items in (("line", [l for l in text.split("\n") if l.strip(" \t\r")]),
                           ("para", [p for p in re.split(r"\n{2,}", text) if p.strip(" \t\r\n")])):
            seen, dups, dup_chars = set(), 0, 0
            for it in items:
                if it in seen:
                    dups += 1
                    dup_chars += len(it)
                seen.add(it)
            got["dup_%s_frac" % key] = dups / len(items) if items else 0
            got["dup_%s_char_frac" % key] = dup_chars / len(text)
        w = words(text)
        cjk = sum(1 for x in w if len(x) == 1 and any(a <= ord(x) <= b for a, b in CJK))
        spaced = cjk * 2 < len(w)
        total = sum(len(x) for x in w)
        top_ok = {}
        for g in (2, 3, 4):
            grams = C(tuple(w[i:i + g]) for i in range(len(w) - g + 1)) if spaced else C()
            best = max(grams.values(), default=0)
            # ties: any n-gram with the top count is a fair answer
            top_ok[g] = {0.0} if best <= 1 else {sum(len(x) for x in k) * best / total
                                                 for k, v in grams.items() if v == best}
        for g in range(5, 11):
            v = 0.0
            if spaced and len(w) >= g:
                grams = C(tuple(w[i:i + g]) for i in range(len(w) - g + 1))
                cov = [False] * len(w)
                for i in range(len(w) - g + 1):
                    if grams[tuple(w[i:i + g])] > 1:
                        for j in range(i, i + g):
                            cov[j] = True
                v = sum(len(x) for x, c in zip(w, cov) if c) / total
            got["dup_%dgram" % g] = v
        # quality
        real = [x for x in w if not all(ord(c) < 128 and not c.isalnum() for c in x)]
        got["words"] = len(real)
        got["mean_word_len"] = sum(len(x) for x in real) / len(real)
        got["symbol_ratio"] = len(re.findall(r"#|\.\.\.|\u2026", text)) / len(real)
        lines = [l for l in text.split("\n") if l.strip(" \t\r")]
        got["bullet_lines"] = sum(l.lstrip(" \t").startswith(("-", "*", "\u2022", "\u2023", "\u2043", "\u25e6",
                                                               "\u25aa", "\u25cf")) for l in lines) / len(lines)
        got["ellipsis_lines"] = sum(l.rstrip(" \t").endswith(("...", "\u2026")) for l in lines) / len(lines)
        got["alpha_words"] = sum(any(ord(c) >= 128 or c.isalpha() for c in x) for x in w) / len(w)
        got["stop_words"] = sum(x.lower() in stop for x in w)
        for k, v in got.items():
            if abs(f[k] - v) > 1e-3 * max(1.0, abs(v)):
                bad.append("%s %s: %g, recomputed %g" % (d["url"], k, f[k], v))
        for g, ok_set in top_ok.items():
            if not any(abs(f["top_%dgram" % g] - v) <= 1e-3 for v in ok_set):
                bad.append("%s top_%dgram: %g, recomputed %s" % (d["url"], g, f["top_%dgram" % g], sorted(ok_set)[:3]))
    check("gopher_measures_recomputed", not bad and n > 0, "%d pages checked; %s" % (n, bad[:3]))


def reader(stats_path, records, responses):
    st = json.load(open(stats_path))
    r = st["records"]
    check("reader_counts_all_warcio_records", r["total"] == int(records),
          "webclean read %d records, warcio wrote %s" % (r["total"], records))
    responses_seen = r["total"] - r["skipped"].get("not_response", 0)
    check("reader_counts_warcio_responses", responses_seen == int(responses),
          "webclean saw %d responses, warcio wrote %s" % (responses_seen, responses))
    check("reader_no_damage_on_clean_file", r["bad_gzip"] == 0 and "damaged" not in r["skipped"]
          and "bad_header" not in r["skipped"], "clean file reported damage: %s" % r)


if __name__ == "__main__":
    cmd = sys.argv[1]
    {"fates": fates, "counters": counters, "reader": reader, "measures": measures,
     "gopher": gopher_measures}[cmd](*sys.argv[2:])
    sys.exit(1 if fails else 0)
