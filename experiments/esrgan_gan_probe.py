"""ESRGAN GAN-stage recipe probe: which adversarial weight (beside the L1 anchor, no VGG term) keeps the GAN
stage above bicubic while restoring the most edge contrast, chosen on *validation* images only.

Each candidate is an override TOML under experiments/configs/esrgan_gan_probe/, trained with the campaign's
command (`gansr sr train --model esrgan --stage gan --preset cpu --perceptual none --init RRDB`, resumable:
run the script again and each run continues) and then scored on two val sets the campaign never trains on:
the drawn-art val split (data/anime/val) and the photo val images (5 held-out BSD200 images of
experiments/photo_layout.sh), with bicubic beside them. Columns: PSNR/SSIM Y (crop = scale, MATLAB bicubic LR)
and the edge sharpness of the output over that of the HR (metrics.sample_quality.edge_sharpness; a PSNR
model is blurry, < 1).

Rule (written before the runs): among the candidates at least MARGIN dB above bicubic on *both* val sets, the
one with the highest mean edge-sharpness ratio, capped at 1 (sharper than the HR is not better).

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python experiments/esrgan_gan_probe.py --init /work/runs/campaign/rrdb_x4/best.pt

Writes experiments/results/esrgan_gan_probe/{results.md, results.json}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import torch

from gan_sr.io.atomic import atomic_write
from gan_sr.io.checkpoints import git_commit
from gan_sr.pipelines import report
from gan_sr.pipelines.bench import load_samples, score_samples
from gan_sr.metrics.sample_quality import edge_sharpness
from gan_sr.sr.registry import load_model

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "experiments/configs/esrgan_gan_probe"
MARGIN = 1.0


def train(name: str, init: Path, runs: Path, data: Path) -> Path:
    run = runs / name
    cmd = [str(ROOT / ".venv/bin/gansr"), "sr", "train", "--model", "esrgan", "--stage", "gan", "--preset", "cpu",
           "--perceptual", "none", "--scale", "4", "--data", str(data), "--init", str(init), "--run-dir", str(run),
           "--config", str(CONFIGS / f"{name}.toml"), "--quiet"]
    t0 = time.time()
    subprocess.run(cmd, check=True)
    print(f"{name}: trained ({time.time() - t0:.0f} s this call)", flush=True)
    return run / "last.pt"


def score(model: torch.nn.Module, samples, scale: int = 4) -> dict:
    outs: list[tuple[float, float]] = []

    def sharp(s, sr):
        outs.append((edge_sharpness(sr), edge_sharpness(s.hr)))

    res = score_samples(model, samples, scale, on_image=sharp)["mean"]
    res["sharpness_ratio"] = sum(a / b for a, b in outs) / len(outs)
    return res


def choose(rows: list[dict], sets: list[str]) -> str | None:
    ok = [r for r in rows if r["name"] != "bicubic"
          and all(r[f"{s}_psnr_y"] >= r[f"{s}_bicubic"] + MARGIN for s in sets)]
    if not ok:
        return None
    return max(ok, key=lambda r: sum(min(1.0, r[f"{s}_sharpness_ratio"]) for s in sets))["name"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", type=Path, required=True, help="the converged PSNR stage (rrdb_x4 best.pt)")
    ap.add_argument("--data", type=Path, default=ROOT / "data/anime")
    ap.add_argument("--photo-val", type=Path, default=Path("/work/runs/campaign/data/photo_t91_bsd200/val"))
    ap.add_argument("--runs", type=Path, default=Path("/work/runs/esrgan_gan_probe"))
    ap.add_argument("--only", default="", help="comma-separated candidate names (default: every TOML)")
    ap.add_argument("--extra", nargs="*", default=[], metavar="NAME=CKPT", help="also score these checkpoints")
    ap.add_argument("--out", type=Path, default=ROOT / "experiments/results/esrgan_gan_probe")
    args = ap.parse_args()
    for p in (args.init, args.data / "val", args.photo_val):
        if not p.exists():
            sys.exit(f"error: {p} does not exist")
    names = [p.stem for p in sorted(CONFIGS.glob("*.toml"))]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    ckpts = {n: train(n, args.init, args.runs, args.data) for n in names}
    ckpts.update(dict(e.split("=", 1) for e in args.extra))
    ckpts = {"bicubic": "bicubic", "rrdb (init)": str(args.init), **ckpts}

    sets = {"drawn": load_samples(args.data / "val", 4), "photo": load_samples(args.photo_val, 4)}
    bic = load_model("bicubic", 4)
    base = {s: score(bic, v)["psnr_y"] for s, v in sets.items()}
    rows = []
    for name, ck in ckpts.items():
        model = bic if ck == "bicubic" else load_model(Path(ck), 4)
        row = {"name": name, "checkpoint": ck}
        for s, v in sets.items():
            r = score(model, v)
            row.update({f"{s}_{k}": r[k] for k in ("psnr_y", "ssim_y", "sharpness_ratio")}, **{f"{s}_bicubic": base[s]})
        rows.append(row)
        print(row, flush=True)
    chosen = choose([r for r in rows if r["name"] != "rrdb (init)"], list(sets))

    args.out.mkdir(parents=True, exist_ok=True)
    cols = ["name"] + [f"{s}_{k}" for s in sets for k in ("psnr_y", "ssim_y", "sharpness_ratio")]
    lines = ["# ESRGAN GAN-stage probe (x4, validation images only)", "",
             f"`{' '.join(['python'] + sys.argv)}` at commit {git_commit(dirty=True)}, "
             f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC. Candidates: "
             f"experiments/configs/esrgan_gan_probe/*.toml from `{args.init}`; drawn-art val = "
             f"{len(sets['drawn'])} patches of {args.data}/val, photo val = {len(sets['photo'])} images of "
             f"{args.photo_val}. Y PSNR/SSIM, crop 4; sharpness = edge_sharpness(SR) / edge_sharpness(HR).", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join([r["name"]] + [f"{r[c]:.3f}" for c in cols[1:]]) + " |")
    lines += ["", f"Bicubic: drawn {base['drawn']:.2f} dB, photo {base['photo']:.2f} dB. Rule: at least {MARGIN} dB "
              "over bicubic on both val sets, then the highest mean sharpness ratio (capped at 1).",
              f"**Chosen: {chosen or 'none passes'}**", ""]
    atomic_write(args.out / "results.md", lambda f: f.write("\n".join(lines)), text=True)
    report.write_json(args.out / "results.json", {"rows": rows, "chosen": chosen, "margin_db": MARGIN,
                                                   "commit": git_commit(dirty=True), "argv": sys.argv})
    print("\n".join(lines))


if __name__ == "__main__":
    main()
