#!/usr/bin/env python3
"""
train_gpt2.py: the PyTorch reference for the C/CUDA GPT-2 trainers.

Two modes:

  reference (default): build a model (random init from --seed, or --model FILE), write
      OUTPUT_DIR/model.bin (version 3, fp32), OUTPUT_DIR/model_bf16.bin (version 5, bf16) and
      OUTPUT_DIR/debug_state.bin (version 3, layout below), after running --steps AdamW steps
      on one batch. test_gpt2.c checks the C forward/backward/optimizer against these files.

  --train 1: plain training on token shards with the same schedule, data order, logging and
      init as the C trainer, so the two can be compared step by step (and benchmarked on GPU).

Debug state version 3 (int32 header of 256 slots, little endian; --debug_state_version 2 writes
llm.c's version 2 instead: header [0..3] only, no step losses, for llm.c's test_gpt2):
  [0]=20240327 [1]=3 [2]=B [3]=T [4]=V [5]=Vp [6]=S (stored steps)
  [7..12] float32 bit patterns of learning_rate, beta1, beta2, eps, weight_decay, grad_clip
  payload: inputs int32 (B,T); targets int32 (B,T); logits float32 (B,T,V); loss float32;
           grads of the 16 tensors float32 in checkpoint order (wte grad padded to (Vp,C));
           losses float32 (S): losses[s] = loss of the forward pass after s optimizer updates.
  [13] = 1 when some targets are -1 (ignored: a loss-masked batch, --ignore_frac or a masked
  shard); the loss is then the mean over the other targets (F.cross_entropy's ignore_index).
  [14] = 1 when the loss is weighted per token (--weights): weights float32 (B,T) follow the
  losses, and the loss is sum(weight * token loss) / (B*T) (ignored targets count 0).

Loss masks: token shards of version 2 (doc/formats.md) carry a mask; targets whose mask byte is
0 become -1 and are left out of the mean, as in the C trainer. --chat_vocab N grows the
vocabulary for the chat special tokens exactly as train_gpt2.c does (doc/chat.md).

Examples:
  /usr/bin/python3 train_gpt2.py --n_layer 2 --n_head 2 --n_embd 32 --vocab_size 300 \
      --block_size 64 --batch_size 2 --seq_len 16 --output_dir /tmp/ref
  /usr/bin/python3 train_gpt2.py --train 1 --model d12 --input_bin 'data/*_train.bin' \
      --input_val_bin 'data/*_val.bin' --batch_size 4 --seq_len 256 --num_iterations 20
"""
import argparse
import contextlib
import glob
import inspect
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------------------------
# constants of the file formats (doc/formats.md)

HEADER_INTS = 256
HEADER_BYTES = 4 * HEADER_INTS
MODEL_MAGIC = 20240326
DEBUG_MAGIC = 20240327
DEBUG_VERSION = 3
TOKENIZER_MAGIC = 20240328
SHARD_MAGIC = 20240520
GPT2_VOCAB = 50257

# checkpoint tensor order; per-layer tensors are stacked over layers (layer 0 first)
PARAM_NAMES = ["wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
               "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"]
LAYER_NAMES = PARAM_NAMES[2:14]
# AdamW weight decay applies to the matrices only (biases and LayerNorm params get 0)
DECAY_NAMES = {"wte", "wpe", "qkvw", "attprojw", "fcw", "fcprojw"}

DESCRIPTORS = {  # name: (n_layer, n_head, n_embd)
    "d6": (6, 6, 384),
    "d12": (12, 12, 768),
    "d24": (24, 16, 1024),
    "d36": (36, 20, 1280),
    "d48": (48, 25, 1600),
}


def fail(msg):
    """A user error: one line on stderr, exit status 1."""
    raise SystemExit("error: " + msg)


def padded_vocab(V):
    return (V + 127) // 128 * 128


class GPTConfig:
    def __init__(self, n_layer, n_head, n_embd, vocab_size, block_size):
        self.n_layer = n_layer
        self.n_head = n_head
        self.n_embd = n_embd
        self.vocab_size = vocab_size
        self.block_size = block_size

    @property
    def padded_vocab_size(self):
        return padded_vocab(self.vocab_size)

    def check(self, what):
        for name in ("n_layer", "n_head", "n_embd", "vocab_size", "block_size"):
            if getattr(self, name) <= 0:
                fail(f"{what}: {name} must be positive, got {getattr(self, name)}")
        if self.n_embd % self.n_head != 0:
            fail(f"{what}: n_embd {self.n_embd} is not a multiple of n_head {self.n_head}")

    def __str__(self):
        return (f"L={self.n_layer} NH={self.n_head} C={self.n_embd} V={self.vocab_size} "
                f"Vp={self.padded_vocab_size} max_seq_len={self.block_size}")


def param_shapes(cfg, wte_rows):
    """[(name, shape)] in checkpoint order; wte has wte_rows rows (V in the model, Vp in files)."""
    L, C = cfg.n_layer, cfg.n_embd
    return [("wte", (wte_rows, C)), ("wpe", (cfg.block_size, C)),
            ("ln1w", (L, C)), ("ln1b", (L, C)),
            ("qkvw", (L, 3 * C, C)), ("qkvb", (L, 3 * C)),
            ("attprojw", (L, C, C)), ("attprojb", (L, C)),
            ("ln2w", (L, C)), ("ln2b", (L, C)),
            ("fcw", (L, 4 * C, C)), ("fcb", (L, 4 * C)),
            ("fcprojw", (L, C, 4 * C)), ("fcprojb", (L, C)),
            ("lnfw", (C,)), ("lnfb", (C,))]


