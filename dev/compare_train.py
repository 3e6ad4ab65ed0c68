#!/usr/bin/env python3
"""Trains the same model from the same seed on the same data with the C trainer and with
train_gpt2.py, and checks that every step's loss (and each val loss) agrees to --rtol.

  /usr/bin/python3 dev/compare_train.py                      # random-token shards, 20 steps
  /usr/bin/python3 dev/compare_train.py --train data/tiny_shakespeare_train.bin \
      --val data/tiny_shakespeare_val.bin --model L4:C128:H4 --steps 20

Both programs read the shards in order (no shuffling), use gradient accumulation to the same
total batch, the same warmup + cosine schedule, AdamW with weight decay on 2-D tensors, and
gradient clipping at 1.0. Exits 1 on any mismatch.

Fine-tuning: --init FILE starts both from a checkpoint (fresh optimizer state), --chat_vocab N
grows its vocabulary as for the chat markers, --masked writes version 2 shards whose random loss
mask leaves about half the targets out (the mean over counted targets on both sides).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_shard(path, tokens, mask=None):
    header = np.zeros(256, dtype=np.int32)
    header[0], header[1], header[2] = 20240520, 1 if mask is None else 2, len(tokens)
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(np.asarray(tokens, dtype=np.uint16).tobytes())
        if mask is not None:
            f.write(np.asarray(mask, dtype=np.uint8).tobytes())


def parse_descriptor(desc):
    fields = dict(V="50257", T="1024")
    for part in desc.split(":"):
        fields[part[0]] = part[1:]
    return int(fields["L"]), int(fields["C"]), int(fields["H"]), int(fields["V"]), int(fields["T"])


def run(cmd, log):
    print("$ " + " ".join(cmd), flush=True)
    out = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with open(log, "w") as f:
        f.write(out.stdout)
    if out.returncode != 0:
        sys.exit(f"error: {cmd[0]} failed (exit {out.returncode}), see {log}:\n{out.stdout[-2000:]}")
    return out.stdout


def losses(text):
    train = {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"^step\s+(\d+)/\d+ \| loss ([0-9.eE+-]+)", text, re.M)}
    val = [float(m.group(1)) for m in re.finditer(r"^val loss ([0-9.eE+-]+)", text, re.M)]
    return train, val


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="L2:C64:H4:V97:T64", help="C trainer descriptor L<n>:C<n>:H<n>[:V<n>][:T<n>]")
    ap.add_argument("--train", help="train shard glob (default: random tokens)")
    ap.add_argument("--val", help="val shard glob (default: random tokens)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--accum", type=int, default=2, help="micro-batches per step")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--init", default=None, help="checkpoint both start from (C -e, PyTorch --model)")
    ap.add_argument("--chat_vocab", type=int, default=0, help="grow the vocabulary to N (both sides)")
    ap.add_argument("--masked", action="store_true", help="random-token shards with a loss mask (version 2)")
    args = ap.parse_args()

    L, C, H, V, T = parse_descriptor(args.model)
    work = args.workdir or tempfile.mkdtemp(prefix="compare_train_")
    os.makedirs(work, exist_ok=True)
    if args.train is None:
        rng = np.random.default_rng(args.seed)
        # a learnable stream: a random walk over the vocabulary, so the loss really falls
        steps = rng.integers(-3, 4, size=40000)
        stream = np.mod(np.cumsum(steps), max(V, args.chat_vocab))
        # masked: runs of counted and ignored targets, like assistant replies between prompts
        mask = (np.cumsum(rng.random(40000) < 0.1) % 2).astype(np.uint8) if args.masked else None
        write_shard(os.path.join(work, "train.bin"), stream[:32000], None if mask is None else mask[:32000])
        write_shard(os.path.join(work, "val.bin"), stream[32000:], None if mask is None else mask[32000:])
        args.train, args.val = os.path.join(work, "train.bin"), os.path.join(work, "val.bin")
    total = args.batch * args.seq * args.accum
    common_py = ["--n_layer", str(L), "--n_head", str(H), "--n_embd", str(C), "--vocab_size", str(V),
                 "--block_size", str(T)]
    model_c = args.model
    if args.init:
        common_py = ["--model", args.init]
        model_c = args.init
    extra_py, extra_c = [], []
    if args.chat_vocab:
        extra_py, extra_c = ["--chat_vocab", str(args.chat_vocab)], ["--chat_vocab", str(args.chat_vocab)]
    py = run([args.python, "train_gpt2.py", "--train", "1", *common_py, "--batch_size", str(args.batch),
              "--seq_len", str(args.seq), "--total_batch_size", str(total), "--num_iterations", str(args.steps),
              "--learning_rate", str(args.lr), "--warmup_iters", "3", "--learning_rate_decay_frac", "0.1",
              "--weight_decay", "0.1", "--grad_clip", "1.0", "--seed", str(args.seed), "--input_bin", args.train,
              "--input_val_bin", args.val, "--val_loss_every", "10", "--val_max_steps", "4",
              "--print_losses_exact", "1", "--output_dir", os.path.join(work, "py"), *extra_py],
             os.path.join(work, "py.log"))
    c = run(["./train_gpt2", *extra_c, "-e", model_c, "-b", str(args.batch), "-t", str(args.seq), "-d", str(total),
             "-x", str(args.steps), "-l", str(args.lr), "-u", "3", "-q", "0.1", "-c", "0.1", "--grad_clip", "1.0",
             "--seed", str(args.seed), "-i", args.train, "-j", args.val, "-v", "10", "-m", "4", "-s", "0"],
            os.path.join(work, "c.log"))
    py_train, py_val = losses(py)
    c_train, c_val = losses(c)
    worst, bad = 0.0, 0
    print(f"{'step':>5} {'C':>12} {'PyTorch':>12} {'rel diff':>10}")
    for step in range(1, args.steps + 1):
        if step not in py_train or step not in c_train:
            print(f"{step:5d} missing in {'C' if step not in c_train else 'PyTorch'} output")
            bad += 1
            continue
        a, b = c_train[step], py_train[step]
        rel = abs(a - b) / abs(b)
        worst = max(worst, rel)
        bad += rel > args.rtol
        print(f"{step:5d} {a:12.6f} {b:12.6f} {rel:10.2e}{'  <-- over ' + str(args.rtol) if rel > args.rtol else ''}")
    if len(c_val) != len(py_val) or not c_val:
        print(f"val losses: C {c_val} vs PyTorch {py_val}")
        bad += 1
    for a, b in zip(c_val, py_val):
        rel = abs(a - b) / abs(b)
        worst = max(worst, rel)
        bad += rel > args.rtol
        print(f"  val {a:12.6f} {b:12.6f} {rel:10.2e}")
    first, last = c_train.get(1), c_train.get(args.steps)
    print(f"loss {first} -> {last}; worst relative difference {worst:.2e} (tolerance {args.rtol}); logs in {work}")
    if bad:
        sys.exit(f"error: {bad} losses differ by more than {args.rtol}")
    print("C and PyTorch agree at every step")


if __name__ == "__main__":
    main()
