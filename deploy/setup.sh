#!/usr/bin/env bash
# Installs what calibrate needs on a Debian 12 machine, idempotently (run as root, or with sudo
# available). Safe to run again: it installs only what is missing.
#
#   deploy/setup.sh            Debian packages + the Python test environment (.venv: numpy, safetensors)
#   deploy/setup.sh --full     also torch (CPU), transformers, compressed-tensors, gguf, tokenizers:
#                              needed only to regenerate reference fixtures and for transformers checks
#
# The Swift toolchain (6.1 or newer) is expected on PATH; see README.md.
set -euo pipefail

cd "$(dirname "$0")/.."
full=0
[ "${1:-}" = "--full" ] && full=1

packages=(
  libzmq3-dev          # ZeroMQ transport
  libprotobuf-c-dev    # protobuf-c runtime for the wire protocol
  protobuf-c-compiler  # protoc-c, to regenerate Sources/CWire
  libopenblas-dev      # cblas: every matrix product
  liblapacke-dev       # Cholesky factorizations (GPTQ)
  python3-venv         # Debian's python3 needs it for the test environment
)

missing=()
for package in "${packages[@]}"; do
  # No pipe into grep -q: under pipefail an early-exiting reader can fail the writer (SIGPIPE).
  [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

command -v swift >/dev/null || { echo "setup: no swift on PATH; install Swift 6.1 or newer (https://swift.org/install)" >&2; exit 1; }

# The Python environment for reference checks that tests run (pip is reachable; nothing heavy).
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv 2>/dev/null || /usr/bin/python3 -m venv .venv
fi
.venv/bin/python -c "import numpy, safetensors" 2>/dev/null || .venv/bin/pip install -q "numpy>=1.26" "safetensors>=0.4.3"
if [ $full -eq 1 ]; then
  # torch first (a CPU wheel where the machine's pip offers one), so that pip does not pull
  # CUDA builds of torch for the packages after it.
  .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q "torch==2.13.0"
  # compressed-tensors 0.20 (with transformers 5.23) builds asymmetric pack-quantized models with
  # unpacked zero-point shapes and refuses checkpoints that pack them as the format specifies;
  # 0.19 with transformers 5.17 loads them (docs/ARCHITECTURE.md, "Known limits").
  .venv/bin/pip install -q "transformers==5.17.*" "compressed-tensors==0.19.*" gguf tokenizers sentencepiece accelerate
fi
echo "setup: ready"
