"""Training throughput of the SR trainer per model: fp32 eager vs bf16 autocast vs channels_last vs both.

Each model is trained with its cpu preset, batch 16, LR 32x32 at x4 (HR 128 px), pixel loss only (the
first stage), through SRTrainer.train_step (forward, loss, backward, Adam, EMA). The four modes run
round-robin, one step each per round (so load changes on a shared machine hit them alike), until
--rounds or the per-model --budget; the median step time is kept.
Writes experiments/results/train_throughput_{device}.md and .json.

    OMP_NUM_THREADS=2 .venv/bin/python experiments/bench_train_throughput.py   # ~5 min on 2 idle cores
    .venv/bin/python experiments/bench_train_throughput.py --device cuda --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
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
from gan_sr.sr.registry import training_stages  # noqa: E402
from gan_sr.train.sr import SRTrainer  # noqa: E402
from gan_sr.train.sr_config import build_config  # noqa: E402

MODES = {"fp32": (False, False), "bf16": (True, False), "channels_last": (False, True), "bf16+cl": (True, True)}


def make_trainer(model: str, data: Path, run: Path, bf16: bool, cl: bool, device: str, batch: int, lr_px: int):
    over = {"data": {"batch": batch, "hr_size": lr_px * 4, "lr_size": 0},
            "precision": {"bf16": bf16, "channels_last": cl}}
    cfg = build_config(model, scale=4, preset="cpu", stage=training_stages()[model][0], overrides=over)
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


def _bf16_flags() -> str:
    """The CPU's native bf16 instruction sets (Linux /proc/cpuinfo), which decide whether bf16 can pay off."""
    try:
        flags = next(l for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    found = [f for f in flags if f in ("avx512_bf16", "amx_bf16", "avx512f", "avx2")]
    return ", ".join(found) or "none of avx2/avx512f/avx512_bf16/amx_bf16"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="srcnn,espcn,srgan,esrgan")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr-px", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5, help="at most this many timed steps per mode")
    ap.add_argument("--budget", type=float, default=20.0,
                    help="seconds per model after which no new round starts (at least one round runs)")
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
        for m, t in trainers.items():  # warm-up: first-call allocations and oneDNN primitive creation
            time_steps(t, *batches[m], 1)
        samples: dict[str, list[float]] = {m: [] for m in MODES}
        t0 = time.perf_counter()
        while not samples["fp32"] or (len(samples["fp32"]) < args.rounds and time.perf_counter() - t0 < args.budget):
            for m, t in trainers.items():
                samples[m].append(time_steps(t, *batches[m], 1))
        fp32 = statistics.median(samples["fp32"])
        for m in MODES:
            s = statistics.median(samples[m])
            rows.append({"model": model, "mode": m, "params": count_params(base.g),
                         "steps_per_s": 1.0 / s, "ms_per_step": 1000 * s, "vs_fp32": fp32 / s,
                         "steps_timed": len(samples[m])})
            print(f"{model:7s} {m:14s} {1 / s:8.3f} steps/s  ({fp32 / s:.2f}x fp32)", flush=True)

    shutil.rmtree(tmp, ignore_errors=True)
    best = {}
    for model in models:
        r = max((x for x in rows if x["model"] == model), key=lambda x: x["steps_per_s"])
        best[model] = r["mode"]
    env = {"device": args.device, "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "batch": args.batch, "lr_px": args.lr_px, "scale": 4,
           "rounds": args.rounds, "load_avg": os.getloadavg(), "wall_s": time.time() - t_start}
    if args.device == "cuda":
        env["gpu"] = torch.cuda.get_device_name()
    env["cpu_bf16_flags"] = _bf16_flags()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"train_throughput_{args.device}"
    stem.with_suffix(".json").write_text(json.dumps({"env": env, "rows": rows, "fastest": best}, indent=1) + "\n")
    lines = [f"# SR training throughput ({args.device})", "",
             f"`{' '.join(sys.argv)}`; torch {torch.__version__}, {env['threads']} threads, batch {args.batch}, "
             f"LR {args.lr_px} px at x4, cpu presets, first stage (pixel loss), median of the timed steps "
             f"(one step per mode per round, after one warm-up step); "
             f"load average at the end {tuple(round(x, 2) for x in env['load_avg'])}; "
             f"CPU vector/bf16 flags: {env['cpu_bf16_flags']}.", "",
             "| model | params | mode | steps/s | ms/step | vs fp32 | timed steps |", "|---|---:|---|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['params']:,} | {r['mode']} | {r['steps_per_s']:.3f} | {r['ms_per_step']:.1f} "
              f"| {r['vs_fp32']:.2f}x | {r['steps_timed']} |" for r in rows]
    lines += ["", "Fastest mode per model: " + ", ".join(f"{k} {v}" for k, v in best.items()) + ".", ""]
    stem.with_suffix(".md").write_text("\n".join(lines))
    print(f"wrote {stem}.md ({env['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
