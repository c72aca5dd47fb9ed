#!/usr/bin/env bash
# The ADA ablation on the character heads (issue 13): ADA vs fixed p vs no augmentation, the same kimg each, on
# 10 %, 30 % and 100 % of the training combinations (experiments/heads_subsets.py), with the shipped 64 px heads
# recipe (experiments/configs/gan_heads64_cpu.toml). Each arm is a resumable run; the same command continues all.
#   KIMG=100 nohup experiments/heads_ada_ablation.sh > $GANSR_RUNS/heads_ada.log 2>&1 &
# Results: experiments/results/heads_ada_ablation/{10,30,100}pct/ (curves.png, results.md) from
# experiments/gan_ada_ablation.py, which scores each arm's SWD against the val heads.
set -euo pipefail
cd "$(dirname "$0")/.."
KIMG=${KIMG:-100}
RUNS=${GANSR_RUNS:-/work/runs}/heads_ada
PY=.venv/bin/python
export OMP_NUM_THREADS=1
$PY experiments/heads_subsets.py data/heads --size 64 --shares 0.1,0.3 --out "$RUNS/data"
for share in 10 30 100; do
  data=$RUNS/data/64_${share}pct
  [ "$share" = 100 ] && data=data/heads/64
  $PY experiments/gan_ada_ablation.py --data "$data" --kimg "$KIMG" --config experiments/configs/gan_heads64_cpu.toml \
    --modes ada,none,fixed:0.2 --eval-split val --swd-images 256 --run-root "$RUNS/${share}pct" \
    --out "experiments/results/heads_ada_ablation/${share}pct" --quiet
done
