#!/usr/bin/env bash
# The full SR comparison: all six methods from the shipped checkpoints (esrgan_x4 is the network interpolation
# chosen on val by experiments/esrgan_interp_sweep.py, see its model card),
# at x4 and x2 on Set5, Set14, BSD100 ($GANSR_SHARED/datasets, default ../shared/datasets) and the drawn-art
# test split. One folder per dataset and scale: experiments/results/sr_bench_<data>_x<s>/. A folder is skipped
# when its results.json already has the matmul peak and is newer than every checkpoint it was made from
# (FORCE=1 redoes it). Finally experiments/sr_bench_summary.py merges every folder into
# experiments/results/sr_bench_summary.md.
#
#   OMP_NUM_THREADS=1 nice -n 10 bash experiments/sr_bench_full.sh
#   SCALES=2 DATASETS=Set5 bash experiments/sr_bench_full.sh        # one cell
set -euo pipefail
cd "$(dirname "$0")/.."
SCALES="${SCALES:-4 2}"
DATASETS="${DATASETS:-Set5 Set14 BSD100 anime}"
ANIME="${ANIME:-data/anime}"
RUNS="${RUNS:-5}"  # timing repeats per model

is_done() {  # results.json exists, has the matmul peak, and is newer than the checkpoints given
  local json="$1/results.json"; shift
  [ -f "$json" ] && grep -q '"matmul_peak"' "$json" || return 1
  for ck in "$@"; do
    [ -e "$ck" ] && [ "$ck" -nt "$json" ] && return 1
  done
  return 0
}

for s in $SCALES; do
  for d in $DATASETS; do
    if [ "$d" = anime ]; then data="$ANIME"; else data="$d"; fi
    out="experiments/results/sr_bench_$(echo "$d" | tr '[:upper:]' '[:lower:]')_x$s"
    if [ -z "${FORCE:-}" ] && is_done "$out" checkpoints/*_x"$s".pt; then
      echo "skip $out (done; FORCE=1 redoes it)"
      continue
    fi
    echo "bench x$s on $d -> $out"
    .venv/bin/gansr sr bench --models all --data "$data" --scale "$s" --runs "$RUNS" --out "$out" --quiet
  done
done
.venv/bin/python experiments/sr_bench_summary.py
