#!/usr/bin/env bash
# The quality guard CI runs: small grids on the samples, for each encoder, compared with the
# committed baselines (PSNR and size only; timing on shared machines is noise). Every record of a
# grid must be in its baseline, so a grid changed without a new baseline fails too.
#   benchmarks/quality_guard.sh          check against benchmarks/baseline-*.json
#   benchmarks/quality_guard.sh --save   refresh the baselines on purpose (say why in the commit)
set -euo pipefail
cd "$(dirname "$0")/.."
images=(samples/camera-128.png samples/chelsea.png)
classic=(--classic -k 16,64 -b 2,4 --algo kmeans,centnn --seed 0)  # the trainers, on plain VQ
rd=(--quality 20,50,90 --algo kmeans,centnn --seed 0)  # what `vqcodec encode` writes by default
for grid in classic rd; do
  declare -n options=$grid
  if [ "${1:-}" = "--save" ]; then
    vqcodec bench "${images[@]}" "${options[@]}" --save-baseline "benchmarks/baseline-$grid.json"
  else
    vqcodec bench "${images[@]}" "${options[@]}" --baseline "benchmarks/baseline-$grid.json" --no-timing-check
  fi
done