def num_file_params(cfg):
    """Number of values in a checkpoint's payload (wte padded to Vp rows)."""
    return sum(math.prod(shape) for _, shape in param_shapes(cfg, cfg.padded_vocab_size))


# ----------------------------------------------------------------------------------------------
# the model

def causal_attention(q, k, v, use_sdpa):
    """q, k, v: (B, NH, T, hs) -> (B, NH, T, hs); softmax(q k^T / sqrt(hs), causal) v."""
    if use_sdpa:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    T, hs = q.size(-2), q.size(-1)
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))  # (B, NH, T, T)
    future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
    att = att.masked_fill(future, float("-inf"))
    att = F.softmax(att, dim=-1)
    return att @ v


class GPT(nn.Module):
    """GPT-2 whose parameters are exactly the 16 checkpoint tensors (wte has V rows, unpadded)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.use_sdpa = False
        for name, shape in param_shapes(cfg, cfg.vocab_size):
            setattr(self, name, nn.Parameter(torch.zeros(shape)))  # registration order = file order

    def params_in_order(self):
        return [getattr(self, name) for name in PARAM_NAMES]

    def forward(self, idx, targets=None, weights=None):
        """idx, targets: (B, T) int64 -> logits (B, T, V), mean cross-entropy loss (or None).
        weights (B, T) float32: the loss is sum(weights * per-token loss) / (B * T) instead (targets
        -1 still count 0): the C trainers' gpt2_backward_weighted with dloss 1 / (B * T)."""
        cfg = self.cfg
        B, T = idx.shape
        C, NH = cfg.n_embd, cfg.n_head
        hs = C // NH
        eps = 1e-5
        x = self.wte[idx] + self.wpe[:T]  # (B, T, C)
        for l in range(cfg.n_layer):
            h = F.layer_norm(x, (C,), self.ln1w[l], self.ln1b[l], eps)
            qkv = F.linear(h, self.qkvw[l], self.qkvb[l])  # (B, T, 3C): [Q | K | V]
            q, k, v = qkv.split(C, dim=2)
            q = q.view(B, T, NH, hs).transpose(1, 2)  # (B, NH, T, hs)
            k = k.view(B, T, NH, hs).transpose(1, 2)
            v = v.view(B, T, NH, hs).transpose(1, 2)
            y = causal_attention(q, k, v, self.use_sdpa)
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            x = x + F.linear(y, self.attprojw[l], self.attprojb[l])
            h = F.layer_norm(x, (C,), self.ln2w[l], self.ln2b[l], eps)
            h = F.gelu(F.linear(h, self.fcw[l], self.fcb[l]), approximate="tanh")  # (B, T, 4C)
            x = x + F.linear(h, self.fcprojw[l], self.fcprojb[l])
        x = F.layer_norm(x, (C,), self.lnfw, self.lnfb, eps)
        logits = F.linear(x, self.wte)  # (B, T, V), head tied to wte
        loss = None
        if targets is not None:
            flat = logits.reshape(-1, logits.size(-1))
            if flat.dtype in (torch.bfloat16, torch.float16):
                flat = flat.float()  # the loss in fp32 under autocast
            flat_t = targets.reshape(-1)
            if weights is not None:
                per = F.cross_entropy(flat, flat_t, ignore_index=-1, reduction="none")  # 0 where ignored
                loss = (weights.reshape(-1) * per).sum() / flat_t.numel()
            elif bool((flat_t >= 0).any()):
                loss = F.cross_entropy(flat, flat_t, ignore_index=-1)  # mean over counted targets
            else:
                loss = flat.sum() * 0.0  # nothing counted: 0, as the C trainer (torch says NaN)
        return logits, loss


def extend_vocab(model, new_V):
    """Grows wte from V to new_V rows (chat special tokens): the same bits as gpt2_extend_vocab
    in train_gpt2.c. Row r = mean of the old rows (summed in float64, row order) + 0.02 * z, z =
    (sum of 12 splitmix64 uniforms seeded 20251203) - 6, drawn row by row, column by column."""
    cfg = model.cfg
    V, C = cfg.vocab_size, cfg.n_embd
    if new_V == V:
        return
    if not V <= new_V <= cfg.padded_vocab_size:
        fail(f"--chat_vocab {new_V}: must be in [{V}, Vp = {cfg.padded_vocab_size}]")
    old = model.wte.detach().numpy().astype(np.float64)
    mean = np.cumsum(old, axis=0)[-1]  # sequential sums, the C's order
    mask64 = (1 << 64) - 1
    state = 20251203
    rows = np.zeros((new_V - V, C), dtype=np.float32)
    for r in range(new_V - V):
        for j in range(C):
            z = -6.0
            for _ in range(12):
                state = (state + 0x9E3779B97F4A7C15) & mask64
                x = state
                x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask64
                x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask64
                x ^= x >> 31
                z += float(x >> 11) * (1.0 / 9007199254740992.0)
            rows[r, j] = np.float32(mean[j] / V + 0.02 * z)
    new_cfg = GPTConfig(cfg.n_layer, cfg.n_head, cfg.n_embd, new_V, cfg.block_size)
    with torch.no_grad():
        model.wte = nn.Parameter(torch.cat([model.wte.detach(), torch.from_numpy(rows)], 0))
    # keep the registration order = file order
    params = {name: getattr(model, name) for name in PARAM_NAMES}
    for name in PARAM_NAMES:
        delattr(model, name)
    for name in PARAM_NAMES:
        setattr(model, name, params[name])
    model.cfg = new_cfg


