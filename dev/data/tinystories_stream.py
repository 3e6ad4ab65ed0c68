#!/usr/bin/env python3
"""Streams TinyStories stories to stdout as JSON lines {"text": story} for `tokenize shards`.

  tinystories_stream.py FILE...          every story of the files, in order
  tinystories_stream.py --count FILE...  prints the number of stories only

FILE: TinyStoriesV2-GPT4-{train,valid}.txt and TinyStories-{train,valid}.txt (stories separated
by lines reading <|endoftext|>), the .json files of TinyStories_all_data.tar.gz (a JSON list of
objects with a "story" field), or that .tar.gz itself (its .json members in name order).
Stories are stripped of surrounding whitespace; empty ones are skipped. Python's standard
library only (no numpy needed).
"""
import json
import sys
import tarfile

SEP = "<|endoftext|>"


def txt_stories(f):
    lines = []
    for line in f:
        if line.strip() == SEP:
            yield "".join(lines)
            lines = []
        else:
            lines.append(line)
    yield "".join(lines)


def json_stories(data, what):
    try:
        items = json.loads(data)
    except ValueError as e:
        raise SystemExit(f"error: {what}: not valid JSON ({str(e)[:80]})")
    if not isinstance(items, list):
        raise SystemExit(f"error: {what}: expected a JSON list of objects with a \"story\" field")
    for it in items:
        if not isinstance(it, dict) or not isinstance(it.get("story"), str):
            raise SystemExit(f"error: {what}: expected a JSON list of objects with a \"story\" field")
        yield it["story"]


def stories(path):
    try:
        if path.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(path) as tar:
                members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.endswith(".json")),
                                 key=lambda m: m.name)
                if not members:
                    raise SystemExit(f"error: {path}: no .json files in the archive")
                for m in members:
                    yield from json_stories(tar.extractfile(m).read().decode("utf-8", "replace"), f"{path}:{m.name}")
        elif path.endswith(".json"):
            with open(path, encoding="utf-8", errors="replace") as f:
                yield from json_stories(f.read(), path)
        else:
            with open(path, encoding="utf-8", errors="replace", newline="") as f:
                yield from txt_stories(f)
    except (OSError, tarfile.TarError, EOFError) as e:
        raise SystemExit(f"error: {path}: cannot read: {getattr(e, 'strerror', None) or e}")


def main():
    args = sys.argv[1:]
    count = bool(args) and args[0] == "--count"
    files = args[1:] if count else args
    if not files or any(f.startswith("-") for f in files):
        raise SystemExit("error: usage: tinystories_stream.py [--count] FILE...")
    n = 0
    out = sys.stdout
    try:
        for path in files:
            for s in stories(path):
                s = s.strip()
                if not s:
                    continue
                n += 1
                if not count:
                    out.write(json.dumps({"text": s}, ensure_ascii=False) + "\n")
        if count:
            print(n)
        out.flush()
    except BrokenPipeError:
        sys.exit(1)


if __name__ == "__main__":
    main()
