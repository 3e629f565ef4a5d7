#!/usr/bin/env python3
"""NumPy reference of the decoder-only forward pass of Llama, Mistral, Qwen2 and Qwen3, in float64.

Written from the model definitions (the papers and the Hugging Face `modeling_*.py` files of
transformers 5), not from the Swift code:

- RMSNorm (Zhang & Sennrich 2019): y = x / sqrt(mean(x^2) + eps) * w.
- Rotary embeddings (Su et al. 2021) in the "rotate half" convention of transformers: the head
  vector is split into halves (x1, x2); y = x * cos + (-x2, x1) * sin, where the angle of pair i at
  position p is p * theta^(-2i/d) and cos/sin repeat over both halves. Llama 3.1's scaling
  (`rope_type: llama3`) divides long wavelengths by `factor`, keeps short ones, and interpolates
  between `low_freq_factor` and `high_freq_factor` of the original context length.
- Grouped-query attention (Ainslie et al. 2023): query head h reads key/value head h // (H / KV),
  scores q.k / sqrt(d), causal mask, Mistral's sliding window (key j visible from query i when
  i - window < j <= i), softmax, weighted sum of values.
- Qwen2: bias on q/k/v. Qwen3: RMSNorm of every q and k head (over head_dim) before RoPE.
- SwiGLU MLP (Shazeer 2020): down(silu(gate(x)) * up(x)).
- Decoder layer: h += o_proj(attn(input_norm(h))); h += mlp(post_attention_norm(h)).
- Final RMSNorm, then lm_head (or the embedding matrix when tie_word_embeddings).

Every sequence of a batch starts at position 0. Everything is computed in float64 so that the
reference is more precise than the float32 code it checks.

Only numpy and safetensors are needed (what CI has).
"""
import json
import math
import os

import numpy as np
from safetensors.numpy import load_file

STAGES = ("qkv", "o", "gate_up", "down")


class Config:
    """The fields of a Hugging Face config.json that the forward pass uses."""

    def __init__(self, raw: dict):
        self.model_type = raw["model_type"]
        self.vocab_size = raw["vocab_size"]
        self.hidden_size = raw["hidden_size"]
        self.intermediate_size = raw["intermediate_size"]
        self.num_hidden_layers = raw["num_hidden_layers"]
        self.num_attention_heads = raw["num_attention_heads"]
        self.num_key_value_heads = raw.get("num_key_value_heads", self.num_attention_heads)
        self.head_dim = raw.get("head_dim") or self.hidden_size // self.num_attention_heads
        self.rms_norm_eps = raw.get("rms_norm_eps", 1e-6)
        self.max_position_embeddings = raw.get("max_position_embeddings", 2048)
        self.tie_word_embeddings = raw.get("tie_word_embeddings", False)
        rope = raw.get("rope_parameters") or raw.get("rope_scaling") or {}
        self.rope_theta = rope.get("rope_theta", raw.get("rope_theta", 10000.0))
        kind = rope.get("rope_type", rope.get("type", "default"))
        self.rope_scaling = dict(rope) if kind == "llama3" else None
        attention_bias = raw.get("attention_bias", False)
        t = self.model_type
        self.qkv_bias = attention_bias if t in ("llama", "qwen3") else t == "qwen2"
        self.o_bias = attention_bias if t in ("llama", "qwen3") else False
        self.mlp_bias = raw.get("mlp_bias", False) if t == "llama" else False
        self.qk_norm = t == "qwen3"
        self.sliding_window = raw.get("sliding_window") if t == "mistral" else None


def load_model(directory: str):
    """(Config, weights as float64 arrays by tensor name) of a model directory."""
    with open(os.path.join(directory, "config.json")) as f:
        config = Config(json.load(f))
    weights = {k: v.astype(np.float64) for k, v in load_file(os.path.join(directory, "model.safetensors")).items()}
    return config, weights


def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def inverse_frequencies(config: Config):
    d = config.head_dim
    inv_freq = 1.0 / config.rope_theta ** (np.arange(0, d, 2, dtype=np.float64) / d)
    s = config.rope_scaling
    if s is None:
        return inv_freq
    factor, low, high = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
    original = s["original_max_position_embeddings"]
    low_wavelength, high_wavelength = original / low, original / high
    result = np.empty_like(inv_freq)
    for i, f in enumerate(inv_freq):
        wavelength = 2 * math.pi / f
        if wavelength < high_wavelength:
            result[i] = f
        elif wavelength > low_wavelength:
            result[i] = f / factor
        else:
            smooth = (original / wavelength - low) / (high - low)
            result[i] = (1 - smooth) * f / factor + smooth * f
    return result


def rope(x, inv_freq):
    """x: [L, heads, d] at positions 0..L-1."""
    length, _, d = x.shape
    angles = np.arange(length, dtype=np.float64)[:, None] * inv_freq[None, :]
    cos = np.concatenate([np.cos(angles), np.cos(angles)], axis=-1)[:, None, :]
    sin = np.concatenate([np.sin(angles), np.sin(angles)], axis=-1)[:, None, :]
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return x * cos + np.concatenate([-x2, x1], axis=-1) * sin


def linear(x, weights, name, bias):
    y = x @ weights[name + ".weight"].T
    return y + weights[name + ".bias"] if bias else y


