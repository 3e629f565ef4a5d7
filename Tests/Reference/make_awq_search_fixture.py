#!/usr/bin/env python3
"""Golden AWQ scale search on layer 0 of two random llamas, computed independently of the Swift
code: the float64 NumPy forward (forward_reference.py) gives the layer's inputs; awq_reference.py
gives the candidates; each candidate's loss is the squared error of the attention block / MLP
output (a float64 forward with the candidate weights) or, for v_proj → o_proj and up_proj →
down_proj, of the linear's output.

- awq_search.json: the forward-pass fixture Tests/ModelTests/Fixtures/llama (grouped-query
  attention, so no v_proj → o_proj group).
- awq_search_mha.json: a llama with as many kv heads as heads, written here to
  CoordinatorCoreTests/Fixtures/llama_mha (make_forward_fixtures' weights, seed 100), so that
  v_proj → o_proj is searched and folded into v_proj's rows.

Each holds the samples, the chosen ratio per group, the relative gap to the runner-up (how safely
float32 can agree), and the folded norm weights as the job writes them (float16).
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import awq_reference as awq  # noqa: E402
import forward_reference as ref  # noqa: E402
import make_forward_fixtures as models  # noqa: E402

ROOT = os.path.dirname(HERE)
FIXTURES = os.path.join(ROOT, "CoordinatorCoreTests", "Fixtures")
F32 = np.float32
BITS, SYMMETRIC, GROUP, GRID, SCALE_FORMAT = 4, False, 32, 20, "float16"


def attention_block(h, lengths, config, weights, inv_freq, q, k, v):
    """h + o_proj(attention(q, k, v of input_norm(h))) with the given q/k/v weights."""
    w = dict(weights)
    p = "model.layers.0."
    w[p + "self_attn.q_proj.weight"], w[p + "self_attn.k_proj.weight"], w[p + "self_attn.v_proj.weight"] = q, k, v
    x = ref.rms_norm(h, w[p + "input_layernorm.weight"], config.rms_norm_eps)
    d = config.head_dim
    qs = (x @ q.T).reshape(len(h), -1, d)
    ks = (x @ k.T).reshape(len(h), -1, d)
    vs = (x @ v.T).reshape(len(h), -1, d)
    outs, start = [], 0
    for n in lengths:
        s = slice(start, start + n)
        outs.append(ref.attention(ref.rope(qs[s], inv_freq), ref.rope(ks[s], inv_freq), vs[s], config))
        start += n
    return h + np.concatenate(outs) @ w[p + "self_attn.o_proj.weight"].T


def mlp_block(h, config, weights, gate, up):
    p = "model.layers.0."
    x = ref.rms_norm(h, weights[p + "post_attention_layernorm.weight"], config.rms_norm_eps)
    return h + (ref.silu(x @ gate.T) * (x @ up.T)) @ weights[p + "mlp.down_proj.weight"].T


def choose(losses):
    losses = np.array(losses)
    best = int(np.argmin(losses))
    rest = np.delete(losses, best)
    return best, float((rest.min() - losses[best]) / losses[best])


def search(model, out_path):
    config, weights = ref.load_model(model)
    rng = np.random.default_rng(5)
    sequences = [rng.integers(0, config.vocab_size, 13) for _ in range(6)]
    lengths = [len(s) for s in sequences]
    out = ref.forward(config, weights, sequences)
    h0, stages = out["hidden"][0], out["stages"][0]
    inv_freq = ref.inverse_frequencies(config)
    p = "model.layers.0."
    W = {name: weights[p + name + ".weight"].astype(F32) for name in
         ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]}
    ratios = awq.ratios(GRID)
    result = {"sequences": [s.tolist() for s in sequences], "bits": BITS, "symmetric": SYMMETRIC, "group_size": GROUP, "grid": GRID}

    def candidates(x, linears):
        x_mean = (np.abs(x).sum(axis=0) / len(x)).astype(F32)
        w_mean = awq.weight_mean(linears, GROUP)
        return [awq.scales(x_mean, w_mean, r) for r in ratios]

    # input_layernorm → q, k, v: loss on the attention block.
    names = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"]
    reference = attention_block(h0, lengths, config, weights, inv_freq, *[W[n].astype(np.float64) for n in names])
    qkv = candidates(stages["qkv"], [W[n] for n in names])
    losses = [float(((attention_block(h0, lengths, config, weights, inv_freq, *[awq.candidate(W[n], s, BITS, SYMMETRIC, GROUP, SCALE_FORMAT).astype(np.float64) for n in names]) - reference) ** 2).sum()) for s in qkv]
    best, gap = choose(losses)
    result["attentionInput"] = {"ratio": float(ratios[best]), "gap": gap}
    s_qkv = qkv[best]

    # post_attention_layernorm → gate, up: loss on the MLP.
    h_mid = h0 + stages["o"] @ weights[p + "self_attn.o_proj.weight"].T
    reference = mlp_block(h_mid, config, weights, W["mlp.gate_proj"].astype(np.float64), W["mlp.up_proj"].astype(np.float64))
    gate_up = candidates(stages["gate_up"], [W["mlp.gate_proj"], W["mlp.up_proj"]])
    losses = [float(((mlp_block(h_mid, config, weights, awq.candidate(W["mlp.gate_proj"], s, BITS, SYMMETRIC, GROUP, SCALE_FORMAT).astype(np.float64),
                                awq.candidate(W["mlp.up_proj"], s, BITS, SYMMETRIC, GROUP, SCALE_FORMAT).astype(np.float64)) - reference) ** 2).sum()) for s in gate_up]
    best, gap = choose(losses)
    result["mlpInput"] = {"ratio": float(ratios[best]), "gap": gap}
    s_gu = gate_up[best]

    # v_proj → o_proj, when v's outputs are o's inputs: loss on o_proj's output.
    if config.num_key_value_heads == config.num_attention_heads:
        x = stages["o"]
        W["self_attn.o_proj"] = weights[p + "self_attn.o_proj.weight"].astype(F32)
        o = candidates(x, [W["self_attn.o_proj"]])
        losses = [float(((x @ (awq.candidate(W["self_attn.o_proj"], s, BITS, SYMMETRIC, GROUP, SCALE_FORMAT).astype(np.float64) - W["self_attn.o_proj"]).T) ** 2).sum()) for s in o]
        best, gap = choose(losses)
        result["attentionOutput"] = {"ratio": float(ratios[best]), "gap": gap}

    # up_proj → down_proj: loss on down_proj's output.
    x = stages["down"]
    down = candidates(x, [W["mlp.down_proj"]])
    losses = [float(((x @ (awq.candidate(W["mlp.down_proj"], s, BITS, SYMMETRIC, GROUP, SCALE_FORMAT).astype(np.float64) - W["mlp.down_proj"]).T) ** 2).sum()) for s in down]
    best, gap = choose(losses)
    result["mlpOutput"] = {"ratio": float(ratios[best]), "gap": gap}

    norm1 = weights[p + "input_layernorm.weight"].astype(F32)
    norm2 = weights[p + "post_attention_layernorm.weight"].astype(F32)
    result["input_layernorm"] = (norm1 / s_qkv).astype(np.float16).astype(float).tolist()
    result["post_attention_layernorm"] = (norm2 / s_gu).astype(np.float16).astype(float).tolist()
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)
    print("wrote", out_path, {k: result[k] for k in ["attentionInput", "attentionOutput", "mlpInput", "mlpOutput"] if k in result})


def main():
    search(os.path.join(ROOT, "ModelTests", "Fixtures", "llama"), os.path.join(FIXTURES, "awq_search.json"))
    mha = os.path.join(FIXTURES, "llama_mha")
    models.write_model(mha, {**models.BASE, **models.MODELS["llama"], "num_key_value_heads": models.BASE["num_attention_heads"]}, seed=100)
    search(mha, os.path.join(FIXTURES, "awq_search_mha.json"))


if __name__ == "__main__":
    main()
