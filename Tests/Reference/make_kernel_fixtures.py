#!/usr/bin/env python3
"""Makes the golden fixtures of KernelsTests from fixed seeds.

References: `quant_reference.py` (NumPy, from the papers) for statistics, the GPTQ factor, RTN and
GPTQ; the installed compressed-tensors package (`pack_to_int32`, the pack-quantized compressor's
`decompress`) for its packing and dequantization; AutoGPTQ's packing loops (in quant_reference) for
GPTQ v1. Run once from the repository root with the project's venv (needs torch and
compressed-tensors):

    .venv/bin/python Tests/Reference/make_kernel_fixtures.py

Outputs (committed, so tests need neither torch nor Python):
    Tests/KernelsTests/Fixtures/kernels.safetensors   every tensor
    Tests/KernelsTests/Fixtures/kernels.json          the cases and their parameters
"""
import json
import os

import numpy as np
import torch
from safetensors.numpy import save_file
from compressed_tensors.compressors.pack_quantized.base import PackedQuantizationCompressor
from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32
from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme

import quant_reference as ref

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "KernelsTests", "Fixtures")
F32 = np.float32

tensors = {}
manifest = {"problems": {}, "rtn": [], "gptq": [], "packing": []}


def put(name, array):
    tensors[name] = np.ascontiguousarray(array)


def activations(rng, tokens, columns, dead=()):
    """Correlated inputs with a few outlier channels, so that H is far from diagonal."""
    mixing = rng.standard_normal((columns, columns)) / np.sqrt(columns) + np.eye(columns)
    channel_scale = np.exp(rng.standard_normal(columns) * 0.5)
    channel_scale[rng.choice(columns, 2, replace=False)] *= 8
    X = (rng.standard_normal((tokens, columns)) @ mixing) * channel_scale
    X[:, list(dead)] = 0
    return X.astype(F32)


def weights(rng, rows, columns):
    W = rng.standard_normal((rows, columns)) * 0.05
    W[rng.random((rows, columns)) < 0.01] *= 10  # outliers
    return W.astype(F32)


# -- Problems: inputs, weights, statistics and factors ------------------------------------------
PROBLEMS = {
    "p1": dict(rows=12, columns=64, tokens=200, dead=(), seed=1),
    "p2": dict(rows=7, columns=96, tokens=150, dead=(5, 77), seed=2),
    "p3": dict(rows=9, columns=48, tokens=40, dead=(), seed=3),  # fewer tokens than columns
}
factors = {}
for name, spec in PROBLEMS.items():
    rng = np.random.default_rng(spec["seed"])
    X = activations(rng, spec["tokens"], spec["columns"], spec["dead"])
    W = weights(rng, spec["rows"], spec["columns"])
    stats = ref.statistics(X)
    put(f"{name}.x", X)
    put(f"{name}.w", W)
    put(f"{name}.stats.token_count", np.array([spec["tokens"]], np.int64))
    put(f"{name}.stats.xtx_upper", ref.packed_upper(stats["gram"]))
    put(f"{name}.stats.absmax", stats["absmax"].astype(F32))
    put(f"{name}.stats.sum_abs", stats["sum_abs"])
    put(f"{name}.stats.sum_squares", stats["sum_squares"])
    for order in (False, True):
        perm, dead, diag_p, U, lam = ref.gptq_factor(stats["gram"], spec["tokens"], 0.01, order)
        key = f"{name}.{'act' if order else 'seq'}"
        put(f"{key}.perm", perm.astype(np.int32))
        put(f"{key}.dead", dead.astype(np.int32))
        put(f"{key}.diag", diag_p.astype(F32))
        put(f"{key}.u", U)
        put(f"{key}.lambda", np.array([lam]))
        # The solve uses the float32 factor, exactly as the Swift test hands it over.
        factors[key] = (perm, dead, diag_p.astype(F32), U.astype(F32).astype(np.float64))
    manifest["problems"][name] = dict(rows=spec["rows"], columns=spec["columns"], tokens=spec["tokens"], dead=list(spec["dead"]))
    factors[name] = stats

