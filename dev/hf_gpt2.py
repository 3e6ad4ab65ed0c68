"""Hugging Face GPT-2 checkpoints <-> this project's checkpoints, with numpy alone.

Shared by dev/hf_import.py and dev/hf_export.py (and their test, dev/test/t_hf.sh). Three file
formats are read or written here without torch, transformers or safetensors installed:

  llm.c checkpoint (doc/formats.md): 256 int32 header, then the 16 tensors of llmc/gpt2.h's
      table in order, fp32 (version 3) or bf16 (version 5); wte padded to Vp rows.
  safetensors: u64 little-endian header length N, N bytes of JSON
      {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the
      byte buffer the offsets point into (relative to its start), C order, little endian.
  torch.save pickles (pytorch_model.bin): the zip layout (torch >= 1.6: data.pkl + data/<key>)
      and the legacy one (a sequence of pickles, then the raw storages). Only the classes a state
      dict of tensors needs are accepted, so a foreign pickle cannot run code.

Hugging Face's GPT-2 (GPT2LMHeadModel) keeps the same tensors under other names, and its
Conv1D layers store weights as [in, out], where ours are [out, in] (llm.c's matmul layout):

  ours       HF (per layer l: h.<l>.)      HF shape         ours (one layer)
  wte        wte.weight                    [V, C]           [Vp, C] (rows past V zero)
  wpe        wpe.weight                    [maxT, C]        [maxT, C]
  ln1w/b     ln_1.weight/bias              [C]              [C]
  qkvw/b     attn.c_attn.weight/bias       [C, 3C] / [3C]   [3C, C] / [3C]
  attprojw/b attn.c_proj.weight/bias       [C, C] / [C]     [C, C] / [C]
  ln2w/b     ln_2.weight/bias              [C]              [C]
  fcw/b      mlp.c_fc.weight/bias          [C, 4C] / [4C]   [4C, C] / [4C]
  fcprojw/b  mlp.c_proj.weight/bias        [4C, C] / [C]    [C, 4C] / [C]
  lnfw/b     ln_f.weight/bias              [C]              [C]

lm_head.weight is tied to wte (and must equal it on import). Keys may carry "transformer."
(saved from GPT2LMHeadModel) or not (OpenAI's gpt2 repo files, saved from GPT2Model); the
causal-mask buffers attn.bias / attn.masked_bias of older files are ignored.
"""
import collections
import json
import math
import os
import pickle
import struct
import sys
import subprocess
import zipfile


def _numpy_or_reexec():
    """The python3 first on PATH may lack numpy: run again under one that has it
    (dev/find_python.sh), or say how to get one."""
    if os.environ.get("GPT2C_REEXEC") != "1":
        finder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "find_python.sh")
        r = subprocess.run(["bash", finder, "numpy"], capture_output=True, text=True)
        py = r.stdout.strip()
        if r.returncode == 0 and py and os.path.realpath(py) != os.path.realpath(sys.executable):
            os.environ["GPT2C_REEXEC"] = "1"
            os.execv(py, [py] + sys.argv)
    sys.exit(f"error: numpy is not installed for {sys.executable} and no other python3 has it; "
             f"run scripts/setup.sh (Debian: apt-get install python3-numpy)")


try:
    import numpy as np
except ImportError:
    _numpy_or_reexec()

HEADER_INTS = 256
HEADER_BYTES = 4 * HEADER_INTS
MODEL_MAGIC = 20240326
VERSION_FP32 = 3
VERSION_BF16 = 5

# llmc/gpt2.h's table: (name, per_layer, rows, cols) with dims as functions of the config
PARAMS = [
    ("wte", False, lambda c: c["Vp"], lambda c: c["C"]),
    ("wpe", False, lambda c: c["maxT"], lambda c: c["C"]),
    ("ln1w", True, lambda c: 1, lambda c: c["C"]),
    ("ln1b", True, lambda c: 1, lambda c: c["C"]),
    ("qkvw", True, lambda c: 3 * c["C"], lambda c: c["C"]),
    ("qkvb", True, lambda c: 1, lambda c: 3 * c["C"]),
    ("attprojw", True, lambda c: c["C"], lambda c: c["C"]),
    ("attprojb", True, lambda c: 1, lambda c: c["C"]),
    ("ln2w", True, lambda c: 1, lambda c: c["C"]),
    ("ln2b", True, lambda c: 1, lambda c: c["C"]),
    ("fcw", True, lambda c: 4 * c["C"], lambda c: c["C"]),
    ("fcb", True, lambda c: 1, lambda c: 4 * c["C"]),
    ("fcprojw", True, lambda c: c["C"], lambda c: 4 * c["C"]),
    ("fcprojb", True, lambda c: 1, lambda c: c["C"]),
    ("lnfw", False, lambda c: 1, lambda c: c["C"]),
    ("lnfb", False, lambda c: 1, lambda c: c["C"]),
]

