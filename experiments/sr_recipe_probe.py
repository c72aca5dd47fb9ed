"""Short measured runs of SR recipe candidates: validation PSNR against wall-clock, to pick the CPU presets.

Each candidate is a TOML in experiments/configs/probe/ trained for the same wall-clock budget on one thread
(`gansr sr train --for-minutes`, so an interrupted probe resumes), then its TensorBoard val/psnr curve is read
back and plotted against seconds, with the bicubic PSNR of the same val images as the floor.

    .venv/bin/python experiments/sr_recipe_probe.py rrdb_x4_base rrdb_x4_res --minutes 9 --jobs 2
    .venv/bin/python experiments/sr_recipe_probe.py --report-only rrdb_x4_base rrdb_x4_res

Writes experiments/results/sr_recipe_probe/{NAME}.json, .png and results.md (command, commit, data).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from probe_jobs import gansr, run_jobs

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "experiments" / "configs" / "probe"


def run_candidates(names: list[str], *, data: Path, scale: int, minutes: float, jobs: int, runs: Path) -> None:
    """Train each candidate for `minutes` (resuming a partial run), `jobs` at a time, one thread each."""
    run_jobs([[gansr(), "sr", "train", "--config", str(CONFIGS / f"{name}.toml"), "--scale", str(scale),
               "--data", str(data), "--steps", "1000000", "--for-minutes", str(minutes), "--run-dir", str(runs / name),
               "--quiet"] for name in names], jobs)


def val_curve(run: Path) -> list[tuple[float, int, float]]:
    """(seconds since the first logged step, step, val PSNR) from a run's TensorBoard events."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    if "val/psnr" not in acc.Tags()["scalars"]:
        return []
    t0 = min(e.wall_time for tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)[:1])
    return [(e.wall_time - t0, e.step, e.value) for e in acc.Scalars("val/psnr")]


def bicubic_val_psnr(data: Path, scale: int, max_images: int) -> float:
    """Mean Y PSNR (crop = scale) of bicubic on the same val images the trainer validates on."""

    from gan_sr.data.datasets import PairedDataset
    from gan_sr.io.images import quantize
    from gan_sr.metrics.psnr_ssim import psnr
    from gan_sr.sr.bicubic import bicubic_upscale

    val = PairedDataset(data, scale, split="val", hr_size=None, augment=False)
    n = min(max_images or len(val), len(val))
    vals = []
    for i in range(n):
        lr, hr = val[i]
        sr = quantize(bicubic_upscale(lr[None], scale).clamp(0, 1))
        vals.append(float(psnr(sr, hr[None], crop=scale).mean()))
    return sum(vals) / n


def report(names: list[str], *, data: Path, scale: int, runs: Path, out: Path, command: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gan_sr.config import load_config

    out.mkdir(parents=True, exist_ok=True)
    max_images = int(load_config(CONFIGS / f"{names[0]}.toml").get("eval", {}).get("max_images", 0))
    floor = bicubic_val_psnr(data, scale, max_images)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    rows = []
    fig, (ax_step, ax_time) = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for name in names:
        curve = val_curve(runs / name)
        if not curve:
            continue
        secs, steps, ps = zip(*curve)
        ax_step.plot(steps, ps, marker=".", label=name)
        ax_time.plot(secs, ps, marker=".", label=name)
        note = (CONFIGS / f"{name}.toml").read_text().splitlines()[0].lstrip("# ")
        best = max(ps)
        rows.append({"name": name, "what": note, "steps": steps[-1], "seconds": round(secs[-1]),
                     "steps_per_s": round(steps[-1] / max(secs[-1], 1e-9), 2), "best_val_psnr": round(best, 3),
                     "last_val_psnr": round(ps[-1], 3), "over_bicubic_db": round(best - floor, 3),
                     "curve": [[round(a, 1), b, round(c, 4)] for a, b, c in curve]})
    for ax in (ax_step, ax_time):
        ax.axhline(floor, color="grey", ls="--", label=f"bicubic {floor:.2f}")
        ax.grid(alpha=0.3)
    ax_step.set_xlabel("training step")
    ax_time.set_xlabel("wall-clock seconds (1 thread each, shared 2-core machine, includes validation)")
    ax_step.set_ylabel(f"val PSNR Y, x{scale} (dB)")
    ax_step.legend(fontsize=8)
    tag = "_".join(sorted({n.split("_")[0] for n in names})) + f"_x{scale}"
    fig.savefig(out / f"{tag}.png", dpi=110, bbox_inches="tight")
    meta = {"command": command, "commit": commit, "data": str(data), "scale": scale, "channel": "Y",
            "val_images": max_images, "bicubic_val_psnr": round(floor, 4), "threads": 1, "runs": rows}
    (out / f"{tag}.json").write_text(json.dumps(meta, indent=2) + "\n")
    lines = [f"# SR recipe probe: {tag}", "", f"`{command}` at commit {commit}; data {data} (val split, first "
             f"{max_images} images), x{scale}, Y PSNR crop = scale, EMA weights, 1 thread per run.", "",
             "Runs shared the 2-core machine with other jobs, so seconds per step varied with the load between runs: "
             "compare candidates of one architecture at equal steps (left panel), and read steps/s as this "
             "machine's throughput under that load.", "",
             f"Bicubic on the same images: {floor:.3f} dB.", "",
             "| candidate | what | steps | s | steps/s | best val PSNR | over bicubic |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['name']} | {r['what']} | {r['steps']} | {r['seconds']} | {r['steps_per_s']} | "
              f"{r['best_val_psnr']:.3f} | {r['over_bicubic_db']:+.3f} |" for r in rows]
    lines += ["", f"![val PSNR vs wall-clock]({tag}.png)", ""]
    (out / f"{tag}.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="+", help="candidate config names in experiments/configs/probe/")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "anime")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--minutes", type=float, default=9.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--runs", type=Path, default=Path(os.environ.get("GANSR_RUNS", ROOT / "runs")) / "probe")
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "sr_recipe_probe")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    if not args.report_only:
        run_candidates(args.names, data=args.data, scale=args.scale, minutes=args.minutes, jobs=args.jobs,
                       runs=args.runs)
    report(args.names, data=args.data, scale=args.scale, runs=args.runs, out=args.out,
           command="python experiments/sr_recipe_probe.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
