#!/usr/bin/env python3
"""Exact-match accuracy of a chat model on held-out questions (dev/data/chat_synth.py's
heldout.jsonl, or any JSON lines {"task", "prompt", "answer"}), per task and overall.

The replies come from `./chat --prompts` (greedy, batched through the KV cache); a reply counts
when it equals the answer after stripping surrounding whitespace. Prints one line per task and
a last line "accuracy X" (X the fraction over all questions); --json FILE also saves the replies.
Usage: dev/eval_chat.py -e MODEL --heldout FILE [--tokenizer FILE] [--chat ./chat] [-n 32]
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-e", dest="model", required=True)
    ap.add_argument("--heldout", required=True)
    ap.add_argument("--tokenizer", default="gpt2_tokenizer.bin")
    ap.add_argument("--chat", default="./chat")
    ap.add_argument("-n", type=int, default=32, help="tokens per reply at most")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--json", default=None, help="write the questions with their replies here")
    args = ap.parse_args()
    items = []
    with open(args.heldout) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                items.append((str(d["task"]), str(d["prompt"]), str(d["answer"])))
            except (ValueError, KeyError, TypeError):
                sys.exit(f"error: {args.heldout}:{lineno}: expected {{\"task\", \"prompt\", \"answer\"}}")
    if not items:
        sys.exit(f"error: {args.heldout}: no questions")
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as tmp:
        for _, prompt, _ in items:
            tmp.write(json.dumps(prompt) + "\n")
    try:
        out = subprocess.run([args.chat, "-e", args.model, "--tokenizer", args.tokenizer, "--prompts", tmp.name,
                              "--temperature", "0", "-n", str(args.n), "--batch", str(args.batch)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        os.unlink(tmp.name)
    if out.returncode != 0:
        sys.exit(f"error: {args.chat} failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    replies = [json.loads(l) for l in out.stdout.splitlines()]
    if len(replies) != len(items):
        sys.exit(f"error: {len(items)} questions but {len(replies)} replies")
    right, total = collections.Counter(), collections.Counter()
    for (task, _, answer), reply in zip(items, replies):
        total[task] += 1
        right[task] += reply.strip() == answer
    for task in total:
        print(f"task {task:<11} {right[task]:4d}/{total[task]:<4d} = {right[task] / total[task]:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            for (task, prompt, answer), reply in zip(items, replies):
                f.write(json.dumps({"task": task, "prompt": prompt, "answer": answer, "reply": reply}) + "\n")
    print(f"accuracy {sum(right.values()) / len(items):.3f}")


if __name__ == "__main__":
    main()
