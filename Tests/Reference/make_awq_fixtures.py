#!/usr/bin/env python3
"""Golden fixtures of the AWQ / SmoothQuant kernels (awq.safetensors in KernelsTests/Fixtures)."""
import os
import sys

import numpy as np
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import awq_reference as awq  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "KernelsTests", "Fixtures", "awq.safetensors")
F32 = np.float32


def main():
    rng = np.random.default_rng(11)
    K, tokens = 64, 96
    # Inputs with outlier channels, as LLM activations have.
    X = (rng.standard_normal((tokens, K)) * np.where(rng.random(K) < 0.1, 8, 1)).astype(F32)
    W1 = rng.standard_normal((40, K)).astype(F32) * F32(0.05)
    W2 = rng.standard_normal((24, K)).astype(F32) * F32(0.05)
    x_mean = (np.abs(X).astype(np.float64).sum(axis=0) / tokens).astype(F32)
    gram = X.astype(np.float64).T @ X.astype(np.float64)
    tensors = {"x": X, "w1": W1, "w2": W2, "x_mean": x_mean, "gram": gram, "absmax": np.abs(X).max(axis=0)}
    tensors["w_mean_g16"] = awq.weight_mean([W1, W2], 16)
    tensors["w_mean_channel"] = awq.weight_mean([W1, W2], -1)
    for i, ratio in enumerate(awq.ratios(20)):
        tensors[f"scales_duo_{i}"] = awq.scales(x_mean, tensors["w_mean_g16"], ratio)
    tensors["scales_x_only_7"] = awq.scales(x_mean, None, awq.ratios(20)[7])
    s = tensors["scales_duo_10"]
    tensors["candidate_w1_sym4_g16"] = awq.candidate(W1, s, 4, True, 16)
    tensors["candidate_w2_asym3_g32"] = awq.candidate(W2, s, 3, False, 32)
    scaled_gram = gram / np.outer(s, s)
    clipped, chosen = awq.clip((W1 * s[None, :]).astype(F32), scaled_gram, 4, False, 16)
    tensors["clip_w1_asym4_g16"] = clipped
    tensors["clip_w1_asym4_g16_shrink"] = chosen
    tensors["smooth_05"] = awq.smoothquant_scales(tensors["absmax"], [W1, W2], 0.5)
    tensors["smooth_08"] = awq.smoothquant_scales(tensors["absmax"], [W1, W2], 0.8)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, OUT)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
