#!/usr/bin/env python3
"""
Checks of train_gpt2.py (the PyTorch reference) against independent computations.
Run by dev/test/t_pyref.sh: `python dev/pyref_checks.py SCRATCH_DIR`.

Each check prints `ok <name>` or `not ok <name>: <why>`; exit status 1 if any failed.
The independent references are written here from the definitions, not taken from train_gpt2.py:
a float64 numpy GPT-2 forward with a loop attention, a file reader, a byte-level bf16 rounding
comparison against torch's own conversion, finite differences, a hand-written AdamW + clipping,
and a hand-written shard walk and LR schedule for the training mode.
"""
import contextlib
import io
import json
import math
import os
import re
import struct
import subprocess
import sys
import time
import traceback

import numpy as np
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)
import train_gpt2 as ref  # noqa: E402

TMP = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "/tmp/pyref_checks")
os.makedirs(TMP, exist_ok=True)
SCRIPT = os.path.join(ROOT, "train_gpt2.py")
failures = []

# the tiny model of the CLI runs
L, NH, C, V, MAXT = 2, 2, 16, 300, 32
VP = 384
B, T, S = 2, 8, 5
LR, B1, B2, EPS, WD, CLIP = 1e-2, 0.9, 0.95, 1e-8, 0.1, 0.5
SEED = 42
SHAPE_FLAGS = ["--n_layer", str(L), "--n_head", str(NH), "--n_embd", str(C),
               "--vocab_size", str(V), "--block_size", str(MAXT), "--seed", str(SEED)]
OPT_FLAGS = ["--learning_rate", str(LR), "--beta1", str(B1), "--beta2", str(B2), "--eps", str(EPS),
             "--weight_decay", str(WD), "--grad_clip", str(CLIP)]
REF_DIR = os.path.join(TMP, "ref")


def check(name, fn):
    t0 = time.time()
    try:
        fn()
        print(f"ok {name} ({time.time() - t0:.1f}s)", flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported as "not ok"
        why = str(e).replace("\n", " | ") or type(e).__name__
        if not isinstance(e, AssertionError):
            why = f"{type(e).__name__}: {why} ({traceback.extract_tb(e.__traceback__)[-1].lineno})"
        print(f"not ok {name}: {why}", flush=True)
        failures.append(name)


def run_cli(args):
    return subprocess.run([sys.executable, SCRIPT] + args, capture_output=True, text=True,
                          timeout=300)


def run_ok(args, subprocess_run=False):
    """Runs train_gpt2.py with args; in this process (no second torch import) unless asked."""
    if subprocess_run:
        r = run_cli(args)
        assert r.returncode == 0, f"train_gpt2.py {' '.join(args)} exited {r.returncode}: {r.stderr[-500:]}"
        return r
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            ref.main(args)
    except SystemExit as e:
        raise AssertionError(f"train_gpt2.py {' '.join(args)} exited: {e.code}")
    return subprocess.CompletedProcess(args, 0, out.getvalue(), "")


# ----------------------------------------------------------------------------------------------
# independent readers and model math

def file_params(L_, C_, Vp_, maxT_):
    # wte + wpe + per layer (ln1 2C, qkv 3C*C+3C, attproj C*C+C, ln2 2C, fc 4C*C+4C,
    # fcproj 4C*C+C) + lnf 2C
    per_layer = 2 * C_ + (3 * C_ * C_ + 3 * C_) + (C_ * C_ + C_) + 2 * C_ + (4 * C_ * C_ + 4 * C_) \
        + (4 * C_ * C_ + C_)
    return Vp_ * C_ + maxT_ * C_ + L_ * per_layer + 2 * C_


def read_ints(path, n=256):
    with open(path, "rb") as f:
        return list(struct.unpack(f"<{n}i", f.read(4 * n)))


def split_model(flat, L_, C_, Vp_, maxT_):
    """flat float payload -> dict of the 16 tensors (float64)."""
    shapes = [("wte", (Vp_, C_)), ("wpe", (maxT_, C_)), ("ln1w", (L_, C_)), ("ln1b", (L_, C_)),
              ("qkvw", (L_, 3 * C_, C_)), ("qkvb", (L_, 3 * C_)), ("attprojw", (L_, C_, C_)),
              ("attprojb", (L_, C_)), ("ln2w", (L_, C_)), ("ln2b", (L_, C_)),
              ("fcw", (L_, 4 * C_, C_)), ("fcb", (L_, 4 * C_)), ("fcprojw", (L_, C_, 4 * C_)),
              ("fcprojb", (L_, C_)), ("lnfw", (C_,)), ("lnfb", (C_,))]
    out, off = {}, 0
    for name, shape in shapes:
        n = int(np.prod(shape))
        out[name] = np.asarray(flat[off:off + n], dtype=np.float64).reshape(shape)
        off += n
    assert off == len(flat), f"payload has {len(flat)} values, tensors need {off}"
    return out


def read_model_file(path):
    h = read_ints(path)
    maxT_, V_, L_, NH_, C_, Vp_ = h[2], h[3], h[4], h[5], h[6], h[7]
    raw = open(path, "rb").read()[1024:]
    if h[1] == 3:
        flat = np.frombuffer(raw, dtype="<f4")
    else:
        flat = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    return h, split_model(flat, L_, C_, Vp_, maxT_)


def read_debug(path):
    h = read_ints(path)
    B_, T_, V_, Vp_, S_ = h[2], h[3], h[4], h[5], h[6]
    raw = open(path, "rb").read()
    off = 1024
    take = lambda n, dt: np.frombuffer(raw, dtype=dt, count=n, offset=off)
    inputs = take(B_ * T_, "<i4").reshape(B_, T_); off += 4 * B_ * T_
    targets = take(B_ * T_, "<i4").reshape(B_, T_); off += 4 * B_ * T_
    logits = take(B_ * T_ * V_, "<f4").reshape(B_, T_, V_); off += 4 * B_ * T_ * V_
    loss = take(1, "<f4")[0]; off += 4
    mh = read_ints(os.path.join(os.path.dirname(path), "model.bin"))
    P = file_params(mh[4], mh[6], Vp_, mh[2])
    grads = split_model(take(P, "<f4"), mh[4], mh[6], Vp_, mh[2]); off += 4 * P
    losses = take(S_, "<f4"); off += 4 * S_
    assert off == len(raw), f"debug state has {len(raw) - off} unexplained bytes"
    return dict(h=h, inputs=inputs, targets=targets, logits=logits, loss=loss, grads=grads,
                losses=losses)


def np_layernorm(x, w, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * w + b


def np_gelu_tanh(u):
    return 0.5 * u * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (u + 0.044715 * u ** 3)))


