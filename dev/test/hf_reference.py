#!/usr/bin/env python3
"""The independent side of dev/test/t_hf.sh: Hugging Face GPT-2 folders made and read here
without dev/hf_gpt2.py, and GPT-2's forward pass as transformers computes it, in numpy float64.

  hf_reference.py make DIR --layout safetensors|zip|legacy [--dtype F32|BF16] --L --NH --C --V --T --seed
      a random GPT-2 (every tensor random, biases and LayerNorm included, so a swapped or
      misplaced tensor changes the logits) in HF's layout and names (OpenAI's files: no
      "transformer." prefix, the attn.bias mask buffers, lm_head.weight tied), config.json
  hf_reference.py tokens OUT.bin --B --T --V --seed        int32 B, T, then B*T ids
  hf_reference.py check DIR TOKENS.bin C_LOGITS.bin [--tol X] [--exported]
      the logits of the model in DIR (model.safetensors or pytorch_model.bin) against the C
      trainer's; --exported also checks the folder is what GPT2LMHeadModel.from_pretrained
      loads: key names and shapes (Conv1D [in, out]), no untied lm_head, config.json
  hf_reference.py same DIR_A DIR_B                          the tensors of two folders are equal
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np

DT = {"F32": "<f4", "BF16": "<u2", "F16": "<f2", "BOOL": "|b1"}


def to_f64(dtype, a):
    if dtype == "BF16":
        return (a.astype("<u4") << np.uint32(16)).view("<f4").astype(np.float64)
    return a.astype(np.float64)


def st_write(path, tensors):
    """tensors: {name: (dtype, array)}; alphabetical, like the safetensors library."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        dtype, a = tensors[name]
        b = np.ascontiguousarray(a, dtype=DT[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def st_read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        out[name] = (e["dtype"], np.frombuffer(data[8 + n + b:8 + n + end], dtype=DT[e["dtype"]]).reshape(e["shape"]))
    return out, meta


def hf_shapes(L, C, V, T):
    s = {"wte.weight": (V, C), "wpe.weight": (T, C), "ln_f.weight": (C,), "ln_f.bias": (C,)}
    for l in range(L):
        p = f"h.{l}."
        s.update({p + "ln_1.weight": (C,), p + "ln_1.bias": (C,), p + "attn.c_attn.weight": (C, 3 * C),
                  p + "attn.c_attn.bias": (3 * C,), p + "attn.c_proj.weight": (C, C), p + "attn.c_proj.bias": (C,),
                  p + "ln_2.weight": (C,), p + "ln_2.bias": (C,), p + "mlp.c_fc.weight": (C, 4 * C),
                  p + "mlp.c_fc.bias": (4 * C,), p + "mlp.c_proj.weight": (4 * C, C), p + "mlp.c_proj.bias": (C,)})
    return s


def make(a):
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.dir, exist_ok=True)
    state = {}
    for name, shape in hf_shapes(a.L, a.C, a.V, a.T).items():
        if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "ln_f.weight":
            x = 1.0 + 0.2 * rng.standard_normal(shape)
        else:
            x = (0.02 if name.endswith("weight") else 0.05) * rng.standard_normal(shape)
        state[name] = x.astype(np.float32)
    if a.dtype == "BF16":  # round to bf16 by truncation: any bf16 values will do
        state = {k: ("BF16", (v.view("<u4") >> 16).astype("<u2")) for k, v in state.items()}
    else:
        state = {k: ("F32", v) for k, v in state.items()}
    for l in range(a.L):  # the causal-mask buffers: bool in newer files, float and a scalar in older
        mask = np.tril(np.ones((a.T, a.T), bool)).reshape(1, 1, a.T, a.T)
        if a.layout == "legacy":
            state[f"h.{l}.attn.bias"] = ("F32", mask.astype(np.float32))
            state[f"h.{l}.attn.masked_bias"] = ("F32", np.array(-1e4, np.float32))
        else:
            state[f"h.{l}.attn.bias"] = ("BOOL", mask)
    state["lm_head.weight"] = state["wte.weight"]
    cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_layer": a.L, "n_head": a.NH,
           "n_embd": a.C, "vocab_size": a.V, "n_positions": a.T, "n_ctx": a.T, "activation_function": "gelu_new",
           "layer_norm_epsilon": 1e-05, "n_inner": None}
    with open(os.path.join(a.dir, "config.json"), "w") as f:
        json.dump(cfg, f)
    if a.layout == "safetensors":
        st_write(os.path.join(a.dir, "model.safetensors"), state)
    else:
        import torch
        sd = {}
        for k, (dtype, v) in state.items():
            if dtype == "BOOL":
                sd[k] = torch.from_numpy(v.copy())
                continue
            t = torch.from_numpy(to_f64(dtype, v).astype(np.float32))
            sd[k] = t.to(torch.bfloat16) if dtype == "BF16" else t
        sd["lm_head.weight"] = sd["wte.weight"]  # one storage, as a tied model saves it
        torch.save(sd, os.path.join(a.dir, "pytorch_model.bin"),
                   _use_new_zipfile_serialization=(a.layout == "zip"))


