#!/usr/bin/env python3
"""NumPy reference of calibrate's quantization kernels, written from the papers and the formats.

Independent of the Swift code: nothing here is translated from it. Sources:
  - quantization grid: compressed-tensors `calculate_qparams` / `quantize` / `dequantize` (the loader
    of our output), signed codes in [-2^(b-1), 2^(b-1)-1];
  - MSE clipping: the GPTQ reference's `Quantizer.find_params(mse=True)` (grid of shrink factors),
    with exponent 2 and diag(H) weights (see ClippingSearch in Kernels);
  - GPTQ: Frantar et al. 2022, Algorithm 1 *without* lazy batching: after each column every later
    column is updated at once, in float64, so a group's parameters always see fully updated
    weights; the inverse factor by the textbook route U = chol(inv(H + lambda I))^T;
  - statistics: X^T X, absmax, sums over tokens in float64;
  - GPTQ v1 packing: AutoGPTQ's `QuantLinear.pack` loops (including the irregular 3-bit one).
Quantization arithmetic is float32 (as in the Swift kernels and in torch); error propagation and
statistics are float64.

`bench` times a GPTQ solve the way the IST-DASLab code does it (float32, lazy blocks of 128),
for calibrate-bench.
"""
import argparse
import sys
import time

import numpy as np

F32 = np.float32


# ---------------------------------------------------------------------------------------------
# Quantization grid (compressed-tensors conventions)

def round_scale(scale, scale_format):
    """A float32 scale rounded to the stored format (nearest, ties to even)."""
    scale = F32(scale)
    if scale_format == "float16":
        return F32(np.float16(scale))
    if scale_format == "bfloat16":
        bits = np.array([scale], dtype=F32).view(np.uint32)[0]
        bits = np.uint32((int(bits) + 0x7FFF + ((int(bits) >> 16) & 1)) & 0xFFFF0000)
        return np.array([bits], dtype=np.uint32).view(F32)[0]
    return scale


EPS = {"float32": F32(2.0 ** -23), "float16": F32(2.0 ** -10), "bfloat16": F32(2.0 ** -7)}


def code_range(bits):
    return F32(-(2 ** (bits - 1))), F32(2 ** (bits - 1) - 1)


def params_from_range(low, high, bits, symmetric, scale_format):
    """(scale, zero, zero_margin) for the range [low, high] with low <= 0 <= high (float32)."""
    qmin, qmax = code_range(bits)
    levels = F32(qmax - qmin)
    if symmetric:
        scale = F32(max(abs(low), abs(high)) / (levels / F32(2)))
    else:
        scale = F32((high - low) / levels)
    scale = round_scale(scale, scale_format)
    if scale == 0:
        scale = EPS[scale_format]
    if symmetric:
        return scale, F32(0), np.inf
    unrounded = F32(min(max(F32(qmin - low / scale), qmin), qmax))
    zero = F32(np.round(unrounded))
    return scale, zero, abs(abs(unrounded - np.floor(unrounded)) - 0.5) if qmin < unrounded < qmax else np.inf


def quantize(x, scale, zero, bits):
    """Codes of float32 values x: clamp(round_half_even(x / s + z), qmin, qmax)."""
    qmin, qmax = code_range(bits)
    return np.clip(np.round(x / scale + zero), qmin, qmax).astype(F32)


def dequantize(q, scale, zero):
    return ((q - zero) * scale).astype(F32)


def rounding_margin(v, bits):
    """Distance of the pre-rounding values v from the nearest rounding boundary inside the range."""
    qmin, qmax = code_range(bits)
    floor = np.floor(v.astype(np.float64))
    up = np.clip(floor + 0.5, qmin + 0.5, qmax - 0.5)
    down = np.clip(floor - 0.5, qmin + 0.5, qmax - 0.5)
    return np.minimum(np.abs(v - up), np.abs(v - down))


def fit(x, bits, symmetric, scale_format, weights=None, clipping=None):
    """(scale, zero, margin) of one group of float32 values; margin says how close a discrete
    choice (zero rounding, clipping argmin as a relative error gap) came to flipping."""
    x = np.asarray(x, dtype=F32)
    low = F32(min(F32(0), x.min()))
    high = F32(max(F32(0), x.max()))
    if clipping is None:
        return params_from_range(low, high, bits, symmetric, scale_format)
    grid, max_shrink = clipping
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=F32).astype(np.float64)
    errors, candidates = [], []
    for i in range(max(1, int(np.floor(max_shrink * grid)))):
        p = F32(1.0 - i / grid)
        scale, zero, margin = params_from_range(F32(p * low), F32(p * high), bits, symmetric, scale_format)
        d = x.astype(np.float64) - dequantize(quantize(x, scale, zero, bits), scale, zero).astype(np.float64)
        errors.append(np.cumsum(w * d * d)[-1])  # cumsum: sequential order, as a plain loop
        candidates.append((scale, zero, margin))
    errors = np.array(errors)
    best = int(np.argmin(errors))  # first minimum: ties keep the smaller shrink
    others = np.delete(errors, best)
    gap = (others.min() - errors[best]) / max(errors[best], 1e-300) if len(others) else np.inf
    scale, zero, margin = candidates[best]
    return scale, zero, min(margin, gap)