def loop_attention(q, k, v):
    """q, k, v: (T, hs) float64 -> (T, hs); each position t attends to positions 0..t."""
    Tn, hs = q.shape
    out = np.zeros_like(q)
    for t in range(Tn):
        scores = [sum(q[t, d] * k[s, d] for d in range(hs)) / math.sqrt(hs) for s in range(t + 1)]
        m = max(scores)
        e = [math.exp(sc - m) for sc in scores]
        z = sum(e)
        for s in range(t + 1):
            out[t] += e[s] / z * v[s]
    return out


def np_forward(W, n_head, V_, x, y):
    """float64 GPT-2 forward on the file tensors -> logits (B, T, V), mean loss."""
    Bn, Tn = x.shape
    Cn = W["wte"].shape[1]
    hs = Cn // n_head
    h = W["wte"][x] + W["wpe"][:Tn]
    for l in range(W["qkvw"].shape[0]):
        a = np_layernorm(h, W["ln1w"][l], W["ln1b"][l])
        qkv = a @ W["qkvw"][l].T + W["qkvb"][l]
        att = np.zeros((Bn, Tn, Cn))
        for b in range(Bn):
            for hd in range(n_head):
                cols = slice(hd * hs, (hd + 1) * hs)
                att[b, :, cols] = loop_attention(qkv[b, :, :Cn][:, cols], qkv[b, :, Cn:2 * Cn][:, cols],
                                                 qkv[b, :, 2 * Cn:][:, cols])
        h = h + att @ W["attprojw"][l].T + W["attprojb"][l]
        a = np_layernorm(h, W["ln2w"][l], W["ln2b"][l])
        h = h + np_gelu_tanh(a @ W["fcw"][l].T + W["fcb"][l]) @ W["fcprojw"][l].T + W["fcprojb"][l]
    h = np_layernorm(h, W["lnfw"], W["lnfb"])
    logits = h @ W["wte"][:V_].T
    m = logits.max(-1, keepdims=True)
    lse = (m + np.log(np.exp(logits - m).sum(-1, keepdims=True)))[..., 0]
    picked = np.take_along_axis(logits, y[..., None], -1)[..., 0]
    return logits, float((lse - picked).mean())


def torch_model_from_file(W, cfg, dtype=torch.float64):
    m = ref.GPT(cfg)
    with torch.no_grad():
        for name, p in zip(ref.PARAM_NAMES, m.params_in_order()):
            a = W[name][:cfg.vocab_size] if name == "wte" else W[name]
            p.copy_(torch.from_numpy(np.ascontiguousarray(a)))
    return m.to(dtype)


def grads_of(model, x, y):
    model.zero_grad(set_to_none=True)
    _, loss = model(torch.tensor(np.asarray(x), dtype=torch.long), torch.tensor(np.asarray(y), dtype=torch.long))
    loss.backward()
    return float(loss), [p.grad.detach().clone() for p in model.params_in_order()]


MATRICES = {0, 1, 4, 6, 10, 12}  # wte wpe qkvw attprojw fcw fcprojw: the tensors with decay


