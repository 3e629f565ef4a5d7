#!/usr/bin/env python3
"""Makes the safetensors and dtype-conversion fixtures of TensorsTests and CheckpointTests.

Independent references: the `safetensors` library writes the files, `torch` does the dtype
conversions (its bf16/f16/fp8 casts round to nearest even). Run once from the repo root with the
project's venv (`.venv/bin/python Tests/Reference/make_safetensors_fixtures.py`); the outputs are
committed, so CI does not need torch.
"""
import json
import os
import struct

import numpy as np
import torch
from safetensors.torch import save_file as save_torch
from safetensors.numpy import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TENSORS = os.path.join(ROOT, "TensorsTests", "Fixtures")
CHECKPOINT = os.path.join(ROOT, "CheckpointTests", "Fixtures")


def spec(t: torch.Tensor, dtype: str) -> torch.Tensor:
    """The tensor as stored; `dtype` documents the safetensors name torch writes for it."""
    return t.contiguous()


def conversion_inputs() -> np.ndarray:
    """Float32 values that exercise every rounding path of the narrow formats."""
    f = np.float32
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0,
               np.finfo(f).max, -np.finfo(f).max, np.finfo(f).tiny, 1e-45,
               65504.0, 65519.99, 65520.0, -65520.0,  # f16 max, just below and at the overflow tie
               448.0, 464.0, 465.0, 480.0, 57344.0, 61439.0, 61440.0,  # fp8 max finite and overflow edges
               2.0 ** -14, 2.0 ** -24, 2.0 ** -25, 3 * 2.0 ** -26, 2.0 ** -6, 2.0 ** -9, 2.0 ** -10, 1.5 * 2.0 ** -9,
               2.0 ** -16, 2.0 ** -17, 3 * 2.0 ** -18, 2.0 ** -126, 2.0 ** -133]
    values = list(special)
    # Exact ties of each format: 1 + k/2^(m+1) for odd k lies halfway between two neighbours.
    for mantissa in (2, 3, 7, 10):
        for k in range(1, 2 ** (mantissa + 1), 2):
            values += [1 + k / 2 ** (mantissa + 1), -(1 + k / 2 ** (mantissa + 1)) * 4]
    # Values one float32 ulp around those ties.
    ties = np.array(values[len(special):], dtype=f)
    values += list(np.nextafter(ties, np.inf, dtype=f)) + list(np.nextafter(ties, -np.inf, dtype=f))
    rng = np.random.default_rng(0)
    values += list(rng.standard_normal(1024).astype(f) * 100)
    values += list((rng.standard_normal(512) * np.exp2(rng.integers(-30, 20, 512))).astype(f))
    return np.array(values, dtype=f)


def make_conversions():
    x = torch.from_numpy(conversion_inputs())
    tensors = {
        "input": spec(x, "F32"),
        "f16": spec(x.to(torch.float16), "F16"),
        "bf16": spec(x.to(torch.bfloat16), "BF16"),
        "f8_e4m3": spec(x.to(torch.float8_e4m3fn), "F8_E4M3"),
        "f8_e5m2": spec(x.to(torch.float8_e5m2), "F8_E5M2"),
    }
    codes = torch.arange(256, dtype=torch.int32).to(torch.uint8)
    tensors["e4m3_decoded"] = spec(codes.view(torch.float8_e4m3fn).to(torch.float32), "F32")
    tensors["e5m2_decoded"] = spec(codes.view(torch.float8_e5m2).to(torch.float32), "F32")
    save_torch(tensors, os.path.join(TENSORS, "conversions.safetensors"))


