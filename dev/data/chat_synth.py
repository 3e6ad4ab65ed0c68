#!/usr/bin/env python3
"""Synthetic chat conversations with checkable answers, for supervised fine-tuning and its
evaluation (doc/chat.md).

Tasks (each a user question with one exact answer):
  arithmetic  multi-digit +, - and x: "What is 347 + 589?" -> "936"
  count       a letter in a word: "How many times does the letter r appear in strawberry?" -> "3"
  reverse     spell a word backwards: "Spell planet backwards." -> "tenalp"
  convert     unit conversions: "How many meters are in 3 kilometers?" -> "3000"
  identity    the assistant's name and maker: "What is your name?" -> "My name is Quill."
Conversations are single-turn or multi-turn (2-3 questions in a row), some with a system prompt.

Writes OUT/train.jsonl (conversations, {"messages": [...]}) and OUT/heldout.jsonl (one question
per line: {"task", "prompt", "answer"}). Held-out questions never occur in the training set:
a fixed slice of the words and of the numbers is reserved for them (and every held-out prompt is
checked against the training prompts), so the evaluation measures learning, not recall; the
identity questions are the exception, as the answer is a fact to remember: held-out identity
prompts use phrasings kept out of training.
Usage: dev/data/chat_synth.py --out DIR [--train N] [--heldout N] [--seed S] [--rl N]
--rl N also writes OUT/rl.jsonl: N questions per task from the training split, for rl.c.
"""
import argparse
import json
import os
import random
import sys

NAME, MAKER = "Quill", "the llmc project"
SYSTEM_PROMPTS = ["You are a helpful assistant.", "Answer briefly.", "You are Quill. Be exact."]
WORDS = """apple river stone light green house table water bread chair cloud dream earth flame grape
honey island jelly knife lemon music night ocean paper queen radio sugar tiger uncle voice whale
yellow zebra anchor basket candle dragon engine forest garden hammer jacket kettle ladder magnet
needle orange pencil rabbit saddle tunnel violin window basil cobalt dinner eagle falcon ginger
harbor igloo jungle kitten lizard mirror nectar oyster parrot quartz ribbon silver tomato velvet
walnut yogurt planet castle pirate rocket spider turtle wizard button cactus donkey feather glove
helmet insect jigsaw koala lantern meadow noodle orbit pepper quiver rainbow shadow thunder unicorn
valley wagon yarn zipper bottle cherry desert empire frost glacier hollow ivory jasmine kernel
lobster marble nickel olive pearl raven salmon timber umbrella vessel winter artist beacon copper
dollar echo fabric galaxy hazel iris jester kayak lotus mango nutmeg onion pillow quill rust""".split()
UNITS = [  # (from unit, to unit, factor)
    ("kilometers", "meters", 1000), ("meters", "centimeters", 100), ("kilograms", "grams", 1000),
    ("hours", "minutes", 60), ("minutes", "seconds", 60), ("days", "hours", 24),
    ("liters", "milliliters", 1000), ("weeks", "days", 7),
]
IDENTITY = [  # (question, answer); the last phrasing of each is held out
    (["What is your name?", "What should I call you?", "Who are you?", "Tell me your name.",
      "Do you have a name?"], f"My name is {NAME}."),
    (["Who made you?", "Who created you?", "Who built you?", "Which team trained you?",
      "Who is your maker?"], f"I was made by {MAKER}."),
]


def split(items, frac, rng):
    """Deterministic split of a list: (train part, held-out part)."""
    items = list(items)
    rng.shuffle(items)
    k = max(1, int(len(items) * frac))
    return items[k:], items[:k]