def manual_adamw(params, grads, state, t, lr, wd, clip):
    """One AdamW step written from the formulas; clips the global norm first. -> norm."""
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
    if clip > 0:
        coef = min(1.0, clip / (norm + 1e-6))
        grads = [g * coef for g in grads]
    with torch.no_grad():
        for i, (p, g) in enumerate(zip(params, grads)):
            m, v = state.setdefault(i, (torch.zeros_like(p), torch.zeros_like(p)))
            m = B1 * m + (1 - B1) * g
            v = B2 * v + (1 - B2) * g * g
            state[i] = (m, v)
            if i in MATRICES:
                p.mul_(1 - lr * wd)
            m_hat = m / (1 - B1 ** t)
            v_hat = v / (1 - B2 ** t)
            p.sub_(lr * m_hat / (v_hat.sqrt() + EPS))
    return norm


# ----------------------------------------------------------------------------------------------
# checks on the reference-mode files

ctx = {}


def c_reference_run():
    r = run_ok(SHAPE_FLAGS + OPT_FLAGS + ["--batch_size", str(B), "--seq_len", str(T),
                                          "--steps", str(S), "--output_dir", REF_DIR],
               subprocess_run=True)
    ctx["ref_out"] = r.stdout


def need_ref():
    assert "ref_out" in ctx, "no reference run"


def c_headers_and_sizes():
    need_ref()
    P = file_params(L, C, VP, MAXT)
    mh = read_ints(os.path.join(REF_DIR, "model.bin"))
    assert mh[:8] == [20240326, 3, MAXT, V, L, NH, C, VP] and not any(mh[8:]), f"model.bin header {mh[:9]}"
    bh = read_ints(os.path.join(REF_DIR, "model_bf16.bin"))
    assert bh[:8] == [20240326, 5, MAXT, V, L, NH, C, VP] and not any(bh[8:]), f"bf16 header {bh[:9]}"
    dh = read_ints(os.path.join(REF_DIR, "debug_state.bin"))
    fb = lambda x: struct.unpack("<i", struct.pack("<f", x))[0]
    want = [20240327, 3, B, T, V, VP, S, fb(LR), fb(B1), fb(B2), fb(EPS), fb(WD), fb(CLIP)]
    assert dh[:13] == want and not any(dh[13:]), f"debug header {dh[:13]} != {want}"
    sizes = {"model.bin": 1024 + 4 * P, "model_bf16.bin": 1024 + 2 * P,
             "debug_state.bin": 1024 + 4 * (2 * B * T + B * T * V + 1 + P + S)}
    for name, want_size in sizes.items():
        got = os.path.getsize(os.path.join(REF_DIR, name))
        assert got == want_size, f"{name}: {got} bytes, expected {want_size}"
    assert not os.path.exists(os.path.join(REF_DIR, "gpt2_tokenizer.bin")), "tokenizer written without --vocab_dir"


def c_param_counts():
    got = ref.num_file_params(ref.GPTConfig(12, 12, 768, 50257, 1024))
    assert got == 124475904, f"d12 has {got} parameters, expected 124,475,904 (llm.c: GPT-2 124M, Vp = 50304)"
    for name, (l, nh, c) in ref.DESCRIPTORS.items():
        cfg = ref.GPTConfig(l, nh, c, 50257, 1024)
        assert ref.num_file_params(cfg) == file_params(l, c, 50304, 1024), name
        assert c % nh == 0, name


def c_wte_padding():
    need_ref()
    _, W = read_model_file(os.path.join(REF_DIR, "model.bin"))
    d = read_debug(os.path.join(REF_DIR, "debug_state.bin"))
    assert not W["wte"][V:].any(), "model.bin wte rows V..Vp-1 are not zero"
    assert not d["grads"]["wte"][V:].any(), "debug wte grad rows V..Vp-1 are not zero"
    assert W["wte"][:V].std() > 0.01, "wte rows look empty"


def c_bf16_file():
    need_ref()
    raw32 = np.frombuffer(open(os.path.join(REF_DIR, "model.bin"), "rb").read()[1024:], dtype="<f4")
    raw16 = np.frombuffer(open(os.path.join(REF_DIR, "model_bf16.bin"), "rb").read()[1024:], dtype="<u2")
    want = torch.from_numpy(raw32.copy()).to(torch.bfloat16).view(torch.int16).numpy().view("<u2")
    bad = np.flatnonzero(raw16 != want)
    assert bad.size == 0, f"{bad.size} bf16 values differ from torch's rounding, first at {bad[:3]}"


