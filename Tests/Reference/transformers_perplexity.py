#!/usr/bin/env python3
"""Perplexity of a checkpoint as the Python `transformers` library computes it, for comparison
with `coordinator eval`. Works on original checkpoints and on calibrate's compressed-tensors
outputs (needs the `compressed-tensors` package; CPU only).

Same definition as calibrate's evaluation: the token ids are cut into non-overlapping windows of
--seq-len tokens (a shorter tail is dropped), at most --max-windows of them; in each window every
token after the first is predicted from its prefix; perplexity = exp(mean NLL over those tokens).

    .venv/bin/python Tests/Reference/transformers_perplexity.py MODEL_DIR TOKENS [--seq-len 512] [--max-windows N]

TOKENS is a JSON array of ids or an int32 .npy file. Prints one JSON object.
"""
import argparse
import json
import math

import numpy as np
import torch
from transformers import AutoModelForCausalLM


def read_tokens(path):
    with open(path, "rb") as f:
        head = f.read(6)
    if head == b"\x93NUMPY":
        return np.load(path).astype(np.int64).reshape(-1)
    with open(path) as f:
        return np.array(json.load(f), dtype=np.int64)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("tokens")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--max-windows", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ids = read_tokens(args.tokens)
    windows = len(ids) // args.seq_len
    if args.max_windows is not None:
        windows = min(windows, args.max_windows)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    model.eval()
    total_nll = 0.0
    count = 0
    with torch.no_grad():
        for w in range(windows):
            window = torch.from_numpy(ids[w * args.seq_len:(w + 1) * args.seq_len]).unsqueeze(0)
            logits = model(window).logits[0].double()
            logprobs = torch.log_softmax(logits[:-1], dim=-1)
            nll = -logprobs.gather(1, window[0, 1:].unsqueeze(1)).sum().item()
            total_nll += nll
            count += args.seq_len - 1
    mean = total_nll / count
    print(json.dumps({"perplexity": math.exp(mean), "mean_nll": mean, "tokens": count, "windows": windows}))


if __name__ == "__main__":
    main()
