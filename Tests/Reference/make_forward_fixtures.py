#!/usr/bin/env python3
"""Makes the fixtures of ModelTests: small random models and the outputs of forward_reference.py.

For each model kind (llama, llama with llama3 rope scaling and biases, mistral with a sliding
window of 4, qwen2 with tied embeddings, qwen3 with head_dim 24 ≠ hidden/heads) it writes, under
Tests/ModelTests/Fixtures/<name>/:
  config.json, model.safetensors   the random checkpoint (float16 weights, written by safetensors)
  expected.safetensors             float32: tokens, lengths, hidden.{0..L}, layers.{i}.{stage},
                                   logits — the NumPy reference's outputs on sequences of 7 and 13
and, in Tests/ModelTests/Fixtures/eval.json, the perplexity of every model on eval_tokens.json
and the KL divergence between two of them.

Run once from the repo root: `.venv/bin/python Tests/Reference/make_forward_fixtures.py`.
Needs only numpy and safetensors. `--large DIR` instead writes one larger random model (no
expected outputs) for measuring the streaming runner's memory.
"""
import argparse
import json
import os
import sys

import numpy as np
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import forward_reference as ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "ModelTests", "Fixtures")
LENGTHS = (7, 13)
EVAL_SEQ_LEN = 16

BASE = {
    "vocab_size": 101, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
    "max_position_embeddings": 32, "hidden_act": "silu", "tie_word_embeddings": False,
    "rope_theta": 10000.0, "torch_dtype": "float16",
}

MODELS = {
    "llama": {"model_type": "llama", "architectures": ["LlamaForCausalLM"]},
    "llama_rope_llama3": {
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "attention_bias": True, "mlp_bias": True,
        "max_position_embeddings": 256,
        # head_dim 16, theta 1e4: wavelengths 6.3 (kept), 20 and 63 (interpolated), ≥ 199 (divided by 8).
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 64},
    },
    "mistral": {"model_type": "mistral", "architectures": ["MistralForCausalLM"], "sliding_window": 4},
    "qwen2": {"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "intermediate_size": 96,
              "tie_word_embeddings": True, "use_sliding_window": False, "sliding_window": 4, "rope_theta": 1e6},
    "qwen3": {"model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"], "head_dim": 24, "rope_theta": 1e6,
              "attention_bias": False},
}


def random_weights(config: ref.Config, rng) -> dict:
    """Weights scaled so that activations stay of order 1 and attention is far from uniform."""
    c = config
    w = {"model.embed_tokens.weight": rng.standard_normal((c.vocab_size, c.hidden_size)),
         "model.norm.weight": 1 + 0.1 * rng.standard_normal(c.hidden_size)}
    if c.tie_word_embeddings:
        # Logits = norm(h) · Eᵀ with E ~ N(0, 1): scale the final norm so that they stay of order 1.
        w["model.norm.weight"] /= np.sqrt(c.hidden_size)
    if not c.tie_word_embeddings:
        w["lm_head.weight"] = rng.standard_normal((c.vocab_size, c.hidden_size)) / np.sqrt(c.hidden_size)
    q_width, kv_width = c.num_attention_heads * c.head_dim, c.num_key_value_heads * c.head_dim
    for i in range(c.num_hidden_layers):
        p = f"model.layers.{i}."
        shapes = {
            "self_attn.q_proj": (q_width, c.hidden_size, c.qkv_bias),
            "self_attn.k_proj": (kv_width, c.hidden_size, c.qkv_bias),
            "self_attn.v_proj": (kv_width, c.hidden_size, c.qkv_bias),
            "self_attn.o_proj": (c.hidden_size, q_width, c.o_bias),
            "mlp.gate_proj": (c.intermediate_size, c.hidden_size, c.mlp_bias),
            "mlp.up_proj": (c.intermediate_size, c.hidden_size, c.mlp_bias),
            "mlp.down_proj": (c.hidden_size, c.intermediate_size, c.mlp_bias),
        }
        for name, (rows, cols, bias) in shapes.items():
            w[p + name + ".weight"] = 1.5 * rng.standard_normal((rows, cols)) / np.sqrt(cols)
            if bias:
                w[p + name + ".bias"] = 0.2 * rng.standard_normal(rows)
        w[p + "input_layernorm.weight"] = 1 + 0.1 * rng.standard_normal(c.hidden_size)
        w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * rng.standard_normal(c.hidden_size)
        if c.qk_norm:
            w[p + "self_attn.q_norm.weight"] = 1 + 0.1 * rng.standard_normal(c.head_dim)
            w[p + "self_attn.k_norm.weight"] = 1 + 0.1 * rng.standard_normal(c.head_dim)
    # Stored as float16; the reference computes with exactly the stored values.
    return {k: v.astype(np.float16) for k, v in w.items()}


