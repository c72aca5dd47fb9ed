#!/usr/bin/env bash
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

train espcn 4 mse 3000 && ship $R/espcn_x4_mse
train srcnn 4 mse 400 && ship $R/srcnn_x4_mse
train espcn 2 mse 2500 && ship $R/espcn_x2_mse
train srcnn 2 mse 400 && ship $R/srcnn_x2_mse
train esrgan 4 psnr 300
train esrgan 4 gan 60 --init $R/esrgan_x4_psnr/best.pt --perceptual none \
  --config experiments/configs/overrides/esrgan_gan_cpu_nopercep.toml \
  && ship $R/esrgan_x4_gan --which last.pt --note "GAN stage: L1 (weight 1) + 5e-3 RaGAN, no perceptual term (no VGG19 weights offline)."
train srgan 4 mse 200
train srgan 4 gan 60 --init $R/srgan_x4_mse/best.pt --perceptual none \
  --config experiments/configs/overrides/srgan_gan_cpu_nopercep.toml \
  && ship $R/srgan_x4_gan --which last.pt --note "GAN stage: MSE + 1e-3 adversarial, no VGG54 term (no VGG19 weights offline)."
train esrgan 2 psnr 100 && ship $R/esrgan_x2_psnr --note "PSNR stage only (RRDB); no GAN stage at x2 yet."
train srgan 2 mse 100 && ship $R/srgan_x2_mse --note "MSE stage only (SRResNet); no GAN stage at x2 yet."
