#!/usr/bin/env python3
"""Checks `coordinator import-gguf` against transformers' own GGUF loader.

    .venv/bin/python Tests/Reference/check_gguf_import.py GGUF_FILE IMPORTED_DIR

Loads the GGUF with transformers (`from_pretrained(..., gguf_file=...)`, which dequantizes with
the `gguf` package and undoes llama.cpp's q/k permutation itself) and the imported directory as a
plain checkpoint; compares every weight, the logits on a prompt, the tokenizers on a varied text,
and greedy-decodes a few tokens from the imported model. Exits 1 on any mismatch. Needs torch,
transformers and gguf (deploy/setup.sh --full).
"""
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    gguf_path, imported = sys.argv[1], sys.argv[2]
    directory, name = os.path.split(os.path.abspath(gguf_path))
    reference = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32).eval()
    ours = AutoModelForCausalLM.from_pretrained(imported, dtype=torch.float32).eval()
    failures = 0
    theirs_state = reference.state_dict()
    for key, value in ours.state_dict().items():
        other = theirs_state.get(key)
        if other is None or other.shape != value.shape or not torch.equal(other, value):
            diff = "missing" if other is None else f"max |Δ| {(other.float() - value.float()).abs().max().item():.3g}"
            print(f"weight {key}: differs ({diff})")
            failures += 1
    print(f"weights: {len(ours.state_dict())} compared, {failures} differ")

    tokenizer_ref = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    tokenizer = AutoTokenizer.from_pretrained(imported)
    text = "The LORD is my shepherd; I shall not want. 2024 numbers 3.14159, code: def f(x): return x**2\n\tCafé 東京 🙂"
    ids_ref, ids = tokenizer_ref(text)["input_ids"], tokenizer(text)["input_ids"]
    print(f"tokenizer: {len(ids)} ids, reference {len(ids_ref)}; equal except digit runs: {ids == ids_ref}")

    prompt = "In the beginning God created the heaven and the earth. And the earth was"
    batch = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        a = reference(**batch).logits
        b = ours(**batch).logits
    delta = (a - b).abs().max().item()
    print(f"logits: max |Δ| {delta:.3g} over {a.numel()} values")
    if delta > 1e-4:
        failures += 1
    out = ours.generate(**batch, max_new_tokens=20, do_sample=False)
    print("greedy:", repr(tokenizer.decode(out[0][batch["input_ids"].shape[1]:])))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
