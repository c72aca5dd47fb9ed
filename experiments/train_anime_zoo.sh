#!/usr/bin/env bash
# SUPERSEDED by experiments/campaign.sh (issue 12). Kept only as the record of how the checkpoints whose cards
# name this script were trained; it runs with the recipes of its commit (git log), not the current ones.
# Trains the shipped anime-domain checkpoints (CPU-sized budgets) on data/anime, then ships each run.
# Build the data first:  gansr data build ../shared/datasets/peppercarrot_* ../shared/datasets/learntocoderpg_vn_sprites --out data/anime
# Runs resume where they stopped (re-run this script after an interruption). GAN stages use
# --perceptual none: no VGG19 ImageNet weights can be fetched on the machine these were trained on.
set -euo pipefail
cd "$(dirname "$0")/.."
G=.venv/bin/gansr
PY=.venv/bin/python
DATA=${DATA:-data/anime}
R=runs/anime

train() {  # name scale stage steps [extra args...]
  local name=$1 scale=$2 stage=$3 steps=$4; shift 4
  local dir=$R/${name}_x${scale}_${stage}
  if [ -f "$dir/last.pt" ]; then
    $G sr train --resume "$dir" --steps "$steps" --quiet
  else
    $G sr train --model "$name" --scale "$scale" --stage "$stage" --data "$DATA" --preset cpu \
      --steps "$steps" --run-dir "$dir" --quiet "$@"
  fi
}
ship() { $PY experiments/ship_checkpoint.py "$@"; }
want() { [ -z "${ONLY:-}" ] || [[ ",$ONLY," == *",$1,"* ]]; }

if want espcn; then
  train espcn 4 mse 3000 && ship $R/espcn_x4_mse
  train espcn 2 mse 2500 && ship $R/espcn_x2_mse
fi
if want srcnn; then
  train srcnn 4 mse 1000 --config gan_sr/recipes/srcnn_mse_cpu.toml && ship $R/srcnn_x4_mse
  train srcnn 2 mse 1000 --config gan_sr/recipes/srcnn_mse_cpu.toml && ship $R/srcnn_x2_mse
fi
if want esrgan; then
  train esrgan 4 psnr 300
  train esrgan 4 gan 60 --init $R/esrgan_x4_psnr/best.pt --perceptual none \
    --config experiments/configs/overrides/esrgan_gan_cpu_nopercep.toml \
    && ship $R/esrgan_x4_gan --which last.pt --note "GAN stage: L1 (weight 1) + 5e-3 RaGAN, no perceptual term (no VGG19 weights offline)."
  train esrgan 2 psnr 500 && ship $R/esrgan_x2_psnr --note "PSNR stage only (RRDB); no GAN stage at x2 yet."
fi
# SRGAN: the MSE stage (SRResNet) must come close to bicubic before the GAN stage means anything; 200 steps
# with the first init left it at 18.6 dB (bicubic 29.75), see tests/test_srgan_regression.py.
if want srgan; then
  train srgan 4 mse 1500
  train srgan 4 gan 100 --init $R/srgan_x4_mse/best.pt --perceptual none \
    --config experiments/configs/overrides/srgan_gan_cpu_nopercep.toml \
    && ship $R/srgan_x4_gan --which last.pt --note "MSE stage (SRResNet) 1500 steps, then this GAN stage: 4 x MSE (the paper's MSE on [-1, 1]) + 1e-3 adversarial, no VGG54 term (no VGG19 weights offline)."
  train srgan 2 mse 1500 --batch 8 --hr-size 48 \
    && ship $R/srgan_x2_mse --note "MSE stage only (SRResNet, batch 8 of 48 px crops); no GAN stage at x2 yet."
fi
