#!/usr/bin/env python3
"""Checks that a checkpoint calibrate wrote loads in transformers (+ compressed-tensors) and that
the perplexity measured there matches `coordinator eval` within 1 %.

    .venv/bin/python Tests/Reference/check_quantized_perplexity.py OUTPUT_DIR DATA [--seq-len 512] [--max-windows 16]

DATA is text, JSON lines or token ids, as `coordinator eval --data` takes it; text is tokenized by
calibrate (the ids are then handed to both). Needs a release build of `coordinator` and the full
Python environment (deploy/setup.sh --full). Exits 1 when the two disagree by more than 1 %.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--max-windows", type=int, default=16)
    parser.add_argument("--coordinator", default=os.path.join(ROOT, ".build", "release", "coordinator"))
    args = parser.parse_args()

    # The ids calibrate evaluates, so that both sides see the same tokens.
    with tempfile.TemporaryDirectory() as scratch:
        ids_path = os.path.join(scratch, "ids.json")
        tokenize = [sys.executable, "-c", (
            "import json,sys; from tokenizers import Tokenizer; "
            "t=Tokenizer.from_file(sys.argv[1]); text=open(sys.argv[2],encoding='utf-8').read(); "
            "json.dump(t.encode(text).ids, open(sys.argv[3],'w'))"),
            os.path.join(args.model, "tokenizer.json"), args.data, ids_path]
        with open(args.data, "rb") as f:
            head = f.read(64).lstrip()
        if head.startswith(b"[") or head.startswith(b"\x93NUMPY"):
            ids_path = args.data
        else:
            subprocess.run(tokenize, check=True)
        ours = json.loads(subprocess.run(
            [args.coordinator, "eval", "--model", args.model, "--data", ids_path, "--seq-len", str(args.seq_len),
             "--max-windows", str(args.max_windows), "--json"], check=True, capture_output=True, text=True).stdout)
        theirs = json.loads(subprocess.run(
            [sys.executable, os.path.join(HERE, "transformers_perplexity.py"), args.model, ids_path, "--seq-len", str(args.seq_len),
             "--max-windows", str(args.max_windows)], check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    difference = abs(ours["perplexity"] / theirs["perplexity"] - 1)
    print(f"calibrate eval: perplexity {ours['perplexity']:.4f} over {ours['tokens']} tokens")
    print(f"transformers:   perplexity {theirs['perplexity']:.4f} over {theirs['tokens']} tokens")
    print(f"difference {difference * 100:.3f} % (limit 1 %)")
    sys.exit(0 if difference <= 0.01 and ours["tokens"] == theirs["tokens"] else 1)


if __name__ == "__main__":
    main()