def c_bf16_rounding_edges():
    bits = np.array([0x3F808000, 0x3F818000, 0x3F808001, 0x3F807FFF, 0x7F7FFFFF, 0x7F800000,
                     0xFF800000, 0x80000000, 0x00000001, 0x007FFFFF, 0x00008000, 0x00018000,
                     0xBF80C000, 0x7F7F8000], dtype=np.uint32)
    rng = np.random.default_rng(1)
    rand = rng.integers(0, 2 ** 32, 20000, dtype=np.uint64).astype(np.uint32)
    x = np.concatenate([bits, rand]).view(np.float32)
    finite = ~np.isnan(x)
    got = ref.fp32_to_bf16_bits(x)
    want = torch.from_numpy(x.copy()).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    bad = np.flatnonzero((got != want) & finite)
    assert bad.size == 0, f"rounding differs from torch for bits {[hex(v) for v in x.view(np.uint32)[bad[:4]]]}"
    back = ref.bf16_bits_to_fp32(got)
    assert np.isnan(back[~finite]).all(), "NaN did not stay NaN"
    assert (back[finite].view(np.uint32) == want[finite].astype(np.uint32) << 16).all(), "bf16 -> fp32 wrong"


def c_init_recipe():
    need_ref()
    _, W = read_model_file(os.path.join(REF_DIR, "model.bin"))
    g = torch.Generator().manual_seed(SEED)
    draw = lambda shape, std: torch.empty(shape).normal_(0.0, std, generator=g).double().numpy()
    want = {"wte": draw((V, C), 0.02), "wpe": draw((MAXT, C), 0.02)}
    kinds = ["ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb", "ln2w", "ln2b", "fcw", "fcb",
             "fcprojw", "fcprojb"]
    proj = 0.02 / math.sqrt(2 * L)
    for kind in kinds:  # all layers of one kind, then the next kind
        layers = []
        for _ in range(L):
            if kind == "qkvw":
                layers.append(draw((3 * C, C), 0.02))
            elif kind == "fcw":
                layers.append(draw((4 * C, C), 0.02))
            elif kind == "attprojw":
                layers.append(draw((C, C), proj))
            elif kind == "fcprojw":
                layers.append(draw((C, 4 * C), proj))
            else:
                layers.append(np.full(W[kind].shape[1:], 1.0 if kind in ("ln1w", "ln2w") else 0.0))
        want[kind] = np.stack(layers)
    want["lnfw"], want["lnfb"] = np.ones(C), np.zeros(C)
    for name, a in want.items():
        got = W[name][:V] if name == "wte" else W[name]
        assert np.array_equal(got, a), f"{name} differs from the documented init recipe"
    d = read_debug(os.path.join(REF_DIR, "debug_state.bin"))
    tok = torch.randint(0, V, (B * T + 1,), generator=torch.Generator().manual_seed(SEED + 1)).numpy()
    assert np.array_equal(d["inputs"].reshape(-1), tok[:-1]), "inputs are not randint(seed+1)"
    assert np.array_equal(d["targets"].reshape(-1), tok[1:]), "targets are not inputs shifted by one"


def c_forward_numpy():
    need_ref()
    _, W = read_model_file(os.path.join(REF_DIR, "model.bin"))
    d = read_debug(os.path.join(REF_DIR, "debug_state.bin"))
    logits, loss = np_forward(W, NH, V, d["inputs"], d["targets"])
    err = np.abs(logits - d["logits"]).max()
    assert err < 1e-5, f"stored logits differ from a float64 numpy forward by {err:.3g}"
    assert abs(loss - d["loss"]) < 1e-5, f"stored loss {d['loss']} vs numpy {loss}"


def c_attention_naive():
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((2, 3, 6, 4)) for _ in range(3))
    want = np.zeros_like(q)
    for b in range(2):
        for h in range(3):
            want[b, h] = loop_attention(q[b, h], k[b, h], v[b, h])
    tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
    got = ref.causal_attention(tq, tk, tv, use_sdpa=False).numpy()
    assert np.abs(got - want).max() < 1e-12, f"manual attention off by {np.abs(got - want).max():.3g}"
    if hasattr(torch.nn.functional, "scaled_dot_product_attention"):
        got = ref.causal_attention(tq, tk, tv, use_sdpa=True).numpy()
        assert np.abs(got - want).max() < 1e-10, f"SDPA attention off by {np.abs(got - want).max():.3g}"


def rough_model(seed, scale=0.3):
    """A tiny float64 model with weights far from the init (so every part of the math matters)."""
    cfg = ref.GPTConfig(n_layer=2, n_head=2, n_embd=8, vocab_size=11, block_size=7)
    model = ref.GPT(cfg)
    ref.init_params(model, seed)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.params_in_order():
            p.add_(scale * torch.randn(p.shape, generator=g))
    x = torch.randint(0, 11, (2, 5), generator=g)
    y = torch.randint(0, 11, (2, 5), generator=g)
    return model.double(), x, y, g