def group_length(columns, group_size):
    return columns if group_size == -1 else group_size


# ---------------------------------------------------------------------------------------------
# RTN

def rtn(W, bits, symmetric, group_size, scale_format="float32", clipping=None, diag=None):
    """Codes (int8), scales, zeros (int8) of round-to-nearest, groups along the input."""
    W = np.asarray(W, dtype=F32)
    N, K = W.shape
    L = group_length(K, group_size)
    G = K // L
    codes = np.zeros((N, K), np.int8)
    scales = np.zeros((N, G), F32)
    zeros = np.zeros((N, G), np.int8)
    for n in range(N):
        for g in range(G):
            x = W[n, g * L:(g + 1) * L]
            s, z, _ = fit(x, bits, symmetric, scale_format, None if diag is None else diag[g * L:(g + 1) * L], clipping)
            scales[n, g], zeros[n, g] = s, z
            codes[n, g * L:(g + 1) * L] = quantize(x, s, z, bits)
    return codes, scales, zeros


# ---------------------------------------------------------------------------------------------
# Statistics and the GPTQ factor

def statistics(X):
    """Sums over tokens (rows of X) in float64."""
    X64 = np.asarray(X, dtype=F32).astype(np.float64)
    return {
        "gram": X64.T @ X64,
        "absmax": np.abs(np.asarray(X, dtype=F32)).max(axis=0),
        "sum_abs": np.abs(X64).sum(axis=0),
        "sum_squares": (X64 * X64).sum(axis=0),
        "tokens": X.shape[0],
    }


def packed_upper(matrix):
    return np.concatenate([matrix[i, i:] for i in range(matrix.shape[0])])


def gptq_factor(gram, tokens, damping_percent=0.01, act_order=False):
    """Permutation, dead columns, diag H (processing order), U (float64), lambda."""
    K = gram.shape[0]
    H = gram * (2.0 / tokens)
    diag = np.diag(H).copy()
    dead = np.nonzero(diag == 0)[0]
    H[dead, dead] = 1
    diag[dead] = 1
    perm = np.argsort(-diag, kind="stable") if act_order else np.arange(K)
    Hp = H[perm][:, perm]
    lam = damping_percent * np.mean(diag)
    Hp = Hp + lam * np.eye(K)
    U = np.linalg.cholesky(np.linalg.inv(Hp)).T  # upper, U^T U = inv(Hp)
    return perm, dead, diag[perm], U, lam


# ---------------------------------------------------------------------------------------------
# GPTQ, unbatched (Algorithm 1 with every update applied immediately)

def gptq(W, perm, dead, diag_p, U, bits, symmetric, group_size, static_groups=False, scale_format="float32", clipping=None):
    """Returns codes, scales, zeros (original column order), g_idx, row losses, and margins
    (processing order): how close each element's decisions came to flipping."""
    W = np.asarray(W, dtype=F32).copy()
    N, K = W.shape
    W[:, dead] = 0
    L = group_length(K, group_size)
    G = K // L
    dynamic = not static_groups and G > 1
    diag_orig = np.zeros(K, F32)
    diag_orig[perm] = diag_p
    group_of = np.arange(K) // L if dynamic else perm // L
    g_idx = np.zeros(K, np.int32)
    g_idx[perm] = group_of
    scales = np.zeros((N, G), F32)
    zeros = np.zeros((N, G), F32)
    margins = np.full((N, K), np.inf)
    if not dynamic:
        for n in range(N):
            for g in range(G):
                s, z, _ = fit(W[n, g * L:(g + 1) * L], bits, symmetric, scale_format, diag_orig[g * L:(g + 1) * L], clipping)
                scales[n, g], zeros[n, g] = s, z
    Wp = W[:, perm].astype(np.float64)
    codes = np.zeros((N, K), np.int8)
    losses = np.zeros(N)
    for j in range(K):
        if dynamic and j % L == 0:
            for n in range(N):
                s, z, m = fit(Wp[n, j:j + L].astype(F32), bits, symmetric, scale_format, diag_p[j:j + L], clipping)
                scales[n, group_of[j]], zeros[n, group_of[j]] = s, z
                margins[n, j] = min(margins[n, j], m)
        s, z = scales[:, group_of[j]], zeros[:, group_of[j]]
        w32 = Wp[:, j].astype(F32)
        v = (w32 / s + z).astype(F32)
        margins[:, j] = np.minimum(margins[:, j], rounding_margin(v, bits))
        q = quantize(w32, s, z, bits)
        deq = dequantize(q, s, z)
        codes[:, perm[j]] = q.astype(np.int8)
        d = U[j, j]
        losses += (w32 - deq).astype(np.float64) ** 2 / d ** 2
        err = (Wp[:, j] - deq) / d
        Wp[:, j + 1:] -= np.outer(err, U[j, j + 1:])
    return codes, scales, zeros.astype(np.int8), g_idx, losses / 2, margins


