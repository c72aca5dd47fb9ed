"""Peak RSS and wall time of `gansr upscale` on a 2000x3000 image at x4 with tiling (target: under 2 GB).

Each measurement runs `python -m gan_sr upscale` in a fresh child of a fresh wrapper process and reads
the wrapper's RUSAGE_CHILDREN ru_maxrss, so every number is one process's peak. No shipped esrgan
checkpoint is needed: checkpoints of the esrgan `cpu` and `paper` (RRDB-23) presets are saved with
random weights in a temp folder (memory does not depend on the weights' values).

A full RRDB run at 2000x3000 does not fit a few minutes on 2 shared cores (about 15 s per tile, 96 tiles),
so the script measures (1) the whole 2000x3000 job with ESPCN (cheap network, the same output buffers
and PNG writing) and (2) the esrgan `cpu` preset on a 512x512 crop (2x2 tiles, so a tile-row band is
carried over and cross-faded) next to ESPCN on the same crop. The full-size RRDB peak is estimated as
(1) + (RRDB crop - ESPCN crop): tiles run one at a time, so the network's extra memory is per tile, not
per image. Its time is seconds per tile times the tile count. Both are labelled as estimates.

    OMP_NUM_THREADS=2 .venv/bin/python experiments/bench_upscale_memory.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gan_sr.io.checkpoints import save_checkpoint  # noqa: E402
from gan_sr.io.images import write_image  # noqa: E402
from gan_sr.pipelines.upscale import tile_grid  # noqa: E402
from gan_sr.sr.registry import build_model  # noqa: E402

RESULTS = ROOT / "experiments" / "results"
H, W, SCALE, TILE, PAD = 2000, 3000, 4, 256, 16
WRAPPER = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)")


def peak_run(args: list[str]) -> dict:
    """Run `gansr upscale ARGS` in a child; its peak RSS (MiB) and wall seconds."""
    cmd = [sys.executable, "-c", WRAPPER, sys.executable, "-m", "gan_sr", "upscale", *args, "--quiet", "--device", "cpu"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"gansr upscale failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return {"peak_rss_mib": int(proc.stdout.strip().splitlines()[-1]) / 1024, "wall_s": round(wall, 2)}


def image(size: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """A smooth colour image with some texture (content does not change memory)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, size[0] // 50 + 2, size[1] // 50 + 2, generator=g)
    base = torch.nn.functional.interpolate(low, size=size, mode="bilinear", align_corners=False)[0]
    return (base + 0.05 * torch.rand(3, *size, generator=g)).clamp(0, 1)


def checkpoint(folder: Path, name: str, preset: str) -> Path:
    torch.manual_seed(0)
    model = build_model(name, SCALE, preset)
    path = folder / f"{name}_{preset}_random.pt"
    save_checkpoint(path, {"kind": "sr", "model": model.registry_entry, "state_dict": model.state_dict(),
                           "meta": {"note": "random weights, memory benchmark only"}})
    return path


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        big, crop_four = tmp / "big.png", tmp / "four_tiles.png"
        full = image((H, W))
        write_image(big, full)
        write_image(crop_four, full[:, :2 * TILE, :2 * TILE])
        del full
        ckpts = {key: checkpoint(tmp, *key) for key in [("espcn", "paper"), ("esrgan", "cpu")]}

        def run(label, key, src, tile, n_tiles):
            out = tmp / f"out_{label}"
            r = peak_run([str(src), "-o", str(out), "--ckpt", str(ckpts[key]), "--scale", str(SCALE),
                          "--tile", str(tile), "--tile-pad", str(PAD)])
            row = {"run": label, "model": f"{key[0]} {key[1]}", "input": src.name, "tiles": n_tiles, **r}
            print(json.dumps(row), flush=True)
            rows.append(row)
            return row

        n_full = (len(tile_grid(H, W, TILE)[0]) - 1) * (len(tile_grid(H, W, TILE)[1]) - 1)
        full_espcn = run("full 2000x3000 espcn", ("espcn", "paper"), big, TILE, n_full)
        four_espcn = run("2x2 tiles espcn", ("espcn", "paper"), crop_four, TILE, 4)
        four_cpu = run("2x2 tiles esrgan cpu", ("esrgan", "cpu"), crop_four, TILE, 4)

    estimates = []
    for label, crop, base, n in [("esrgan cpu (RRDB 4/32/16)", four_cpu, four_espcn, 4)]:
        peak = full_espcn["peak_rss_mib"] + crop["peak_rss_mib"] - base["peak_rss_mib"]
        per_tile = (crop["wall_s"] - base["wall_s"]) / n
        estimates.append({"model": label, "est_peak_rss_mib": round(peak), "est_wall_s": round(per_tile * n_full),
                          "under_2GB": peak < 2048})
    report = {"image": f"{H}x{W} -> {H * SCALE}x{W * SCALE}", "tile": TILE, "tile_pad": PAD, "tiles_full": n_full,
              "threads": os.environ.get("OMP_NUM_THREADS"), "cpus": os.cpu_count(),
              "weights": "random (save_checkpoint in a temp folder; memory does not depend on the weights' values); "
                         "no shipped esrgan checkpoint was used",
              "measured": rows, "estimated_full_esrgan": estimates}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_upscale_memory.json").write_text(json.dumps(report, indent=2))
    lines = ["# bench_upscale_memory", "",
             f"`gansr upscale` at x{SCALE}, --tile {TILE} --tile-pad {PAD}, CPU, OMP_NUM_THREADS="
             f"{report['threads']}, {report['cpus']} shared cores. Weights: {report['weights']}.", "",
             "## Measured (peak RSS of the gansr process, wall time incl. start-up and PNG writing)", "",
             "| run | model | tiles | peak RSS MiB | wall s |", "|---|---|---|---|---|"]
    lines += [f"| {r['run']} | {r['model']} | {r['tiles']} | {r['peak_rss_mib']:.0f} | {r['wall_s']} |" for r in rows]
    lines += ["", f"## Estimated for the full {H}x{W} image ({n_full} tiles), not measured", "",
              "peak = full ESPCN run + (RRDB crop - ESPCN crop); time = RRDB s/tile (minus ESPCN) x tiles", "",
              "| model | est. peak RSS MiB | est. wall s | under 2 GB |", "|---|---|---|---|"]
    lines += [f"| {e['model']} | {e['est_peak_rss_mib']} | {e['est_wall_s']} | {e['under_2GB']} |" for e in estimates]
    (RESULTS / "bench_upscale_memory.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
