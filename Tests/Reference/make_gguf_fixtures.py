#!/usr/bin/env python3
"""Makes the GGUF fixtures of GGUFTests with the `gguf` package (the reference reader and
dequantizer) and numpy:

- types.gguf: one small tensor of every supported type (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1,
  Q8_0, Q4_K, Q5_K, Q6_K) and metadata of every value type; types.expected.safetensors holds
  `gguf.quants.dequantize` of each tensor. Block bytes are random (scales drawn as finite f16) so
  every bit of every layout is exercised, not only what a quantizer happens to produce.
- tiny_llama.gguf: the 2-layer random llama of Tests/ModelTests/Fixtures/llama converted the way
  llama.cpp's convert_hf_to_gguf.py does (q and k rows permuted for its RoPE layout, names mapped,
  F32 tensors), with a byte-level BPE tokenizer in its metadata; the test imports it and compares
  with the original safetensors.
- malformed/*.gguf: one file per fault.

Run from the repository root: .venv/bin/python Tests/Reference/make_gguf_fixtures.py
"""
import json
import os
import struct

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter, quants
from safetensors.numpy import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "GGUFTests", "Fixtures")
LLAMA = os.path.join(ROOT, "ModelTests", "Fixtures", "llama")

# (type, block values, block bytes, byte offsets of the f16 scales within a block)
LAYOUTS = {
    T.Q4_0: (32, 18, [0]), T.Q4_1: (32, 20, [0, 2]), T.Q5_0: (32, 22, [0]), T.Q5_1: (32, 24, [0, 2]),
    T.Q8_0: (32, 34, [0]), T.Q4_K: (256, 144, [0, 2]), T.Q5_K: (256, 176, [0, 2]), T.Q6_K: (256, 210, [208]),
}


