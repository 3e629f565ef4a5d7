#!/usr/bin/env python3
"""Makes the SentencePiece GGUF fixture of GGUFTests: a vocabulary-only GGUF whose tokenizer
metadata is `tokenizer.ggml.model` "llama" (Llama 2, Mistral v0.1, TinyLlama, …) and golden
encodings of it.

Independent reference: Google's `sentencepiece` library (C++). It trains a BPE model here (no
hub is reachable) configured like Llama 2's: byte fallback, identity normalization, no removal of
extra whitespace, a dummy prefix, digits split, whitespace-only pieces allowed, plus one
user-defined symbol. The GGUF metadata is written the way llama.cpp's convert_hf_to_gguf.py
writes an SPM vocabulary: every piece with its score and type (NORMAL 1, UNKNOWN 2, CONTROL 3,
USER_DEFINED 4, UNUSED 5, BYTE 6), bos/eos/unk ids, add_bos true, add_eos false,
add_space_prefix true.

The goldens are sentencepiece's own ids and decoded strings for the test texts of TokenizerTests
(varied.txt, each of its lines, the KJV chapter) and short edge cases. Two kinds of text are left
out, where a tokenizer.json cannot say what sentencepiece does: texts spelling a control token
(<s>, </s>, <unk>), which sentencepiece never matches in text while tokenizer.json tokenizers
(transformers' Llama ones included) do; and texts holding the user-defined symbol, after which
tokenizers' normalizer adds the dummy-prefix "▁" again (it normalizes each stretch between added
tokens) while sentencepiece adds it once, at the start.

As a cross-check the script also loads the GGUF with transformers (its own GGUF tokenizer
converter) and reports where that differs from sentencepiece.

Needs: pip install sentencepiece gguf (transformers for the cross-check; deploy/setup.sh --full).
Run from the repository root: .venv/bin/python Tests/Reference/make_spm_gguf_fixture.py
"""
import io
import json
import os
import subprocess

import sentencepiece as spm
from gguf import GGUFWriter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "GGUFTests", "Fixtures")
TEXTS = os.path.join(ROOT, "TokenizerTests", "Fixtures", "text")

USER_DEFINED = "<|tool|>"
EDGE_CASES = [
    "", " ", "  ", "\n", " \n ", "\t", "a", " a", "a ", "  a", "a  b", "a\n\n b", "don't", "1234567",
    " 12345", "3.14", "٣٤٥", "!!!", "(a)", "é", "e\u0301", " café", "你好", "한국어", "🎉", "👨‍👩‍👧",
    "\u00a0", "a\u3000b", "\u200b", "    indented", "trailing    ",
    "<0x41>", "▁", "▁a", "The LORD said unto Moses",
]
UNREPRESENTABLE = ["<s>", "</s>", "<unk>", USER_DEFINED]


def bible(reference: str) -> str:
    out = subprocess.run(["bible", "-f", reference], check=True, capture_output=True, text=True).stdout
    return "\n".join(line.split(" ", 1)[1] for line in out.splitlines() if " " in line) + "\n"


def train(lines) -> spm.SentencePieceProcessor:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, model_type="bpe", vocab_size=1000,
        character_coverage=0.9995, byte_fallback=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=True, split_digits=True,
        allow_whitespace_only_pieces=True, user_defined_symbols=[USER_DEFINED],
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1, minloglevel=2,
        max_sentence_length=1 << 16, shuffle_input_sentence=False, seed_sentencepiece_size=100000)
    return spm.SentencePieceProcessor(model_proto=model.getvalue())


def token_type(sp, i) -> int:
    if sp.is_unknown(i):
        return 2
    if sp.is_control(i):
        return 3
    if sp.is_byte(i):
        return 6
    if sp.is_unused(i):
        return 5
    if sp.id_to_piece(i) == USER_DEFINED:
        return 4
    return 1


def write_gguf(sp, path):
    writer = GGUFWriter(path, "llama")
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    size = sp.get_piece_size()
    writer.add_token_list([sp.id_to_piece(i) for i in range(size)])
    writer.add_token_scores([sp.get_score(i) for i in range(size)])
    writer.add_token_types([token_type(sp, i) for i in range(size)])
    writer.add_unk_token_id(sp.unk_id())
    writer.add_bos_token_id(sp.bos_id())
    writer.add_eos_token_id(sp.eos_id())
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main():
    varied = open(os.path.join(TEXTS, "varied.txt"), encoding="utf-8", newline="").read()
    kjv = open(os.path.join(TEXTS, "kjv.txt"), encoding="utf-8", newline="").read()
    corpus = (varied.splitlines() * 3) + bible("Gen1:1-Gen11:32").splitlines()
    sp = train([line for line in corpus if line.strip()])
    path = os.path.join(OUT, "spm_tokenizer.gguf")
    write_gguf(sp, path)

    texts = [varied, kjv] + varied.splitlines(keepends=True) + EDGE_CASES
    texts = [t for t in texts if not any(s in t for s in UNREPRESENTABLE)]
    cases = []
    for text in texts:
        ids = sp.encode(text)
        case = {"text": text, "ids": ids}
        decoded = sp.decode(ids)
        if decoded != text:
            case["decoded"] = decoded
        cases.append(case)
    golden = {"vocabularySize": sp.get_piece_size(), "bos": sp.bos_id(), "eos": sp.eos_id(), "cases": cases}
    with open(os.path.join(OUT, "spm_tokenizer.golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
    print(f"wrote {path}: {sp.get_piece_size()} pieces, {len(cases)} cases, "
          f"varied text -> {len(sp.encode(varied))} tokens")

    try:
        from transformers import AutoTokenizer
    except ImportError:
        return
    hf = AutoTokenizer.from_pretrained(OUT, gguf_file="spm_tokenizer.gguf")
    differing = [c["text"] for c in cases if hf.encode(c["text"], add_special_tokens=False) != c["ids"]]
    print(f"transformers' GGUF converter differs from sentencepiece on {len(differing)} of {len(cases)} texts"
          + (f", e.g. {differing[:3]!r}" if differing else ""))


if __name__ == "__main__":
    main()
