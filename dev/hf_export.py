#!/usr/bin/env python3
"""Writes this project's checkpoint as a Hugging Face GPT-2 model folder.

  dev/hf_export.py MODEL.bin OUT_DIR [--dtype fp32|bf16] [--force]

OUT_DIR gets model.safetensors and config.json, which transformers loads unchanged:
  GPT2LMHeadModel.from_pretrained(OUT_DIR)
Weights keep the checkpoint's precision (version 3: float32, version 5: bfloat16) unless
--dtype says otherwise; Conv1D weights are stored [in, out], the output layer is tied to wte, and
wte is cut back from the padded to the true vocabulary. An OUT_DIR that already holds a model is
left alone unless --force. Needs numpy only. Layouts and names: dev/hf_gpt2.py.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_gpt2 as hf  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="checkpoint (version 3 fp32 or 5 bf16)")
    p.add_argument("out_dir", help="folder to write model.safetensors and config.json into")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default=None,
                   help="precision of the exported weights (default: the checkpoint's)")
    p.add_argument("--force", action="store_true", help="overwrite a model already in OUT_DIR")
    a = p.parse_args()
    c, dtype, tensors = hf.read_llmc(a.model)
    want = {"fp32": "F32", "bf16": "BF16", None: dtype}[a.dtype]
    for name, t in tensors.items():
        # the padding rows of wte are never used; the rest must be numbers
        hf.check_finite(t[:, :c["V"]] if name == "wte" else t, dtype, f"{a.model}: tensor {name}")
    if want != dtype:
        tensors = {k: hf.to_dtype(v, dtype, want) for k, v in tensors.items()}
    st_path = os.path.join(a.out_dir, "model.safetensors")
    cfg_path = os.path.join(a.out_dir, "config.json")
    if os.path.exists(a.out_dir) and not os.path.isdir(a.out_dir):
        hf.fail(f"{a.out_dir}: exists and is not a directory")
    for path in (st_path, cfg_path):
        if os.path.exists(path) and not a.force:
            hf.fail(f"{path}: exists (pass --force to overwrite it)")
    try:
        os.makedirs(a.out_dir, exist_ok=True)
    except OSError as e:
        hf.fail(f"{a.out_dir}: cannot create: {e.strerror}")
    hf.write_safetensors(st_path, hf.ours_to_hf(c, want, tensors), {"format": "pt"})
    out = hf.AtomicFile(cfg_path)
    out.write((json.dumps(hf.hf_config(c, want), indent=2) + "\n").encode())
    out.commit()
    print(f"wrote {st_path} ({'float32' if want == 'F32' else 'bfloat16'}, L={c['L']} NH={c['NH']} "
          f"C={c['C']} V={c['V']} maxT={c['maxT']}) and {cfg_path}")


if __name__ == "__main__":
    hf.run_main(main)
