"""Is data loading a bottleneck? PairedDataset throughput (HR 128, x4, batch 16) with 0/1/2 DataLoader
workers, next to the time of one training step.

The step reference is measured here on an ESPCN-shaped network (the cheapest trainable SR model);
the brief's figures for ESPCN (~30 ms/step) and RRDB-6 (~1.7 s/step) are printed beside it, labelled
as such. Loading keeps up when ms/batch is well below ms/step.

    OMP_NUM_THREADS=2 .venv/bin/python experiments/bench_dataloader.py --out experiments/results/bench_dataloader.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from gan_sr.data.datasets import PairedDataset
from gan_sr.data.synth import write_synth_dataset

BRIEF_STEP_MS = {"ESPCN (brief)": 30.0, "RRDB-6 (brief)": 1700.0}
SHARED_T91 = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "T91"


def loader_rate(root: Path, workers: int, batches: int, batch: int, cache_mb: float, threads: int) -> dict:
    """Samples/s over `batches` batches after one warm-up batch (worker start-up is not counted)."""
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    ds = PairedDataset(root, 4, hr_size=128, cache_mb=cache_mb)
    build_s = time.perf_counter() - t0
    loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
                        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0))

    def endless():
        while True:
            yield from loader

    it = endless()
    next(it)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(batches):
        lr, hr = next(it)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert lr.shape == (batch, 3, 32, 32) and hr.shape == (batch, 3, 128, 128)
    return {"images": len(ds), "workers": workers, "main_threads": threads, "cache": "on" if cache_mb > 0 else "off",
            "construct_s": round(build_s, 2), "samples_per_s": round(batches * batch / dt, 1),
            "ms_per_batch": round(1000 * dt / batches, 1), "main_cpu_ms_per_batch": round(1000 * cpu / batches, 1)}


def espcn_step_ms(batch: int, steps: int) -> float:
    """Median time of one Adam step of an ESPCN-shaped x4 net (5x5 64, 3x3 32, 3x3 3*16, shuffle) on 32x32 LR."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 64, 5, padding=2), nn.Tanh(), nn.Conv2d(64, 32, 3, padding=1), nn.Tanh(),
                        nn.Conv2d(32, 3 * 16, 3, padding=1), nn.PixelShuffle(4))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    lr, hr = torch.rand(batch, 3, 32, 32), torch.rand(batch, 3, 128, 128)
    times = []
    for _ in range(steps + 2):
        t0 = time.perf_counter()
        loss = (net(lr) - hr).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return 1000 * sorted(times[2:])[len(times[2:]) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=15, help="timed batches per setting")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--out", type=Path, default=None, help="write the Markdown report here (and .json beside it)")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="skipping .* too small")  # T91 has 7 images under 128 px
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        synth = Path(tmp) / "synth"
        t0 = time.perf_counter()
        write_synth_dataset(synth, 64, 256, seed=0)
        synth_s = time.perf_counter() - t0
        sets = [("synth 64 x 256px PNG", synth)]
        if SHARED_T91.is_dir():
            sets.append(("T91 BMP", SHARED_T91))
        for name, root in sets:
            settings = [(1024.0, 0, 1), (1024.0, 0, 2), (1024.0, 1, 1), (1024.0, 2, 1), (0.0, 0, 1), (0.0, 2, 1)]
            for cache_mb, workers, threads in settings:
                rows.append({"data": name, **loader_rate(root, workers, args.batches, args.batch, cache_mb, threads)})
                print(rows[-1], flush=True)
    steps = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        steps[threads] = espcn_step_ms(args.batch, 10)

    lines = [
        "# Data loading vs training step (PairedDataset, HR 128, x4, batch %d)" % args.batch, "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}; "
        f"load average at the start {load0:.1f}, at the end {os.getloadavg()[0]:.1f} "
        "(the CPUs are shared with other jobs, so all times are noisy). Workers run one torch thread each.",
        f"Writing the 64 synthetic 256 px images took {synth_s:.1f} s.",
        "ms/batch is wall time; with 0 workers the main process's CPU time per batch is the cost a",
        "training loop pays on an idle core, with workers it is only the hand-over. 'cache on': every",
        "image decoded once at construction (all fit the 1 GiB budget); 'off': decoded on every item.", "",
        "| data | images | workers | main threads | cache | construct s | samples/s | ms/batch | main CPU ms/batch |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['data']} | {r['images']} | {r['workers']} | {r['main_threads']} | {r['cache']} | "
                     f"{r['construct_s']} | "
                     f"{r['samples_per_s']} | {r['ms_per_batch']} | {r['main_cpu_ms_per_batch']} |")
    lines += ["", "Training step for comparison (ms per batch of %d):" % args.batch, "",
              *(f"- ESPCN-shaped x4, measured here with {t} thread(s): {ms:.1f} ms/step" for t, ms in steps.items()),
              *(f"- {k}: {v:.0f} ms/step (figure from the project brief, not measured here)"
                for k, v in BRIEF_STEP_MS.items()), ""]
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
        args.out.with_suffix(".json").write_text(json.dumps({"rows": rows, "espcn_step_ms": steps,
                                                             "brief_step_ms": BRIEF_STEP_MS}, indent=1) + "\n")


if __name__ == "__main__":
    main()
