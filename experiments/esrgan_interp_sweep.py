"""ESRGAN network interpolation: theta = (1 - alpha) theta_PSNR + alpha theta_GAN, alpha chosen on *validation* images.

Each alpha's weights come from `gan_sr.sr.interpolate.interpolate_checkpoints` (what `gansr sr interpolate` runs) and
are scored as experiments/esrgan_gan_probe.py scores its candidates: on the drawn-art val split and the photo val
images (5 held-out BSD200 images), Y PSNR/SSIM under the bench protocol (MATLAB bicubic LR, 8-bit SR,
crop = scale) and the edge sharpness of the output over that of the HR. No test image is looked at.

Rule (fixed before the sweep): the largest alpha (the most GAN detail) whose Y PSNR is at least MARGIN dB over
bicubic on *both* val sets; the margin is what keeps the test sets (Set5, the drawn-art test split) above
bicubic when val and test disagree by a few tenths of a dB. The endpoints are also scored straight from their
own files, as a check that alpha = 0 and alpha = 1 reproduce the two stages. The GAN stage must have been
fine-tuned from that PSNR checkpoint, or the average of the two is meaningless.

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python experiments/esrgan_interp_sweep.py \
        --psnr /work/runs/esrgan_gan_probe/init_rrdb_x4.pt --gan /work/runs/esrgan_gan_probe/adv_5e-4/last.pt

Writes experiments/results/esrgan_interp_sweep/{results.md, results.json, curve.png}; with --write, also the
chosen interpolation as a checkpoint (what experiments/sr_bench_full.sh benches as `esrgan_interp`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from esrgan_gan_probe import score
from gan_sr.io.checkpoints import git_commit, load_checkpoint, save_checkpoint
from gan_sr.pipelines import report
from gan_sr.pipelines.bench import load_samples
from gan_sr.sr.interpolate import interpolate_checkpoints
from gan_sr.sr.registry import load_model

ROOT = Path(__file__).resolve().parents[1]
MARGIN = 0.5
KEYS = ("psnr_y", "ssim_y", "sharpness_ratio")


def choose_alpha(rows: list[dict], base: dict[str, float], margin: float = MARGIN) -> float | None:
    """The largest alpha at least `margin` dB over bicubic on every val set; None when even alpha = 0 is not."""
    ok = [r["alpha"] for r in rows if all(r[f"{s}_psnr_y"] >= b + margin for s, b in base.items())]
    return max(ok) if ok else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--psnr", type=Path, required=True, help="the PSNR stage (RRDB) the GAN stage started from")
    ap.add_argument("--gan", type=Path, required=True, help="the GAN stage fine-tuned from --psnr")
    ap.add_argument("--data", type=Path, default=ROOT / "data/anime", help="built drawn-art dataset (its val split)")
    ap.add_argument("--photo-val", type=Path, default=Path("/work/runs/campaign/data/photo_t91_bsd200/val"))
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--steps", type=int, default=10, help="alpha = 0, 1/steps, ..., 1")
    ap.add_argument("--margin", type=float, default=MARGIN, help="dB over bicubic required on both val sets")
    ap.add_argument("--write", type=Path, help="also save the chosen interpolation here (a checkpoint)")
    ap.add_argument("--out", type=Path, default=ROOT / "experiments/results/esrgan_interp_sweep")
    args = ap.parse_args()
    for p in (args.psnr, args.gan, args.data / "val", args.photo_val):
        if not p.exists():
            sys.exit(f"error: {p} does not exist")
    t0 = time.time()

    alphas = [round(i / args.steps, 4) for i in range(args.steps + 1)]
    sets = {"drawn": load_samples(args.data / "val", args.scale), "photo": load_samples(args.photo_val, args.scale)}
    bic = load_model("bicubic", args.scale)
    base = {s: score(bic, v, args.scale)["psnr_y"] for s, v in sets.items()}

    def scored(model) -> dict:
        out = {}
        for s, samples in sets.items():
            out.update({f"{s}_{k}": v for k, v in score(model, samples, args.scale).items() if k in KEYS})
        return out

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for a in alphas:
            path = interpolate_checkpoints(args.psnr, args.gan, a, Path(tmp) / f"interp_{a}.pt")
            rows.append({"alpha": a, **scored(load_model(path, args.scale))})
            print({k: round(v, 4) for k, v in rows[-1].items()}, flush=True)
    ends = {}
    for key, path, a in (("psnr_stage", args.psnr, 0.0), ("gan_stage", args.gan, 1.0)):
        direct = scored(load_model(path, args.scale))
        swept = next(r for r in rows if r["alpha"] == a)
        ck = load_checkpoint(path)
        ends[key] = {"file": str(path), "alpha": a, **direct, "step": ck.get("step"),
                     "command": (ck.get("meta") or {}).get("command"),
                     "max_abs_diff_vs_sweep": max(abs(direct[k] - swept[k]) for k in direct)}
    chosen = choose_alpha(rows, base, args.margin)
    if chosen is not None and args.write:
        row = next(r for r in rows if r["alpha"] == chosen)
        ck = load_checkpoint(interpolate_checkpoints(args.psnr, args.gan, chosen, args.write))
        ck["meta"] = {**ck["meta"], "stage": "gan (network interpolation)",
                      "val": {"psnr": row["drawn_psnr_y"], "ssim": row["drawn_ssim_y"],
                              "photo_psnr": row["photo_psnr_y"], "photo_ssim": row["photo_ssim_y"]},
                      "interpolation_rule": f"largest alpha with Y PSNR >= bicubic + {args.margin} dB on both val "
                                            "sets (experiments/esrgan_interp_sweep.py)"}
        save_checkpoint(args.write, dict(ck))

    cmd = " ".join([".venv/bin/python", os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])
    meta = {"command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} {cmd}".strip(),
            "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "commit": git_commit(dirty=True),
            "torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads(),
            "val_sets": {s: {"images": len(v)} for s, v in sets.items()}, "bicubic_psnr_y": base,
            "scale": args.scale, "psnr_ckpt": str(args.psnr), "gan_ckpt": str(args.gan), "margin_db": args.margin,
            "rule": f"largest alpha with Y PSNR >= bicubic + {args.margin} dB on both val sets",
            "chosen_alpha": chosen, "wall_s": round(time.time() - t0, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    report.write_json(args.out / "results.json", {"meta": meta, "rows": rows, "endpoints": ends})
    series = {f"{s} PSNR Y (dB)": [r[f"{s}_psnr_y"] for r in rows] for s in sets}
    series.update({f"{s} bicubic + {args.margin}": [base[s] + args.margin] * len(rows) for s in sets})
    report.line_plot(args.out / "curve.png", alphas, series,
                     right={f"{s} sharpness": [r[f"{s}_sharpness_ratio"] for r in rows] for s in sets},
                     xlabel="alpha (0 = PSNR stage, 1 = GAN stage)", ylabel="PSNR Y (dB)",
                     right_label="edge sharpness / HR", mark_x=chosen,
                     title=f"ESRGAN x{args.scale} network interpolation on the val sets")
    cols = ["alpha", *[f"{s}_{k}" for s in sets for k in KEYS]]
    fmt = {c: "{:.3f}" for c in cols} | {"alpha": "{:.1f}"}
    md = [f"# ESRGAN x{args.scale} network interpolation sweep (validation images only)", "",
          f"- command: `{meta['command']}`",
          f"- date: {meta['date']}, commit {meta['commit']}; torch {meta['torch']}, {meta['threads']} thread(s)",
          f"- theta = (1 - alpha) theta_PSNR + alpha theta_GAN (EMA weights) via `gansr sr interpolate`'s function; "
          f"PSNR stage `{args.psnr}` (step {ends['psnr_stage']['step']}), GAN stage `{args.gan}` "
          f"(step {ends['gan_stage']['step']}, trained by `{ends['gan_stage']['command']}`)",
          f"- val sets: drawn-art val ({len(sets['drawn'])} patches of {args.data}/val), photo val "
          f"({len(sets['photo'])} images of {args.photo_val}); bench protocol (MATLAB bicubic LR, 8-bit SR, "
          f"crop = {args.scale}); sharpness = edge_sharpness(SR) / edge_sharpness(HR)",
          f"- bicubic: drawn {base['drawn']:.3f} dB, photo {base['photo']:.3f} dB", "",
          report.markdown_table(rows, cols, floatfmt=fmt),
          f"Endpoints scored from their own files: largest |difference| to the sweep's alpha = 0 row "
          f"{ends['psnr_stage']['max_abs_diff_vs_sweep']:.2e}, alpha = 1 row "
          f"{ends['gan_stage']['max_abs_diff_vs_sweep']:.2e}.", "",
          f"Rule: {meta['rule']}. **Chosen alpha: {chosen if chosen is not None else 'none passes'}**"
          + (f" (written to `{args.write}`)." if chosen is not None and args.write else "."), "",
          "![PSNR and sharpness vs alpha](curve.png)", "", f"Wall time {meta['wall_s']} s.", ""]
    (args.out / "results.md").write_text("\n".join(md))
    print(f"chosen alpha {chosen}; wrote {args.out}/results.md, results.json, curve.png")


if __name__ == "__main__":
    main()
