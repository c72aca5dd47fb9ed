"""GAN recipe probe (issue 13): kimg per hour and SWD against kimg for generator families and losses, measured
before a long run is committed to one of them.

Each candidate is a TOML in experiments/configs/gan_probe/ trained to the same kimg at one thread (the same
`gansr gan train` command continues a run, so a probe can be extended); its TensorBoard SWD curve (against
training heads, logged at every snapshot) is read back and plotted against kimg and wall-clock. At the end each
generator is scored against the *val* heads with the project's scorer, beside the SWD of the training heads
themselves against the val heads (the floor a generator can reach with this metric and set size).

    .venv/bin/python experiments/gan_family_probe.py sg2_ns dcgan_ns --data data/heads/64 --kimg 12
    .venv/bin/python experiments/gan_family_probe.py --report-only sg2_ns dcgan_ns --data data/heads/64

Writes experiments/results/gan_family_probe/: results.md, results.json, curves.png, samples_NAME.png.
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
CONFIGS = ROOT / "experiments" / "configs" / "gan_probe"


def train(names: list[str], *, data: Path, kimg: float, jobs: int, runs: Path) -> None:
    """Train (or continue) each candidate to `kimg`, `jobs` at a time, one thread each."""
    run_jobs([[gansr(), "gan", "train", "--config", str(CONFIGS / f"{name}.toml"), "--data", str(data),
               "--kimg", str(kimg), "--run-dir", str(runs / name), "--quiet"] for name in names], jobs)


def swd_curve(run: Path) -> list[tuple[float, float, float]]:
    """(kimg, seconds since the first logged tick, SWD mean) from a run's TensorBoard events."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags()["scalars"]
    if "Metrics/swd_mean" not in tags:
        return []
    t0 = min(acc.Scalars(t)[0].wall_time for t in tags)
    return [(float(e.step), e.wall_time - t0, e.value) for e in acc.Scalars("Metrics/swd_mean")]


def report(names: list[str], *, data: Path, runs: Path, out: Path, command: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from gan_sr.io.checkpoints import load_checkpoint
    from gan_sr.io.images import write_image
    from gan_sr.metrics.sample_quality import score_samples
    from gan_sr.io.grids import make_grid
    from gan_sr.train.gan import evaluate_generator, generate, load_generator, load_reference

    out.mkdir(parents=True, exist_ok=True)
    val = load_reference(data, 64, split="val")
    train_all = load_reference(data, 64, split="train")  # a random subset: files sort by character
    train_ref = train_all[torch.randperm(len(train_all), generator=torch.Generator().manual_seed(0))[: len(val)]]
    floor = score_samples(val, train_ref, seed=0, pairs=200)["swd_mean"]
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    fig, (ax_k, ax_t) = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    rows = []
    for name in names:
        run = runs / name
        if not (run / "last.pt").exists():
            continue
        curve = swd_curve(run)
        if curve:
            k, secs, s = zip(*curve)
            ax_k.plot(k, s, marker=".", label=name)
            ax_t.plot([x / 60 for x in secs], s, marker=".", label=name)
        ck = load_checkpoint(run / "last.pt")
        m = ck["meta"]
        scored = evaluate_generator(run / "last.pt", data, split="val", seed=0, pairs=200)
        g = load_generator(run / "last.pt")
        write_image(out / f"samples_{name}.png", make_grid(generate(g, 32, seed=0), 8))
        lines = (CONFIGS / f"{name}.toml").read_text().splitlines()
        note = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("# what:")), lines[0].lstrip("# "))
        rows.append({"name": name, "what": note, "kimg": round(m["kimg"], 2), "wall_s": round(m["wall_s"]),
                     "kimg_per_hour": round(m["kimg"] / max(m["wall_s"], 1e-9) * 3600, 1),
                     "G_params": sum(p.numel() for p in g.parameters()),
                     "swd_val": round(scored["swd_mean"], 2), "p": round(m["p"], 3),
                     "curve": [[a, round(b), round(c, 2)] for a, b, c in curve]})
    for ax in (ax_k, ax_t):
        ax.axhline(floor, color="grey", ls="--", label=f"train heads vs val {floor:.1f}")
        ax.grid(alpha=0.3)
    ax_k.set_xlabel("kimg")
    ax_t.set_xlabel("wall-clock minutes (1 thread each, shared 2-core machine)")
    ax_k.set_ylabel("SWD x1e3 vs training heads (mean of levels)")
    ax_k.legend(fontsize=8)
    fig.savefig(out / "curves.png", dpi=110, bbox_inches="tight")
    meta = {"command": command, "commit": commit, "data": str(data), "res": 64, "threads": 1,
            "swd_train_vs_val": round(floor, 2), "runs": rows}
    (out / "results.json").write_text(json.dumps(meta, indent=2) + "\n")
    lines = ["# GAN recipe probe (64 px character heads)", "",
             f"`{command}` at commit {commit}; data {data}; one thread per run on a shared 2-core machine.", "",
             f"SWD (x1e3, mean over the 64/32/16 px levels) of the training heads against the val heads: {floor:.2f} "
             "(the floor with this metric and set size).", "",
             "| candidate | what | G params | kimg | wall s | kimg/h | SWD vs val | ADA p |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['name']} | {r['what']} | {r['G_params']:,} | {r['kimg']} | {r['wall_s']} | {r['kimg_per_hour']} | "
              f"{r['swd_val']:.2f} | {r['p']} |" for r in rows]
    lines += ["", "![SWD vs kimg and wall-clock](curves.png)", ""]
    lines += [f"{r['name']}: ![samples](samples_{r['name']}.png)" for r in rows]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="+", help="candidate config names in experiments/configs/gan_probe/")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "heads" / "64")
    ap.add_argument("--kimg", type=float, default=12.0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--runs", type=Path, default=Path(os.environ.get("GANSR_RUNS", ROOT / "runs")) / "gan_probe")
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "gan_family_probe")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    if not args.report_only:
        train(args.names, data=args.data, kimg=args.kimg, jobs=args.jobs, runs=args.runs)
    report(args.names, data=args.data, runs=args.runs, out=args.out,
           command="python experiments/gan_family_probe.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
