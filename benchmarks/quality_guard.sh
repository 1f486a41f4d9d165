#!/usr/bin/env bash
# The quality guard CI runs: a small grid on the samples compared with the
# committed baseline (PSNR and size only; timing on shared machines is noise).
#   benchmarks/quality_guard.sh          check against benchmarks/baseline.json
#   benchmarks/quality_guard.sh --save   refresh the baseline on purpose
set -euo pipefail
cd "$(dirname "$0")/.."
grid=(samples/camera-128.png samples/chelsea.png -k 16,64 -b 2,4 --algo kmeans,centnn --seed 0)
if [ "${1:-}" = "--save" ]; then
  vqcodec bench "${grid[@]}" --save-baseline benchmarks/baseline.json
else
  vqcodec bench "${grid[@]}" --baseline benchmarks/baseline.json --no-timing-check
fi
