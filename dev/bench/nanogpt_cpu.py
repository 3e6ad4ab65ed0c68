#!/usr/bin/env python3
"""The PyTorch a user would write: a nanoGPT-layout GPT-2 training loop, for the CPU benchmark.

train_gpt2.py keeps each kind of weight stacked over layers (one tensor per kind, indexed per
layer), which suits the reference checks but not speed: autograd then builds a full-size
gradient buffer for every per-layer slice and sums them. Users write one nn.Module per block
with nn.Linear / nn.LayerNorm / nn.Embedding, as nanoGPT does; that is the baseline here.

Same work as the C trainer's step: load a checkpoint of this project (version 3 fp32 or 5 bf16;
the real vocabulary V, not the padded rows), read the same token shard in the same order
(window k = tokens [k*B*T, k*B*T + B*T + 1), in order, wrapping at the end), cross-entropy mean
over B*T, global-norm gradient clipping, and AdamW with weight decay on the 2-D tensors only
(torch.optim.AdamW's defaults otherwise: what nanoGPT does on a CPU). Prints one line per step
in the C trainer's format, "step N/M | loss L | norm G | lr X | T ms | tok/s", so
dev/bench/cpu_vs_pytorch parses both alike.

  dev/bench/nanogpt_cpu.py --model model.bin --input_bin shard.bin -b 4 -t 64 -x 10
  --autocast bf16   runs forward and backward under torch.autocast("cpu", torch.bfloat16)
                    (fp32 master weights and AdamW state; PyTorch's own CPU mixed precision);
                    exits with status 3 and a line "not supported: ..." where this PyTorch
                    cannot run it
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MODEL_MAGIC, SHARD_MAGIC = 20240326, 20240520
UNSUPPORTED = 3  # exit status of --autocast bf16 where PyTorch cannot run it (dev/bench/cpu_vs_pytorch)


def die(msg):
    sys.exit(f"error: {msg}")


class Block(nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.NH = NH
        self.ln_1 = nn.LayerNorm(C)
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C)
        self.c_fc = nn.Linear(C, 4 * C)
        self.mlp_proj = nn.Linear(4 * C, C)
        self.gelu = nn.GELU(approximate="tanh")

    def attention(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.NH, C // self.NH).transpose(1, 2) for t in (q, k, v))
        if hasattr(F, "scaled_dot_product_attention"):  # PyTorch 2.x: the fused kernel
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
            y = att @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        return x + self.mlp_proj(self.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, V, maxT, L, NH, C):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(maxT, C)
        self.h = nn.ModuleList(Block(C, NH) for _ in range(L))
        self.ln_f = nn.LayerNorm(C)

    def forward(self, idx, targets):
        T = idx.size(1)
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))  # device: nanogpt_gpu.py
        for block in self.h:
            x = block(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)  # tied classifier, as GPT-2
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def load_checkpoint(path):
    """Our checkpoint format (doc/formats.md) into a GPT with the real vocabulary."""
    try:
        raw = open(path, "rb").read()
    except OSError as e:
        die(f"cannot read {path}: {e.strerror}")
    if len(raw) < 1024:
        die(f"{path}: too short for a checkpoint header")
    h = np.frombuffer(raw[:1024], dtype=np.int32)
    if h[0] != MODEL_MAGIC or h[1] not in (3, 5):
        die(f"{path}: not a GPT-2 checkpoint (magic {h[0]}, version {h[1]}; want {MODEL_MAGIC}, 3 or 5)")
    maxT, V, L, NH, C, Vp = (int(x) for x in h[2:8])
    if min(maxT, V, L, NH, C) < 1 or Vp < V or C % NH:
        die(f"{path}: bad shape in header (maxT {maxT} V {V} L {L} NH {NH} C {C} Vp {Vp})")
    # checkpoint order: name, shape of one slice, per layer
    table = [("wte", (Vp, C), 0), ("wpe", (maxT, C), 0), ("ln1w", (C,), 1), ("ln1b", (C,), 1),
             ("qkvw", (3 * C, C), 1), ("qkvb", (3 * C,), 1), ("attprojw", (C, C), 1),
             ("attprojb", (C,), 1), ("ln2w", (C,), 1), ("ln2b", (C,), 1), ("fcw", (4 * C, C), 1),
             ("fcb", (4 * C,), 1), ("fcprojw", (C, 4 * C), 1), ("fcprojb", (C,), 1),
             ("lnfw", (C,), 0), ("lnfb", (C,), 0)]
    count = sum(int(np.prod(s)) * (L if per else 1) for _, s, per in table)
    body = raw[1024:]
    if h[1] == 3:
        if len(body) != 4 * count:
            die(f"{path}: {len(body)} bytes of weights, expected {4 * count}")
        flat = np.frombuffer(body, dtype=np.float32)
    else:
        if len(body) != 2 * count:
            die(f"{path}: {len(body)} bytes of weights, expected {2 * count}")
        flat = (np.frombuffer(body, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
    t, at = {}, 0
    for name, shape, per in table:
        n = int(np.prod(shape)) * (L if per else 1)
        t[name] = torch.from_numpy(flat[at:at + n].copy()).view(((L,) if per else ()) + shape)
        at += n
    model = GPT(V, maxT, L, NH, C)
    with torch.no_grad():
        model.wte.weight.copy_(t["wte"][:V])
        model.wpe.weight.copy_(t["wpe"])
        model.ln_f.weight.copy_(t["lnfw"])
        model.ln_f.bias.copy_(t["lnfb"])
        for l, b in enumerate(model.h):
            for mod, w, bias in ((b.ln_1, "ln1w", "ln1b"), (b.c_attn, "qkvw", "qkvb"),
                                 (b.c_proj, "attprojw", "attprojb"), (b.ln_2, "ln2w", "ln2b"),
                                 (b.c_fc, "fcw", "fcb"), (b.mlp_proj, "fcprojw", "fcprojb")):
                mod.weight.copy_(t[w][l])
                mod.bias.copy_(t[bias][l])
    return model, V


def load_shard(path, V):
    try:
        raw = open(path, "rb").read()
    except OSError as e:
        die(f"cannot read {path}: {e.strerror}")
    h = np.frombuffer(raw[:1024], dtype=np.int32) if len(raw) >= 1024 else None
    if h is None or h[0] != SHARD_MAGIC or h[1] != 1:
        die(f"{path}: not a version-1 token shard (magic {SHARD_MAGIC})")
    tokens = np.frombuffer(raw[1024:], dtype=np.uint16)
    if len(tokens) != int(h[2]):
        die(f"{path}: header says {int(h[2])} tokens, file holds {len(tokens)}")
    if len(tokens) and int(tokens.max()) >= V:
        die(f"{path}: token id {int(tokens.max())} >= vocabulary size {V}")
    return tokens.astype(np.int64)


def bf16_probe():
    """Exits with UNSUPPORTED, one line saying why, if this PyTorch cannot run CPU bf16 autocast."""
    why = None
    if not hasattr(torch, "autocast"):
        why = "torch.autocast is missing (PyTorch >= 1.10 has it)"
    else:
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = F.linear(torch.ones(4, 8), torch.ones(16, 8))
            if y.dtype != torch.bfloat16:
                why = f"autocast left a linear layer in {y.dtype}"
        except (RuntimeError, TypeError) as e:
            why = str(e).splitlines()[0]
    if why:
        print(f"not supported: bf16 autocast on the CPU: {why}", flush=True)
        sys.exit(UNSUPPORTED)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--input_bin", required=True)
    ap.add_argument("-b", type=int, default=4)
    ap.add_argument("-t", type=int, default=64)
    ap.add_argument("-x", type=int, default=10, help="steps")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.95)
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--weight_decay", type=float, default=0.0)
    ap.add_argument("--grad_clip", type=float, default=1.0)
    ap.add_argument("--autocast", choices=["none", "bf16"], default="none")
    a = ap.parse_args()
    if a.b < 1 or a.t < 1 or a.x < 1:
        die("-b, -t and -x must be >= 1")
    model, V = load_checkpoint(a.model)
    if a.t > model.wpe.weight.size(0):
        die(f"-t {a.t} is longer than the model's context {model.wpe.weight.size(0)}")
    tokens = load_shard(a.input_bin, V)
    B, T = a.b, a.t
    windows = (len(tokens) - 1) // (B * T)
    if windows < 1:
        die(f"{a.input_bin}: {len(tokens)} tokens, fewer than one batch of B*T+1 = {B * T + 1}")
    params = [p for p in model.parameters()]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": a.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps)
    amp = a.autocast == "bf16"
    if amp:
        bf16_probe()
    print(f"nanoGPT-style PyTorch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"autocast {a.autocast}, B={B} T={T}", flush=True)
    for step in range(1, a.x + 1):
        w = (step - 1) % windows
        buf = torch.from_numpy(tokens[w * B * T: w * B * T + B * T + 1])
        x, y = buf[:-1].view(B, T), buf[1:].view(B, T)
        t0 = time.perf_counter()
        if amp:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = model(x, y)
        else:
            loss = model(x, y)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, a.grad_clip if a.grad_clip > 0 else float("inf"))
        opt.step()
        opt.zero_grad(set_to_none=True)
        lossv = loss.item()
        ms = (time.perf_counter() - t0) * 1e3
        print(f"step {step:5d}/{a.x} | loss {lossv:.6f} | norm {float(norm):.4f} | lr {a.lr:.2e} | "
              f"{ms:.1f} ms | {B * T / (ms * 1e-3):.0f} tok/s", flush=True)
        if not math.isfinite(lossv):
            die(f"step {step}: loss is not finite")


if __name__ == "__main__":
    main()