def init_params(model, seed):
    """GPT-2 random init in the documented order, so the C trainer can reproduce it bit for bit.

    One CPU torch.Generator seeded with `seed`; every normal_ call on a fresh float32 tensor:
    wte (V, C); wpe (block_size, C); then per-layer tensors in checkpoint order, all layers of
    one kind before the next kind: qkvw/fcw N(0, 0.02) one call per layer; attprojw/fcprojw
    N(0, 0.02/sqrt(2L)) one call per layer; biases 0 and LayerNorm weights 1 use no randomness.
    """
    cfg = model.cfg
    L, C = cfg.n_layer, cfg.n_embd
    g = torch.Generator(device="cpu").manual_seed(seed)
    std = 0.02
    proj_std = 0.02 / math.sqrt(2 * L)

    def normal(shape, s):
        return torch.empty(shape, dtype=torch.float32).normal_(0.0, s, generator=g)

    with torch.no_grad():
        model.wte.copy_(normal((cfg.vocab_size, C), std))
        model.wpe.copy_(normal((cfg.block_size, C), std))
        for name in LAYER_NAMES:
            p = getattr(model, name)
            for l in range(L):
                if name in ("qkvw", "fcw"):
                    p[l].copy_(normal(p.shape[1:], std))
                elif name in ("attprojw", "fcprojw"):
                    p[l].copy_(normal(p.shape[1:], proj_std))
                elif name in ("ln1w", "ln2w"):
                    p[l].fill_(1.0)
                else:
                    p[l].zero_()
        model.lnfw.fill_(1.0)
        model.lnfb.zero_()


# ----------------------------------------------------------------------------------------------
# file I/O

