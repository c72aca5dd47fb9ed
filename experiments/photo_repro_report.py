"""Summarise experiments/photo_repro.sh: ours vs published vs bicubic per model, scale and test set, with budgets.

Reads each run's last.pt/best.pt (steps, batch, crop, wall time, validation PSNR), the `gansr sr bench`
results copied beside this report (RUN/results.json) and train.tsv (wall/CPU seconds and load average of
every training invocation); writes results.md and results.json.
    .venv/bin/python experiments/photo_repro_report.py --runs runs/photo --out experiments/results/photo_repro
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gan_sr.io.checkpoints import load_checkpoint  # noqa: E402
from gan_sr.train.sr_config import hr_size  # noqa: E402

SETS = ("Set5", "Set14", "BSD100")
# REFERENCE.md section 2 (Y channel, crop = scale): (PSNR, SSIM or None), the row each run is held against.
PUBLISHED = {
    ("bicubic", 2): {"Set5": (33.66, 0.9299), "Set14": (30.24, 0.8688), "BSD100": (29.56, 0.8431)},
    ("bicubic", 4): {"Set5": (28.42, 0.8104), "Set14": (26.00, 0.7027), "BSD100": (25.96, 0.6675)},
    ("srcnn", 2): {"Set5": (36.66, 0.9542), "Set14": (32.42, 0.9063), "BSD100": (31.36, 0.8879)},
    ("srcnn", 4): {"Set5": (30.48, 0.8628), "Set14": (27.50, 0.7513), "BSD100": (26.90, 0.7101)},
    ("espcn", 4): {"Set5": (30.90, None), "Set14": (27.73, None)},
    ("esrgan", 4): {"Set5": (32.73, 0.9011), "Set14": (28.99, 0.7917), "BSD100": (27.85, 0.7455)},
}
ROW_NAME = {
    "srcnn": "SRCNN 9-1-5 (91 images)", "espcn": "ESPCN (ImageNet; no 91-image x4 row is published)",
    "esrgan": "RRDB, ESRGAN's PSNR model (23 blocks, DF2K)",
}
# What the papers spent, as far as REFERENCE.md and the recipes state it.
PAPER_BUDGET = {
    "srcnn": {"steps": 781_250, "batch": 128, "crop": 33,
              "note": "~1e8 backpropagations of 33 px sub-images (SGD, lr 1e-4 / 1e-5 last layer)"},
    "espcn": {"steps": None, "batch": None, "crop": 17,
              "note": "17 px LR sub-images, SGD 0.01 -> 1e-4 on a plateau, trained to convergence on a GPU "
                      "(steps not stated in REFERENCE.md)"},
    "esrgan": {"steps": 1_000_000, "batch": 16, "crop": 128,
               "note": "L1, Adam 2e-4 halved every 2e5 iterations, DF2K (3450 2K images), 23 RRDBs "
                       "(1e6 iterations is BasicSR's count)"},
}


def _published_for(model: str, scale: int) -> dict:
    return PUBLISHED.get((model, scale), {})


def _load_tsv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def run_summary(run_dir: Path, invocations: list[dict]) -> dict:
    """Steps, images seen, crop, wall/CPU time and load of one training run."""
    last = load_checkpoint(run_dir / "last.pt")
    meta = last.get("meta", {})
    cfg = meta.get("config", {})
    batch = int(cfg["data"]["batch"])
    mine = [r for r in invocations if r["run"] == run_dir.name]
    loads = [float(r[k].split()[0]) for r in mine for k in ("load_start", "load_end")]
    best = load_checkpoint(run_dir / "best.pt") if (run_dir / "best.pt").exists() else last
    return {
        "model": last["model"]["name"], "scale": int(last["model"]["scale"]), "preset": last["model"]["preset"],
        "config": cfg, "steps": int(last["step"]), "best_step": int(best["step"]), "batch": batch,
        "hr_crop": hr_size(cfg), "crops_seen": int(last["step"]) * batch,
        "hr_pixels_seen": int(last["step"]) * batch * hr_size(cfg) ** 2,
        "trainer_wall_s": round(float(meta.get("wall_s", 0.0)), 1),
        "invocations": len(mine),
        "wall_s": round(sum(float(r["wall_s"]) for r in mine), 1),
        "cpu_s": round(sum(float(r["user_s"]) + float(r["sys_s"]) for r in mine), 1),
        "load_1min_min": min(loads) if loads else None, "load_1min_max": max(loads) if loads else None,
        "best_val_psnr": float(meta.get("best_psnr", float("nan"))), "command": meta.get("command"),
    }


def bench_scores(path: Path) -> dict[str, dict[str, dict]]:
    """{method: {dataset: mean scores}} from a `gansr sr bench` results.json."""
    res = json.loads(path.read_text())
    return {m["name"]: {d: v["mean"] for d, v in m["datasets"].items()} for m in res["methods"] if m["status"] == "ok"}


def _f(x, nd=2) -> str:
    return "" if x is None else f"{x:.{nd}f}"


def build(runs: Path, out: Path) -> dict:
    invocations = _load_tsv(out / "train.tsv")
    rows, budgets = [], []
    for run_dir in sorted(p for p in runs.iterdir() if (p / "last.pt").exists()):
        res = out / run_dir.name / "results.json"
        if not res.exists():
            continue
        info = run_summary(run_dir, invocations)
        model, scale = info["model"], info["scale"]
        scores = bench_scores(res)
        ours, bic = scores[model], scores["bicubic"]
        pub, pub_bic = _published_for(model, scale), _published_for("bicubic", scale)
        for d in SETS:
            if d not in ours:
                continue
            p = pub.get(d, (None, None))
            rows.append({
                "run": run_dir.name, "model": model, "scale": scale, "dataset": d,
                "psnr_y": ours[d]["psnr_y"], "ssim_y": ours[d]["ssim_y"], "psnr_rgb": ours[d]["psnr_rgb"],
                "bicubic_psnr_y": bic[d]["psnr_y"], "bicubic_ssim_y": bic[d]["ssim_y"],
                "published_psnr": p[0], "published_ssim": p[1], "published_bicubic_psnr": pub_bic.get(d, (None,))[0],
                "gap_to_published_db": None if p[0] is None else ours[d]["psnr_y"] - p[0],
                "gain_over_bicubic_db": ours[d]["psnr_y"] - bic[d]["psnr_y"],
                "published_gain_over_bicubic_db": None if p[0] is None else p[0] - pub_bic[d][0],
            })
        paper = PAPER_BUDGET[model]
        info["paper_budget"] = paper
        if paper["steps"]:
            ours_px = info["hr_pixels_seen"]
            paper_px = paper["steps"] * paper["batch"] * paper["crop"] ** 2
            info["fraction_of_paper_pixels"] = ours_px / paper_px
        budgets.append({"run": run_dir.name, **info})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    return {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "git_commit": commit,
            "rows": rows, "runs": budgets}


def write_md(res: dict, path: Path, notes: Path | None) -> None:
    lines = [
        "# Photo-domain reproduction (issue 4): SRCNN x2/x4, ESPCN x4, RRDB x4",
        "",
        f"- made by: `experiments/photo_repro.sh` (training, then `gansr sr bench` per run), "
        f"summarised by `experiments/photo_repro_report.py`; {res['date']}, git {res['git_commit']}",
        "- protocol: `gansr sr bench` - HR modcropped, LR = MATLAB bicubic, SR clamped and quantized to 8 bit, "
        "PSNR/SSIM on Y (BT.601), crop = scale; BSD100 is the 480x320 top-left crop (see bicubic_baseline.md)",
        "- training data: T91 (SRCNN, ESPCN), T91 + BSD200 (RRDB); validation (best.pt): 5 held-out BSD200 "
        "images; Set5/Set14/BSD100 are seen only by the bench",
        "",
        "## Scores (Y, crop = scale; PSNR dB / SSIM)",
        "",
        "| model | scale | set | ours | published | ours - published | bicubic (ours) | ours - bicubic | published - bicubic |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        pub = "" if r["published_psnr"] is None else (
            f"{r['published_psnr']:.2f}" + (f" / {r['published_ssim']:.4f}" if r["published_ssim"] else ""))
        lines.append(
            f"| {r['model']} | x{r['scale']} | {r['dataset']} | {r['psnr_y']:.2f} / {r['ssim_y']:.4f} | {pub} | "
            f"{_f(r['gap_to_published_db'])} | {r['bicubic_psnr_y']:.2f} / {r['bicubic_ssim_y']:.4f} | "
            f"{r['gain_over_bicubic_db']:+.2f} | {_f(r['published_gain_over_bicubic_db'])} |")
    lines += ["", "Published rows: " + "; ".join(f"{k}: {v}" for k, v in ROW_NAME.items()) + " (REFERENCE.md section 2).",
              "", "## Budget", "",
              "| run | steps (best at) | batch x HR crop | crops seen | HR Mpx seen | share of the paper's pixels | "
              "wall s | CPU s | load (1 min) | best val PSNR |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for b in res["runs"]:
        frac = b.get("fraction_of_paper_pixels")
        load = "" if b["load_1min_min"] is None else f"{b['load_1min_min']:.1f}-{b['load_1min_max']:.1f}"
        lines.append(
            f"| {b['run']} | {b['steps']} ({b['best_step']}) | {b['batch']} x {b['hr_crop']} px | {b['crops_seen']} | "
            f"{b['hr_pixels_seen'] / 1e6:.1f} | {'' if frac is None else f'{frac:.1e}'} | {b['wall_s']:.0f} | "
            f"{b['cpu_s']:.0f} | {load} | {b['best_val_psnr']:.2f} |")
    lines += ["", "Paper budgets: " + "; ".join(f"{k}: {v['note']}" for k, v in PAPER_BUDGET.items()) + ".",
              "Wall and CPU seconds are summed over this script's training invocations (train.tsv); the machine's "
              "2 cores were shared with other jobs, so wall time is mostly waiting (compare CPU s)."]
    if notes is not None and notes.exists():
        lines += ["", notes.read_text().rstrip()]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=Path("runs/photo"))
    ap.add_argument("--out", type=Path, default=Path("experiments/results/photo_repro"))
    ap.add_argument("--notes", type=Path, default=None,
                    help="markdown appended to results.md (default: OUT/notes.md when present)")
    args = ap.parse_args()
    res = build(args.runs, args.out)
    (args.out / "results.json").write_text(json.dumps(res, indent=1) + "\n")
    write_md(res, args.out / "results.md", args.notes or args.out / "notes.md")
    print(f"wrote {args.out / 'results.md'} and results.json ({len(res['rows'])} rows, {len(res['runs'])} runs)")


if __name__ == "__main__":
    main()
