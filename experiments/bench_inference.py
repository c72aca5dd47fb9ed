"""SR inference speed per model, NCHW vs channels_last, as achieved GFLOP/s and a share of the measured matmul
peak (issue 15, part 3). Each model at its paper preset, batch 1, a 128 x 128 LR input (the `gansr sr bench`
timing size; `gansr upscale` tiles are 256 + 2 x 16 LR px), inference mode, fp32, one thread by default.
`gan_sr.sr.registry.load_model` runs CPU models channels_last because of these numbers.

    OMP_NUM_THREADS=1 .venv/bin/python experiments/bench_inference.py --out experiments/results
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from gan_sr.io.checkpoints import git_commit
from gan_sr.metrics.timing import time_fn
from gan_sr.pipelines.bench import achieved_gflops, matmul_peak
from gan_sr.sr.complexity import count_macs
from gan_sr.sr.registry import build_model

MODELS = ("srcnn", "espcn", "srresnet", "srgan", "rrdb", "esrgan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("experiments/results"))
    ap.add_argument("--size", type=int, default=128, help="LR side in pixels")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_peak("cpu")
    rows = []
    for name in MODELS:
        model = build_model(name, args.scale, "paper").eval()
        x = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
        macs = count_macs(model, tuple(x.shape))
        row = {"model": name, "gmacs": macs / 1e9}
        for layout, fmt in (("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)):
            m, xi = model.to(memory_format=fmt), x.contiguous(memory_format=fmt)

            def fwd():
                with torch.inference_mode():
                    return m(xi)

            t = time_fn(fwd, warmup=1, runs=args.runs)
            gf = achieved_gflops(macs, t.median_s)
            row[layout] = {"ms": t.median_s * 1e3, "gflops": gf, "peak_pct": 100 * gf / peak["gflops"]}
        rows.append(row)
        print(name, {k: round(v["gflops"], 1) for k, v in row.items() if isinstance(v, dict)}, flush=True)
    res = {"commit": git_commit(dirty=True), "threads": args.threads, "size": args.size, "scale": args.scale,
           "matmul_peak_gflops": peak["gflops"], "load_avg": os.getloadavg(), "models": rows}
    lines = ["# SR inference speed (fp32, batch 1)", "",
             f"`experiments/bench_inference.py` at commit {res['commit']}: paper presets, x{args.scale}, "
             f"{args.size}x{args.size} LR input, {args.threads} thread(s), median of {args.runs} runs; matmul peak "
             f"{peak['gflops']:.1f} GFLOP/s (torch.mm {peak['size']}^2). Load average {res['load_avg'][0]:.1f} "
             "(the other jobs were paused for the run).", "",
             "| model | GMAC | NCHW ms | NCHW GFLOP/s | channels_last ms | channels_last GFLOP/s | % of peak |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        a, b = r["nchw"], r["channels_last"]
        lines.append(f"| {r['model']} | {r['gmacs']:.2f} | {a['ms']:.0f} | {a['gflops']:.1f} | {b['ms']:.0f} | "
                     f"{b['gflops']:.1f} | {b['peak_pct']:.0f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "perf_inference.md").write_text("\n".join(lines) + "\n")
    (args.out / "perf_inference.json").write_text(json.dumps(res, indent=1) + "\n")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from perf_summary import update

    update({"matmul_peak_gflops": round(peak["gflops"], 1),
            "gflops": {r["model"]: round(r["channels_last"]["gflops"], 1) for r in rows},
            "peak_pct": {r["model"]: round(r["channels_last"]["peak_pct"], 1) for r in rows}},
           threads=args.threads, script="experiments/bench_inference.py")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