def write_atomic(path, write_fn):
    """Writes path.tmp with write_fn(file) and renames it to path."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            write_fn(f)
        os.replace(tmp, path)
    except OSError as e:
        fail(f"{path}: cannot write: {e.strerror}")


def header_array(values):
    h = np.zeros(HEADER_INTS, dtype="<i4")
    for i, v in values.items():
        h[i] = v
    return h


def float_bits(x):
    """The int32 whose bits are the float32 x (for floats stored in int32 header slots)."""
    return struct.unpack("<i", struct.pack("<f", x))[0]


def fp32_to_bf16_bits(a):
    """float32 array -> uint16 bf16 bit patterns, round to nearest even (NaN stays NaN)."""
    a = np.ascontiguousarray(a, dtype="<f4").reshape(-1)
    out = np.empty(a.size, dtype="<u2")
    chunk = 1 << 24  # bounded temporaries for big tensors
    for s in range(0, a.size, chunk):
        u = a[s:s + chunk].view("<u4")
        r = ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16))
        nan = np.isnan(a[s:s + chunk])
        r[nan] = (u[nan] >> np.uint32(16)) | np.uint32(0x0040)  # quiet NaN, keep sign
        out[s:s + chunk] = r.astype("<u2")
    return out


def bf16_bits_to_fp32(b):
    return (np.asarray(b, dtype="<u2").astype("<u4") << np.uint32(16)).view("<f4")


def model_file_tensors(model):
    """The 16 tensors as float32 numpy arrays in file shapes (wte padded with zero rows to Vp)."""
    cfg = model.cfg
    out = []
    for name, p in zip(PARAM_NAMES, model.params_in_order()):
        a = p.detach().to("cpu", torch.float32).numpy()
        if name == "wte":
            a = pad_rows(a, cfg.padded_vocab_size)
        out.append(a)
    return out


def pad_rows(a, rows):
    padded = np.zeros((rows,) + a.shape[1:], dtype=np.float32)
    padded[:a.shape[0]] = a
    return padded


def write_checkpoint(path, cfg, tensors, version):
    """tensors: the 16 float32 arrays in file shapes. version 3 = fp32, 5 = bf16."""
    header = header_array({0: MODEL_MAGIC, 1: version, 2: cfg.block_size, 3: cfg.vocab_size,
                           4: cfg.n_layer, 5: cfg.n_head, 6: cfg.n_embd,
                           7: cfg.padded_vocab_size})

    def write(f):
        header.tofile(f)
        for a in tensors:
            if version == 3:
                np.ascontiguousarray(a, dtype="<f4").tofile(f)
            else:
                fp32_to_bf16_bits(a).tofile(f)

    write_atomic(path, write)


def read_checkpoint(path):
    """Reads a version 3 (fp32) or 5 (bf16) checkpoint -> (cfg, {name: float32 array})."""
    try:
        f = open(path, "rb")
    except OSError as e:
        fail(f"{path}: cannot open: {e.strerror}")
    with f:
        size = os.fstat(f.fileno()).st_size
        if size < HEADER_BYTES:
            fail(f"{path}: file is shorter than its 1024-byte header ({size} bytes)")
        h = np.frombuffer(f.read(HEADER_BYTES), dtype="<i4")
        if h[0] != MODEL_MAGIC:
            fail(f"{path}: bad magic {h[0]} (expected {MODEL_MAGIC}: not a model checkpoint)")
        version = int(h[1])
        if version not in (3, 5):
            fail(f"{path}: unsupported version {version} (expected 3 = fp32 or 5 = bf16)")
        cfg = GPTConfig(n_layer=int(h[4]), n_head=int(h[5]), n_embd=int(h[6]),
                        vocab_size=int(h[3]), block_size=int(h[2]))
        cfg.check(path)
        if int(h[7]) < cfg.vocab_size:
            fail(f"{path}: padded_vocab_size {h[7]} is smaller than vocab_size {cfg.vocab_size}")
        Vp = int(h[7])  # keep the file's padding even if it is not ours
        shapes = param_shapes(cfg, Vp)
        elem = 4 if version == 3 else 2
        n = sum(math.prod(s) for _, s in shapes)
        want = HEADER_BYTES + elem * n
        if size < want:
            fail(f"{path}: file is truncated ({size} bytes; header {cfg} needs {want})")
        if size > want:
            fail(f"{path}: file has {size - want} bytes more than header {cfg} implies ({want})")
        tensors = {}
        for name, shape in shapes:
            count = math.prod(shape)
            if version == 3:
                a = np.fromfile(f, dtype="<f4", count=count)
            else:
                a = bf16_bits_to_fp32(np.fromfile(f, dtype="<u2", count=count))
            tensors[name] = a.reshape(shape)
    return cfg, tensors


def model_from_checkpoint(path):
    cfg, tensors = read_checkpoint(path)
    model = GPT(cfg)
    with torch.no_grad():
        for name, p in zip(PARAM_NAMES, model.params_in_order()):
            a = tensors[name][:cfg.vocab_size] if name == "wte" else tensors[name]
            p.copy_(torch.from_numpy(np.ascontiguousarray(a)))
    return model


def write_debug_state(path, B, T, cfg, S, opt, inputs, targets, logits, loss, grads, losses, version=DEBUG_VERSION,
                      weights=None):
    """opt: dict of learning_rate, beta1, beta2, eps, weight_decay, grad_clip. version 2 is
    llm.c's layout (header [0..3], no settings, no step losses), for llm.c's test_gpt2."""
    if version == 2:
        header = header_array({0: DEBUG_MAGIC, 1: 2, 2: B, 3: T})
        losses = []
    else:
        header = header_array({0: DEBUG_MAGIC, 1: DEBUG_VERSION, 2: B, 3: T, 4: cfg.vocab_size,
                               5: cfg.padded_vocab_size, 6: S, 13: int((np.asarray(targets) < 0).any()),
                               7: float_bits(opt["learning_rate"]), 8: float_bits(opt["beta1"]),
                               9: float_bits(opt["beta2"]), 10: float_bits(opt["eps"]),
                               11: float_bits(opt["weight_decay"]), 12: float_bits(opt["grad_clip"]),
                               14: int(weights is not None)})
        assert len(losses) == S
    assert len(grads) == len(PARAM_NAMES)

    def write(f):
        header.tofile(f)
        np.ascontiguousarray(inputs, dtype="<i4").tofile(f)     # (B, T)
        np.ascontiguousarray(targets, dtype="<i4").tofile(f)    # (B, T)
        np.ascontiguousarray(logits, dtype="<f4").tofile(f)     # (B, T, V)
        np.array([loss], dtype="<f4").tofile(f)
        for gr in grads:                                        # file shapes, wte (Vp, C)
            np.ascontiguousarray(gr, dtype="<f4").tofile(f)
        np.array(losses, dtype="<f4").tofile(f)                 # (S,)
        if weights is not None:
            np.ascontiguousarray(weights, dtype="<f4").tofile(f)  # (B, T)

    write_atomic(path, write)


def read_shard_header(path):
    """Validates a token shard (version 1, or 2 with a loss mask) -> (number of tokens, version)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            raw = f.read(HEADER_BYTES)
    except OSError as e:
        fail(f"{path}: cannot open: {e.strerror}")
    if len(raw) < HEADER_BYTES:
        fail(f"{path}: file is shorter than its 1024-byte header ({size} bytes)")
    h = np.frombuffer(raw, dtype="<i4")
    if h[0] != SHARD_MAGIC:
        fail(f"{path}: bad magic {h[0]} (expected {SHARD_MAGIC}: not a token shard)")
    if h[1] not in (1, 2):
        fail(f"{path}: unsupported shard version {h[1]} (expected 1, or 2 with a loss mask)")
    n = int(np.uint32(h[2]))
    per = 3 if h[1] == 2 else 2
    if size != HEADER_BYTES + per * n:
        fail(f"{path}: size {size} bytes does not match its {n} tokens (expected {HEADER_BYTES + per * n})")
    return n, int(h[1])


def shard_tokens(path):
    """-> (tokens uint16, mask uint8 or None for a version 1 shard)."""
    n, version = read_shard_header(path)
    if n == 0:
        return np.zeros(0, dtype="<u2"), (np.zeros(0, dtype=np.uint8) if version == 2 else None)
    tokens = np.memmap(path, dtype="<u2", mode="r", offset=HEADER_BYTES, shape=(n,))
    mask = None
    if version == 2:
        mask = np.memmap(path, dtype=np.uint8, mode="r", offset=HEADER_BYTES + 2 * n, shape=(n,))
    return tokens, mask


def masked_targets(buf, mask):
    """buf: (B*T+1) int64 tokens, mask: their mask bytes or None -> targets with -1 where masked."""
    y = buf[1:].clone()
    if mask is not None:
        y[torch.from_numpy(np.asarray(mask[1:]) == 0)] = -1
    return y


def expand_glob(pattern, what):
    files = sorted(glob.glob(pattern))
    if not files:
        fail(f"{what}: no files match '{pattern}'")
    return files


