"""Training throughput of the SR trainer per model: fp32 eager vs bf16 autocast vs channels_last vs both.

Each model is trained with its cpu preset, batch 16, LR 32x32 at x4 (HR 128 px), pixel loss only (the
first stage), through SRTrainer.train_step (forward, loss, backward, Adam, EMA). The four modes run
round-robin (so load changes on a shared machine hit them alike); the median of the rounds is kept.
Writes experiments/results/train_throughput_{device}.md and .json.

    OMP_NUM_THREADS=2 .venv/bin/python experiments/bench_train_throughput.py            # ~5 min on 2 cores
    .venv/bin/python experiments/bench_train_throughput.py --device cuda --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gan_sr.data.synth import make_split_dirs  # noqa: E402
from gan_sr.sr.registry import count_params  # noqa: E402
from gan_sr.train.sr import STAGES, SRTrainer, build_config  # noqa: E402

MODES = {"fp32": (False, False), "bf16": (True, False), "channels_last": (False, True), "bf16+cl": (True, True)}


def make_trainer(model: str, data: Path, run: Path, bf16: bool, cl: bool, device: str, batch: int, lr_px: int):
    over = {"data": {"batch": batch, "hr_size": lr_px * 4, "lr_size": 0},
            "precision": {"bf16": bf16, "channels_last": cl}}
    cfg = build_config(model, scale=4, preset="cpu", stage=STAGES[model][0], overrides=over)
    return SRTrainer(cfg, data=data, run_dir=run, device=device, quiet=True)


def time_steps(trainer, lr, hr, steps: int) -> float:
    """Seconds per step over `steps` steps (synchronised on CUDA)."""
    sync = torch.cuda.synchronize if lr.is_cuda else (lambda: None)
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(lr, hr)
    sync()
    return (time.perf_counter() - t) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="srcnn,espcn,srgan,esrgan")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr-px", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--budget", type=float, default=3.0, help="seconds of stepping per mode per round")
    ap.add_argument("--out", default=str(ROOT / "experiments" / "results"))
    args = ap.parse_args()
    models = args.models.split(",")

    tmp = Path(tempfile.mkdtemp(prefix="gansr_bench_"))
    data = make_split_dirs(tmp / "data", {"train": args.batch, "val": 1}, size=args.lr_px * 4, seed=0)
    rows, t_start = [], time.time()
    for model in models:
        trainers = {m: make_trainer(model, data, tmp / f"{model}_{m}", *flags, args.device, args.batch, args.lr_px)
                    for m, flags in MODES.items()}
        base = trainers["fp32"]
        lr, hr = (x for x in next(base.stream))
        batches = {m: tuple(t.prec.batch(x) for x in (lr, hr)) for m, t in trainers.items()}
        per_step = {}
        for m, t in trainers.items():  # warm-up, and a step count that fits the budget
            t0 = time.perf_counter()
            time_steps(t, *batches[m], 1)
            per_step[m] = max(1, min(50, int(args.budget / max(time.perf_counter() - t0, 1e-6))))
        samples: dict[str, list[float]] = {m: [] for m in MODES}
        for _ in range(args.rounds):
            for m, t in trainers.items():
                samples[m].append(time_steps(t, *batches[m], per_step[m]))
        fp32 = statistics.median(samples["fp32"])
        for m in MODES:
            s = statistics.median(samples[m])
            rows.append({"model": model, "mode": m, "params": count_params(base.g),
                         "steps_per_s": 1.0 / s, "ms_per_step": 1000 * s, "vs_fp32": fp32 / s,
                         "steps_timed": per_step[m] * args.rounds})
            print(f"{model:7s} {m:14s} {1 / s:8.3f} steps/s  ({fp32 / s:.2f}x fp32)", flush=True)

    best = {}
    for model in models:
        r = max((x for x in rows if x["model"] == model), key=lambda x: x["steps_per_s"])
        best[model] = r["mode"]
    env = {"device": args.device, "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "batch": args.batch, "lr_px": args.lr_px, "scale": 4,
           "rounds": args.rounds, "load_avg": os.getloadavg(), "wall_s": time.time() - t_start}
    if args.device == "cuda":
        env["gpu"] = torch.cuda.get_device_name()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"train_throughput_{args.device}"
    stem.with_suffix(".json").write_text(json.dumps({"env": env, "rows": rows, "fastest": best}, indent=1) + "\n")
    lines = [f"# SR training throughput ({args.device})", "",
             f"`{' '.join(sys.argv)}`; torch {torch.__version__}, {env['threads']} threads, batch {args.batch}, "
             f"LR {args.lr_px} px at x4, cpu presets, first stage (pixel loss), median of {args.rounds} rounds; "
             f"load average at the end {tuple(round(x, 2) for x in env['load_avg'])}.", "",
             "| model | params | mode | steps/s | ms/step | vs fp32 |", "|---|---:|---|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['params']:,} | {r['mode']} | {r['steps_per_s']:.3f} | {r['ms_per_step']:.1f} "
              f"| {r['vs_fp32']:.2f}x |" for r in rows]
    lines += ["", "Fastest mode per model: " + ", ".join(f"{k} {v}" for k, v in best.items()) + ".", ""]
    stem.with_suffix(".md").write_text("\n".join(lines))
    print(f"wrote {stem}.md ({env['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
