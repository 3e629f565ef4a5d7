#!/usr/bin/env python3
"""Runs the fixture models of ModelTests through Hugging Face transformers and stores the logits.

An independent check of both forward_reference.py (compared here, the script fails on a
mismatch) and the Swift forward pass (ModelTests compares with the stored logits). The models
are loaded in float32 with eager attention; every sequence runs on its own from position 0.
Writes Tests/ModelTests/Fixtures/<name>/transformers_logits.safetensors (float32 [tokens, vocab]).

Run once after make_forward_fixtures.py, from the repo root:
`.venv/bin/python Tests/Reference/make_transformers_logits.py` (needs torch and transformers; CI
does not run it).
"""
import os
import sys

import numpy as np
import torch
import transformers
from safetensors.numpy import load_file, save_file
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_forward_fixtures import FIXTURES, MODELS  # noqa: E402

# float32 computation against a float64 reference: errors of a few 1e-7 relative are expected.
TOLERANCE = 1e-5


def main():
    torch.manual_seed(0)
    for name in MODELS:
        directory = os.path.join(FIXTURES, name)
        expected = load_file(os.path.join(directory, "expected.safetensors"))
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, attn_implementation="eager")
        model.eval()
        tokens, lengths = expected["tokens"], expected["lengths"]
        logits, start = [], 0
        with torch.no_grad():
            for length in lengths:
                ids = torch.from_numpy(tokens[start:start + length].astype(np.int64))[None, :]
                logits.append(model(input_ids=ids).logits[0].numpy())
                start += length
        logits = np.concatenate(logits).astype(np.float32)
        error = np.abs(logits - expected["logits"]).max() / np.abs(expected["logits"]).max()
        print(f"{name}: transformers {transformers.__version__} vs NumPy reference: max error {error:.2e} of max |logit|")
        if not error < TOLERANCE:
            sys.exit(f"{name}: transformers and forward_reference.py disagree ({error:.2e} ≥ {TOLERANCE})")
        save_file({"logits": logits}, os.path.join(directory, "transformers_logits.safetensors"),
                  metadata={"transformers": transformers.__version__, "torch": torch.__version__})


if __name__ == "__main__":
    main()