class ShardLoader:
    """Sequential batches, no shuffling: shards in sorted glob order; batch k of a shard is tokens
    [k*B*T, k*B*T + B*T + 1); when fewer than B*T+1 tokens remain, the next shard (wrapping).
    A shard of N tokens holds (N-1)//(B*T) batches; shards holding none are skipped."""

    def __init__(self, pattern, B, T, vocab_size, what):
        self.files = expand_glob(pattern, what)
        self.B, self.T, self.V = B, T, vocab_size
        self.counts = [read_shard_header(p)[0] for p in self.files]
        if self.batches_per_pass() == 0:
            fail(f"{what}: no shard of '{pattern}' holds B*T+1 = {B * T + 1} tokens")
        self.reset()

    def batches_per_pass(self):
        return sum((n - 1) // (self.B * self.T) for n in self.counts)

    def reset(self):
        self.shard = 0
        self.pos = 0
        self.tokens, self.mask = shard_tokens(self.files[0])

    def next_batch(self):
        """-> inputs, targets: (B, T) int64 CPU tensors."""
        n = self.B * self.T
        while self.pos + n + 1 > len(self.tokens):  # ends: some shard holds a batch
            self.shard = (self.shard + 1) % len(self.files)
            self.pos = 0
            self.tokens, self.mask = shard_tokens(self.files[self.shard])
        buf = np.array(self.tokens[self.pos:self.pos + n + 1], dtype=np.int64)
        mask = None if self.mask is None else self.mask[self.pos:self.pos + n + 1]
        self.pos += n
        if buf.max() >= self.V:
            fail(f"{self.files[self.shard]}: token id {buf.max()} >= vocab_size {self.V}")
        buf = torch.from_numpy(buf)
        return buf[:-1].view(self.B, self.T), masked_targets(buf, mask).view(self.B, self.T)


def bytes_to_unicode():
    """GPT-2's reversible map from the 256 byte values to printable characters (encoder.json)."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1))
                 + list(range(ord("\xae"), ord("\xff") + 1)))
    table = {}
    extra = 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)  # non-printable bytes go to 256, 257, ... in byte order
            extra += 1
    return table


def write_tokenizer(vocab_dir, path):
    """llm.c's decode table (version 2) from OpenAI's encoder.json."""
    src = os.path.join(vocab_dir, "encoder.json")
    try:
        with open(src, "r", encoding="utf-8") as f:
            encoder = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{src}: cannot read encoder.json: {e}")
    if not isinstance(encoder, dict) or len(encoder) != GPT2_VOCAB:
        fail(f"{src}: expected a JSON object of {GPT2_VOCAB} tokens")
    char_to_byte = {c: b for b, c in bytes_to_unicode().items()}
    table = [None] * GPT2_VOCAB
    for token, i in encoder.items():
        if not isinstance(i, int) or not 0 <= i < GPT2_VOCAB or table[i] is not None:
            fail(f"{src}: token {token!r} has a bad or repeated id {i!r}")
        try:
            raw = bytes(char_to_byte[c] for c in token)
        except KeyError as e:
            fail(f"{src}: token {token!r} has a character outside GPT-2's byte map: {e}")
        if not 1 <= len(raw) <= 255:
            fail(f"{src}: token {i} is {len(raw)} bytes long (1..255 allowed)")
        table[i] = raw
    header = np.zeros(HEADER_INTS, dtype="<u4")
    header[:4] = [TOKENIZER_MAGIC, 2, GPT2_VOCAB, GPT2_VOCAB - 1]

    def write(f):
        header.tofile(f)
        for raw in table:
            f.write(bytes([len(raw)]) + raw)

    write_atomic(path, write)


# ----------------------------------------------------------------------------------------------
# shared pieces of both modes

def build_model(args):
    """The model on CPU in float32: loaded from a checkpoint or randomly initialised."""
    shape = None
    if args.model is not None and args.model in DESCRIPTORS:
        shape = DESCRIPTORS[args.model]
        for flag, v in zip(("n_layer", "n_head", "n_embd"), shape):
            given = getattr(args, flag)
            if given is not None and given != v:
                fail(f"--{flag} {given} conflicts with --model {args.model} ({flag} {v})")
    elif args.model is not None:
        if args.model.startswith("d") and args.model[1:].isdigit() and not os.path.exists(args.model):
            fail(f"--model {args.model}: unknown descriptor (known: {' '.join(DESCRIPTORS)})")
        model = model_from_checkpoint(args.model)
        return model, f"loaded {args.model}"
    if shape is None:
        shape = tuple(v if v is not None else d
                      for v, d in zip((args.n_layer, args.n_head, args.n_embd), DESCRIPTORS["d12"]))
    cfg = GPTConfig(n_layer=shape[0], n_head=shape[1], n_embd=shape[2],
                    vocab_size=args.vocab_size, block_size=args.block_size)
    cfg.check("model")
    model = GPT(cfg)
    init_params(model, args.seed)
    return model, f"random init, seed {args.seed}"


def make_optimizer(model, args, device, allow_fused):
    """torch AdamW, weight decay only on DECAY_NAMES; foreach off unless fused is used on CUDA."""
    decay, no_decay = [], []
    for name, p in zip(PARAM_NAMES, model.params_in_order()):
        (decay if name in DECAY_NAMES else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": args.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    accepted = inspect.signature(torch.optim.AdamW.__init__).parameters
    kw = {}
    if "foreach" in accepted:
        kw["foreach"] = False
    if "fused" in accepted:
        kw["fused"] = bool(allow_fused and device == "cuda")
        if kw["fused"]:
            kw.pop("foreach", None)
    return torch.optim.AdamW(groups, lr=args.learning_rate, betas=(args.beta1, args.beta2),
                             eps=args.eps, weight_decay=args.weight_decay, **kw)


def clip_or_norm(params, grad_clip):
    """Global gradient norm, computed as the C and CUDA trainers compute it: the squares summed in
    float64 and the square root rounded once to float32 (torch.norm in float32 loses ~0.3% at d12
    on torch 1.13's CPU, enough for clipping to diverge from C within a few steps). When
    grad_clip > 0, scales the gradients by grad_clip / (norm + 1e-6) if that is below 1, in the
    gradients' precision (float32, as C), which is torch.nn.utils.clip_grad_norm_'s rule. Returns the norm before clipping."""
    grads = [p.grad.detach() for p in params if p.grad is not None]
    if not grads:
        return 0.0
    total = sum(float(g.double().pow(2).sum()) for g in grads)
    dtype = grads[0].dtype  # float32 as in C; float64 models (the checks) keep float64
    norm = torch.tensor(math.sqrt(total), dtype=dtype)
    if grad_clip > 0:
        coef = torch.tensor(grad_clip, dtype=dtype) / (norm + torch.tensor(1e-6, dtype=dtype))
        if coef < 1:
            for g in grads:
                g.mul_(coef.to(g.device))
    return float(norm)


def setup_device(args):
    """Checks --device/--dtype/--flash/--compile; -> (device, autocast context factory)."""
    if args.device == "cuda":
        if not torch.cuda.is_available():
            fail("--device cuda: no CUDA device is available to torch")
        if args.tf32:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
    if args.flash and not hasattr(F, "scaled_dot_product_attention"):
        print(f"note: --flash 1 ignored, torch {torch.__version__} has no scaled_dot_product_attention")
        args.flash = 0
    if args.compile and not hasattr(torch, "compile"):
        print(f"note: --compile 1 ignored, torch {torch.__version__} has no torch.compile")
        args.compile = 0
    if args.dtype == "bfloat16":
        def ctx():
            return torch.autocast(device_type=args.device, dtype=torch.bfloat16)
    else:
        ctx = contextlib.nullcontext
    return args.device, ctx


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


# ----------------------------------------------------------------------------------------------
# reference mode

def reference_batch(args, cfg):
    """The debug-state batch: first B*T+1 tokens of --input_bin, or random ones from seed+1."""
    B, T = args.batch_size, args.seq_len
    if args.input_bin:
        path = expand_glob(args.input_bin, "--input_bin")[0]
        tokens, mask = shard_tokens(path)
        if len(tokens) < B * T + 1:
            fail(f"{path}: shard has {len(tokens)} tokens, fewer than B*T+1 = {B * T + 1}")
        buf = torch.from_numpy(np.array(tokens[:B * T + 1], dtype=np.int64))
        if int(buf.max()) >= cfg.vocab_size:
            fail(f"{path}: token id {int(buf.max())} >= vocab_size {cfg.vocab_size}")
        y = masked_targets(buf, None if mask is None else mask[:B * T + 1])
        source = path
    else:
        g = torch.Generator(device="cpu").manual_seed(args.seed + 1)
        buf = torch.randint(0, cfg.vocab_size, (B * T + 1,), generator=g)
        y = buf[1:].clone()
        source = f"random tokens, seed {args.seed + 1}"
    if args.ignore_frac > 0:  # a loss mask for the gradient checks: targets drawn from seed+2
        g = torch.Generator(device="cpu").manual_seed(args.seed + 2)
        y[torch.rand(B * T, generator=g) < args.ignore_frac] = -1
        source += f", {int((y < 0).sum())} of {B * T} targets ignored"
    return buf[:-1].view(B, T).clone(), y.view(B, T).clone(), source


def run_reference(args, model, how):
    cfg = model.cfg
    B, T, S = args.batch_size, args.seq_len, args.steps
    if not args.output_dir:
        fail("--output_dir is required in reference mode")
    if T > cfg.block_size:
        fail(f"--seq_len {T} exceeds the model's max_seq_len {cfg.block_size}")
    os.makedirs(args.output_dir, exist_ok=True)
    device, autocast = setup_device(args)
    x, y, source = reference_batch(args, cfg)
    print(f"model: {cfg} ({how}); {num_file_params(cfg)} parameters in files")
    print(f"batch: B={B} T={T} from {source}")

    path = lambda name: os.path.join(args.output_dir, name)
    file_tensors = model_file_tensors(model)
    write_checkpoint(path("model.bin"), cfg, file_tensors, 3)
    write_checkpoint(path("model_bf16.bin"), cfg, file_tensors, 5)
    if args.vocab_dir:
        if cfg.vocab_size == GPT2_VOCAB:
            write_tokenizer(args.vocab_dir, path("gpt2_tokenizer.bin"))
        else:
            print(f"note: --vocab_dir ignored, vocab_size is {cfg.vocab_size}, not {GPT2_VOCAB}")

    # the stored forward/backward: CPU, float32, manual attention, before any update
    model.zero_grad(set_to_none=True)
    w = None
    if args.weights:  # per-token loss weights for the gradient checks, uniform in [-1, 1) from seed+3
        g = torch.Generator(device="cpu").manual_seed(args.seed + 3)
        w = torch.rand(B, T, generator=g) * 2 - 1
        print(f"per-token loss weights in [-1, 1) (seed {args.seed + 3})")
    logits, loss = model(x, y, w)
    loss.backward()
    ref_logits = logits.detach().numpy().copy()  # (B, T, V)
    ref_loss = float(loss)
    ref_grads = []
    for name, p in zip(PARAM_NAMES, model.params_in_order()):
        gr = p.grad.detach().numpy().copy()
        ref_grads.append(pad_rows(gr, cfg.padded_vocab_size) if name == "wte" else gr)
    print(f"loss {ref_loss:.6f} (ln V = {math.log(cfg.vocab_size):.6f})")

    # S AdamW steps on the same batch; the first one reuses the pass above when nothing differs
    same_pass = device == "cpu" and args.dtype == "float32" and not args.flash and not args.compile
    model.to(device)
    model.use_sdpa = bool(args.flash)
    fwd = torch.compile(model) if args.compile else model
    params = model.params_in_order()
    opt = make_optimizer(model, args, device, allow_fused=False)
    xd, yd = x.to(device), y.to(device)
    losses = []
    for s in range(S):
        if not (s == 0 and same_pass):
            opt.zero_grad(set_to_none=True)
            with autocast():
                _, loss = fwd(xd, yd, None if w is None else w.to(device))
            loss.backward()
        losses.append(float(loss))
        norm = clip_or_norm(params, args.grad_clip)
        opt.step()
        print(f"step {s}: loss {losses[-1]:.6f} norm {norm:.4f}")

    opt_values = {k: getattr(args, k) for k in
                  ("learning_rate", "beta1", "beta2", "eps", "weight_decay", "grad_clip")}
    write_debug_state(path("debug_state.bin"), B, T, cfg, S, opt_values, x.numpy(), y.numpy(),
                      ref_logits, ref_loss, ref_grads, losses, args.debug_state_version,
                      None if w is None else w.numpy())
    print(f"wrote {path('model.bin')}, {path('model_bf16.bin')}, {path('debug_state.bin')}"
          f" (version {args.debug_state_version}"
          f"{'' if args.debug_state_version == 2 else f', {S} losses'})")


# ----------------------------------------------------------------------------------------------
# training mode

def lr_at(step, args, num_iterations):
    """Linear warmup over warmup_iters steps, then cosine from lr to lr * decay_frac."""
    lr = args.learning_rate
    lr_min = lr * args.learning_rate_decay_frac
    if step < args.warmup_iters:
        return lr * (step + 1) / args.warmup_iters
    ratio = (step - args.warmup_iters) / max(1, num_iterations - args.warmup_iters)
    ratio = min(max(ratio, 0.0), 1.0)
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))
    return lr_min + coeff * (lr - lr_min)


def run_training(args, model, how):
    cfg = model.cfg
    B, T = args.batch_size, args.seq_len
    if not args.input_bin:
        fail("--train 1 needs --input_bin (a glob of train shards)")
    if T > cfg.block_size:
        fail(f"--seq_len {T} exceeds the model's max_seq_len {cfg.block_size}")
    total = args.total_batch_size if args.total_batch_size > 0 else B * T
    if total % (B * T) != 0:
        fail(f"--total_batch_size {total} is not a multiple of B*T = {B * T}")
    grad_accum = total // (B * T)
    device, autocast = setup_device(args)
    train_loader = ShardLoader(args.input_bin, B, T, cfg.vocab_size, "--input_bin")
    val_loader = None
    if args.input_val_bin:
        val_loader = ShardLoader(args.input_val_bin, B, T, cfg.vocab_size, "--input_val_bin")
    num_iterations = args.num_iterations
    if num_iterations < 0:  # one pass over the train shards
        num_iterations = max(1, train_loader.batches_per_pass() // grad_accum)
    val_steps = 0
    if val_loader is not None:  # at most one pass over the val shards, as the C trainer
        val_steps = val_loader.batches_per_pass()
        if 0 <= args.val_max_steps < val_steps:
            val_steps = args.val_max_steps

    print(f"model: {cfg} ({how})")
    print(f"B={B} T={T} total_batch_size={total} grad_accum={grad_accum} steps={num_iterations} "
          f"device={device} dtype={args.dtype} flash={args.flash} compile={args.compile}")
    model.to(device)
    model.use_sdpa = bool(args.flash)
    fwd = torch.compile(model) if args.compile else model
    params = model.params_in_order()
    opt = make_optimizer(model, args, device, allow_fused=True)
    log = None
    if args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)
        log = open(os.path.join(args.output_dir, "main.log"), "w")
    fmt = "%.9g" if args.print_losses_exact else "%.6f"

    def log_line(text):
        if log is not None:
            log.write(text + "\n")
            log.flush()

    timings = []  # (step, seconds)
    for step in range(num_iterations + 1):
        last = step == num_iterations
        if val_loader is not None and args.val_loss_every > 0 and (step % args.val_loss_every == 0 or last):
            val_loader.reset()
            acc = torch.zeros((), dtype=torch.float64, device=device)
            with torch.no_grad():
                for _ in range(val_steps):
                    vx, vy = val_loader.next_batch()
                    with autocast():
                        _, vloss = fwd(vx.to(device), vy.to(device))
                    acc += vloss.detach().double()
            val_loss = float(acc) / max(1, val_steps)
            print(("val loss " + fmt) % val_loss)
            log_line("s:%d tel:%.6f" % (step, val_loss))
        if last:
            break
        sync(device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        acc = torch.zeros((), dtype=torch.float64, device=device)
        for _ in range(grad_accum):
            x, y = train_loader.next_batch()
            with autocast():
                _, loss = fwd(x.to(device, non_blocking=True), y.to(device, non_blocking=True))
            (loss / grad_accum).backward()
            acc += loss.detach().double()
        norm = clip_or_norm(params, args.grad_clip)
        lr = lr_at(step, args, num_iterations)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        sync(device)
        dt = time.perf_counter() - t0
        train_loss = float(acc) / grad_accum
        timings.append(dt)
        print(("step %4d/%d | loss " + fmt + " | norm %.4f | lr %.4e | %.2f ms | %.0f tok/s")
              % (step + 1, num_iterations, train_loss, norm, lr, dt * 1000, total / dt))
        log_line("s:%d trl:%.6f lr:%.6e norm:%.4f" % (step, train_loss, lr, norm))
    if log is not None:
        log.close()
    if timings:
        skip = min(args.bench_skip, len(timings) - 1)
        kept = timings[skip:]
        avg = sum(kept) / len(kept)
        print(f"avg over steps {skip + 1}..{len(timings)}: {avg * 1000:.2f} ms/step")
        print(f"avg tok/s: {total / avg:.0f}")


# ----------------------------------------------------------------------------------------------
# main

def parse_args(argv):
    p = argparse.ArgumentParser(description="PyTorch reference for the GPT-2 C/CUDA trainers")
    a = p.add_argument
    a("--train", type=int, default=0, choices=[0, 1], help="0: reference mode, 1: training mode")
    a("--model", default=None, help="d6|d12|d24|d36|d48 or a checkpoint .bin (version 3 or 5)")
    a("--n_layer", type=int, default=None, help="layers (default: d12's)")
    a("--n_head", type=int, default=None)
    a("--n_embd", type=int, default=None)
    a("--vocab_size", type=int, default=GPT2_VOCAB)
    a("--block_size", type=int, default=1024, help="max sequence length (wpe rows)")
    a("--batch_size", type=int, default=4)
    a("--seq_len", type=int, default=64)
    a("--steps", type=int, default=10, help="reference mode: AdamW steps on the one batch")
    a("--debug_state_version", type=int, default=DEBUG_VERSION, choices=(2, DEBUG_VERSION),
      help="reference mode: 3 (ours: optimizer settings and step losses stored) or 2 (llm.c's "
           "test_gpt2 layout: logits, loss, grads only)")
    a("--seed", type=int, default=42)
    a("--input_bin", default=None, help="token shard (glob in training mode)")
    a("--input_val_bin", default=None, help="val shards (glob), training mode")
    a("--output_dir", default=None)
    a("--vocab_dir", default=None, help="directory with encoder.json -> gpt2_tokenizer.bin")
    a("--device", default="cpu", choices=["cpu", "cuda"])
    a("--dtype", default="float32", choices=["float32", "bfloat16"])
    a("--compile", type=int, default=0, choices=[0, 1])
    a("--flash", type=int, default=0, choices=[0, 1])
    a("--tf32", type=int, default=1, choices=[0, 1], help="allow TF32 matmuls on CUDA")
    a("--learning_rate", type=float, default=1e-4)
    a("--beta1", type=float, default=0.9)
    a("--beta2", type=float, default=0.95)
    a("--eps", type=float, default=1e-8)
    a("--weight_decay", type=float, default=0.0)
    a("--grad_clip", type=float, default=1.0, help="0: off")
    a("--total_batch_size", type=int, default=-1, help="tokens per step (-1: B*T)")
    a("--num_iterations", type=int, default=-1, help="-1: one pass over the train shards")
    a("--warmup_iters", type=int, default=0)
    a("--learning_rate_decay_frac", type=float, default=1.0)
    a("--val_loss_every", type=int, default=20, help="0: never")
    a("--val_max_steps", type=int, default=20, help="val batches, at most one pass (-1: one pass)")
    a("--print_losses_exact", type=int, default=0, choices=[0, 1])
    a("--bench_skip", type=int, default=3, help="steps left out of the final average")
    a("--chat_vocab", type=int, default=0,
      help="grow the vocabulary to N tokens for the chat markers, as train_gpt2.c (0: keep)")
    a("--weights", type=int, default=0, choices=(0, 1),
      help="reference mode: weight each token's loss (random in [-1, 1), the RL loss's form)")
    a("--ignore_frac", type=float, default=0.0,
      help="reference mode: ignore (target -1) this fraction of the batch's targets")
    args = p.parse_args(argv)
    for name in ("batch_size", "seq_len", "block_size", "vocab_size"):
        if getattr(args, name) <= 0:
            fail(f"--{name} must be positive, got {getattr(args, name)}")
    for name in ("steps", "warmup_iters", "val_loss_every", "bench_skip"):
        if getattr(args, name) < 0:
            fail(f"--{name} must be >= 0, got {getattr(args, name)}")
    if args.val_max_steps < -1:
        fail(f"--val_max_steps must be >= -1, got {args.val_max_steps}")
    if args.seed < 0 or args.seed + 1 >= 2 ** 64:
        fail(f"--seed must be in [0, 2^64 - 1), got {args.seed}")
    if args.grad_clip < 0 or args.learning_rate < 0 or args.weight_decay < 0 or args.eps < 0:
        fail("--learning_rate, --weight_decay, --eps and --grad_clip must be >= 0")
    if not (0 <= args.beta1 < 1 and 0 <= args.beta2 < 1):
        fail("--beta1 and --beta2 must be in [0, 1)")
    if not 0 <= args.ignore_frac <= 1:
        fail(f"--ignore_frac must be in [0, 1], got {args.ignore_frac}")
    if args.weights and args.debug_state_version == 2:
        fail("--weights needs --debug_state_version 3 (version 2 has no slot for the weights)")
    if args.chat_vocab < 0:
        fail(f"--chat_vocab must be >= 0, got {args.chat_vocab}")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    model, how = build_model(args)
    if args.chat_vocab:
        extend_vocab(model, args.chat_vocab)
        how += f", vocabulary grown to {args.chat_vocab}"
    if args.train:
        run_training(args, model, how)
    else:
        run_reference(args, model, how)


if __name__ == "__main__":
    main()
