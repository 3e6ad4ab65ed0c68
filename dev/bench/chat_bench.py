#!/usr/bin/env python3
"""PyTorch generation with a KV cache on the weights of a checkpoint: the baseline for
dev/bench/chat_bench.c (same prompt length, new tokens, batch, greedy).
Usage: chat_bench.py MODEL.bin B PROMPT_TOKENS NEW_TOKENS SEED [THREADS]; prints one line:
  torch B=.. prompt_ms=.. decode_tok_s=.. kv_mib=..
The cache is preallocated (L, B, NH, P+N, HS) for keys and values; each step runs the model on
the new token only, attending over the cache (no mask needed for one query); the prefill runs
the prompt with a causal mask. torch 1.13 has no scaled_dot_product_attention: plain matmuls.
"""
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from train_gpt2 import model_from_checkpoint  # noqa: E402


@torch.no_grad()
def forward_kv(m, idx, kc, vc, pos):
    """idx (B, n) new tokens at positions pos..pos+n-1 -> logits of the last one (B, V)."""
    cfg = m.cfg
    B, n = idx.shape
    C, NH = cfg.n_embd, cfg.n_head
    hs = C // NH
    x = m.wte[idx] + m.wpe[pos:pos + n]
    for l in range(cfg.n_layer):
        h = F.layer_norm(x, (C,), m.ln1w[l], m.ln1b[l], 1e-5)
        q, k, v = F.linear(h, m.qkvw[l], m.qkvb[l]).split(C, dim=2)
        q = q.view(B, n, NH, hs).transpose(1, 2)
        kc[l, :, :, pos:pos + n] = k.view(B, n, NH, hs).transpose(1, 2)
        vc[l, :, :, pos:pos + n] = v.view(B, n, NH, hs).transpose(1, 2)
        K, V = kc[l, :, :, :pos + n], vc[l, :, :, :pos + n]
        att = (q @ K.transpose(-2, -1)) * (1.0 / math.sqrt(hs))  # (B, NH, n, pos+n)
        if n > 1:  # prefill from position 0: causal
            att = att.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
        y = F.softmax(att, dim=-1) @ V
        x = x + F.linear(y.transpose(1, 2).reshape(B, n, C), m.attprojw[l], m.attprojb[l])
        h = F.layer_norm(x, (C,), m.ln2w[l], m.ln2b[l], 1e-5)
        h = F.gelu(F.linear(h, m.fcw[l], m.fcb[l]), approximate="tanh")
        x = x + F.linear(h, m.fcprojw[l], m.fcprojb[l])
    x = F.layer_norm(x[:, -1], (C,), m.lnfw, m.lnfb, 1e-5)
    return F.linear(x, m.wte)


def main():
    if len(sys.argv) not in (6, 7):
        sys.exit("usage: chat_bench.py MODEL.bin B PROMPT_TOKENS NEW_TOKENS SEED [THREADS]")
    path, B, P, N, seed = sys.argv[1], *map(int, sys.argv[2:6])
    torch.set_num_threads(int(sys.argv[6]) if len(sys.argv) == 7 else os.cpu_count())
    m = model_from_checkpoint(path)
    m.requires_grad_(False)
    cfg = m.cfg
    if P + N > cfg.block_size:
        sys.exit(f"error: P + N = {P + N} exceeds the context {cfg.block_size}")
    g = torch.Generator().manual_seed(seed)
    prompt = torch.randint(0, cfg.vocab_size, (B, P), generator=g)
    hs = cfg.n_embd // cfg.n_head
    shape = (cfg.n_layer, B, cfg.n_head, P + N, hs)
    kc, vc = torch.zeros(shape), torch.zeros(shape)
    t0 = time.perf_counter()
    logits = forward_kv(m, prompt, kc, vc, 0)
    tok = logits.argmax(-1, keepdim=True)
    t1 = time.perf_counter()
    for i in range(N - 1):
        logits = forward_kv(m, tok, kc, vc, P + i)
        tok = logits.argmax(-1, keepdim=True)
    t2 = time.perf_counter()
    kv_mib = 2 * math.prod(shape) * 4 / 2 ** 20
    print(f"torch B={B} prompt_ms={(t1 - t0) * 1e3:.1f} decode_tok_s={B * (N - 1) / (t2 - t1):.2f} kv_mib={kv_mib:.1f}")


if __name__ == "__main__":
    main()
