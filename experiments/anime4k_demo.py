"""Classic Anime4K against MATLAB bicubic on drawn art: a before/after strip, PSNR over a folder, and speed.

    .venv/bin/python experiments/anime4k_demo.py                      # CPU, all 146 Pepper&Carrot crops
    .venv/bin/python experiments/anime4k_demo.py --device cuda --limit 20

Writes experiments/results/anime4k/{before_after.png, results.json, results.md}. LR = imresize(HR, 1/4);
PSNR of the 8-bit-quantised output on Y (BT.601) and RGB, crop = 4. Speed: 480x270 -> 1920x1080 (x4),
pre-upscale included; median wall time, and the process's CPU time (the fairer figure on a busy machine).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from gan_sr.degrade import imresize, modcrop
from gan_sr.io.images import list_images, quantize, read_image, write_image
from gan_sr.metrics.psnr_ssim import psnr
from gan_sr.metrics.timing import time_fn
from gan_sr.sr.anime4k import Anime4K

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "peppercarrot_webcomic_crops384"
SCALE = 4
METHODS = ("bicubic", "anime4k-glsl", "anime4k-cpp")


def upscale(method: str, lr: torch.Tensor) -> torch.Tensor:
    if method == "bicubic":
        return imresize(lr, SCALE).clamp(0, 1)
    return Anime4K(SCALE, method.split("-")[1])(lr)


def strip(hr: torch.Tensor, device: str, box: tuple[int, int, int]) -> torch.Tensor:
    """[bicubic | glsl | cpp | HR] on a square crop (y, x, side) of the x4 result, nearest-enlarged x2."""
    lr = imresize(hr[None].to(device), 1 / SCALE).clamp(0, 1)
    y, x, side = box
    tiles = [upscale(m, lr)[0, :, y : y + side, x : x + side].cpu() for m in METHODS]
    tiles.append(hr[:, y : y + side, x : x + side])
    row = torch.cat([torch.nn.functional.pad(t, (0, 4, 0, 0), value=1.0) for t in tiles], dim=2)[:, :, :-4]
    return torch.nn.functional.interpolate(row[None], scale_factor=2, mode="nearest")[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "anime4k")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--limit", type=int, default=0, help="score only the first N images (0: all)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per variant")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--picture", default="E02P04_x320_y976.png", help="image of the before/after strip")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    picture = read_image(args.data / args.picture).rgb
    write_image(args.out / "before_after.png", strip(picture, args.device, (112, 48, 160)))

    paths = list_images([args.data])[: args.limit or None]
    scores: dict[str, dict[str, list[float]]] = {m: {"y": [], "rgb": []} for m in METHODS}
    for path in paths:
        hr = modcrop(read_image(path).rgb[None].to(args.device), SCALE)
        lr = imresize(hr, 1 / SCALE).clamp(0, 1)
        for m in METHODS:
            sr = quantize(upscale(m, lr))
            scores[m]["y"].append(float(psnr(sr, hr, crop=SCALE)[0]))
            scores[m]["rgb"].append(float(psnr(sr, hr, crop=SCALE, y=False)[0]))

    lr = imresize(picture[None], size=(270, 480)).clamp(0, 1).to(args.device)
    timings, cpu_s = {}, {}
    for variant in ("glsl", "cpp"):
        model = Anime4K(SCALE, variant)
        cpu_times: list[float] = []

        def call() -> None:
            t0 = time.process_time()
            model(lr)
            cpu_times.append(time.process_time() - t0)

        with torch.no_grad():
            timings[f"anime4k-{variant}"] = time_fn(call, warmup=1, runs=args.runs, device=args.device)
        cpu_s[f"anime4k-{variant}"] = statistics.median(cpu_times[1:])

    on_cuda = args.device.startswith("cuda")
    device_name = torch.cuda.get_device_name() if on_cuda else platform.processor() or platform.machine()
    result = {
        "data": str(args.data.name),
        "images": len(paths),
        "scale": SCALE,
        "psnr_mean_db": {m: {k: statistics.fmean(v) for k, v in s.items()} for m, s in scores.items()},
        "speed_480x270_to_1920x1080": {k: {**t.as_dict(), "process_cpu_s": cpu_s[k]} for k, t in timings.items()},
        "device": f"{args.device} ({device_name}), torch {torch.__version__}, threads {args.threads}",
    }
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# Anime4K x{SCALE} on {result['data']} ({len(paths)} images, LR = MATLAB bicubic 1/{SCALE}, crop {SCALE})",
        "",
        "| method | PSNR Y (dB) | PSNR RGB (dB) |",
        "|---|---|---|",
        *(f"| {m} | {p['y']:.2f} | {p['rgb']:.2f} |" for m, p in result["psnr_mean_db"].items()),
        "",
        f"Speed, 480x270 -> 1920x1080 on {result['device']}:",
        "",
        *(f"- {k}: wall {t}; process CPU time {cpu_s[k] * 1e3:.0f} ms (median)" for k, t in timings.items()),
        "",
        f"before_after.png: {args.picture}, [bicubic | anime4k-glsl | anime4k-cpp | HR], 160 px crop shown x2.",
    ]
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