# ours -> (HF name without "transformer." and "h.<l>.", transposed?)
HF_NAMES = {
    "wte": ("wte.weight", False), "wpe": ("wpe.weight", False),
    "ln1w": ("ln_1.weight", False), "ln1b": ("ln_1.bias", False),
    "qkvw": ("attn.c_attn.weight", True), "qkvb": ("attn.c_attn.bias", False),
    "attprojw": ("attn.c_proj.weight", True), "attprojb": ("attn.c_proj.bias", False),
    "ln2w": ("ln_2.weight", False), "ln2b": ("ln_2.bias", False),
    "fcw": ("mlp.c_fc.weight", True), "fcb": ("mlp.c_fc.bias", False),
    "fcprojw": ("mlp.c_proj.weight", True), "fcprojb": ("mlp.c_proj.bias", False),
    "lnfw": ("ln_f.weight", False), "lnfb": ("ln_f.bias", False),
}

# safetensors dtype -> numpy storage dtype (bf16 is kept as its uint16 bit patterns). Weights
# must be floats; the others are read so that files with integer or boolean buffers (newer
# transformers save the causal mask attn.bias as BOOL) load.
FLOAT_DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "F64": "<f8"}
ST_DTYPES = dict(FLOAT_DTYPES, BOOL="|b1", U8="|u1", I8="|i1", I16="<i2", I32="<i4", I64="<i8")


class UserError(Exception):
    """A bad input or argument: reported as one line "error: ..." and exit status 1."""


def fail(msg):
    raise UserError(msg)


def run_main(main):
    """Runs main(), turning UserError (and an interrupted or failed write) into one line."""
    try:
        main()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except MemoryError:
        print("error: out of memory", file=sys.stderr)
        sys.exit(1)


def padded_vocab(V):
    return (V + 127) // 128 * 128


def validate_config(c, what):
    """The ranges llmc/gpt2.h's gpt2_validate_config accepts."""
    checks = [("n_layer", c["L"], 1, 1000), ("n_head", c["NH"], 1, 1024), ("n_embd", c["C"], 1, 65536),
              ("vocab_size", c["V"], 1, 65536), ("n_positions", c["maxT"], 1, 1 << 20)]
    for name, v, lo, hi in checks:
        if not (lo <= v <= hi):
            fail(f"{what}: {name} {v} out of range [{lo}, {hi}]")
    if c["C"] % c["NH"] != 0:
        fail(f"{what}: n_embd {c['C']} is not a multiple of n_head {c['NH']}")
    if not (c["V"] <= c["Vp"] <= (1 << 20)):
        fail(f"{what}: padded vocab {c['Vp']} must be >= vocab_size {c['V']}")


def param_shape(c, name):
    """(layers, rows, cols) of one of our tensors; layers is 1 for the shared ones."""
    for n, per_layer, rows, cols in PARAMS:
        if n == name:
            return (c["L"] if per_layer else 1, rows(c), cols(c))
    raise KeyError(name)


def bf16_to_f32(bits):
    return (np.asarray(bits, dtype="<u2").astype("<u4") << np.uint32(16)).view("<f4")


def f32_to_bf16(a):
    """float32 -> bf16 bit patterns, round to nearest even, NaN kept quiet (as float_to_bf16)."""
    u = np.ascontiguousarray(a, dtype="<f4").view("<u4")
    r = ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype("<u2")
    nan = np.isnan(np.asarray(a, dtype="<f4"))
    if nan.any():
        r[nan] = ((u[nan] >> np.uint32(16)) | np.uint32(0x40)).astype("<u2")
    return r