# -- GPTQ cases -----------------------------------------------------------------------------------
GPTQ_CASES = [
    dict(problem="p1", bits=4, symmetric=True, group_size=16, act_order=False, static_groups=False),
    dict(problem="p1", bits=4, symmetric=False, group_size=16, act_order=True, static_groups=False),
    dict(problem="p1", bits=4, symmetric=True, group_size=32, act_order=True, static_groups=True),
    dict(problem="p1", bits=8, symmetric=False, group_size=-1, act_order=False, static_groups=False),
    dict(problem="p1", bits=4, symmetric=True, group_size=16, act_order=False, static_groups=False, scale_format="float16"),
    dict(problem="p1", bits=4, symmetric=False, group_size=16, act_order=False, static_groups=True, clipping=[100, 0.8]),
    dict(problem="p2", bits=3, symmetric=True, group_size=32, act_order=True, static_groups=False),
    dict(problem="p2", bits=3, symmetric=False, group_size=24, act_order=False, static_groups=False),
    dict(problem="p2", bits=2, symmetric=False, group_size=-1, act_order=True, static_groups=False),
    dict(problem="p2", bits=4, symmetric=False, group_size=48, act_order=True, static_groups=False, scale_format="bfloat16"),
    dict(problem="p3", bits=2, symmetric=True, group_size=16, act_order=False, static_groups=False),
    dict(problem="p3", bits=4, symmetric=False, group_size=48, act_order=True, static_groups=False),
    dict(problem="p3", bits=8, symmetric=True, group_size=8, act_order=True, static_groups=False, clipping=[20, 0.5]),
    dict(problem="p3", bits=5, symmetric=False, group_size=12, act_order=True, static_groups=True),
]
for index, case in enumerate(GPTQ_CASES):
    case = dict(scale_format="float32", clipping=None) | case
    spec = PROBLEMS[case["problem"]]
    perm, dead, diag_p, U = factors[f"{case['problem']}.{'act' if case['act_order'] else 'seq'}"]
    W = tensors[f"{case['problem']}.w"]
    clipping = tuple(case["clipping"]) if case["clipping"] else None
    codes, scales, zeros, g_idx, losses, margins = ref.gptq(
        W, perm, dead, diag_p, U, case["bits"], case["symmetric"], case["group_size"], case["static_groups"],
        case["scale_format"], clipping)
    key = f"gptq{index}"
    put(f"{key}.codes", codes)
    put(f"{key}.scales", scales)
    put(f"{key}.zeros", zeros)
    put(f"{key}.g_idx", g_idx)
    put(f"{key}.losses", losses)
    put(f"{key}.margins", np.minimum(margins, 1e9).astype(F32))
    # Hessian-weighted losses of GPTQ and RTN on the same (undamped) H, for the record.
    stats = factors[case["problem"]]
    H = stats["gram"] * (2.0 / spec["tokens"])
    L = ref.group_length(spec["columns"], case["group_size"])
    deq = (codes.astype(F32) - zeros[:, g_idx].astype(F32)) * scales[:, g_idx]
    rtn_codes, rtn_scales, rtn_zeros = ref.rtn(W, case["bits"], case["symmetric"], case["group_size"], case["scale_format"])
    rtn_deq = (rtn_codes.astype(F32) - np.repeat(rtn_zeros, L, axis=1)) * np.repeat(rtn_scales, L, axis=1)
    case["gptq_hessian_loss"] = ref.hessian_loss((W - deq).astype(np.float64), H)
    case["rtn_hessian_loss"] = ref.hessian_loss((W - rtn_deq).astype(np.float64), H)
    manifest["gptq"].append(case)

# -- RTN cases ------------------------------------------------------------------------------------
RTN_CASES = [
    dict(problem="p1", bits=2, symmetric=True, group_size=16),
    dict(problem="p1", bits=3, symmetric=False, group_size=32),
    dict(problem="p1", bits=4, symmetric=True, group_size=-1),
    dict(problem="p1", bits=4, symmetric=False, group_size=16, scale_format="bfloat16"),
    dict(problem="p1", bits=5, symmetric=True, group_size=8, scale_format="float16"),
    dict(problem="p2", bits=6, symmetric=False, group_size=24),
    dict(problem="p2", bits=7, symmetric=True, group_size=96),
    dict(problem="p2", bits=8, symmetric=False, group_size=-1),
    dict(problem="p2", bits=4, symmetric=True, group_size=32, clipping=[100, 0.8]),
    dict(problem="p3", bits=3, symmetric=False, group_size=16, clipping=[100, 0.8], use_diagonal=True),
    dict(problem="p3", bits=2, symmetric=True, group_size=-1, clipping=[50, 0.6], use_diagonal=True),
]
for index, case in enumerate(RTN_CASES):
    case = dict(scale_format="float32", clipping=None, use_diagonal=False) | case
    W = tensors[f"{case['problem']}.w"]
    stats = factors[case["problem"]]
    diag = (np.diag(stats["gram"]) * (2.0 / stats["tokens"])).astype(F32) if case["use_diagonal"] else None
    codes, scales, zeros = ref.rtn(W, case["bits"], case["symmetric"], case["group_size"], case["scale_format"],
                                   tuple(case["clipping"]) if case["clipping"] else None, diag)
    put(f"rtn{index}.codes", codes)
    put(f"rtn{index}.scales", scales)
    put(f"rtn{index}.zeros", zeros)
    manifest["rtn"].append(case)

