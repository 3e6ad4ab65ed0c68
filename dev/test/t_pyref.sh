#!/usr/bin/env bash
# Test group for train_gpt2.py, the PyTorch reference: file layouts, init recipe, forward vs a
# float64 numpy model, gradients vs finite differences, AdamW vs a hand-written replay, checkpoint
# loading and rejection, training mode vs a replay, tokenizer table. Checks live in dev/pyref_checks.py
# (which prints the ok / not ok lines itself).
source "$(dirname "$0")/lib.sh"
tmpdir pyref
rm -rf "$TMP" && mkdir -p "$TMP"
exec "$PY" dev/pyref_checks.py "$TMP"