def c_forward_numpy_rough():
    model, x, y, _ = rough_model(9, scale=1.0)
    W = {n: p.detach().numpy() for n, p in zip(ref.PARAM_NAMES, model.params_in_order())}
    want_logits, want_loss = np_forward(W, 2, 11, x.numpy(), y.numpy())
    logits, loss = model(x, y)
    err = float(np.abs(logits.detach().numpy() - want_logits).max())
    assert err < 1e-10, f"float64 logits differ from the numpy forward by {err:.3g}"
    assert abs(float(loss) - want_loss) < 1e-10, f"loss {float(loss)} vs numpy {want_loss}"


def c_optimizer_vs_manual():
    model, _, _, g = rough_model(13)
    twin = [p.detach().clone() for p in model.params_in_order()]
    args = ref.parse_args(["--learning_rate", "0.01", "--beta1", str(B1), "--beta2", str(B2),
                           "--eps", str(EPS), "--weight_decay", "0.5"])
    opt = ref.make_optimizer(model, args, "cpu", allow_fused=False)
    state = {}
    for t, clip in enumerate([0.5, 0.0, 1e6], start=1):  # clipped, clipping off, not clipped
        grads = [torch.randn(p.shape, generator=g, dtype=torch.float64) for p in twin]
        for p, gr in zip(model.params_in_order(), grads):
            p.grad = gr.clone()
        norm = ref.clip_or_norm(model.params_in_order(), clip)
        opt.step()
        want_norm = manual_adamw(twin, grads, state, t, 0.01, 0.5, clip)
        assert abs(norm - want_norm) < 1e-9 * want_norm, f"step {t}: norm {norm} vs {want_norm}"
        for name, p, q in zip(ref.PARAM_NAMES, model.params_in_order(), twin):
            err = float((p.detach() - q).abs().max())
            assert err < 1e-12, f"step {t} (clip {clip}): {name} differs from hand-written AdamW by {err:.3g}"


def c_gradcheck_fd():
    model, x, y, g = rough_model(7)
    _, grads = grads_of(model, x, y)
    h = 1e-5
    worst = 0.0
    for name, p, gr in zip(ref.PARAM_NAMES, model.params_in_order(), grads):
        flat = p.data.view(-1)
        picks = {int(gr.abs().view(-1).argmax())}
        picks |= set(torch.randint(0, flat.numel(), (2,), generator=g).tolist())
        for i in picks:
            old = float(flat[i])
            with torch.no_grad():
                flat[i] = old + h
                lp = float(model(x, y)[1])
                flat[i] = old - h
                lm = float(model(x, y)[1])
                flat[i] = old
            fd = (lp - lm) / (2 * h)
            an = float(gr.view(-1)[i])
            err = abs(fd - an)
            assert err <= 1e-8 + 1e-6 * abs(an), f"{name}[{i}]: autograd {an:.10g} vs finite difference {fd:.10g}"
            worst = max(worst, err)
        assert float(gr.abs().max()) > 0, f"{name}: all-zero gradient"


def c_stored_grads():
    need_ref()
    h, W = read_model_file(os.path.join(REF_DIR, "model.bin"))
    d = read_debug(os.path.join(REF_DIR, "debug_state.bin"))
    model = torch_model_from_file(W, ref.GPTConfig(L, NH, C, V, MAXT))
    loss, grads = grads_of(model, d["inputs"], d["targets"])
    for name, gr in zip(ref.PARAM_NAMES, grads):
        stored = d["grads"][name][:V] if name == "wte" else d["grads"][name]
        scale = max(float(gr.abs().max()), 1e-6)
        err = float(np.abs(stored - gr.numpy()).max())
        assert err <= 1e-5 * scale + 1e-9, f"{name}: stored grad differs from float64 by {err:.3g} (max |g| {scale:.3g})"


def c_adamw_replay():
    need_ref()
    _, W = read_model_file(os.path.join(REF_DIR, "model.bin"))
    d = read_debug(os.path.join(REF_DIR, "debug_state.bin"))
    assert d["losses"][0] == d["loss"], f"losses[0] {d['losses'][0]} != loss {d['loss']}"
    model = torch_model_from_file(W, ref.GPTConfig(L, NH, C, V, MAXT))
    params, state, norms = model.params_in_order(), {}, []
    for s in range(S):
        loss, grads = grads_of(model, d["inputs"], d["targets"])
        assert abs(loss - d["losses"][s]) < 1e-5, f"step {s}: stored loss {d['losses'][s]:.7f}, replay {loss:.7f}"
        norms.append(manual_adamw(params, grads, state, s + 1, LR, WD, CLIP))
    assert norms[0] > CLIP, f"clipping never active (norm {norms[0]:.3g} <= {CLIP})"
    assert d["losses"][-1] < d["losses"][0] - 0.1, f"loss did not go down: {list(d['losses'])}"