# -- Packing: compressed-tensors itself, and AutoGPTQ's loops ------------------------------------
PACKING = [
    dict(rows=9, columns=40, bits=b, symmetric=s, group_size=g)
    for b in range(2, 9) for (s, g) in ((True, 8), (False, 20), (False, -1))
] + [dict(rows=32, columns=64, bits=b, symmetric=s, group_size=32) for b in (2, 3, 4, 8) for s in (True, False)]
rng = np.random.default_rng(7)
for index, case in enumerate(PACKING):
    n, k, b, g = case["rows"], case["columns"], case["bits"], case["group_size"]
    G = 1 if g == -1 else k // g
    qmin, qmax = -(2 ** (b - 1)), 2 ** (b - 1) - 1
    codes = rng.integers(qmin, qmax + 1, size=(n, k)).astype(np.int8)
    # Zero points of 0 unsigned (qmin) are not storable in GPTQ v1: draw from qmin + 1.
    zeros = np.zeros((n, G), np.int8) if case["symmetric"] else rng.integers(qmin + 1, qmax + 1, size=(n, G)).astype(np.int8)
    scales = (rng.random((n, G)) * 0.01 + 0.001).astype(F32)
    key = f"pack{index}"
    put(f"{key}.codes", codes)
    put(f"{key}.zeros", zeros)
    put(f"{key}.scales", scales)
    packed = pack_to_int32(torch.from_numpy(codes), b)
    put(f"{key}.ct.weight_packed", packed.numpy())
    state = {"weight_packed": packed, "weight_scale": torch.from_numpy(scales), "weight_shape": torch.tensor([n, k])}
    if not case["symmetric"]:
        packed_zeros = pack_to_int32(torch.from_numpy(zeros), b, packed_dim=0)
        put(f"{key}.ct.weight_zero_point", packed_zeros.numpy())
        state["weight_zero_point"] = packed_zeros
    args = QuantizationArgs(num_bits=b, symmetric=case["symmetric"], strategy="channel" if g == -1 else "group",
                            group_size=None if g == -1 else g)
    scheme = QuantizationScheme(targets=["Linear"], weights=args)
    put(f"{key}.ct.dequantized", PackedQuantizationCompressor.decompress(state, scheme)["weight"].numpy().astype(F32))
    if b in (2, 3, 4, 8) and k * b % 32 == 0 and n * b % 32 == 0:
        g_idx = (np.arange(k) // (k // G)).astype(np.int32)
        qweight, qzeros, fp16_scales, g_idx = ref.gptq_v1(codes, scales, zeros, g_idx, b)
        put(f"{key}.gptq.qweight", qweight)
        put(f"{key}.gptq.qzeros", qzeros)
        put(f"{key}.gptq.scales", fp16_scales)
        put(f"{key}.gptq.g_idx", g_idx)
        case["gptq"] = True
    manifest["packing"].append(case)

os.makedirs(OUT, exist_ok=True)
save_file(tensors, os.path.join(OUT, "kernels.safetensors"))
os.chmod(os.path.join(OUT, "kernels.safetensors"), 0o644)
with open(os.path.join(OUT, "kernels.json"), "w") as f:
    json.dump(manifest, f, indent=1, default=lambda v: v.item() if hasattr(v, "item") else str(v))
    f.write("\n")
size = os.path.getsize(os.path.join(OUT, "kernels.safetensors"))
print(f"wrote {len(tensors)} tensors, {size} bytes; {len(manifest['gptq'])} GPTQ, {len(manifest['rtn'])} RTN, {len(manifest['packing'])} packing cases")
for case in manifest["gptq"]:
    print(f"  GPTQ {case['problem']} b{case['bits']} {'sym' if case['symmetric'] else 'asym'} g{case['group_size']} "
          f"act={case['act_order']} static={case['static_groups']}: Hessian loss GPTQ {case['gptq_hessian_loss']:.4e} RTN {case['rtn_hessian_loss']:.4e}")
