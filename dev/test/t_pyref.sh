#!/usr/bin/env bash
# Test group for train_gpt2.py, the PyTorch reference: file layouts, init recipe, forward vs a
# float64 numpy model, gradients vs finite differences, AdamW vs a hand-written replay, checkpoint
# loading and rejection, training mode vs a replay, tokenizer table. Checks live in dev/pyref_checks.py.
set -u
cd "$(dirname "$0")/../.."
PY="${PY:-/usr/bin/python3}"
TEST_TMP="${TEST_TMP:-$PWD/build/test}"
dir="$TEST_TMP/pyref"
rm -rf "$dir"
mkdir -p "$dir"
exec "$PY" dev/pyref_checks.py "$dir"