def c_load_checkpoints():
    need_ref()
    shard = os.path.join(TMP, "load_shard.bin")
    rng = np.random.default_rng(11)
    write_shard(shard, rng.integers(0, V, 200))
    d3, d5 = os.path.join(TMP, "load_v3"), os.path.join(TMP, "load_v5")
    run_ok(["--model", os.path.join(REF_DIR, "model.bin"), "--steps", "1", "--batch_size", "2",
            "--seq_len", "8", "--output_dir", d3, "--input_bin", shard])
    orig = open(os.path.join(REF_DIR, "model.bin"), "rb").read()
    assert open(os.path.join(d3, "model.bin"), "rb").read() == orig, "v3 load + write is not byte-identical"
    tokens = np.fromfile(shard, dtype="<u2", offset=1024).astype(np.int64)
    dd = read_debug(os.path.join(d3, "debug_state.bin"))
    assert np.array_equal(dd["inputs"].reshape(-1), tokens[:16]), "inputs are not the shard's first B*T tokens"
    assert np.array_equal(dd["targets"].reshape(-1), tokens[1:17]), "targets are not the shard's tokens 1..B*T"
    run_ok(["--model", os.path.join(REF_DIR, "model_bf16.bin"), "--steps", "1", "--batch_size", "2",
            "--seq_len", "8", "--output_dir", d5])
    raw16 = np.frombuffer(open(os.path.join(REF_DIR, "model_bf16.bin"), "rb").read()[1024:], dtype="<u2")
    want = (raw16.astype(np.uint32) << 16).tobytes()
    got = open(os.path.join(d5, "model.bin"), "rb").read()
    assert got[:1024] == orig[:1024], "v5 load: header of the rewritten v3 file differs"
    assert got[1024:] == want, "v5 load: weights are not the bf16 values widened to fp32"


def c_bad_checkpoints():
    need_ref()
    orig = open(os.path.join(REF_DIR, "model.bin"), "rb").read()
    cases = {
        "truncated.bin": orig[:-100],
        "short.bin": orig[:500],
        "magic.bin": struct.pack("<i", 1234) + orig[4:],
        "version.bin": orig[:4] + struct.pack("<i", 4) + orig[8:],
        "long.bin": orig + b"\0\0\0\0",
        "heads.bin": orig[:20] + struct.pack("<i", 3) + orig[24:],
    }
    for name, data in cases.items():
        path = os.path.join(TMP, name)
        with open(path, "wb") as f:
            f.write(data)
        try:
            ref.read_checkpoint(path)
            raise AssertionError(f"{name}: accepted")
        except SystemExit as e:
            msg = str(e.code)
            assert msg.startswith("error: " + path) and "\n" not in msg, f"{name}: message {msg!r}"
    path = os.path.join(TMP, "truncated.bin")
    r = run_cli(["--model", path, "--output_dir", os.path.join(TMP, "never")])
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0, "truncated checkpoint: exit status 0"
    assert len(lines) == 1 and path in lines[0] and "truncated" in lines[0], f"stderr {r.stderr!r}"
    try:
        ref.main(["--model", "d12", "--n_layer", "6", "--output_dir", os.path.join(TMP, "never")])
        raise AssertionError("descriptor conflict accepted")
    except SystemExit as e:
        assert str(e.code).startswith("error: --n_layer"), f"descriptor conflict: {e.code!r}"


# ----------------------------------------------------------------------------------------------
# training mode

def write_shard(path, tokens):
    tokens = np.asarray(tokens, dtype="<u2")
    header = np.zeros(256, dtype="<i4")
    header[:3] = [20240520, 1, len(tokens)]
    with open(path, "wb") as f:
        f.write(header.tobytes() + tokens.tobytes())


def shard_walk(shards, n):
    """Every window of n+1 tokens, shard by shard, starting over after the last shard."""
    while True:
        for toks in shards:
            start = 0
            while start + n + 1 <= len(toks):
                yield toks[start:start + n + 1]
                start += n


