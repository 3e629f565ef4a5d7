#!/usr/bin/env python3
"""Reads a safetensors file with the reference `safetensors` library and prints what it holds as
JSON: {"metadata": {...}, "tensors": {name: {"dtype", "shape", "hex"}}}. CheckpointTests run it
on files calibrate's writer made and compare with what they wrote."""
import json
import sys

from safetensors import deserialize, safe_open

path = sys.argv[1]
with open(path, "rb") as f:
    tensors = {name: {"dtype": t["dtype"], "shape": list(t["shape"]), "hex": bytes(t["data"]).hex()}
               for name, t in deserialize(f.read())}
with safe_open(path, framework="numpy") as f:
    metadata = f.metadata() or {}
print(json.dumps({"metadata": metadata, "tensors": tensors}, sort_keys=True))
