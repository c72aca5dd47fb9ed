"""Where the SR campaign stands: validation PSNR of every run against its own training hours, beside bicubic on
the same val images, so the next person can see which curves are still rising (more hours would help) and which
are flat (the run has stopped, or should).

Training time is counted from the logged throughput (TensorBoard `speed/it_per_s` between logging points), not
from wall-clock timestamps: the campaign trains its runs in turns, so the gaps between slices are not training.

    .venv/bin/python experiments/campaign_report.py            # runs in $GANSR_RUNS/campaign (default /work/runs)

Writes experiments/results/campaign/{curves.png, status.json, status.md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def training_curve(run: Path) -> list[tuple[float, int, float]]:
    """(training hours, step, val PSNR) for one run, hours from the logged steps per second."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not (run / "tb").is_dir():
        return []
    acc = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags()["scalars"]
    if "val/psnr" not in tags or "speed/it_per_s" not in tags:
        return []
    speed = sorted(acc.Scalars("speed/it_per_s"), key=lambda e: e.step)
    # logs that begin at a resume point (a new machine) start their clock there, not at step 0
    prev = speed[0].step - (speed[1].step - speed[0].step if len(speed) > 1 else speed[0].step)
    seconds, elapsed = {}, 0.0
    for e in speed:
        elapsed += (e.step - prev) / max(e.value, 1e-9)
        prev = e.step
        seconds[e.step] = elapsed
    marks = sorted(seconds)
    out = []
    for e in acc.Scalars("val/psnr"):
        at = max([m for m in marks if m <= e.step], default=0)
        out.append((seconds.get(at, 0.0) / 3600.0, e.step, e.value))
    return out


def merged_curve(old: list, new: list, total_h: float = 0.0) -> list:
    """The committed curve up to where this machine's logs begin, then this machine's, its hours continued (the
    TensorBoard logs stay on the machine that wrote them; the committed status.json carries the history). Where
    neither holds the steps between them (a machine lost before its report was committed), the hours resume from
    the checkpoint's own training wall time `total_h`, so the gap shows as a jump, not as time that never was."""
    if not old and not new:
        return []
    kept = [tuple(p) for p in old if not new or p[1] < new[0][1]]
    if not new:
        return kept
    offset = max(kept[-1][0] if kept else 0.0, total_h - new[-1][0])
    return kept + [(h + offset, s, p) for h, s, p in new]


def bicubic_val(data: Path, scale: int, max_images: int) -> float:
    sys.path.insert(0, str(ROOT / "experiments"))
    from sr_recipe_probe import bicubic_val_psnr

    return bicubic_val_psnr(data, scale, max_images)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=Path, default=Path(os.environ.get("GANSR_RUNS", "/work/runs")) / "campaign")
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "campaign")
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gan_sr.io.checkpoints import load_checkpoint

    args.out.mkdir(parents=True, exist_ok=True)
    before = args.out / "status.json"
    previous = {r["run"]: r for r in json.loads(before.read_text())["runs"]} if before.exists() else {}
    rows, floors = [], {}
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for run in sorted(p.parent for p in args.runs.glob("*/config.json")):
        ck_path = run / "last.pt" if (run / "last.pt").exists() else run / "previous.pt"
        if not ck_path.exists():
            continue
        saved = json.loads((run / "config.json").read_text())
        cfg, data = saved["config"], Path(saved["data"])
        data = data if data.is_absolute() else ROOT / data
        scale = int(cfg["model"]["scale"])
        meta = load_checkpoint(ck_path)["meta"]
        curve = merged_curve(previous.get(run.name, {}).get("curve", []), training_curve(run),
                             float(meta.get("wall_s", 0.0)) / 3600.0)
        if not curve:
            continue
        key = (str(data), scale, int(cfg["eval"]["max_images"]))
        if key not in floors:
            floors[key] = bicubic_val(data, scale, key[2])
        hours, steps, ps = zip(*curve)
        ax = axes[0 if scale == 4 else 1]
        line, = ax.plot(hours, [p - floors[key] for p in ps], marker=".", label=run.name)
        patience = int(cfg["train"]["early_stop"])
        rows.append({"run": run.name, "model": cfg["model"]["name"], "stage": cfg["model"]["stage"], "scale": scale,
                     "data": saved["data"], "step": steps[-1], "train_hours": round(hours[-1], 3),
                     "best_val_psnr": round(max(ps), 3), "bicubic_val_psnr": round(floors[key], 3),
                     "over_bicubic_db": round(max(ps) - floors[key], 3),
                     "flat": bool(patience and meta.get("evals_since_best", 0) >= patience),
                     "evals_since_best": meta.get("evals_since_best"),
                     "curve": [[round(h, 4), s, round(p, 4)] for h, s, p in curve]})
    seen = {r["run"] for r in rows}
    for name, r in previous.items():  # runs not on this machine (finished elsewhere): their committed record
        if name not in seen:
            rows.append(r)
            h, _, ps = zip(*r["curve"])
            axes[0 if r["scale"] == 4 else 1].plot(h, [p - r["bicubic_val_psnr"] for p in ps], marker=".", label=name)
    rows.sort(key=lambda r: r["run"])
    for ax, scale in zip(axes, (4, 2)):
        ax.axhline(0, color="grey", ls="--", label="bicubic")
        ax.set_title(f"x{scale}")
        ax.set_xlabel("training hours (one thread)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("val PSNR Y over bicubic on the same images (dB)")
    fig.savefig(args.out / "curves.png", dpi=110, bbox_inches="tight")
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip()
    command = "python experiments/campaign_report.py " + " ".join(sys.argv[1:])
    (args.out / "status.json").write_text(json.dumps({"command": command, "commit": commit, "runs": rows},
                                                     indent=2) + "\n")
    md = ["# SR campaign status", "", f"`{command}` at commit {commit}: every run of experiments/campaign.sh, val PSNR "
          "(Y, crop = scale, EMA weights) against training hours counted from the logged throughput.", "",
          "| run | data | scale | last validated step | training h | best val PSNR | bicubic | over bicubic | flat |",
          "|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {r['run']} | {r['data']} | x{r['scale']} | {r['step']} | {r['train_hours']:.2f} | {r['best_val_psnr']:.2f} | "
           f"{r['bicubic_val_psnr']:.2f} | {r['over_bicubic_db']:+.2f} | {'yes' if r['flat'] else 'no'} |" for r in rows]
    md += ["", "![val PSNR over bicubic vs training hours](curves.png)", ""]
    (args.out / "status.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