class Tasks:
    def __init__(self, rng):
        self.rng = rng
        self.words = {}
        self.words["train"], self.words["heldout"] = split(WORDS, 0.2, random.Random(1))

    def number(self, digits, part):
        """A number with the given digits; held-out numbers are those whose value is 3 mod 7."""
        while True:
            n = self.rng.randint(10 ** (digits - 1) if digits > 1 else 0, 10 ** digits - 1)
            if (n % 7 == 3) == (part == "heldout"):
                return n

    def arithmetic(self, part):
        op = self.rng.choice("+-x")
        a, b = self.number(self.rng.choice((2, 3)), part), self.number(self.rng.choice((1, 2)), part)
        if op == "-" and b > a:
            a, b = b, a
        value = a + b if op == "+" else a - b if op == "-" else a * b
        q = self.rng.choice(["What is {} {} {}?", "Compute {} {} {}.", "{} {} {} = ?"])
        return q.format(a, op, b), str(value)

    def count(self, part):
        w = self.rng.choice(self.words[part])
        letter = self.rng.choice(w) if self.rng.random() < 0.8 else self.rng.choice("abcdefghijklmnopqrstuvwxyz")
        q = self.rng.choice(["How many times does the letter {} appear in {}?",
                             "Count the letter {} in the word {}."])
        return q.format(letter, w), str(w.count(letter))

    def reverse(self, part):
        w = self.rng.choice(self.words[part])
        q = self.rng.choice(["Spell {} backwards.", "Reverse the word {}.", "What is {} spelled backwards?"])
        return q.format(w), w[::-1]

    def convert(self, part):
        src, dst, f = self.rng.choice(UNITS)
        n = self.number(1, part) if self.rng.random() < 0.5 else self.number(2, part)
        q = self.rng.choice(["How many {1} are in {0} {2}?", "Convert {0} {2} to {1}."])
        return q.format(n, dst, src), str(n * f)

    def identity(self, part):
        phrasings, answer = self.rng.choice(IDENTITY)
        q = phrasings[-1] if part == "heldout" else self.rng.choice(phrasings[:-1])
        return q, answer

    def make(self, task, part):
        return getattr(self, task)(part)


TASKS = ["arithmetic", "count", "reverse", "convert", "identity"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--train", type=int, default=20000, help="training conversations")
    ap.add_argument("--heldout", type=int, default=50, help="held-out questions per task")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rl", type=int, default=0,
                    help="also write OUT/rl.jsonl: this many questions per task from the training split "
                         "(the problems rl.c practises; none is a held-out question)")
    args = ap.parse_args()
    if args.rl < 0:
        sys.exit("error: --rl must be at least 0")
    if args.train < 1 or args.heldout < 1:
        sys.exit("error: --train and --heldout must be at least 1")
    rng = random.Random(args.seed)
    tasks = Tasks(rng)
    os.makedirs(args.out, exist_ok=True)
    seen = set()
    tmp = os.path.join(args.out, "train.jsonl.tmp")
    with open(tmp, "w") as f:
        for _ in range(args.train):
            msgs = []
            if rng.random() < 0.3:
                msgs.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
            for _ in range(rng.choice((1, 1, 2, 3))):
                q, a = tasks.make(rng.choice(TASKS), "train")
                seen.add(q)
                msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
            f.write(json.dumps({"messages": msgs}) + "\n")
    os.replace(tmp, os.path.join(args.out, "train.jsonl"))
    tmp = os.path.join(args.out, "heldout.jsonl.tmp")
    n = 0
    with open(tmp, "w") as f:
        for task in TASKS:
            made, tries = set(), 0
            while len(made) < args.heldout and tries < 100 * args.heldout:
                tries += 1
                q, a = tasks.make(task, "heldout")
                if q in seen or q in made:
                    continue
                made.add(q)
                f.write(json.dumps({"task": task, "prompt": q, "answer": a}) + "\n")
                n += 1
    os.replace(tmp, os.path.join(args.out, "heldout.jsonl"))
    if args.rl:  # drawn after everything else, so train.jsonl and heldout.jsonl do not change
        heldout = {json.loads(line)["prompt"] for line in open(os.path.join(args.out, "heldout.jsonl"))}
        tmp = os.path.join(args.out, "rl.jsonl.tmp")
        with open(tmp, "w") as f:
            for task in TASKS:
                for _ in range(args.rl):
                    q, a = tasks.make(task, "train")
                    while q in heldout:
                        q, a = tasks.make(task, "train")
                    f.write(json.dumps({"task": task, "prompt": q, "answer": a}) + "\n")
        os.replace(tmp, os.path.join(args.out, "rl.jsonl"))
        print(f"wrote {args.out}/rl.jsonl ({args.rl * len(TASKS)} questions)")
    print(f"wrote {args.out}/train.jsonl ({args.train} conversations) and {args.out}/heldout.jsonl ({n} questions)")


if __name__ == "__main__":
    main()