def c_train_mode():
    need_ref()
    rng = np.random.default_rng(21)
    tdir = os.path.join(TMP, "train")
    os.makedirs(tdir, exist_ok=True)
    # exactly 3 and 2 windows of 16+1 tokens: an off-by-one in "enough tokens left" shows
    # and a shard too short for one window, sorted between them, which is skipped
    train = [rng.integers(0, V, 49), rng.integers(0, V, 16), rng.integers(0, V, 33)]
    val = rng.integers(0, V, 33)  # 2 windows: val_max_steps 3 is capped to one pass
    for name, toks in zip(["s_train_000.bin", "s_train_000a.bin", "s_train_001.bin"], train):
        write_shard(os.path.join(tdir, name), toks)
    write_shard(os.path.join(tdir, "s_val_000.bin"), val)
    steps, accum, warm, frac, every, vsteps, lr_max, clip = 6, 2, 2, 0.1, 4, 3, 1e-2, 1.0
    out = os.path.join(tdir, "out")
    r = run_ok(SHAPE_FLAGS + ["--train", "1", "--input_bin", os.path.join(tdir, "s_train_*.bin"),
                              "--input_val_bin", os.path.join(tdir, "s_val_*.bin"),
                              "--batch_size", "2", "--seq_len", "8", "--total_batch_size", str(16 * accum),
                              "--num_iterations", str(steps), "--warmup_iters", str(warm),
                              "--learning_rate", str(lr_max), "--learning_rate_decay_frac", str(frac),
                              "--weight_decay", str(WD), "--grad_clip", str(clip),
                              "--val_loss_every", str(every), "--val_max_steps", str(vsteps),
                              "--print_losses_exact", "1", "--flash", "1", "--output_dir", out])
    pat = re.compile(r"^step +(\d+)/(\d+) \| loss (\S+) \| norm (\S+) \| lr (\S+) \| (\S+) ms \| (\S+) tok/s$")
    rows = [pat.match(line) for line in r.stdout.splitlines() if line.startswith("step")]
    assert len(rows) == steps and all(rows), f"step lines: {r.stdout[-800:]}"
    vals = [float(line.split()[-1]) for line in r.stdout.splitlines() if line.startswith("val loss")]
    assert re.search(r"^avg tok/s: \d+$", r.stdout, re.M), "no 'avg tok/s' line"

    _, W = read_model_file(os.path.join(REF_DIR, "model.bin"))  # same seed and shape: same init
    model = torch_model_from_file(W, ref.GPTConfig(L, NH, C, V, MAXT))
    params, state = model.params_in_order(), {}
    walk = shard_walk(train, 16)
    want_vals, want_log, want_lr = [], [], []
    lr_min = lr_max * frac
    for s in range(steps + 1):
        if s % every == 0 or s == steps:
            vw = shard_walk([val], 16)
            with torch.no_grad():
                vl = [float(model(torch.as_tensor(w[:-1].reshape(2, 8)), torch.as_tensor(w[1:].reshape(2, 8)))[1])
                      for w in (next(vw) for _ in range(min(vsteps, 2)))]
            want_vals.append(sum(vl) / len(vl))
            want_log.append(f"s:{s} tel:")
        if s == steps:
            break
        losses, acc = [], None
        for _ in range(accum):
            w = next(walk)
            loss, grads = grads_of(model, w[:-1].reshape(2, 8), w[1:].reshape(2, 8))
            losses.append(loss)
            acc = grads if acc is None else [a + b for a, b in zip(acc, grads)]
        grads = [a / accum for a in acc]
        if s < warm:
            lr = lr_max * (s + 1) / warm
        else:
            decay = min(1.0, (s - warm) / (steps - warm))
            lr = lr_min + (lr_max - lr_min) * 0.5 * (1 + math.cos(math.pi * decay))
        norm = manual_adamw(params, grads, state, s + 1, lr, WD, clip)
        m = rows[s]
        assert int(m.group(1)) == s + 1 and int(m.group(2)) == steps, f"step line {m.group(0)}"
        assert abs(float(m.group(3)) - sum(losses) / accum) < 1e-5, \
            f"step {s}: loss {m.group(3)} vs replay {sum(losses) / accum:.7f}"
        assert abs(float(m.group(5)) - lr) <= 1e-4 * lr, f"step {s}: lr {m.group(5)} vs {lr:.4e}"
        assert abs(float(m.group(4)) - norm) <= 1e-3 * norm + 1e-4, f"step {s}: norm {m.group(4)} vs {norm:.4f}"
        want_log.append(f"s:{s} trl:")
        want_lr.append(lr)
    assert len(vals) == len(want_vals), f"{len(vals)} val lines, expected {len(want_vals)}"
    for got, want in zip(vals, want_vals):
        assert abs(got - want) < 1e-5, f"val loss {got} vs replay {want:.7f}"
    log = open(os.path.join(out, "main.log")).read().splitlines()
    assert len(log) == len(want_log), f"main.log has {len(log)} lines, expected {len(want_log)}"
    for line, prefix in zip(log, want_log):
        assert line.startswith(prefix), f"main.log line {line!r}, expected {prefix}..."
        assert re.fullmatch(r"s:\d+ (tel:\d+\.\d{6}|trl:\d+\.\d{6} lr:\S+ norm:\d+\.\d{4})", line), f"main.log line {line!r}"
    log_lrs = [float(line.split("lr:")[1].split()[0]) for line in log if " trl:" in line]
    assert np.allclose(log_lrs, want_lr, rtol=1e-6), f"main.log lr {log_lrs} vs {want_lr}"