def random_blocks(rng, qtype, rows, columns):
    size, nbytes, scale_offsets = LAYOUTS[qtype]
    blocks = rows * columns // size
    raw = rng.integers(0, 256, size=(blocks, nbytes), dtype=np.uint8)
    for offset in scale_offsets:
        scales = (rng.standard_normal(blocks) * 0.05).astype(np.float16)
        raw[:, offset:offset + 2] = scales.view(np.uint8).reshape(blocks, 2)
    return raw.reshape(rows, columns // size * nbytes)


def make_types():
    rng = np.random.default_rng(7)
    writer = GGUFWriter(os.path.join(OUT, "types.gguf"), "llama")
    # Metadata of every value type, including nested arrays and arrays of strings.
    writer.add_uint8("test.u8", 200)
    writer.add_int8("test.i8", -100)
    writer.add_uint16("test.u16", 60000)
    writer.add_int16("test.i16", -30000)
    writer.add_uint32("test.u32", 4000000000)
    writer.add_int32("test.i32", -2000000000)
    writer.add_float32("test.f32", 1.5)
    writer.add_bool("test.bool", True)
    writer.add_string("test.string", "héllo wörld")
    writer.add_uint64("test.u64", 2**63 + 5)
    writer.add_int64("test.i64", -2**62)
    writer.add_float64("test.f64", -2.25)
    writer.add_array("test.strings", ["a", "bc", "", "東京"])
    writer.add_array("test.ints", [1, 2, 3])
    expected = {}
    plain = rng.standard_normal((3, 64)).astype(np.float32)
    writer.add_tensor("plain.f32", plain)
    expected["plain.f32"] = plain
    writer.add_tensor("plain.f16", plain.astype(np.float16))
    expected["plain.f16"] = plain.astype(np.float16).astype(np.float32)
    bf16 = (plain.view(np.uint32) >> 16).astype(np.uint16)
    writer.add_tensor("plain.bf16", bf16.view(np.uint8).reshape(3, 128), raw_dtype=T.BF16)
    expected["plain.bf16"] = (bf16.astype(np.uint32) << 16).view(np.float32)
    for qtype in LAYOUTS:
        rows, columns = 3, 2 * LAYOUTS[qtype][0]
        raw = random_blocks(rng, qtype, rows, columns)
        name = f"quant.{qtype.name.lower()}"
        writer.add_tensor(name, raw, raw_dtype=qtype)
        expected[name] = quants.dequantize(raw, qtype).reshape(rows, columns).astype(np.float32)
    # A tensor quantized by the package's own Q4_1 quantizer from real values, as llama.cpp files hold.
    values = rng.standard_normal((4, 96)).astype(np.float32)
    q41 = quants.quantize(values, T.Q4_1)
    writer.add_tensor("quantized.q4_1", q41, raw_dtype=T.Q4_1)
    expected["quantized.q4_1"] = quants.dequantize(q41, T.Q4_1).reshape(4, 96).astype(np.float32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    save_file(expected, os.path.join(OUT, "types.expected.safetensors"))


def llama_permute(w, heads):
    """llama.cpp's convert_hf_to_gguf.py `permute`."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def make_tiny_llama():
    config = json.load(open(os.path.join(LLAMA, "config.json")))
    weights = {k: v.astype(np.float32) for k, v in load_file(os.path.join(LLAMA, "model.safetensors")).items()}
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    writer = GGUFWriter(os.path.join(OUT, "tiny_llama.gguf"), "llama")
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_freq_base(config["rope_theta"])
    writer.add_vocab_size(config["vocab_size"])
    # A byte-level BPE vocabulary of vocab_size tokens: the 94 printable ASCII bytes (GPT-2's
    # byte-to-unicode map leaves them as themselves), merges of a few pairs, and specials.
    base = [chr(c) for c in range(33, 127)]
    merged = ["th", "he", "the", "an", "in"]
    specials = ["<|endoftext|>", "<|im_start|>"]
    tokens = base + merged + specials
    assert len(tokens) == config["vocab_size"], len(tokens)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types([1] * (len(base) + len(merged)) + [3] * len(specials))
    writer.add_token_merges(["t h", "h e", "th e", "a n", "i n"])
    writer.add_bos_token_id(len(tokens) - 1)
    writer.add_eos_token_id(len(tokens) - 2)
    names = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
             "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
    for name, value in sorted(weights.items()):
        if name == "model.embed_tokens.weight":
            gguf_name = "token_embd.weight"
        elif name == "model.norm.weight":
            gguf_name = "output_norm.weight"
        elif name == "lm_head.weight":
            gguf_name = "output.weight"
        else:
            _, _, layer, module = name.split(".", 3)
            module, kind = module.rsplit(".", 1)
            gguf_name = f"blk.{layer}.{names[module]}.{kind}"
            if module == "self_attn.q_proj":
                value = llama_permute(value, heads)
            elif module == "self_attn.k_proj":
                value = llama_permute(value, kv_heads)
        writer.add_tensor(gguf_name, np.ascontiguousarray(value))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def make_malformed():
    directory = os.path.join(OUT, "malformed")
    os.makedirs(directory, exist_ok=True)
    good = open(os.path.join(OUT, "types.gguf"), "rb").read()
    faults = {
        "file.truncated.gguf": good[:len(good) // 3],
        "header.truncated.gguf": good[:100],
        "header.bad_magic.gguf": b"GGML" + good[4:],
        "header.version_9.gguf": good[:4] + struct.pack("<I", 9) + good[8:],
    }
    # A tensor whose ggml type is unknown (77), and one that ends past the file: rewrite the
    # first tensor info of a one-tensor file.
    path = os.path.join(directory, "one.gguf")
    writer = GGUFWriter(path, "llama")
    writer.add_tensor("w", np.zeros((2, 32), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    one = bytearray(open(path, "rb").read())
    os.remove(path)
    info = one.index(b"w", 24) + 1  # after the name: u32 n_dims, 2×u64 dims, u32 type, u64 offset
    type_at = info + 4 + 16
    unknown = bytearray(one)
    unknown[type_at:type_at + 4] = struct.pack("<I", 77)
    faults["tensor.unknown_type.gguf"] = bytes(unknown)
    past_end = bytearray(one)
    past_end[type_at + 4:type_at + 12] = struct.pack("<Q", 1 << 20)
    faults["tensor.past_end.gguf"] = bytes(past_end)
    misaligned = bytearray(one)
    misaligned[type_at + 4:type_at + 12] = struct.pack("<Q", 4)
    faults["tensor.misaligned.gguf"] = bytes(misaligned)
    for name, content in faults.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(content)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    make_types()
    make_tiny_llama()
    make_malformed()
    print("wrote", OUT)