def tokens(a):
    rng = np.random.default_rng(a.seed)
    ids = rng.integers(0, a.V, size=(a.B, a.T), dtype=np.int32)
    with open(a.out, "wb") as f:
        f.write(struct.pack("<ii", a.B, a.T) + ids.astype("<i4").tobytes())


def load_dir(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    st = os.path.join(d, "model.safetensors")
    if os.path.exists(st):
        state, meta = st_read(st)
    else:
        import torch
        sd = torch.load(os.path.join(d, "pytorch_model.bin"), map_location="cpu")
        state, meta = {}, None
        for k, t in sd.items():
            if t.dtype == torch.bfloat16:
                state[k] = ("BF16", t.view(torch.int16).numpy().view("<u2"))
            else:
                state[k] = ("F32", t.numpy())
    return cfg, state, meta


def forward(cfg, W, ids):
    """GPT2LMHeadModel's logits (eval mode): W maps names without "transformer." to float64."""
    L, NH, C = cfg["n_layer"], cfg["n_head"], cfg["n_embd"]
    eps = cfg["layer_norm_epsilon"]
    B, T = ids.shape
    hs = C // NH

    def ln(x, w, b):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * w + b

    def gelu_new(x):
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))

    x = W["wte.weight"][ids] + W["wpe.weight"][np.arange(T)]
    mask = np.tril(np.ones((T, T), dtype=bool))
    for l in range(L):
        p = f"h.{l}."
        h = ln(x, W[p + "ln_1.weight"], W[p + "ln_1.bias"])
        qkv = h @ W[p + "attn.c_attn.weight"] + W[p + "attn.c_attn.bias"]  # Conv1D: x @ W[in, out] + b
        q, k, v = np.split(qkv, 3, axis=-1)
        q, k, v = (t.reshape(B, T, NH, hs).transpose(0, 2, 1, 3) for t in (q, k, v))
        att = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hs)
        att = np.where(mask, att, -np.inf)
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        y = (att @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
        x = x + y @ W[p + "attn.c_proj.weight"] + W[p + "attn.c_proj.bias"]
        h = ln(x, W[p + "ln_2.weight"], W[p + "ln_2.bias"])
        h = gelu_new(h @ W[p + "mlp.c_fc.weight"] + W[p + "mlp.c_fc.bias"])
        x = x + h @ W[p + "mlp.c_proj.weight"] + W[p + "mlp.c_proj.bias"]
    x = ln(x, W["ln_f.weight"], W["ln_f.bias"])
    head = W.get("lm_head.weight", W["wte.weight"])
    return x @ head.T


def check(a):
    cfg, state, meta = load_dir(a.dir)
    problems = []
    if a.exported:
        L, C, V, T = cfg["n_layer"], cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
        want = {"transformer." + k: s for k, s in hf_shapes(L, C, V, T).items()}
        got = {k: tuple(v.shape) for k, (_, v) in state.items()}
        if set(got) != set(want):
            problems.append(f"keys differ from GPT2LMHeadModel's: extra {sorted(set(got) - set(want))[:3]}, "
                            f"missing {sorted(set(want) - set(got))[:3]}")
        problems += [f"{k} has shape {got[k]}, HF expects {want[k]}" for k in want if k in got and got[k] != tuple(want[k])]
        if meta != {"format": "pt"}:
            problems.append(f"metadata {meta} (transformers needs format pt)")
        for k, v in (("model_type", "gpt2"), ("activation_function", "gelu_new"), ("tie_word_embeddings", True),
                     ("architectures", ["GPT2LMHeadModel"])):
            if cfg.get(k) != v:
                problems.append(f"config.json {k} = {cfg.get(k)!r}, expected {v!r}")
        if cfg.get("n_inner") not in (None, 4 * C):
            problems.append(f"config.json n_inner = {cfg.get('n_inner')}")
    W = {(k[len("transformer."):] if k.startswith("transformer.") else k): to_f64(dt, v) for k, (dt, v) in state.items()}
    with open(a.tokens, "rb") as f:
        B, T = struct.unpack("<ii", f.read(8))
        ids = np.frombuffer(f.read(), dtype="<i4").reshape(B, T)
    ref = forward(cfg, W, ids)
    ours = np.fromfile(a.c_logits, dtype="<f4").astype(np.float64)
    if ours.size != ref.size:
        problems.append(f"C logits have {ours.size} values, expected {ref.size} (B={B} T={T} V={ref.shape[-1]})")
    else:
        err = np.abs(ours.reshape(ref.shape) - ref).max() / np.abs(ref).max()
        print(f"logits: max|ref| {np.abs(ref).max():.4f}, max|C - ref| / max|ref| = {err:.3e} (tol {a.tol:.0e})")
        if not err <= a.tol:
            problems.append(f"C logits differ from the numpy forward pass: rel err {err:.3e} > {a.tol:.0e}")
    for p in problems:
        print("problem:", p)
    sys.exit(1 if problems else 0)


def same(a):
    _, sa, _ = load_dir(a.dir_a)
    _, sb, _ = load_dir(a.dir_b)
    strip = lambda s: {k.replace("transformer.", ""): v for k, v in s.items()
                       if not k.endswith((".attn.bias", ".attn.masked_bias")) and k != "lm_head.weight"}
    sa, sb = strip(sa), strip(sb)
    bad = [k for k in sa if k not in sb or sa[k][0] != sb[k][0] or not np.array_equal(sa[k][1], sb[k][1])]
    bad += [k for k in sb if k not in sa]
    if bad:
        print(f"tensors differ: {bad[:5]}")
        sys.exit(1)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--layout", choices=["safetensors", "zip", "legacy"], required=True)
    m.add_argument("--dtype", choices=["F32", "BF16"], default="F32")
    for k in ("L", "NH", "C", "V", "T", "seed"):
        m.add_argument("--" + k, type=int, required=True)
    t = sub.add_parser("tokens")
    t.add_argument("out")
    for k in ("B", "T", "V", "seed"):
        t.add_argument("--" + k, type=int, required=True)
    c = sub.add_parser("check")
    c.add_argument("dir")
    c.add_argument("tokens")
    c.add_argument("c_logits")
    c.add_argument("--tol", type=float, default=1e-5)
    c.add_argument("--exported", action="store_true")
    s = sub.add_parser("same")
    s.add_argument("dir_a")
    s.add_argument("dir_b")
    a = p.parse_args()
    {"make": make, "tokens": tokens, "check": check, "same": same}[a.cmd](a)


if __name__ == "__main__":
    main()
