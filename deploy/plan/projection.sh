#!/usr/bin/env bash
# The projection table of docs/ARCHITECTURE.md ("Planning a run"): `coordinator plan` for
# Llama-3.1 70B and 405B, 512 × 2048 samples, GPTQ w4 g128, on 8 / 16 / 64 workers of two kinds
# behind 25 and 100 Gbit/s links. The rates are stated, not measured (see the table's header);
# only their ratios (XᵀX and the solve against the forward) come from this machine's probes.
#   deploy/plan/projection.sh [path/to/coordinator]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
coordinator="${1:-$here/../../.build/release/coordinator}"
# Worker kinds: name|forward|XᵀX|GPTQ solve|GPTQ factor, GFLOP/s per worker (JobPlan's
# conventions). The CPU server's ratios are this 2-core machine's (XᵀX ≈ 0.7, solve ≈ 0.35 of the
# forward, the factor as the coordinator's); the GPU's forward is TF32-class, its exact fixed-point
# XᵀX, column-serial solve and FP32 factor assumed far below it. The coordinator is a CPU server
# in both (factor 2 TFLOP/s); factors are made where the rates say it is faster (--factor-on auto).
kinds=("CPU server|2000|1400|700|2000" "H100-class GPU|400000|100000|20000|20000")
rows=()
for model in llama-3.1-70b llama-3.1-405b; do
  for kind in "${kinds[@]}"; do
    for workers in 8 16 64; do
      for link in 25Gbit 100Gbit; do
        IFS='|' read -r name forward statistics solve factor <<< "$kind"
        json=$("$coordinator" plan --model "$here/$model.json" --samples 512 --seq-len 2048 --workers "$workers" \
          --worker-rate "$forward" --statistics-rate "$statistics" --solve-rate "$solve" --worker-factor-rate "$factor" --coordinator-rate 2000 \
          --link "$link" --disk 2GB/s --json | tr -d "\n")
        rows+=("$model|$name|$workers|$link|$json")
      done
    done
  done
done
printf '%s\n' "${rows[@]}" | python3 -c '
import json, sys
print("| model | workers | kind | link | job | a layer | of a layer: workers / link / coordinator CPU | coordinator link per layer | worker memory | coordinator memory |")
print("|---|---:|---|---|---:|---:|---|---:|---:|---:|")
for line in sys.stdin:
    model, kind, workers, link, text = line.rstrip("\n").split("|", 4)
    p = json.loads(text)
    by = {}
    for phase in p["phases"]:
        for resource, seconds in phase["by_resource"].items():
            by[resource] = by.get(resource, 0) + seconds
    layer = p["layer_seconds"]
    share = lambda r: "%d %%" % round(100 * by.get(r, 0) / layer)
    traffic = sum(p["layer_bytes_sent"].values()) + sum(p["layer_bytes_received"].values())
    hours = p["total_seconds"] / 3600
    print("| %s | %s | %s | %s | %s | %.0f s | %s / %s / %s | %.0f GB | %.0f GB | %.0f GB |" % (
        model.replace("llama-3.1-", "Llama-3.1-").upper().replace("LLAMA-3.1-", "Llama-3.1-"), workers, kind, link.replace("Gbit", " Gbit/s"),
        ("%.1f h" % hours) if hours >= 1 else ("%.0f min" % (hours * 60)), layer,
        share("worker compute"), share("coordinator link"), share("coordinator CPU"),
        traffic / 1e9, p["worker_peak_bytes"] / 1e9, p["coordinator_peak_bytes"] / 1e9))
'
