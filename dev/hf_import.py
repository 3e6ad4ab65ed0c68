#!/usr/bin/env python3
"""Converts a Hugging Face GPT-2 checkpoint into this project's checkpoint (doc/formats.md).

  dev/hf_import.py HF_DIR OUT.bin [--dtype fp32|bf16]

HF_DIR holds config.json and model.safetensors or pytorch_model.bin (or sharded ones with their
.index.json): gpt2, gpt2-medium, gpt2-large, gpt2-xl or any other GPT-2 shape. OUT.bin is a
version 3 (fp32) checkpoint, or version 5 (bf16) when the weights are bf16 or --dtype bf16;
fp16 and fp64 weights become fp32. Then: ./train_gpt2 -e OUT.bin ... (train_gpt2cu alike).
Needs numpy only. Layouts and names: dev/hf_gpt2.py.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_gpt2 as hf  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("hf_dir", help="Hugging Face model folder (config.json + model.safetensors or pytorch_model.bin)")
    p.add_argument("out", help="checkpoint to write (e.g. gpt2_124M.bin)")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default=None,
                   help="checkpoint precision (default: bf16 if the weights are bf16, else fp32)")
    a = p.parse_args()
    if os.path.isdir(a.out):
        hf.fail(f"{a.out}: is a directory (expected the checkpoint file to write)")
    cfg, state, weights = hf.load_hf_dir(a.hf_dir)
    c = hf.hf_config_to_ours(cfg, os.path.join(a.hf_dir, "config.json"))
    want = {"fp32": "F32", "bf16": "BF16", None: None}[a.dtype]
    dtype, tensors = hf.hf_to_ours(c, state, weights, want)
    hf.write_llmc(a.out, c, dtype, tensors)
    n = sum(t.size for t in tensors.values())
    print(f"wrote {a.out}: version {3 if dtype == 'F32' else 5} ({'fp32' if dtype == 'F32' else 'bf16'}), "
          f"L={c['L']} NH={c['NH']} C={c['C']} V={c['V']} (padded {c['Vp']}) maxT={c['maxT']}, "
          f"{n:,} parameters from {weights}")


if __name__ == "__main__":
    hf.run_main(main)