def hessian_loss(E, H):
    """tr(E H E^T)."""
    return float(np.einsum("nk,kl,nl->", E, H, E))


# ---------------------------------------------------------------------------------------------
# GPTQ v1 packing (AutoGPTQ QuantLinear.pack, transcribed loop by loop)

def autogptq_pack_rows(intweight, bits):
    """Packs uint32 values [R, C] along R into [R*bits/32, C] words, as QuantLinear.pack does."""
    intweight = intweight.astype(np.uint32)
    rows = intweight.shape[0] * bits // 32
    qweight = np.zeros((rows, intweight.shape[1]), dtype=np.uint32)
    i = row = 0
    while row < rows:
        if bits in (2, 4, 8):
            for j in range(i, i + 32 // bits):
                qweight[row] |= intweight[j] << (bits * (j - i))
            i += 32 // bits
            row += 1
        elif bits == 3:
            for j in range(i, i + 10):
                qweight[row] |= intweight[j] << (3 * (j - i))
            i += 10
            qweight[row] |= intweight[i] << 30
            row += 1
            qweight[row] |= (intweight[i] >> 2) & 1
            i += 1
            for j in range(i, i + 10):
                qweight[row] |= intweight[j] << (3 * (j - i) + 1)
            i += 10
            qweight[row] |= intweight[i] << 31
            row += 1
            qweight[row] |= (intweight[i] >> 1) & 0x3
            i += 1
            for j in range(i, i + 10):
                qweight[row] |= intweight[j] << (3 * (j - i) + 2)
            i += 10
            row += 1
        else:
            raise ValueError(f"AutoGPTQ packs 2, 3, 4 or 8 bits, not {bits}")
    return qweight.view(np.int32)


def gptq_v1(codes, scales, zeros, g_idx, bits):
    """qweight, qzeros, scales (fp16), g_idx of signed codes [N, K], zeros [N, G]."""
    offset = 2 ** (bits - 1)
    qweight = autogptq_pack_rows((codes.astype(np.int64) + offset).T, bits)  # [K*b/32, N]
    stored = (zeros.astype(np.int64) + offset - 1) & (2 ** bits - 1)  # [N, G]
    qzeros = autogptq_pack_rows(stored, bits).T.copy()  # pack along N: [G, N*b/32]
    return qweight, qzeros, scales.T.astype(np.float16), g_idx.astype(np.int32)


# ---------------------------------------------------------------------------------------------
# Benchmark: the IST-DASLab fasterquant loop in float32 NumPy

def bench(args):
    N, K, T = args.rows, args.cols, args.tokens
    X = np.fromfile(args.x, dtype=F32).reshape(T, K)
    W = np.fromfile(args.w, dtype=F32).reshape(N, K)
    start = time.perf_counter()
    H = (X.T @ X) * F32(2.0 / T)
    xtx = time.perf_counter() - start
    del X
    start = time.perf_counter()
    diag = np.diag(H).copy()
    dead = diag == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    H[np.arange(K), np.arange(K)] += F32(0.01 * np.mean(np.diag(H)))
    Hinv = np.linalg.cholesky(np.linalg.inv(H)).T  # U, float32
    del H
    factor = time.perf_counter() - start
    bits, L, B = args.bits, args.group, 128
    start = time.perf_counter()
    Q = np.zeros_like(W)
    for i1 in range(0, K, B):
        i2 = min(i1 + B, K)
        W1 = W[:, i1:i2].copy()
        Err1 = np.zeros_like(W1)
        for i in range(i2 - i1):
            if (i1 + i) % L == 0:
                block = W[:, i1 + i:i1 + i + L]  # as the reference: stale inside a block
                low = np.minimum(block.min(axis=1), 0)
                high = np.maximum(block.max(axis=1), 0)
                s = np.maximum(np.abs(low), high) / F32((2 ** bits - 1) / 2)
                s[s == 0] = 1
            w = W1[:, i]
            q = np.clip(np.round(w / s), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1) * s
            Q[:, i1 + i] = q
            err = (w - q) / Hinv[i1 + i, i1 + i]
            W1[:, i:] -= np.outer(err, Hinv[i1 + i, i1 + i:i2])
            Err1[:, i] = err
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
    solve = time.perf_counter() - start
    print(f"xtx {xtx:.3f} factor {factor:.3f} solve {solve:.3f} checksum {float(np.abs(Q).sum()):.6e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench", help="time a float32 GPTQ solve (IST-DASLab loop) on raw float32 inputs")
    b.add_argument("--x", required=True, help="raw float32 tokens × cols")
    b.add_argument("--w", required=True, help="raw float32 rows × cols")
    b.add_argument("--rows", type=int, required=True)
    b.add_argument("--cols", type=int, required=True)
    b.add_argument("--tokens", type=int, required=True)
    b.add_argument("--bits", type=int, default=4)
    b.add_argument("--group", type=int, default=128)
    args = parser.parse_args()
    if args.command == "bench":
        bench(args)


if __name__ == "__main__":
    sys.exit(main())
