#!/usr/bin/env python3
"""Plots train/val loss (and HellaSwag accuracy, if logged) from one or more main.log files.

  /usr/bin/python3 dev/plot_loss.py out/d12/main.log [out/other/main.log ...] loss.png

main.log lines: "s:<step> trl:<loss> ...", "s:<step> tel:<val loss>", "s:<step> eval:<acc>".
An RL log (rl.c) has "s:<step> rew:<mean reward> ... nll:<mean token NLL>" and "s:<step> eval:<pass@1>
passK:<pass@K>": the reward and held-out pass@1/pass@K are plotted beside the NLL.
Needs matplotlib (Debian: python3-matplotlib).
"""
import os
import re
import sys


def read_log(path):
    series = {"trl": [], "tel": [], "eval": [], "rew": [], "passk": [], "pass1s": []}
    with open(path) as f:
        for line in f:
            m = re.match(r"s:(\d+) (trl|tel|eval|rew):([-0-9.eE+naif]+)", line)
            if m:
                series[m.group(2)].append((int(m.group(1)), float(m.group(3))))
            m = re.match(r"s:(\d+) (rew:.* )?nll:([-0-9.eE+naif]+)", line)
            if m:  # RL: the NLL of the sampled replies stands in for the training loss (plotted as "train")
                series["trl"].append((int(m.group(1)), float(m.group(3))))
            m = re.match(r"s:(\d+) eval:\S+ pass\d+:([-0-9.eE+naif]+)( pass1s:([-0-9.eE+naif]+))?", line)
            if m:
                series["passk"].append((int(m.group(1)), float(m.group(2))))
                if m.group(4):
                    series["pass1s"].append((int(m.group(1)), float(m.group(4))))
    return series


def main():
    if len(sys.argv) < 3 or not sys.argv[-1].endswith(".png"):
        sys.exit("usage: plot_loss.py main.log [main.log ...] out.png")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("error: matplotlib is not installed (apt-get install python3-matplotlib)")
    logs, out = sys.argv[1:-1], sys.argv[-1]
    runs = []
    for path in logs:
        if not os.path.isfile(path):
            sys.exit(f"error: {path}: no such file")
        runs.append((path, read_log(path)))
    has_eval = any(r["eval"] or r["rew"] for _, r in runs)
    fig, axes = plt.subplots(1, 2 if has_eval else 1, figsize=(12 if has_eval else 7, 4.5), squeeze=False)
    ax = axes[0][0]
    for path, r in runs:
        name = os.path.basename(os.path.dirname(os.path.abspath(path))) or path
        if r["trl"]:
            ax.plot(*zip(*r["trl"]), lw=1, alpha=0.8, label=f"{name} train")
        if r["tel"]:
            ax.plot(*zip(*r["tel"]), "o-", ms=3, label=f"{name} val")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    if has_eval:
        ax = axes[0][1]
        for path, r in runs:
            name = os.path.basename(os.path.dirname(os.path.abspath(path)))
            if r["eval"]:
                ax.plot(*zip(*r["eval"]), "o-", ms=3, label=f"{name} held-out pass@1 greedy" if r["rew"] else name)
            if r["pass1s"]:
                ax.plot(*zip(*r["pass1s"]), "^-", ms=3, label=f"{name} held-out pass@1 sampled")
            if r["passk"]:
                ax.plot(*zip(*r["passk"]), "s--", ms=3, label=f"{name} held-out pass@k")
            if r["rew"]:
                ax.plot(*zip(*r["rew"]), lw=1, alpha=0.7, label=f"{name} batch reward")
        ax.set_xlabel("step")
        ax.set_ylabel("reward / pass rate" if any(r["rew"] for _, r in runs) else "HellaSwag accuracy")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