def to_dtype(a, src, dst):
    """Converts array a stored as safetensors dtype src to dst ("F32" or "BF16")."""
    if src == dst:
        return a
    if dst == "F32":
        return bf16_to_f32(a) if src == "BF16" else np.asarray(a, dtype="<f4")
    f = bf16_to_f32(a) if src == "BF16" else np.asarray(a, dtype="<f4")
    return f32_to_bf16(f)


def as_float(a, dtype):
    return bf16_to_f32(a) if dtype == "BF16" else np.asarray(a, dtype=np.float32)


def check_finite(a, dtype, what):
    # bf16: exponent bits all ones is inf or NaN
    bad = ((np.asarray(a) & 0x7F80) == 0x7F80).any() if dtype == "BF16" else not np.isfinite(a).all()
    if bad:
        fail(f"{what} has non-finite values (inf or NaN)")


# ----------------------------------------------------------------------------------------------
# atomic output: every file goes to NAME.tmp and is renamed when complete

class AtomicFile:
    def __init__(self, path):
        self.path = path
        self.tmp = path + ".tmp"
        try:
            self.f = open(self.tmp, "wb")
        except OSError as e:
            fail(f"{path}: cannot write: {e.strerror}")

    def write(self, b):
        try:
            if isinstance(b, np.ndarray):
                b.tofile(self.f)
            else:
                self.f.write(b)
        except OSError as e:
            self.abort()
            fail(f"{self.path}: cannot write: {e.strerror}")

    def commit(self):
        try:
            self.f.close()
            os.replace(self.tmp, self.path)
        except OSError as e:
            self.abort()
            fail(f"{self.path}: cannot write: {e.strerror}")

    def abort(self):
        try:
            self.f.close()
            os.unlink(self.tmp)
        except OSError:
            pass


# ----------------------------------------------------------------------------------------------
# our checkpoint

def read_llmc(path):
    """-> (config, dtype "F32"/"BF16", {name: array (layers, rows, cols), memory-mapped})."""
    try:
        size = os.path.getsize(path)
        mm = np.memmap(path, dtype=np.uint8, mode="r") if size > 0 else np.zeros(0, np.uint8)
    except OSError as e:
        fail(f"{path}: cannot open: {e.strerror}")
    if size < HEADER_BYTES:
        fail(f"{path}: file is {size} bytes, shorter than the 1024-byte header of a checkpoint")
    h = mm[:HEADER_BYTES].view("<i4")
    if h[0] != MODEL_MAGIC:
        fail(f"{path}: not a GPT-2 checkpoint (magic {h[0]}, expected {MODEL_MAGIC})")
    version = int(h[1])
    if version not in (VERSION_FP32, VERSION_BF16):
        fail(f"{path}: unsupported checkpoint version {version} (expected 3 = fp32 or 5 = bf16)")
    c = {"maxT": int(h[2]), "V": int(h[3]), "L": int(h[4]), "NH": int(h[5]), "C": int(h[6]), "Vp": int(h[7])}
    validate_config(c, path)
    dtype = "F32" if version == VERSION_FP32 else "BF16"
    elem = 4 if dtype == "F32" else 2
    n = sum(math.prod(param_shape(c, name)) for name, *_ in PARAMS)
    want = HEADER_BYTES + elem * n
    if size != want:
        fail(f"{path}: file is {size} bytes, expected {want} for L={c['L']} C={c['C']} NH={c['NH']} "
             f"Vp={c['Vp']} maxT={c['maxT']} (version {version}){': truncated' if size < want else ''}")
    tensors, off = {}, HEADER_BYTES
    for name, *_ in PARAMS:
        shape = param_shape(c, name)
        nbytes = elem * math.prod(shape)
        tensors[name] = mm[off:off + nbytes].view(ST_DTYPES[dtype]).reshape(shape)
        off += nbytes
    return c, dtype, tensors


