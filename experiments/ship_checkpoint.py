"""Turn a finished training run into a shipped checkpoint: checkpoints/{name}_x{scale}.pt + model card.

Keeps the EMA generator weights (what validation used) and the run's metadata; drops optimiser,
scheduler, discriminator and RNG state, which only resuming needs.
    python experiments/ship_checkpoint.py runs/anime/espcn_x4_mse
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from gan_sr.io.checkpoints import checkpoint_size_mb, load_checkpoint, save_checkpoint, write_model_card
from gan_sr.sr.registry import checkpoints_dir

KEEP = ("kind", "model", "step", "meta")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--which", default="best.pt", help="best.pt (by val PSNR) or last.pt (GAN stages)")
    ap.add_argument("--note", default="", help="extra text for the model card")
    args = ap.parse_args()
    ck = load_checkpoint(args.run_dir / args.which)
    shipped = {k: ck[k] for k in KEEP if k in ck}
    shipped["state_dict"] = ck["ema"] if ck.get("ema") is not None else ck["state_dict"]
    shipped["ema"] = None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    shipped["meta"] = {**ck.get("meta", {}), "shipped_from": str(args.run_dir / args.which), "commit": commit}
    name, scale = ck["model"]["name"], ck["model"]["scale"]
    out = checkpoints_dir() / f"{name}_x{scale}.pt"
    save_checkpoint(out, shipped)
    meta = ck.get("meta", {})
    card = {
        "model": name, "scale": scale, "preset": ck["model"].get("preset"), "stage": meta.get("stage"),
        "data": meta.get("data"), "command": meta.get("command"), "steps": ck.get("step"),
        "wall time (s)": round(float(meta.get("wall_s", 0.0)), 1),
        "val PSNR / SSIM (Y, crop=scale)": f"{meta.get('val', {}).get('psnr', float('nan')):.2f} / "
                                           f"{meta.get('val', {}).get('ssim', float('nan')):.4f}",
        "weights": "EMA generator", "size (MB)": round(checkpoint_size_mb(out), 2), "commit": commit,
        "notes": (args.note + " " if args.note else "") + "CPU-sized budget on 2 shared cores, trained by experiments/train_anime_zoo.sh (the command above is the run's first invocation; the script resumes runs to the step count shown).",
    }
    write_model_card(out, card)
    print(f"shipped {out} ({checkpoint_size_mb(out):.2f} MB)")


if __name__ == "__main__":
    main()
