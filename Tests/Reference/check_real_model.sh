#!/usr/bin/env bash
# End-to-end checks on the real model (SmolLM2-135M-Instruct from PyPI, KJV text): GPTQ W4 g64,
# AWQ W4 asymmetric g64, and SmoothQuant + GPTQ W8A8, each quantized on two local worker
# processes, evaluated by calibrate against the original (perplexity and KL), and loaded in
# transformers + compressed-tensors, whose perplexity must match calibrate's within 1 %.
#
#   bash Tests/Reference/check_real_model.sh          after deploy/setup.sh --full
#
# Settings (environment): SAMPLES (default 64), WINDOWS (16), WORK (models/check).
set -euo pipefail
cd "$(dirname "$0")/../.."
samples="${SAMPLES:-64}"
windows="${WINDOWS:-16}"
work="${WORK:-models/check}"
swift build -c release --product coordinator
swift build -c release --product worker
bash deploy/fetch-model.sh models
bash deploy/make-text.sh "$work/text"
model=models/smollm2-135m
run() {
  local name="$1"; shift
  echo "== $name"
  .build/release/coordinator --model "$model" --calib "$work/text/calibration.txt" --out "$work/$name" \
    --samples "$samples" --seq-len 512 --local-workers 2 --overwrite "$@"
  .build/release/coordinator eval --model "$model" --compare "$work/$name" --data "$work/text/evaluation.txt" --max-windows "$windows"
  .venv/bin/python Tests/Reference/check_quantized_perplexity.py "$work/$name" "$work/text/evaluation.txt" --max-windows "$windows"
}
run gptq-w4g64 --method gptq --bits 4 --group-size 64
run awq-w4g64-asym --method awq --bits 4 --group-size 64 --asym
run smoothquant-gptq-w8a8 --method gptq --bits 8 --group-size -1 --smoothquant 0.5 --act-bits 8