def attention(q, k, v, config: Config):
    """q: [L, H, d], k, v: [L, KV, d] of one sequence → [L, H * d]."""
    length, heads, d = q.shape
    group = heads // config.num_key_value_heads
    i = np.arange(length)[:, None]
    j = np.arange(length)[None, :]
    visible = j <= i
    if config.sliding_window is not None:
        visible &= j > i - config.sliding_window
    out = np.empty((length, heads, d))
    for h in range(heads):
        scores = q[:, h, :] @ k[:, h // group, :].T / math.sqrt(d)
        scores = np.where(visible, scores, -np.inf)
        scores -= scores.max(axis=-1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(axis=-1, keepdims=True)
        out[:, h, :] = p @ v[:, h // group, :]
    return out.reshape(length, heads * d)


def silu(x):
    return x / (1 + np.exp(-x))


def layer_forward(h, lengths, config: Config, weights, index: int, inv_freq):
    """One decoder layer over the concatenated sequences h: [T, hidden].

    Returns the layer output and the input of each stage (the distinct inputs of its linears):
    qkv = input_norm(h), o = attention output, gate_up = post_attention_norm(h + o_proj(...)),
    down = silu(gate) * up.
    """
    p = f"model.layers.{index}."
    eps, d = config.rms_norm_eps, config.head_dim
    stages = {}
    x = rms_norm(h, weights[p + "input_layernorm.weight"], eps)
    stages["qkv"] = x
    q = linear(x, weights, p + "self_attn.q_proj", config.qkv_bias).reshape(len(h), -1, d)
    k = linear(x, weights, p + "self_attn.k_proj", config.qkv_bias).reshape(len(h), -1, d)
    v = linear(x, weights, p + "self_attn.v_proj", config.qkv_bias).reshape(len(h), -1, d)
    if config.qk_norm:
        q = rms_norm(q, weights[p + "self_attn.q_norm.weight"], eps)
        k = rms_norm(k, weights[p + "self_attn.k_norm.weight"], eps)
    outputs, start = [], 0
    for length in lengths:
        s = slice(start, start + length)
        outputs.append(attention(rope(q[s], inv_freq), rope(k[s], inv_freq), v[s], config))
        start += length
    a = np.concatenate(outputs)
    stages["o"] = a
    h = h + linear(a, weights, p + "self_attn.o_proj", config.o_bias)
    x = rms_norm(h, weights[p + "post_attention_layernorm.weight"], eps)
    stages["gate_up"] = x
    m = silu(linear(x, weights, p + "mlp.gate_proj", config.mlp_bias)) * linear(x, weights, p + "mlp.up_proj", config.mlp_bias)
    stages["down"] = m
    h = h + linear(m, weights, p + "mlp.down_proj", config.mlp_bias)
    return h, stages


def forward(config: Config, weights, sequences):
    """The whole model over a list of token sequences (each from position 0).

    Returns {"hidden": [h_0 (embeddings), h_1, ..., h_L], "stages": [per-layer dict], "logits": [T, vocab]}.
    """
    lengths = [len(s) for s in sequences]
    for n in lengths:
        if n > config.max_position_embeddings:
            raise ValueError(f"sequence of {n} tokens exceeds max_position_embeddings {config.max_position_embeddings}")
    tokens = np.concatenate(sequences)
    h = weights["model.embed_tokens.weight"][tokens]
    inv_freq = inverse_frequencies(config)
    hidden, stages = [h], []
    for i in range(config.num_hidden_layers):
        h, s = layer_forward(h, lengths, config, weights, i, inv_freq)
        hidden.append(h)
        stages.append(s)
    normed = rms_norm(h, weights["model.norm.weight"], config.rms_norm_eps)
    head = weights["model.embed_tokens.weight"] if config.tie_word_embeddings else weights["lm_head.weight"]
    return {"hidden": hidden, "stages": stages, "logits": normed @ head.T}


def log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def windows(tokens, seq_len: int, max_windows=None):
    """Non-overlapping windows of exactly seq_len tokens; a shorter remainder is dropped."""
    count = len(tokens) // seq_len
    if max_windows is not None:
        count = min(count, max_windows)
    return [np.asarray(tokens[i * seq_len:(i + 1) * seq_len]) for i in range(count)]


def perplexity(config: Config, weights, tokens, seq_len: int, max_windows=None):
    """(perplexity, mean NLL, predicted token count): every window predicts its tokens 1..L-1
    from their prefixes within the window, as transformers' perplexity recipe does with
    stride = max_length; the mean is over all predicted tokens."""
    ws = windows(tokens, seq_len, max_windows)
    logp = log_softmax(forward(config, weights, ws)["logits"])
    nll, count = 0.0, 0
    for w, window in enumerate(ws):
        rows = logp[w * seq_len:(w + 1) * seq_len]
        nll -= sum(rows[t, window[t + 1]] for t in range(seq_len - 1))
        count += seq_len - 1
    return math.exp(nll / count), nll / count, count


def kl_divergence(reference, candidate, tokens, seq_len: int, max_windows=None):
    """Mean over predicted positions of KL(P_reference || P_candidate) of the next-token
    distributions, over the same windows as `perplexity` (positions 0..L-2 of every window).
    `reference` and `candidate` are (config, weights) pairs."""
    ws = windows(tokens, seq_len, max_windows)
    p = log_softmax(forward(*reference, ws)["logits"])
    q = log_softmax(forward(*candidate, ws)["logits"])
    keep = np.concatenate([np.arange(w * seq_len, (w + 1) * seq_len - 1) for w in range(len(ws))])
    kl = (np.exp(p[keep]) * (p[keep] - q[keep])).sum(axis=-1)
    return float(kl.mean()), float(kl.max()), len(keep)