def write_llmc(path, c, dtype, tensors):
    """tensors: {name: array of param_shape(c, name) in dtype's storage}, written in table order."""
    h = np.zeros(HEADER_INTS, dtype="<i4")
    h[:8] = [MODEL_MAGIC, VERSION_FP32 if dtype == "F32" else VERSION_BF16,
             c["maxT"], c["V"], c["L"], c["NH"], c["C"], c["Vp"]]
    out = AtomicFile(path)
    out.write(h)
    for name, *_ in PARAMS:
        a = tensors[name]
        assert a.shape == param_shape(c, name) and a.dtype == np.dtype(ST_DTYPES[dtype]), name
        out.write(np.ascontiguousarray(a))
    out.commit()


# ----------------------------------------------------------------------------------------------
# safetensors

def read_safetensors(path):
    """-> {name: (dtype, array)}; arrays are memory-mapped views of the file."""
    try:
        size = os.path.getsize(path)
        mm = np.memmap(path, dtype=np.uint8, mode="r") if size > 0 else np.zeros(0, np.uint8)
    except OSError as e:
        fail(f"{path}: cannot open: {e.strerror}")
    if size < 8:
        fail(f"{path}: file is {size} bytes: too short for a safetensors file")
    n = int(mm[:8].view("<u8")[0])
    if n < 2 or 8 + n > size:
        fail(f"{path}: not a safetensors file (header length {n} for a {size}-byte file)")
    try:
        header = json.loads(bytes(mm[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        fail(f"{path}: not a safetensors file (its header is not JSON)")
    if not isinstance(header, dict):
        fail(f"{path}: not a safetensors file (its header is not a JSON object)")
    base, buf_len = 8 + n, size - 8 - n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (b, e) = info["dtype"], [int(d) for d in info["shape"]], info["data_offsets"]
            b, e = int(b), int(e)
        except (TypeError, KeyError, ValueError):
            fail(f"{path}: tensor {name}: malformed entry in the header")
        if dtype not in ST_DTYPES:
            fail(f"{path}: tensor {name} has dtype {dtype} (expected one of {', '.join(ST_DTYPES)})")
        want = math.prod(shape) * np.dtype(ST_DTYPES[dtype]).itemsize
        if min(shape, default=0) < 0 or not (0 <= b <= e <= buf_len) or e - b != want:
            fail(f"{path}: tensor {name}: offsets [{b}, {e}] do not hold shape {shape} {dtype} "
                 f"in a {buf_len}-byte buffer (truncated or corrupt file)")
        out[name] = (dtype, mm[base + b:base + e].view(ST_DTYPES[dtype]).reshape(shape))
    return out


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, dtype, array); written in that order, C contiguous."""
    header, off = {"__metadata__": metadata}, 0
    for name, dtype, a in tensors:
        nbytes = a.size * np.dtype(ST_DTYPES[dtype]).itemsize
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + nbytes]}
        off += nbytes
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * (-len(hb) % 8)  # the buffer starts 8-byte aligned
    out = AtomicFile(path)
    out.write(struct.pack("<Q", len(hb)) + hb)
    for name, dtype, a in tensors:
        out.write(np.ascontiguousarray(a, dtype=ST_DTYPES[dtype]))
    out.commit()


# ----------------------------------------------------------------------------------------------
# torch.save pickles, read without torch

TORCH_STORAGES = {"FloatStorage": "F32", "HalfStorage": "F16", "BFloat16Storage": "BF16",
                  "DoubleStorage": "F64", "BoolStorage": "BOOL", "ByteStorage": "U8", "CharStorage": "I8",
                  "ShortStorage": "I16", "IntStorage": "I32", "LongStorage": "I64"}
LEGACY_MAGIC = 0x1950a86a20f9469cfc6c


class _StorageType:
    def __init__(self, name):
        self.name = name
        self.dtype = TORCH_STORAGES[name]


class _Storage:
    def __init__(self, dtype, array):
        self.dtype, self.array = dtype, array


class _Tensor:
    def __init__(self, dtype, array):
        self.dtype, self.array = dtype, array


def _rebuild_tensor(storage, offset, size, stride, *_):
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("tensor without a storage")
    a = storage.array
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else offset
    if offset < 0 or min(stride, default=0) < 0 or (math.prod(size) > 0 and last >= a.size):
        raise pickle.UnpicklingError("tensor reaches past its storage")
    view = np.lib.stride_tricks.as_strided(a[offset:], shape=size, strides=[s * a.itemsize for s in stride])
    return _Tensor(storage.dtype, np.ascontiguousarray(view))


def _rebuild_parameter(data, *_):
    return data


class _TorchUnpickler(pickle.Unpickler):
    """Builds numpy tensors from a torch pickle; load_storage(dtype, key, numel) -> _Storage."""

    def __init__(self, f, load_storage):
        super().__init__(f)
        self.load_storage = load_storage

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch._utils" and name in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
            return _rebuild_parameter
        if module == "torch" and name in TORCH_STORAGES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a state dict of tensors")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r:.60}")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError("storage of an unsupported type")
        return self.load_storage(storage_type.dtype, key, numel)


def read_torch_pickle(path):
    """-> {name: (dtype, array)} from a torch.save'd state dict (zip or legacy layout)."""
    try:
        f = open(path, "rb")
    except OSError as e:
        fail(f"{path}: cannot open: {e.strerror}")
    try:
        with f:
            if zipfile.is_zipfile(f):
                f.seek(0)
                state = _read_torch_zip(f)
            else:
                f.seek(0)
                state = _read_torch_legacy(f, os.fstat(f.fileno()).st_size)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, zipfile.BadZipFile, struct.error) as e:
        fail(f"{path}: not a readable torch state dict ({type(e).__name__}: {str(e)[:120]})")
    if not isinstance(state, dict) or not all(isinstance(v, _Tensor) for v in state.values()):
        fail(f"{path}: not a state dict of tensors")
    return {str(k): (v.dtype, v.array) for k, v in state.items()}


def _read_torch_zip(f):
    zf = zipfile.ZipFile(f)
    pkl = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(pkl) != 1:
        raise zipfile.BadZipFile("no data.pkl in the archive")
    prefix = pkl[0][:-len("data.pkl")]
    if prefix + "byteorder" in zf.namelist() and zf.read(prefix + "byteorder") != b"little":
        raise ValueError("big-endian tensors")
    cache = {}

    def load_storage(dtype, key, numel):
        if key not in cache:
            raw = zf.read(prefix + "data/" + key)
            a = np.frombuffer(raw, dtype=ST_DTYPES[dtype])
            if a.size < numel:
                raise ValueError(f"storage {key} is truncated")
            cache[key] = _Storage(dtype, a)
        return cache[key]

    with zf.open(pkl[0]) as p:
        return _TorchUnpickler(p, load_storage).load()


class _PlainUnpickler(pickle.Unpickler):
    """Numbers, strings, lists and dicts only: the small pickles around a legacy state dict."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a torch.save header")


def _plain_load(f):
    return _PlainUnpickler(f).load()


def _read_torch_legacy(f, size):
    # torch < 1.6: pickles of the magic number, protocol version and sys info, then the state
    # dict (storages by key), then the list of keys; each storage follows as int64 numel + data
    if _plain_load(f) != LEGACY_MAGIC:
        raise pickle.UnpicklingError("not a torch.save file (no magic number)")
    _plain_load(f)  # protocol version
    _plain_load(f)  # sys info
    storages = {}

    def load_storage(dtype, key, numel):
        if key not in storages:
            storages[key] = _Storage(dtype, np.zeros(numel, dtype=ST_DTYPES[dtype]))
        return storages[key]

    state = _TorchUnpickler(f, load_storage).load()
    keys = _plain_load(f)
    for key in keys:
        s = storages[str(key)]
        (numel,) = struct.unpack("<q", f.read(8))
        nbytes = numel * s.array.itemsize
        if numel != s.array.size or f.tell() + nbytes > size:
            raise ValueError(f"storage {key} is truncated")
        s.array[:] = np.frombuffer(f.read(nbytes), dtype=s.array.dtype)
    # the tensors were rebuilt from the zero-filled storages: rebuild them again, now filled
    f.seek(0)
    for _ in range(3):
        _plain_load(f)
    return _TorchUnpickler(f, load_storage).load()


# ----------------------------------------------------------------------------------------------
# Hugging Face layout

def load_hf_dir(hf_dir):
    """-> (config dict from config.json, {name: (dtype, array)}, the weights' file name)."""
    if not os.path.isdir(hf_dir):
        fail(f"{hf_dir}: not a directory (expected a Hugging Face model folder with config.json and "
             f"model.safetensors or pytorch_model.bin)")
    cfg_path = os.path.join(hf_dir, "config.json")
    try:
        with open(cfg_path, encoding="utf-8") as f:
            cfg = json.load(f)
    except OSError as e:
        fail(f"{cfg_path}: cannot open: {e.strerror}")
    except (ValueError, UnicodeDecodeError) as e:
        fail(f"{cfg_path}: not valid JSON ({str(e)[:80]})")
    if not isinstance(cfg, dict):
        fail(f"{cfg_path}: expected a JSON object")
    for single, index, reader in (("model.safetensors", "model.safetensors.index.json", read_safetensors),
                                  ("pytorch_model.bin", "pytorch_model.bin.index.json", read_torch_pickle)):
        path = os.path.join(hf_dir, single)
        if os.path.isfile(path):
            return cfg, reader(path), path
        path = os.path.join(hf_dir, index)
        if os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as f:
                    files = sorted(set(json.load(f)["weight_map"].values()))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                fail(f"{path}: not a shard index (expected a JSON object with weight_map)")
            state = {}
            for name in files:
                shard = os.path.join(hf_dir, os.path.basename(name))
                state.update(reader(shard))
            return cfg, state, path
    fail(f"{hf_dir}: no model.safetensors or pytorch_model.bin (or their .index.json) in it")


def hf_config_to_ours(cfg, where):
    """Checks config.json describes a model our trainer computes exactly; -> our config."""
    def get(*keys, default=None):
        for k in keys:
            if k in cfg and cfg[k] is not None:
                return cfg[k]
        return default

    mt = cfg.get("model_type", "gpt2")
    if mt != "gpt2":
        fail(f"{where}: model_type is '{mt}' (expected gpt2)")
    c = {}
    for ours, keys in (("L", ("n_layer",)), ("NH", ("n_head",)), ("C", ("n_embd",)), ("V", ("vocab_size",)),
                       ("maxT", ("n_positions", "n_ctx"))):
        v = get(*keys)
        if not isinstance(v, int) or isinstance(v, bool):
            fail(f"{where}: {keys[0]} is {v!r} (expected an integer)")
        c[ours] = v
    c["Vp"] = padded_vocab(c["V"]) if c["V"] > 0 else c["V"]
    validate_config(c, where)
    inner = get("n_inner")
    if inner is not None and inner != 4 * c["C"]:
        fail(f"{where}: n_inner {inner} (this trainer's MLP is 4 * n_embd = {4 * c['C']})")
    act = get("activation_function", default="gelu_new")
    if act not in ("gelu_new", "gelu_pytorch_tanh"):
        fail(f"{where}: activation_function '{act}' (this trainer computes the tanh GELU: gelu_new)")
    eps = get("layer_norm_epsilon", default=1e-5)
    if not isinstance(eps, (int, float)) or abs(eps - 1e-5) > 1e-12:
        fail(f"{where}: layer_norm_epsilon {eps} (this trainer uses 1e-05)")
    for flag, want in (("scale_attn_weights", True), ("scale_attn_by_inverse_layer_idx", False),
                       ("add_cross_attention", False)):
        if bool(cfg.get(flag, want)) != want:
            fail(f"{where}: {flag} is {cfg[flag]} (this trainer needs {want})")
    return c


def hf_to_ours(c, state, where, dtype=None):
    """HF tensors -> {our name: array (layers, rows, cols)} in one dtype (the source's when all
    tensors share F32 or BF16, else F32; or `dtype`), after checking every name, shape, value."""
    named = {}
    for k, v in state.items():
        k = k[len("transformer."):] if k.startswith("transformer.") else k
        if k in named:
            fail(f"{where}: tensor {k} appears twice")
        named[k] = v
    expected = {}
    for ours, (hf, transposed) in HF_NAMES.items():
        layers, rows, cols = param_shape(c, ours)
        if ours == "wte":
            rows = c["V"]
        shape = (cols, rows) if transposed else ((cols,) if rows == 1 else (rows, cols))
        if layers == 1:
            expected[hf] = (ours, 0, shape, transposed)
        else:
            for l in range(layers):
                expected[f"h.{l}.{hf}"] = (ours, l, shape, transposed)
    unknown = []
    for k in named:
        if k in expected or k == "lm_head.weight":
            continue
        if k.startswith("h.") and (k.endswith(".attn.bias") or k.endswith(".attn.masked_bias")):
            continue  # causal-mask buffers
        unknown.append(k)
    if unknown:
        fail(f"{where}: tensor {unknown[0]} is not part of a GPT-2 with n_layer={c['L']}"
             f"{f' (and {len(unknown) - 1} more)' if len(unknown) > 1 else ''}")
    missing = [k for k in expected if k not in named]
    if missing:
        fail(f"{where}: tensor {missing[0]} is missing{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}")
    dtypes = {named[k][0] for k in expected}
    if dtype is None:
        # bf16 stays bf16 (bit for bit); fp16 and fp64 become fp32 (fp16 exactly)
        dtype = dtypes.pop() if len(dtypes) == 1 and dtypes <= {"F32", "BF16"} else "F32"
    out = {}
    for name, *_ in PARAMS:
        out[name] = np.zeros(param_shape(c, name), dtype=ST_DTYPES[dtype])
    for k, (ours, l, shape, transposed) in expected.items():
        src, a = named[k]
        if src not in FLOAT_DTYPES:
            fail(f"{where}: tensor {k} has dtype {src} (expected floats: {', '.join(FLOAT_DTYPES)})")
        if tuple(a.shape) != shape:
            fail(f"{where}: tensor {k} has shape {list(a.shape)}, expected {list(shape)} for "
                 f"n_embd={c['C']} vocab_size={c['V']} n_positions={c['maxT']}")
        check_finite(a, src, f"{where}: tensor {k}")
        a = to_dtype(a, src, dtype)
        a = a.T if transposed else a.reshape(-1, shape[-1]) if len(shape) == 1 else a
        if ours == "wte":
            out[ours][0, :c["V"]] = a
        else:
            out[ours][l] = a.reshape(out[ours].shape[1:])
    if "lm_head.weight" in named:
        src, a = named["lm_head.weight"]
        wte_src, wte = named["wte.weight"]
        if tuple(a.shape) != tuple(wte.shape) or not np.array_equal(as_float(a, src), as_float(wte, wte_src)):
            fail(f"{where}: lm_head.weight differs from wte.weight: this trainer ties the output "
                 f"layer to the token embedding (tie_word_embeddings)")
    return dtype, out


def ours_to_hf(c, dtype, tensors):
    """-> list of (HF name, dtype, array) for GPT2LMHeadModel's safetensors, in model order."""
    out = []

    def add(hf, ours, l):
        _, transposed = HF_NAMES[ours]
        a = tensors[ours][l]
        if ours == "wte":
            a = a[:c["V"]]  # the padding rows are not part of the vocabulary
        elif transposed:
            a = a.T
        elif a.shape[0] == 1:
            a = a.reshape(-1)
        out.append(("transformer." + hf, dtype, np.ascontiguousarray(a)))

    add("wte.weight", "wte", 0)
    add("wpe.weight", "wpe", 0)
    for l in range(c["L"]):
        for ours in ("ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb", "ln2w", "ln2b",
                     "fcw", "fcb", "fcprojw", "fcprojb"):
            add(f"h.{l}.{HF_NAMES[ours][0]}", ours, l)
    add("ln_f.weight", "lnfw", 0)
    add("ln_f.bias", "lnfb", 0)
    return out


def hf_config(c, dtype):
    """config.json for transformers' GPT2LMHeadModel."""
    eot = 50256 if c["V"] > 50256 else None  # GPT-2's end-of-text, when the vocabulary has it
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": c["V"],
        "n_positions": c["maxT"],
        "n_ctx": c["maxT"],
        "n_embd": c["C"],
        "n_layer": c["L"],
        "n_head": c["NH"],
        "n_inner": None,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-05,
        "initializer_range": 0.02,
        "resid_pdrop": 0.1,
        "embd_pdrop": 0.1,
        "attn_pdrop": 0.1,
        "scale_attn_weights": True,
        "tie_word_embeddings": True,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "torch_dtype": "float32" if dtype == "F32" else "bfloat16",
    }
