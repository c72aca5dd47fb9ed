#!/usr/bin/env bash
# Fine-tunes the shipped anime ESPCN x2 on "mixed" LR (random blur, bicubic, noise, JPEG; gan_sr.degrade.degrade_mixed)
# for about 5 CPU-minutes, then scores it against the shipped espcn_x2 on the anime test split twice:
# with clean bicubic LR (`gansr sr bench`: what the augmentation costs) and with mixed LR (what it buys).
# Resumable: re-running continues the run from its last.pt. Run it beside others with
#   OMP_NUM_THREADS=1 nice -n 10 experiments/degradation_finetune.sh
set -euo pipefail
cd "$(dirname "$0")/.."
G=.venv/bin/gansr
PY=.venv/bin/python
DATA=${DATA:-data/anime}
RUN=runs/anime/espcn_x2_mixed
OUT=experiments/results/degradation_finetune_x2
STEPS=${STEPS:-2000}

if [ -f "$RUN/last.pt" ]; then
  $G sr train --resume "$RUN" --steps "$STEPS" --quiet
else
  $G sr train --model espcn --scale 2 --data "$DATA" --config experiments/configs/finetune/espcn_mixed_cpu.toml \
    --init checkpoints/espcn_x2.pt --steps "$STEPS" --run-dir "$RUN" --quiet
fi

$G sr bench --models bicubic,espcn --ckpt espcn_mixed="$RUN/best.pt" --data "$DATA/test" --scale 2 --no-timing \
  --out "$OUT/clean" --quiet

$PY - "$DATA" "$RUN/best.pt" "$OUT" <<'PY'
"""PSNR/SSIM (Y, crop = scale) on the test split with mixed-degraded LR, seeded by image index (reproducible)."""
import json
import sys
from pathlib import Path

import torch

from gan_sr.data.datasets import PairedDataset
from gan_sr.io.images import quantize
from gan_sr.metrics.psnr_ssim import psnr, ssim
from gan_sr.sr.registry import build_model, load_model

data, mixed_ckpt, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
test = PairedDataset(data, 2, split="test", degradation="mixed")
methods = {"bicubic": build_model("bicubic", 2), "espcn": load_model("checkpoints/espcn_x2.pt"),
           "espcn_mixed": load_model(mixed_ckpt)}
rows = []
with torch.no_grad():
    for name, net in methods.items():
        net.eval()
        ps, ss = [], []
        for i in range(len(test)):
            lr, hr = test[i]
            sr = quantize(net(lr[None]).clamp(0, 1))
            ps.append(float(psnr(sr, hr[None], crop=2)))
            ss.append(float(ssim(sr, hr[None], crop=2)))
        rows.append({"method": name, "images": len(ps), "psnr_y": sum(ps) / len(ps), "ssim_y": sum(ss) / len(ss)})
out.mkdir(parents=True, exist_ok=True)
(out / "degraded_test.json").write_text(json.dumps(rows, indent=2) + "\n")
lines = ["| method | images | PSNR-Y (dB) | SSIM-Y |", "|---|---|---|---|"]
lines += [f"| {r['method']} | {r['images']} | {r['psnr_y']:.2f} | {r['ssim_y']:.4f} |" for r in rows]
(out / "degraded_test.md").write_text("Test split, LR = degrade_mixed (seed = image index), x2, Y, crop 2\n\n"
                                      + "\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "Clean-LR table: $OUT/clean/results.md; mixed-LR table: $OUT/degraded_test.md"