def write_model(directory: str, raw_config: dict, seed: int):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(raw_config, f, indent=2, sort_keys=True)
        f.write("\n")
    weights = random_weights(ref.Config(raw_config), np.random.default_rng(seed))
    save_file(weights, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})


def write_expected(directory: str, sequences):
    config, weights = ref.load_model(directory)
    out = ref.forward(config, weights, sequences)
    tensors = {"tokens": np.concatenate(sequences).astype(np.int32),
               "lengths": np.array([len(s) for s in sequences], dtype=np.int32),
               "logits": out["logits"]}
    for i, h in enumerate(out["hidden"]):
        tensors[f"hidden.{i}"] = h
    for i, stages in enumerate(out["stages"]):
        for stage in ref.STAGES:
            tensors[f"layers.{i}.{stage}"] = stages[stage]
    tensors = {k: (v if v.dtype == np.int32 else v.astype(np.float32)) for k, v in tensors.items()}
    save_file(tensors, os.path.join(directory, "expected.safetensors"))


def make_fixtures():
    rng = np.random.default_rng(4)
    sequences = [rng.integers(0, BASE["vocab_size"], n) for n in LENGTHS]
    for seed, (name, overrides) in enumerate(MODELS.items()):
        directory = os.path.join(FIXTURES, name)
        write_model(directory, {**BASE, **overrides}, seed=100 + seed)
        write_expected(directory, sequences)
    eval_tokens = [int(t) for t in rng.integers(0, BASE["vocab_size"], 3 * EVAL_SEQ_LEN + 5)]
    with open(os.path.join(FIXTURES, "eval_tokens.json"), "w") as f:
        json.dump(eval_tokens, f)
    results = {"seq_len": EVAL_SEQ_LEN, "perplexity": {}}
    for name in MODELS:
        config, weights = ref.load_model(os.path.join(FIXTURES, name))
        ppl, nll, count = ref.perplexity(config, weights, eval_tokens, EVAL_SEQ_LEN)
        ppl2, nll2, count2 = ref.perplexity(config, weights, eval_tokens, EVAL_SEQ_LEN, max_windows=2)
        results["perplexity"][name] = {"perplexity": ppl, "mean_nll": nll, "token_count": count,
                                       "max_windows_2": {"perplexity": ppl2, "mean_nll": nll2, "token_count": count2}}
    mean, worst, count = ref.kl_divergence(ref.load_model(os.path.join(FIXTURES, "llama")),
                                           ref.load_model(os.path.join(FIXTURES, "mistral")), eval_tokens, EVAL_SEQ_LEN)
    results["kl"] = {"reference": "llama", "candidate": "mistral", "mean": mean, "max": worst, "positions": count}
    with open(os.path.join(FIXTURES, "eval.json"), "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")


def make_large(directory: str):
    """A larger random llama (8 layers, hidden 1024, MLP 4096) for memory measurements."""
    raw = {**BASE, **MODELS["llama"], "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 8,
           "num_attention_heads": 16, "num_key_value_heads": 4, "vocab_size": 4096, "max_position_embeddings": 4096}
    write_model(directory, raw, seed=7)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--large", metavar="DIR", help="write one larger random model to DIR instead")
    args = parser.parse_args()
    if args.large:
        make_large(args.large)
    else:
        make_fixtures()
