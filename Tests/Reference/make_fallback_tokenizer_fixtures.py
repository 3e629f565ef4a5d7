#!/usr/bin/env python3
"""Makes the byte-fallback edge fixtures of TokenizerTests from the committed tokenizers.

`byte_fallback: true` does not promise `<0xNN>` tokens. transformers writes byte-level BPE
tokenizers with the flag set and no byte tokens at all, and a SentencePiece vocabulary can hold
some byte tokens and not others. The `tokenizers` library (the reference) then falls back per
character: a character missing from the vocabulary becomes its bytes' tokens when every one of
them exists, else the unknown token (or nothing without one). Two fixtures pin that:

  smollm2-bytefallback   the SmolLM2 tokenizer (byte-level) with byte_fallback set to true
  partial-bytefallback   the Llama-2-like tokenizer with the byte tokens of 0xE2, 0x9C and 0xA5
                         renamed away (ids unchanged), so that some characters fall back to
                         bytes and others (with a byte missing) become <unk>, fused or not

Run from the repo root: `.venv/bin/python Tests/Reference/make_fallback_tokenizer_fixtures.py`
(needs `tokenizers`; make_tokenizer_fixtures.py makes the inputs). Outputs are committed.
"""
import json
import os
import sys

from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tokenizer_fixtures import FIXTURES, goldens, write  # noqa: E402

# Characters whose fallback differs between the two vocabularies, between fused and unfused unknowns.
EXTRA_TEXTS = ["✓¿", "✓¿✓", "✓½", "½✓½✓✓x", "¿✓", "a✓é", "é✓é", "✓✓é✓", "x¿y", "½ ✓ ½", "日本", "€€a", "ÿé€", "a\u0301\u0301"]


def read(name):
    with open(os.path.join(FIXTURES, "tokenizers", f"{name}.json"), encoding="utf-8") as f:
        return json.load(f)


def main():
    specs = {}
    smollm = read("smollm2")
    smollm["model"]["byte_fallback"] = True
    specs["smollm2-bytefallback"] = smollm

    partial = read("llama2-bytefallback")
    missing = {0xE2, 0x9C, 0xA5}
    vocab = {}
    for token, i in partial["model"]["vocab"].items():
        if len(token) == 6 and token.startswith("<0x") and int(token[3:5], 16) in missing:
            token = f"<byte{token[3:5]}>"
        vocab[token] = i
    partial["model"]["vocab"] = vocab
    specs["partial-bytefallback"] = partial
    unfused = json.loads(json.dumps(partial))
    unfused["model"]["fuse_unk"] = False
    specs["partial-bytefallback-unfused"] = unfused

    texts = {}
    for name in ["varied", "kjv"]:
        with open(os.path.join(FIXTURES, "text", f"{name}.txt"), encoding="utf-8", newline="") as f:
            texts[name] = f.read()
    texts["extra"] = "\n".join(EXTRA_TEXTS) + "\n"
    for name, spec in specs.items():
        text = json.dumps(spec, ensure_ascii=False)
        if name != "smollm2-bytefallback":  # the test derives it from smollm2.json (1.5 MB)
            write(os.path.join(FIXTURES, "tokenizers", f"{name}.json"), text)
        tokenizer = Tokenizer.from_str(text)
        write(os.path.join(FIXTURES, "goldens", f"{name}.json"),
              json.dumps(goldens(tokenizer, texts), ensure_ascii=False, separators=(",", ":")))
        print(name, [tokenizer.encode(t, add_special_tokens=False).tokens for t in EXTRA_TEXTS[:3]])


if __name__ == "__main__":
    main()