def c_train_bf16():
    """bf16 autocast runs and its first loss is close to the float32 one (a smoke test of that path)."""
    need_ref()
    tdir = os.path.join(TMP, "train")
    assert os.path.exists(os.path.join(tdir, "s_train_000.bin")), "no train shards"
    r = run_ok(SHAPE_FLAGS + ["--train", "1", "--input_bin", os.path.join(tdir, "s_train_*.bin"),
                              "--batch_size", "2", "--seq_len", "8", "--num_iterations", "2",
                              "--dtype", "bfloat16", "--print_losses_exact", "1"])
    losses = [float(line.split("|")[1].split()[1]) for line in r.stdout.splitlines() if line.startswith("step")]
    assert len(losses) == 2, f"bf16 run printed {r.stdout[-300:]}"
    _, W = read_model_file(os.path.join(REF_DIR, "model.bin"))
    w = np.fromfile(os.path.join(tdir, "s_train_000.bin"), dtype="<u2", offset=1024)[:17].astype(np.int64)
    with torch.no_grad():
        model = torch_model_from_file(W, ref.GPTConfig(L, NH, C, V, MAXT))
        want = float(model(torch.tensor(w[:-1]).view(2, 8), torch.tensor(w[1:]).view(2, 8))[1])
    assert 0 < abs(losses[0] - want) < 0.05, f"bf16 first loss {losses[0]} vs float64 {want}"


# ----------------------------------------------------------------------------------------------
# tokenizer

def gpt2_byte_chars():
    """byte -> character of GPT-2's encoder.json: printable Latin-1 bytes stand for themselves,
    the other 68 bytes take U+0100, U+0101, ... in increasing byte order."""
    keep = set(range(0x21, 0x7F)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    others = [b for b in range(256) if b not in keep]
    table = {b: chr(b) for b in keep}
    table.update({b: chr(0x100 + i) for i, b in enumerate(others)})
    return table


def c_tokenizer():
    chars = gpt2_byte_chars()
    assert chars[ord(" ")] == "\u0120" and chars[ord("\n")] == "\u010a" and chars[0] == "\u0100"
    rng = np.random.default_rng(31)
    tokens = [bytes([b]) for b in rng.permutation(256)]
    seen = set(tokens)
    tokens.append(bytes(rng.integers(0, 256, 255).tolist()))  # the longest allowed token
    seen.add(tokens[-1])
    while len(tokens) < 50256:
        t = bytes(rng.integers(0, 256, int(rng.integers(2, 9))).tolist())
        if t not in seen:
            seen.add(t)
            tokens.append(t)
    tokens.append(b"<|endoftext|>")
    vdir = os.path.join(TMP, "vocab")
    os.makedirs(vdir, exist_ok=True)
    with open(os.path.join(vdir, "encoder.json"), "w") as f:
        json.dump({"".join(chars[b] for b in t): i for i, t in enumerate(tokens)}, f)
    out = os.path.join(TMP, "tok")
    run_ok(["--n_layer", "1", "--n_head", "1", "--n_embd", "8", "--block_size", "8",
            "--batch_size", "1", "--seq_len", "4", "--steps", "0", "--vocab_dir", vdir,
            "--output_dir", out])
    data = open(os.path.join(out, "gpt2_tokenizer.bin"), "rb").read()
    h = struct.unpack("<256I", data[:1024])
    assert h[:4] == (20240328, 2, 50257, 50256) and not any(h[4:]), f"header {h[:5]}"
    want = b"".join(bytes([len(t)]) + t for t in tokens)
    if data[1024:] != want:
        pos, i = 1024, 0
        while data[pos + 1:pos + 1 + data[pos]] == tokens[i]:
            pos, i = pos + 1 + data[pos], i + 1
        raise AssertionError(f"token {i}: file has {data[pos + 1:pos + 1 + data[pos]]!r}, expected {tokens[i]!r}")


# ----------------------------------------------------------------------------------------------

if __name__ == "__main__":
    torch.set_num_threads(1)
    check("reference_run", c_reference_run)
    check("headers_and_sizes", c_headers_and_sizes)
    check("param_counts", c_param_counts)
    check("wte_padding_zero", c_wte_padding)
    check("bf16_file_is_rounded_fp32", c_bf16_file)
    check("bf16_rounding_edges", c_bf16_rounding_edges)
    check("init_recipe", c_init_recipe)
    check("forward_vs_numpy_fp64", c_forward_numpy)
    check("forward_vs_numpy_fp64_rough_weights", c_forward_numpy_rough)
    check("attention_vs_loop", c_attention_naive)
    check("optimizer_vs_manual_adamw", c_optimizer_vs_manual)
    check("grads_vs_finite_differences", c_gradcheck_fd)
    check("stored_grads_vs_fp64", c_stored_grads)
    check("adamw_losses_vs_manual_replay", c_adamw_replay)
    check("load_v3_v5_and_input_bin", c_load_checkpoints)
    check("bad_checkpoints_rejected", c_bad_checkpoints)
    check("train_mode_vs_replay", c_train_mode)
    check("train_mode_bf16_autocast", c_train_bf16)
    check("tokenizer_table", c_tokenizer)
    sys.exit(1 if failures else 0)
