#!/usr/bin/env bash
# The SR comparison on the drawn-art test split with the shipped checkpoints, x4 and x2
# (results under experiments/results/sr_bench_anime_x{4,2}/; the README shows the x4 table).
set -euo pipefail
cd "$(dirname "$0")/.."
for s in 4 2; do
  .venv/bin/gansr sr bench --models all --data "${DATA:-data/anime}" --scale $s --runs 5 \
    --out experiments/results/sr_bench_anime_x$s --quiet
done
