#!/usr/bin/env bash
# Issue 7: post-hoc SR of GAN samples vs the jointly trained stack, at equal generator kimg.
#   1. G0: the ADA run of experiments/gan_ada_ablation.py (gan_cpu64.toml recipe) at K0 kimg, copied to runs/gan_cpu64_k0.
#   2. Joint arm: G0 + ESPCN x2 (shipped espcn_x2.pt) trained as one stack for J kimg (fade-in over F kimg).
#      Freeze arm: the same, with G0 frozen (= fine-tuning the SR stage on the GAN's own outputs) for J kimg.
#   3. Post-hoc arm: the same GAN run continued alone for J more kimg (K0 + J in total), exported as the shipped
#      checkpoints/gan_anime_64.pt, then upscaled after the fact by every SR method.
#   4. gansr compare at x2 (64 -> 128 px, the patch size of data/anime, so the references are real 128 px patches);
#      the report, grid and HTML page (not the 2300 sample PNGs) are copied to experiments/results/posthoc_vs_joint.
# Every step resumes where it stopped (re-run the script after an interruption).
set -euo pipefail
cd "$(dirname "$0")/.."
G=.venv/bin/gansr
K0=${K0:-25}; J=${J:-10}; F=${F:-4}
N=${N:-256}; PAIRS=${PAIRS:-250}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
ADA=runs/gan_ada_ablation/run_ada

[ -f runs/gan_cpu64_k0/last.pt ] || { mkdir -p runs/gan_cpu64_k0 && cp -r $ADA/. runs/gan_cpu64_k0/; }
[ -f runs/gan_cpu64/last.pt ] || { mkdir -p runs/gan_cpu64 && cp -r $ADA/. runs/gan_cpu64/; }

joint() {  # run-dir [extra args]
  local dir=$1; shift
  if [ -f "$dir/last.pt" ]; then $G joint-train --resume "$dir" --kimg "$J" --quiet
  else $G joint-train --data data/anime --config experiments/configs/joint_cpu.toml --g0 runs/gan_cpu64_k0/last.pt \
         --sr-ckpt checkpoints/espcn_x2.pt --kimg "$J" --fade-kimg "$F" --snapshot-kimg 2 --run-dir "$dir" --quiet "$@"; fi
}
[ "${SKIP_JOINT:-0}" = 1 ] || joint runs/joint_espcn_x2
[ "${SKIP_FREEZE:-0}" = 1 ] || joint runs/joint_espcn_x2_freeze --freeze-g0
$G gan train --resume runs/gan_cpu64 --kimg "$((K0 + J))" --quiet
$G gan export --ckpt runs/gan_cpu64/last.pt --out checkpoints/gan_anime_64.pt --ref data/anime
$G joint-export --ckpt runs/joint_espcn_x2/last.pt --out runs/joint_espcn_x2/stack.pt
$G joint-export --ckpt runs/joint_espcn_x2_freeze/last.pt --out runs/joint_espcn_x2_freeze/stack.pt
$G compare --gan checkpoints/gan_anime_64.pt --joint runs/joint_espcn_x2/stack.pt --joint runs/joint_espcn_x2_freeze/stack.pt \
  --sr all --sr espcn_mixed=runs/anime/espcn_x2_mixed/best.pt --scale 2 --ref data/anime --split train --n "$N" --pairs "$PAIRS" --seed 0 --out runs/posthoc_vs_joint --quiet
R=experiments/results/posthoc_vs_joint
mkdir -p $R && cp runs/posthoc_vs_joint/{report.md,report.json,index.html,grid.png} $R/
