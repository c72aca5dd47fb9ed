"""ESRGAN network interpolation: theta = (1 - alpha) theta_PSNR + alpha theta_GAN, chosen on *validation* images.

For each GAN stage given (each fine-tuned from the same PSNR stage, e.g. with different adversarial weights) the
weights at alpha = 0, 1/steps, ..., 1 come from `gan_sr.sr.interpolate.interpolate_checkpoints` (what
`gansr sr interpolate` runs) and are scored as experiments/esrgan_gan_probe.py scores its candidates: on the
drawn-art val split and the photo val images (5 held-out BSD200 images), Y PSNR/SSIM under the bench protocol
(MATLAB bicubic LR, 8-bit SR, crop = scale) and the edge sharpness of the output over that of the HR. No test
image is looked at.

Rule (fixed before the sweep): among all (GAN stage, alpha) pairs at least MARGIN dB over bicubic on *both* val
sets, the sharpest (mean edge-sharpness ratio over the two sets, each capped at 1: sharper than the HR is not
better). For one GAN stage sharpness grows with alpha, so this is the largest alpha that keeps the margin; the
margin is what keeps the test sets (Set5, the drawn-art test split) above bicubic when val and test disagree by
a few tenths of a dB. The endpoints are also scored straight from their files, as a check that alpha = 0 and
alpha = 1 reproduce the two stages.

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python experiments/esrgan_interp_sweep.py \
        --psnr /work/runs/esrgan_gan_probe/init_rrdb_x4.pt \
        --gan /work/runs/esrgan_gan_probe/adv_1e-4/last.pt --gan /work/runs/esrgan_gan_probe/adv_5e-4/last.pt \
        --write /work/runs/esrgan_gan_probe/esrgan_x4_interp.pt

Writes experiments/results/esrgan_interp_sweep/{results.md, results.json, curve.png}; with --write, also the
chosen interpolation as a checkpoint carrying its val scores and provenance (shipped as checkpoints/esrgan_x4.pt).
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


def sharpness(row: dict, sets) -> float:
    return sum(min(1.0, row[f"{s}_sharpness_ratio"]) for s in sets) / len(sets)


def choose(rows: list[dict], base: dict[str, float], margin: float = MARGIN) -> dict | None:
    """The sharpest row at least `margin` dB over bicubic on every val set (ties: the smaller alpha); None if none."""
    ok = [r for r in rows if all(r[f"{s}_psnr_y"] >= b + margin for s, b in base.items())]
    return max(ok, key=lambda r: (round(sharpness(r, base), 6), -r["alpha"])) if ok else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--psnr", type=Path, required=True, help="the PSNR stage (RRDB) the GAN stages started from")
    ap.add_argument("--gan", type=Path, required=True, action="append", help="a GAN stage fine-tuned from --psnr "
                    "(repeat for several; named by their run folder)")
    ap.add_argument("--data", type=Path, default=ROOT / "data/anime", help="built drawn-art dataset (its val split)")
    ap.add_argument("--photo-val", type=Path, default=Path("/work/runs/campaign/data/photo_t91_bsd200/val"))
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--steps", type=int, default=10, help="alpha = 0, 1/steps, ..., 1")
    ap.add_argument("--margin", type=float, default=MARGIN, help="dB over bicubic required on both val sets")
    ap.add_argument("--write", type=Path, help="also save the chosen interpolation here (a checkpoint)")
    ap.add_argument("--out", type=Path, default=ROOT / "experiments/results/esrgan_interp_sweep")
    args = ap.parse_args()
    for p in (args.psnr, *args.gan, args.data / "val", args.photo_val):
        if not p.exists():
            sys.exit(f"error: {p} does not exist")
    gans = {p.parent.name if p.name in ("last.pt", "best.pt") else p.stem: p for p in args.gan}
    if len(gans) != len(args.gan):
        sys.exit("error: two --gan files have the same name; give them distinct run folders")
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

    rows, ends = [], {}
    psnr_direct = scored(load_model(args.psnr, args.scale))
    with tempfile.TemporaryDirectory() as tmp:
        for name, gan in gans.items():
            for a in alphas:
                path = interpolate_checkpoints(args.psnr, gan, a, Path(tmp) / f"interp_{name}_{a}.pt")
                rows.append({"gan": name, "alpha": a, **scored(load_model(path, args.scale))})
                print({k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()}, flush=True)
            ck = load_checkpoint(gan)
            direct = scored(load_model(gan, args.scale))
            mine = [r for r in rows if r["gan"] == name]
            diff = max(max(abs(direct[k] - mine[-1][k]), abs(psnr_direct[k] - mine[0][k])) for k in direct)
            ends[name] = {"file": str(gan), "step": ck.get("step"), "command": (ck.get("meta") or {}).get("command"),
                          **direct, "max_abs_diff_endpoints_vs_sweep": diff}
    best = choose(rows, base, args.margin)
    if best is not None and args.write:
        a, gan = best["alpha"], gans[best["gan"]]
        ck = load_checkpoint(interpolate_checkpoints(args.psnr, gan, a, args.write))
        ck["meta"] = {**ck["meta"], "stage": "gan (network interpolation)",
                      "val": {"psnr": best["drawn_psnr_y"], "ssim": best["drawn_ssim_y"],
                              "photo_psnr": best["photo_psnr_y"], "photo_ssim": best["photo_ssim_y"]},
                      "interpolation_rule": f"the sharpest (GAN stage, alpha) with Y PSNR >= bicubic + "
                                            f"{args.margin} dB on both val sets (experiments/esrgan_interp_sweep.py)",
                      "trained_by": f"Weights: {1 - a:g} x the PSNR stage ({args.psnr.name}) + {a:g} x the GAN stage "
                                    f"{best['gan']} fine-tuned from it (ESRGAN's network interpolation), chosen on the "
                                    "val sets by experiments/esrgan_interp_sweep.py (experiments/results/"
                                    "esrgan_interp_sweep/); steps and wall time are the GAN stage's, trained by "
                                    "experiments/esrgan_gan_probe.py on one core of a shared 2-core CPU."}
        save_checkpoint(args.write, dict(ck))

    cmd = " ".join([".venv/bin/python", os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])
    rule = (f"the sharpest (GAN stage, alpha) pair (mean edge-sharpness ratio over the two val sets, each capped "
            f"at 1) with Y PSNR >= bicubic + {args.margin} dB on both val sets")
    meta = {"command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} {cmd}".strip(),
            "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "commit": git_commit(dirty=True),
            "torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads(),
            "val_sets": {s: {"images": len(v)} for s, v in sets.items()}, "bicubic_psnr_y": base,
            "scale": args.scale, "psnr_ckpt": str(args.psnr), "gan_ckpts": {n: str(p) for n, p in gans.items()},
            "margin_db": args.margin, "rule": rule,
            "chosen": None if best is None else {"gan": best["gan"], "alpha": best["alpha"]},
            "wall_s": round(time.time() - t0, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    report.write_json(args.out / "results.json", {"meta": meta, "rows": rows, "psnr_stage": psnr_direct,
                                                   "gan_stages": ends})
    series = {}
    for name in gans:
        mine = [r for r in rows if r["gan"] == name]
        series.update({f"{name}: {s} PSNR Y": [r[f"{s}_psnr_y"] for r in mine] for s in sets})
    series.update({f"{s} bicubic + {args.margin}": [base[s] + args.margin] * len(alphas) for s in sets})
    right = {f"{name}: mean sharpness": [sharpness(r, sets) for r in rows if r["gan"] == name] for name in gans}
    report.line_plot(args.out / "curve.png", alphas, series, right=right,
                     xlabel="alpha (0 = PSNR stage, 1 = GAN stage)", ylabel="PSNR Y (dB)",
                     right_label="edge sharpness / HR (capped at 1)", mark_x=None if best is None else best["alpha"],
                     title=f"ESRGAN x{args.scale} network interpolation on the val sets")
    cols = ["gan", "alpha", *[f"{s}_{k}" for s in sets for k in KEYS]]
    fmt = {c: "{:.3f}" for c in cols[2:]} | {"alpha": "{:.1f}"}
    stages = "; ".join(f"`{n}` = `{e['file']}` (step {e['step']}, `{e['command']}`)" for n, e in ends.items())
    verdict = ("none passes" if best is None else f"{best['gan']} at alpha {best['alpha']:g}"
               + (f" (written to `{args.write}`)" if args.write else ""))
    md = [f"# ESRGAN x{args.scale} network interpolation sweep (validation images only)", "",
          f"- command: `{meta['command']}`",
          f"- date: {meta['date']}, commit {meta['commit']}; torch {meta['torch']}, {meta['threads']} thread(s)",
          f"- theta = (1 - alpha) theta_PSNR + alpha theta_GAN (EMA weights) via `gansr sr interpolate`'s function; "
          f"PSNR stage `{args.psnr}`; GAN stages: {stages}",
          f"- val sets: drawn-art val ({len(sets['drawn'])} patches of {args.data}/val), photo val "
          f"({len(sets['photo'])} images of {args.photo_val}); bench protocol (MATLAB bicubic LR, 8-bit SR, "
          f"crop = {args.scale}); sharpness = edge_sharpness(SR) / edge_sharpness(HR)",
          f"- bicubic: drawn {base['drawn']:.3f} dB, photo {base['photo']:.3f} dB", "",
          report.markdown_table(rows, cols, floatfmt=fmt),
          "Endpoints scored from their own files: largest |difference| to the sweep's alpha = 0 and 1 rows "
          + ", ".join(f"{n} {e['max_abs_diff_endpoints_vs_sweep']:.2e}" for n, e in ends.items()) + ".", "",
          f"Rule: {rule}. **Chosen: {verdict}.**", "",
          "![PSNR and sharpness vs alpha](curve.png)", "", f"Wall time {meta['wall_s']} s.", ""]
    (args.out / "results.md").write_text("\n".join(md))
    print(f"chosen {verdict}; wrote {args.out}/results.md, results.json, curve.png")


if __name__ == "__main__":
    main()
