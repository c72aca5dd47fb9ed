"""Cost of the registry's SR models on this machine: parameters, MACs against REFERENCE.md §3,
forward-pass times (fp32, bf16 autocast, channels_last; batch 1, 64x64 LR, x4) and the training-step
cost that sized the `cpu` presets (batch 16, 32x32 LR at x4).

    OMP_NUM_THREADS=1 .venv/bin/python experiments/bench_models.py            # everything
    OMP_NUM_THREADS=1 .venv/bin/python experiments/bench_models.py --part macs

Writes experiments/results/bench_models.json and bench_models.md. Times are wall-clock medians
(gan_sr.metrics.timing.time_fn) plus the process CPU seconds per call, which stay meaningful when
other jobs share the machine (the load average is recorded with them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

from gan_sr.metrics.timing import time_fn
from gan_sr.sr.discriminators import build_discriminator
from gan_sr.sr.registry import build_model, count_macs, count_params

RESULTS = Path(__file__).resolve().parent / "results"
HD_LR = (270, 480)  # LR for a 1920x1080 output at x4

# (label, model name, preset, overrides, REFERENCE.md §3 MACs for a 1080p output at x4 or None)
MAC_ROWS = [
    ("bicubic", "bicubic", "paper", {}, None),
    ("SRCNN 9-1-5 Y", "srcnn", "paper", {}, None),
    ("SRCNN 9-1-5 RGB", "srcnn", "paper", {"channels": "rgb"}, 41e9),
    ("SRCNN 9-5-5 Y", "srcnn", "paper-955", {}, None),
    ("ESPCN Y", "espcn", "paper", {}, 3.2e9),
    ("SRResNet", "srgan", "paper", {}, 329e9),
    ("SRResNet cpu", "srgan", "cpu", {}, None),
    ("RRDB-6 (Real-ESRGAN anime)", "esrgan", "paper", {"num_blocks": 6}, 740e9),
    ("RRDB-23", "esrgan", "paper", {}, 2.3e12),
    ("RRDB cpu", "esrgan", "cpu", {}, None),
]

TIME_ROWS = [
    ("bicubic", "bicubic", "paper", {}),
    ("anime4k glsl", "anime4k", "glsl", {}),
    ("SRCNN 9-1-5 Y", "srcnn", "paper", {}),
    ("ESPCN Y", "espcn", "paper", {}),
    ("SRResNet cpu", "srgan", "cpu", {}),
    ("SRResNet", "srgan", "paper", {}),
    ("RRDB cpu", "esrgan", "cpu", {}),
    ("RRDB-6", "esrgan", "paper", {"num_blocks": 6}),
    ("RRDB-23", "esrgan", "paper", {}),
]

# Generator candidates for the cpu presets, and the discriminators they would train against.
STEP_ROWS = [
    ("G SRResNet 16x64 (paper)", "srgan", {}),
    ("G SRResNet 8x64", "srgan", {"num_blocks": 8}),
    ("G SRResNet 16x32", "srgan", {"nf": 32}),
    ("G SRResNet 8x32", "srgan", {"num_blocks": 8, "nf": 32}),
    ("G RRDB 6x64 gc32 (Real-ESRGAN anime)", "esrgan", {"num_blocks": 6}),
    ("G RRDB 3x64 gc32", "esrgan", {"num_blocks": 3}),
    ("G RRDB 4x32 gc16", "esrgan", {"num_blocks": 4, "nf": 32, "gc": 16}),
    ("G RRDB 2x32 gc16", "esrgan", {"num_blocks": 2, "nf": 32, "gc": 16}),
    ("G ESPCN Y (paper)", "espcn", {}),
    ("G SRCNN 9-1-5 Y (paper)", "srcnn", {}),
    ("D SRGAN 128 px nf64", "d:srgan", {"input_size": 128, "nf": 64}),
    ("D SRGAN 128 px nf32", "d:srgan", {"input_size": 128, "nf": 32}),
    ("D VGG-128 nf64 (ESRGAN)", "d:vgg", {"input_size": 128, "nf": 64}),
    ("D VGG-128 nf32", "d:vgg", {"input_size": 128, "nf": 32}),
    ("D U-Net SN nf64 (Real-ESRGAN)", "d:unet", {"nf": 64}),
    ("D U-Net SN nf32", "d:unet", {"nf": 32}),
]


def part_macs() -> list[dict]:
    rows = []
    for label, name, preset, over, ref in MAC_ROWS:
        model = build_model(name, 4, preset, **over)
        macs = count_macs(model, HD_LR)
        rows.append({"model": label, "params": count_params(model), "GMACs_1080p": round(macs / 1e9, 2),
                     "reference_GMACs": ref / 1e9 if ref else None,
                     "measured/reference": round(macs / ref, 3) if ref else None,
                     "GMACs_64px_LR": round(count_macs(model, (64, 64)) / 1e9, 3)})
        print(rows[-1], flush=True)
    return rows


def _timed(fn, runs: int, budget_s: float) -> dict:
    """Wall median (time_fn) and CPU seconds per call; one call only when a call exceeds the budget."""
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    first_wall, first_cpu = time.perf_counter() - w0, time.process_time() - c0
    if first_wall > budget_s:
        return {"wall_s": round(first_wall, 4), "cpu_s": round(first_cpu, 4), "runs": 1}
    c0 = time.process_time()
    t = time_fn(fn, warmup=0, runs=runs)
    return {"wall_s": round(t.median_s, 4), "wall_iqr_s": round(t.iqr_s, 4),
            "cpu_s": round((time.process_time() - c0) / runs, 4), "runs": runs}


def part_forward(runs: int, budget_s: float) -> list[dict]:
    """Forward times per mode; a call predicted (from the mode's slowest GMAC/s so far) to take more
    than 4x the budget is skipped: bf16 autocast without native bf16 units runs ~50x slower."""
    rows = []
    slowest: dict[str, float] = {}
    lr = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    for label, name, preset, over in TIME_ROWS:
        model = build_model(name, 4, preset, **over).eval()
        macs = count_macs(model, (64, 64))
        for mode in ("fp32", "bf16-autocast", "channels_last"):
            if mode in slowest and macs / 1e9 / slowest[mode] > 4 * budget_s:
                rows.append({"model": label, "mode": mode, "GMACs": round(macs / 1e9, 3),
                             "skipped": f"predicted {macs / 1e9 / slowest[mode]:.0f} CPU-s"})
                print(rows[-1], flush=True)
                continue
            m, x = model, lr
            if mode == "channels_last":
                m, x = model.to(memory_format=torch.channels_last), lr.contiguous(memory_format=torch.channels_last)
            ctx = torch.autocast("cpu", dtype=torch.bfloat16) if mode == "bf16-autocast" else nullcontext()

            def fwd(m=m, x=x, ctx=ctx):
                with torch.inference_mode(), ctx:
                    return m(x)

            r = _timed(fwd, runs, budget_s)
            if macs and r["cpu_s"] > 0:
                slowest[mode] = min(slowest.get(mode, float("inf")), macs / 1e9 / r["cpu_s"])
            rows.append({"model": label, "mode": mode, "GMACs": round(macs / 1e9, 3), **r,
                         "GMAC_per_cpu_s": round(macs / 1e9 / r["cpu_s"], 2) if macs and r["cpu_s"] > 0 else None})
            print(rows[-1], flush=True)
        model.to(memory_format=torch.contiguous_format)
    return rows


def part_train_step(runs: int) -> list[dict]:
    rows = []
    g = torch.Generator().manual_seed(0)
    lr, hr = torch.rand(16, 3, 32, 32, generator=g), torch.rand(16, 3, 128, 128, generator=g)
    for label, name, over in STEP_ROWS:
        if name.startswith("d:"):
            model, x = build_discriminator(name[2:], **over), hr
        else:
            model, x = build_model(name, 4, "paper", **over), lr
        model.train()
        opt = torch.optim.Adam(model.parameters(), 1e-4)

        def step(model=model, x=x, opt=opt):
            opt.zero_grad(set_to_none=True)
            out = model(x)
            loss = F.l1_loss(out, hr) if out.shape == hr.shape else F.softplus(-out).mean()
            loss.backward()
            opt.step()

        step()  # warm-up: allocations, Adam state
        r = _timed(step, runs, budget_s=0)  # budget 0: a single timed step
        macs = count_macs(model, tuple(x.shape))
        rows.append({"model": label, "params": count_params(model), "fwd_GMACs": round(macs / 1e9, 2), **r})
        print(rows[-1], flush=True)
    return rows


def _md_table(rows: list[dict]) -> str:
    if not rows:
        return ""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
    lines += ["| " + " | ".join("" if r.get(k) is None else str(r.get(k)) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["all", "macs", "forward", "train-step"], default="all")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per forward measurement")
    ap.add_argument("--budget", type=float, default=8.0, help="seconds: slower calls are timed once")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_models")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = args.out.with_suffix(".json")
    result = json.loads(out.read_text()) if out.is_file() else {}
    result["machine"] = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                         "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__}
    parts = {"macs": ("macs", part_macs),
             "forward": ("forward_64px_x4", lambda: part_forward(args.runs, args.budget)),
             "train-step": ("train_step_b16_32px_x4", lambda: part_train_step(1))}
    for part, (key, run) in parts.items():
        if args.part in ("all", part):
            start = os.getloadavg()[0]
            result[key] = run()
            result.setdefault("loadavg_1min_start_end", {})[key] = [round(start, 2), round(os.getloadavg()[0], 2)]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    md = [f"# bench_models ({time.strftime('%Y-%m-%d')})", "", f"Machine: `{json.dumps(result['machine'])}`",
          f"Load average (1 min) at start/end of each part: `{json.dumps(result.get('loadavg_1min_start_end'))}`",
          "(2 shared cores: wall times are inflated by other jobs; cpu_s is process CPU time per call)", ""]
    for key, title in (("macs", "Parameters and MACs (x4; 1080p output = 480x270 LR)"),
                       ("forward_64px_x4", "Forward pass, batch 1, 64x64 LR, x4"),
                       ("train_step_b16_32px_x4", "Training step (Adam, batch 16, 32x32 LR / 128x128 HR)")):
        if key in result:
            md += [f"## {title}", "", _md_table(result[key]), ""]
    out.with_suffix(".md").write_text("\n".join(md))
    print(f"wrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