def make_sharded():
    """A two-shard checkpoint holding every dtype, and the expected values as JSON."""
    g = torch.Generator().manual_seed(1)
    base = {name: torch.randn(shape, generator=g) * 3 for name, shape in [
        ("a.f32", (2, 3)), ("b.f16", (5,)), ("c.bf16", (3, 1, 2)), ("d.e4m3", (4, 2)), ("e.e5m2", (7,)),
        ("f.i8", (3, 3)), ("g.i16", (2,)), ("h.i32", (1, 4)), ("i.i64", (3,)), ("j.u8", (6,)), ("k.bool", (2, 2)),
        ("l.scalar", ()), ("m.empty", (0, 4))]}
    dtypes = {"f32": (torch.float32, "F32"), "f16": (torch.float16, "F16"), "bf16": (torch.bfloat16, "BF16"),
              "e4m3": (torch.float8_e4m3fn, "F8_E4M3"), "e5m2": (torch.float8_e5m2, "F8_E5M2"),
              "i8": (torch.int8, "I8"), "i16": (torch.int16, "I16"), "i32": (torch.int32, "I32"),
              "i64": (torch.int64, "I64"), "u8": (torch.uint8, "U8"), "bool": (torch.bool, "BOOL"),
              "scalar": (torch.float32, "F32"), "empty": (torch.float32, "F32")}
    shards = [{}, {}]
    expected = {}
    for i, (name, value) in enumerate(sorted(base.items())):
        torch_dtype, st_dtype = dtypes[name.split(".")[1]]
        if torch_dtype == torch.uint8:
            value = value.abs() * 10
        t = value.to(torch_dtype)
        shards[i % 2][name] = spec(t, st_dtype)
        expected[name] = {"dtype": st_dtype, "shape": list(t.shape),
                          "values": [float(v) for v in t.to(torch.float32).flatten().tolist()]}
    out = os.path.join(CHECKPOINT, "sharded")
    os.makedirs(out, exist_ok=True)
    weight_map = {}
    total = 0
    for number, shard in enumerate(shards, 1):
        file = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        save_torch(shard, os.path.join(out, file), metadata={"format": "pt"})
        for name, t in shard.items():
            weight_map[name] = file
            total += t.numel() * t.element_size()
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
        f.write("\n")
    with open(os.path.join(CHECKPOINT, "sharded.expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


def raw_file(header, data: bytes, declared_length=None) -> bytes:
    text = json.dumps(header, separators=(",", ":")).encode() if not isinstance(header, bytes) else header
    length = len(text) if declared_length is None else declared_length
    return struct.pack("<Q", length) + text + data


def make_malformed():
    """One file per fault, named for it; each must raise its own specific error."""
    out = os.path.join(CHECKPOINT, "malformed")
    os.makedirs(out, exist_ok=True)
    good = {"x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}
    data = bytes(range(16))
    files = {
        "file.truncated.safetensors": b"\x10\x00\x00",
        "header.longer_than_file.safetensors": raw_file(good, data, declared_length=4096),
        "header.bad_json.safetensors": raw_file(b'{"x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]', data),
        "header.unknown_dtype.safetensors": raw_file({"x": {"dtype": "F128", "shape": [2], "data_offsets": [0, 16]}}, data),
        "header.shape_bytes_mismatch.safetensors": raw_file({"x": {"dtype": "F32", "shape": [3, 2], "data_offsets": [0, 16]}}, data),
        "header.overlapping_offsets.safetensors": raw_file({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                                           "y": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, data),
        "header.offsets_past_end.safetensors": raw_file({"x": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}}, data),
    }
    for name, content in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(content)
    # Sharded checkpoints whose index is wrong.
    for case, weight_map in [("index.missing_shard", {"x": "model-00001-of-00001.safetensors", "y": "model-00002-of-00002.safetensors"}),
                             ("index.missing_tensor", {"x": "model-00001-of-00001.safetensors", "z": "model-00001-of-00001.safetensors"})]:
        directory = os.path.join(out, case)
        os.makedirs(directory, exist_ok=True)
        save_file({"x": np.arange(4, dtype=np.float32)}, os.path.join(directory, "model-00001-of-00001.safetensors"))
        with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 16}, "weight_map": weight_map}, f, indent=2)


if __name__ == "__main__":
    os.makedirs(TENSORS, exist_ok=True)
    os.makedirs(CHECKPOINT, exist_ok=True)
    make_conversions()
    make_sharded()
    make_malformed()
    print("fixtures written under", TENSORS, "and", CHECKPOINT)
