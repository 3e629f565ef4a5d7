#!/usr/bin/env python3
"""NumPy reference of AWQ's and SmoothQuant's math, written from the papers (Lin et al. 2023,
"AWQ"; Xiao et al. 2022, "SmoothQuant") and AutoAWQ's published conventions (duo scaling,
normalization by sqrt(max*min), the 1e-4/1e-6 guards, the clip grid), in float32 like the Swift
kernels. Round-to-nearest comes from quant_reference.py (compressed-tensors' grid).
"""
import numpy as np

from quant_reference import F32, dequantize, fit, quantize, rtn

def ratios(grid):
    return [F32(i) / F32(grid) for i in range(grid)]


def weight_mean(weights, group_size):
    """Per input column: mean over all stacked rows of |W| / (max |W| of its (row, group) + 1e-6)."""
    W = np.concatenate([np.asarray(w, F32) for w in weights], axis=0)
    N, K = W.shape
    L = K if group_size == -1 else group_size
    groups = np.abs(W).reshape(N, K // L, L)
    normalized = groups / (groups.max(axis=2, keepdims=True) + F32(1e-6))
    return (normalized.reshape(N, K).astype(np.float64).sum(axis=0) / N).astype(F32)


def scales(x_mean, w_mean, ratio):
    """s(α) = x̄^α / (w̄^(1-α) + 1e-4) clamped at 1e-4 (w_mean None: x̄^α), / sqrt(max·min)."""
    x_mean = np.asarray(x_mean, F32)
    numerator = np.power(x_mean, F32(ratio)).astype(F32)
    if w_mean is None:
        s = numerator
    else:
        s = (numerator / (np.power(np.asarray(w_mean, F32), F32(1) - F32(ratio)).astype(F32) + F32(1e-4))).astype(F32)
    s = np.maximum(s, F32(1e-4))
    return (s / np.sqrt(F32(s.max() * s.min()))).astype(F32)


def candidate(W, s, bits, symmetric, group_size, scale_format="float32"):
    """Q(W·diag(s))·diag(1/s) by round-to-nearest."""
    W = np.asarray(W, F32)
    scaled = (W * s[None, :]).astype(F32)
    codes, sc, zeros = rtn(scaled, bits, symmetric, group_size, scale_format)
    L = W.shape[1] if group_size == -1 else group_size
    dq = dequantize(codes.astype(F32), np.repeat(sc, L, axis=1), np.repeat(zeros.astype(F32), L, axis=1))
    return (dq / s[None, :]).astype(F32)


def clip(W, gram, bits, symmetric, group_size, grid=20, max_shrink=0.5, scale_format="float32"):
    """Per (row, group): the shrink of ±max|w| minimizing eᵀ G_gg e, e = w − Q(clamp(w))."""
    W = np.asarray(W, F32)
    N, K = W.shape
    L = K if group_size == -1 else group_size
    clipped = W.copy()
    chosen = np.ones((N, K // L), F32)
    for n in range(N):
        for g in range(K // L):
            w = W[n, g * L:(g + 1) * L]
            block = gram[g * L:(g + 1) * L, g * L:(g + 1) * L]
            largest = np.abs(w).max()
            best = (np.inf, F32(1))
            for i in range(max(1, int(np.floor(max_shrink * grid)))):
                shrink = F32(1.0 - i / grid)
                bound = F32(largest * shrink)
                c = np.clip(w, -bound, bound).astype(F32)
                s, z, _ = fit(c, bits, symmetric, scale_format)
                e = w.astype(np.float64) - dequantize(quantize(c, s, z, bits), s, z).astype(np.float64)
                err = float(e @ block @ e)
                if err < best[0]:
                    best = (err, shrink)
            chosen[n, g] = best[1]
            bound = F32(largest * best[1])
            clipped[n, g * L:(g + 1) * L] = np.clip(w, -bound, bound)
    return clipped, chosen


def smoothquant_scales(act_max, weights, alpha):
    """s_j = a_j^α / max(w_j, 1e-5)^(1−α), at least 1e-5; w_j = max over stacked rows of |W_ij|."""
    W = np.concatenate([np.asarray(w, F32) for w in weights], axis=0)
    w_max = np.maximum(np.abs(W).max(axis=0), F32(1e-5))
    s = np.power(np.asarray(act_max, F32), F32(alpha)) / np.power(w_max, F32(1) - F32(alpha))
    return np.maximum(s.astype(F32), F32(1e-5))
