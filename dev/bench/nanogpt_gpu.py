#!/usr/bin/env python3
"""The PyTorch a user would write, on a GPU: the nanoGPT recipe, as train_gpt2cu's baseline.

The model, checkpoint reader and shard reader are dev/bench/nanogpt_cpu.py's (one nn.Module per
block with nn.Linear / nn.LayerNorm / nn.Embedding weights, tied head, the real vocabulary), and
so is the work of a step: token windows k = tokens[k*B*T : k*B*T + B*T + 1] in order, mean
cross-entropy, global-norm clipping, AdamW with weight decay on 2-D tensors only. On top, what
nanoGPT does for speed on a GPU, each where this PyTorch has it:
  bf16 autocast (fp32 weights and AdamW state), F.scaled_dot_product_attention (flash attention),
  torch.compile, fused AdamW (fused=True), TF32 for the fp32 matmuls that remain.
Prints "step N/M | loss L | norm G | lr X | T ms | tok/s" per step, as the trainers do, so
dev/test/gpu_check.sh parses all three alike.

  dev/bench/nanogpt_gpu.py --model model.bin --input_bin shard.bin -b 64 -t 1024 -x 30
  --model d48        a GPT-2 size (d12 d24 d36 d48) initialised at random (std 0.02, seed 42):
                     for speed only, its losses are not the trainers'
  --compile 0 / --autocast none / --fused 0   switch a speed-up off
"""
import argparse
import inspect
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nanogpt_cpu import GPT, die, load_checkpoint, load_shard  # noqa: E402  (one home for the model)

SIZES = {"d12": (12, 12, 768), "d24": (24, 16, 1024), "d36": (36, 20, 1280), "d48": (48, 25, 1600)}  # L, NH, C


def random_model(name):
    """A GPT-2 size with V = 50257, T = 1024, weights ~ N(0, 0.02), LayerNorms 1 / 0."""
    L, NH, C = SIZES[name]
    torch.manual_seed(42)
    model = GPT(50257, 1024, L, NH, C)
    with torch.no_grad():
        for name_, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.02)
            elif not name_.endswith("weight"):
                p.zero_()
    return model, 50257


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--input_bin", required=True)
    ap.add_argument("-b", type=int, default=64)
    ap.add_argument("-t", type=int, default=1024)
    ap.add_argument("-x", type=int, default=30, help="steps")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.95)
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--weight_decay", type=float, default=0.0)
    ap.add_argument("--grad_clip", type=float, default=1.0)
    ap.add_argument("--autocast", choices=["none", "bf16"], default="bf16")
    ap.add_argument("--compile", type=int, choices=[0, 1], default=1)
    ap.add_argument("--fused", type=int, choices=[0, 1], default=1, help="fused AdamW where available")
    a = ap.parse_args()
    if a.b < 1 or a.t < 1 or a.x < 1:
        die("-b, -t and -x must be >= 1")
    if not torch.cuda.is_available():
        die("no CUDA device visible to PyTorch (this is the GPU benchmark; see nanogpt_cpu.py)")
    dev = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    model, V = random_model(a.model) if a.model in SIZES else load_checkpoint(a.model)
    if a.t > model.wpe.weight.size(0):
        die(f"-t {a.t} is longer than the model's context {model.wpe.weight.size(0)}")
    tokens = torch.from_numpy(load_shard(a.input_bin, V))
    B, T = a.b, a.t
    windows = (len(tokens) - 1) // (B * T)
    if windows < 1:
        die(f"{a.input_bin}: {len(tokens)} tokens, fewer than one batch of B*T+1 = {B * T + 1}")
    model.to(dev)
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": a.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    fused = bool(a.fused) and "fused" in inspect.signature(torch.optim.AdamW).parameters
    extra = {"fused": True} if fused else {}
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps, **extra)
    compiled = bool(a.compile) and hasattr(torch, "compile")
    step_model = torch.compile(model) if compiled else model
    amp = a.autocast == "bf16"
    flash = hasattr(F, "scaled_dot_product_attention")
    print(f"nanoGPT-style PyTorch {torch.__version__} on {torch.cuda.get_device_name()}: autocast {a.autocast}, "
          f"compile {int(compiled)}, fused AdamW {int(fused)}, SDPA {int(flash)}, B={B} T={T}", flush=True)
    clip = a.grad_clip if a.grad_clip > 0 else float("inf")
    for step in range(1, a.x + 1):
        w = (step - 1) % windows
        buf = tokens[w * B * T: w * B * T + B * T + 1].to(dev, non_blocking=True)
        x, y = buf[:-1].view(B, T), buf[1:].view(B, T)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss = step_model(x, y)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        lossv = loss.item()  # synchronises
        torch.cuda.synchronize()
        ms = (time.perf_counter() - t0) * 1e3
        print(f"step {step:5d}/{a.x} | loss {lossv:.6f} | norm {float(norm):.4f} | lr {a.lr:.2e} | "
              f"{ms:.1f} ms | {B * T / (ms * 1e-3):.0f} tok/s", flush=True)
        if not math.isfinite(lossv):
            die(f"step {step}: loss is not finite")


if __name__ == "__main__":
    main()
