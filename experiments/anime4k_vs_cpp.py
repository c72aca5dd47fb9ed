"""Classic Anime4K: gansr's `anime4k` (variant "cpp") against Anime4KCPP's CPU "Anime4K09" (pyanime4k 2.2.x).

Both run in the same invocation on the same 8-bit LR images (HR modcropped, MATLAB bicubic 1/s, rounded):
pyanime4k in its own venv (experiments/anime4k_vs_cpp_setup.sh) as a worker process of this script, ours
here. Same settings on both sides: Anime4KCPP's defaults (passes 2, pushColorCount 2, strengthColor 0.3,
strengthGradient 1.0; its pre-upscaler is OpenCV INTER_LINEAR at x2, INTER_CUBIC otherwise), which are our
"cpp" variant's defaults. Reported:

- speed: per image, warm-up calls then the median of N timed calls of the processing alone (Anime4KCPP's
  `process()`, our `forward`), on T threads each (OMP_NUM_THREADS and maxThreads there, torch threads here),
  the two sides interleaved image by image (alternating which goes first) so that both see the same load;
  process CPU time and wall time per call; ratios are ours / theirs of the summed per-image medians (and the
  median per-image wall ratio).
- mean absolute difference of the 8-bit outputs (0-255), split into the pre-upscale (Anime4KCPP with
  passes = 0 against our pre-upscaler) and the push passes alone (our `refine` applied to Anime4KCPP's own
  pre-upscaled image, against its full output, so the pre-upscaler cancels out).
- PSNR Y against HR of both outputs (crop = scale), so a difference can be read as better or worse.

    bash experiments/anime4k_vs_cpp_setup.sh
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python experiments/anime4k_vs_cpp.py

Writes experiments/results/anime4k_vs_cpp/{results.md, results.json}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CPP_PYTHON = ROOT / "runs/venv_pyanime4k/bin/python"


# ------------------------------------------------------------------------------ worker (pyanime4k venv: no torch)


def worker(inputs: Path, outputs: Path, scale: int, threads: int, runs: int, warmup: int) -> None:
    """Anime4KCPP's CPU Anime4K09 on the LR images of `inputs`, serving the driver over stdin/stdout.

    First writes every full output and pre-upscale-only output (passes = 0) to `outputs` and prints one JSON
    line; then, for each image key read from stdin, times `process()` and prints its median wall and CPU time.
    """
    import numpy as np
    from pyanime4k import ac

    def processor(passes: int):
        p = ac.Parameters()
        p.passes, p.pushColorCount, p.strengthColor, p.strengthGradient = passes, 2, 0.3, 1.0
        p.zoomFactor, p.maxThreads = float(scale), threads
        return ac.AC(False, False, type=ac.ProcessorType.CPU, parameters=p)

    full, pre = processor(2), processor(0)
    data = np.load(inputs)
    bgr = {key: np.ascontiguousarray(data[key][..., ::-1]) for key in data.files}  # the core reads 8-bit BGR
    saved = {}
    for key, img in bgr.items():
        for name, proc in (("full", full), ("pre", pre)):
            proc.load_image_from_numpy(img, ac.AC_INPUT_BGR)
            proc.process()
            saved[f"{name}/{key}"] = np.ascontiguousarray(proc.save_image_to_numpy()[..., ::-1])
    np.savez(outputs, **saved)
    v = ac.AC.get_version()
    print(json.dumps({"version": {"pyanime4k": v.pyanime4k, "core": v.core, "wrapper": v.wrapper},
                      "processor": full.get_processor_type()}), flush=True)
    for line in sys.stdin:
        key = line.strip()
        full.load_image_from_numpy(bgr[key], ac.AC_INPUT_BGR)
        wall, cpu = _time(full.process, runs, warmup)
        same = bool((full.save_image_to_numpy()[..., ::-1] == saved[f"full/{key}"]).all())
        print(json.dumps({"key": key, "median_s": wall, "cpu_s": cpu, "deterministic": same}), flush=True)


def _time(fn, runs: int, warmup: int) -> tuple[float, float]:
    """Median wall and process-CPU seconds of `runs` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


# ------------------------------------------------------------------------------ rule-by-rule emulation (numpy)

# (dy, dx) cells of the eight kernels in Anime4KCPP's test order; corner kernels' dark cells add the centre.
_KERNELS = (
    ("edge", ((-1, -1), (-1, 0), (-1, 1)), ((1, -1), (1, 0), (1, 1))),
    ("edge", ((1, -1), (1, 0), (1, 1)), ((-1, -1), (-1, 0), (-1, 1))),
    ("corner", ((-1, 0), (-1, 1), (0, 1)), ((0, -1), (1, 0))),
    ("corner", ((0, -1), (1, -1), (1, 0)), ((-1, 0), (0, 1))),
    ("edge", ((-1, 1), (0, 1), (1, 1)), ((-1, -1), (0, -1), (1, -1))),
    ("edge", ((-1, -1), (0, -1), (1, -1)), ((-1, 1), (0, 1), (1, 1))),
    ("corner", ((0, 1), (1, 1), (1, 0)), ((-1, 0), (0, -1))),
    ("corner", ((0, -1), (-1, -1), (-1, 0)), ((1, 0), (0, 1))),
)
CPP_RULES = {"luma": "shift", "quantize": True, "borders": "cpp", "regray": False, "edge": "cpp"}
"""Anime4KCPP core 2.2 CPU Anime4K09 as read in its Anime4KCPU.cpp: 8-bit BGRA planes, luminance by shifts
(R>>2 + R>>4 + G>>1 + G>>4 + B>>3), blends in float32 arithmetic (the strengths are C floats) rounded by +0.5
and truncation, A blended along with RGB, column 1 its own left neighbour, no gradient on the outer ring,
push gradient on the push-coloured A (no new luminance), strict edge rule."""
OURS_RULES = {"luma": "bt601", "quantize": False, "borders": "clamp", "regray": True, "edge": "cpp"}
"""What gansr's `anime4k` variant "cpp" computes (float planes, clamp-to-edge)."""


def emulate(pre_u8, rules: dict, *, passes: int = 2, push_color_count: int = 2, s_c: float = 0.3,
            s_g: float = 1.0):
    """Anime4K09's push passes on an upscaled 8-bit RGB image (H, W, 3) under `rules`; returns uint8 (H, W, 3).

    Each rule can be switched between Anime4KCPP's choice (CPP_RULES) and ours (OURS_RULES), which shows how
    much of the difference each one makes. edge: "cpp" (min light > centre > max dark) or "reference"
    (min light > max(dark, centre), REFERENCE.md section 4 and the GLSL shader).
    """
    import numpy as np

    from gan_sr.colour import LUMA

    q = rules["quantize"]
    x = np.moveaxis(pre_u8.astype(np.float64), -1, 0)  # R, G, B
    h, w = x.shape[1:]
    rows, cols = np.arange(h), np.arange(w)
    up, down = np.maximum(rows - 1, 0), np.minimum(rows + 1, h - 1)
    right = np.minimum(cols + 1, w - 1)
    left = np.where(cols > 1, cols - 1, cols) if rules["borders"] == "cpp" else np.maximum(cols - 1, 0)
    ridx, cidx = {-1: up, 0: rows, 1: down}, {-1: left, 0: cols, 1: right}

    def shifted(planes):
        """The nine neighbour views of (..., H, W) planes under the border rule, keyed by (dy, dx)."""
        by_row = {dy: planes[..., ridx[dy], :] for dy in (-1, 0, 1)}
        return {(dy, dx): by_row[dy][..., cidx[dx]] for dy in (-1, 0, 1) for dx in (-1, 0, 1)}

    def rnd(v):
        return np.floor(v + 0.5) if q else v

    def blend(cur, light_sum, strength):
        """(1 - s) centre + s mean(light): float32 with +0.5 and truncation (8-bit), else float64."""
        if not q:
            return cur * (1 - strength) + light_sum / 3.0 * strength
        f, s32 = np.float32, np.float32(strength)
        return np.floor(cur.astype(f) * (f(1) - s32) + light_sum.astype(f) / f(3) * s32 + f(0.5)).astype(np.float64)

    def luma(rgb):
        r, g, b = rgb[0], rgb[1], rgb[2]
        if rules["luma"] == "shift":
            ri, gi, bi = (c.astype(np.int64) for c in (r, g, b))
            return ((ri >> 2) + (ri >> 4) + (gi >> 1) + (gi >> 4) + (bi >> 3)).astype(np.float64)
        wr, wg, wb = LUMA if rules["luma"] == "bt601" else (0.3125, 0.5625, 0.125)
        return rnd(wr * r + wg * g + wb * b)

    def fires(kind, light, dark, a_nb, centre):
        min_l = np.minimum(np.minimum(a_nb[light[0]], a_nb[light[1]]), a_nb[light[2]])
        max_d = a_nb[dark[0]]
        for o in dark[1:]:
            max_d = np.maximum(max_d, a_nb[o])
        if kind == "edge" and rules["edge"] == "cpp":
            return (min_l > centre) & (centre > max_d)
        return min_l > np.maximum(max_d, centre)

    def light_sum(planes_nb, light):
        return planes_nb[light[0]] + planes_nb[light[1]] + planes_nb[light[2]]

    for p in range(passes):
        px = np.concatenate([x, luma(x)[None]])  # R, G, B, A
        if s_c and p < push_color_count:
            src_nb, cur = shifted(px), px.copy()
            a_nb = {o: v[3] for o, v in src_nb.items()}
            for i in range(0, 8, 2):
                done = np.zeros((h, w), bool)
                for kind, light, dark in _KERNELS[i:i + 2]:
                    f = fires(kind, light, dark, a_nb, cur[3]) & ~done
                    cur = np.where(f, blend(cur, light_sum(src_nb, light), s_c), cur)
                    done |= f
            px = cur
        a = luma(px[:3]) if rules["regray"] else px[3]
        pad = np.pad(a, 1, mode="edge")
        tl, t, tr = pad[:-2, :-2], pad[:-2, 1:-1], pad[:-2, 2:]
        lft, rgt = pad[1:-1, :-2], pad[1:-1, 2:]
        bl, b, br = pad[2:, :-2], pad[2:, 1:-1], pad[2:, 2:]
        g = np.sqrt(((bl + 2 * b + br) - (tl + 2 * t + tr)) ** 2 + ((tl + 2 * lft + bl) - (tr + 2 * rgt + br)) ** 2)
        grad = 255 - (np.where(g >= 255, 255, np.floor(g + 0.5)) if q else np.minimum(g, 255))
        if rules["borders"] == "cpp":  # the outer ring keeps its A
            grad[0, :], grad[-1, :], grad[:, 0], grad[:, -1] = a[0, :], a[-1, :], a[:, 0], a[:, -1]
        a_nb, rgb = shifted(grad), px[:3]
        rgb_nb, first = shifted(rgb), np.full((h, w), -1)
        sums = np.zeros_like(rgb)
        for k, (kind, light, dark) in enumerate(_KERNELS):
            f = fires(kind, light, dark, a_nb, grad) & (first < 0)
            first = np.where(f, k, first)
            sums = np.where(f, light_sum(rgb_nb, light), sums)
        x = np.where(first >= 0, blend(rgb, sums, s_g), rgb)
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8).transpose(1, 2, 0)


CPP_ROW, OURS_ROW = "Anime4KCPP rules (should be 0)", "all of gansr's choices (= our cpp variant)"
ABLATIONS = {
    CPP_ROW: CPP_RULES,
    "luminance 0.299/0.587/0.114 (rounded) instead of shifts": {**CPP_RULES, "luma": "bt601"},
    "float planes instead of 8-bit (shift weights as floats)": {**CPP_RULES, "quantize": False, "luma": "approx"},
    "clamp-to-edge borders, gradient on the outer ring": {**CPP_RULES, "borders": "clamp"},
    "luminance recomputed before the gradient": {**CPP_RULES, "regray": True},
    "REFERENCE section 4 edge rule (min light > max(dark, centre))": {**CPP_RULES, "edge": "reference"},
    OURS_ROW: OURS_RULES,
}


# ------------------------------------------------------------------------------ driver (project .venv)


def _u8(x):
    """(1, 3, H, W) float in [0, 1] -> (H, W, 3) uint8, rounded."""
    return (x[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


def _mad(a, b) -> dict:
    import numpy as np

    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return {"mad": float(d.mean()), "p99": float(np.percentile(d, 99)), "max": int(d.max()),
            "share_gt_8": float((d > 8).mean())}


def _off_outside_corner(a, b, corner: int = 4) -> int:
    """Pixels where a and b differ, leaving out the top-left corner x corner block."""

    off = (a != b).any(-1)
    off[:corner, :corner] = False
    return int(off.sum())


def _mean(rows: list[dict], key: str) -> float:
    return sum(r[key] for r in rows) / len(rows)


def time_both(lrs: dict, scale: int, args, cpp_python: Path, ours_model) -> tuple[dict, dict, dict]:
    """Both sides on the same 8-bit LR images (HWC uint8), interleaved image by image, alternating who goes
    first so that both see the same load. Returns the worker's info, its outputs and per-image timings."""
    import numpy as np
    import torch

    def time_ours(lr):
        with torch.inference_mode():
            return _time(lambda: ours_model(lr), args.runs, args.warmup)

    timings = {}
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "in.npz", **lrs)
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        cmd = [str(cpp_python), __file__, "--worker", str(Path(tmp) / "in.npz"), str(Path(tmp) / "out.npz"),
               "--scale", str(scale), "--threads", str(args.threads), "--runs", str(args.runs),
               "--warmup", str(args.warmup)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

        def ask(line: str | None) -> dict:
            if line is not None:
                proc.stdin.write(line + "\n")
                proc.stdin.flush()
            reply = proc.stdout.readline()
            if not reply:
                raise SystemExit(f"pyanime4k worker stopped ({' '.join(cmd)}); see its stderr above")
            return json.loads(reply)

        info = ask(None)
        theirs = dict(np.load(Path(tmp) / "out.npz"))
        for i, key in enumerate(lrs):
            lr = torch.from_numpy(lrs[key]).permute(2, 0, 1)[None].float() / 255
            if i % 2:
                mine = time_ours(lr)
                t = ask(key)
            else:
                t = ask(key)
                mine = time_ours(lr)
            timings[key] = (t, mine)
        proc.stdin.close()
        proc.wait()
    return info, theirs, timings


SIZES = {"720p": (720, 1280), "1080p": (1080, 1920)}


def compare_sizes(source: Path, sizes: list[str], scale: int, args, cpp_python: Path) -> list[dict]:
    """Speed at video frame sizes: LR inputs are crops of one large drawing (top-left and bottom-right
    corners), so the timed work is the size users upscale, not the benchmark's small test images."""
    import numpy as np

    from gan_sr.io.images import quantize, read_image
    from gan_sr.sr.anime4k import Anime4K

    art = read_image(source).rgb
    model = Anime4K(scale, variant="cpp").eval()
    out = []
    for name in sizes:
        h, w = SIZES[name]
        if art.shape[-2] < h or art.shape[-1] < w:
            raise SystemExit(f"--size-source {source}: {tuple(art.shape[-2:])} is smaller than {name} ({h}x{w})")
        crops = {"tl": art[:, :h, :w], "br": art[:, -h:, -w:]}
        lrs = {f"{name}_{k}": _u8(quantize(v[None])) for k, v in crops.items()}
        info, theirs, timings = time_both(lrs, scale, args, cpp_python, model)
        rows = []
        for key, (t, (wall, cpu)) in timings.items():
            import torch

            with torch.inference_mode():
                mine = _u8(model(torch.from_numpy(lrs[key]).permute(2, 0, 1)[None].float() / 255))
            rows.append({"image": key, "ours_s": wall, "ours_cpu_s": cpu, "theirs_s": t["median_s"],
                         "theirs_cpu_s": t["cpu_s"], "full": _mad(mine, theirs[f"full/{key}"])})
        mp = len(rows) * h * w * scale * scale / 1e6
        out.append({
            "size": name, "lr_hw": [h, w], "scale": scale, "images": len(rows), "source": str(source),
            "ours_ms_per_image": 1e3 * statistics.median(r["ours_s"] for r in rows),
            "theirs_ms_per_image": 1e3 * statistics.median(r["theirs_s"] for r in rows),
            "ours_ms_per_mp": 1e3 * sum(r["ours_s"] for r in rows) / mp,
            "theirs_ms_per_mp": 1e3 * sum(r["theirs_s"] for r in rows) / mp,
            "ratio_theirs_over_ours": sum(r["theirs_s"] for r in rows) / sum(r["ours_s"] for r in rows),
            "cpu_ratio_theirs_over_ours": sum(r["theirs_cpu_s"] for r in rows) / sum(r["ours_cpu_s"] for r in rows),
            "mad_full": sum(r["full"]["mad"] for r in rows) / len(rows), "per_image": rows,
            "cpp": info["version"], "processor": info["processor"],
        })
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out[-1].items()
                          if k not in ("per_image", "cpp")}), flush=True)
    return out


def compare(label: str, folder: Path, scale: int, args, cpp_python: Path) -> dict:
    import numpy as np
    import torch

    from gan_sr.degrade import imresize, modcrop
    from gan_sr.io.images import list_images, quantize, read_image
    from gan_sr.metrics.psnr_ssim import evaluate
    from gan_sr.sr.anime4k import Anime4K, pre_upscale

    paths = list_images(folder, recursive=False)[: args.max_images or None]
    hrs, lrs = {}, {}
    for i, p in enumerate(paths):
        hr = modcrop(read_image(p).rgb[None], scale)
        key = f"{i:04d}_{p.stem}"
        hrs[key] = hr
        lrs[key] = _u8(quantize(imresize(hr.double(), 1.0 / scale).float()))
    ours_model = Anime4K(scale, variant="cpp").eval()
    glsl_model = Anime4K(scale, variant="glsl").eval()
    info, theirs, timings = time_both(lrs, scale, args, cpp_python, ours_model)

    rows = []
    for key, (t, (wall, cpu)) in timings.items():
        lr = torch.from_numpy(lrs[key]).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            out = ours_model(lr)
            pre = pre_upscale(lr, scale, ours_model.pre).clamp(0, 1)
            their_pre = torch.from_numpy(theirs[f"pre/{key}"]).permute(2, 0, 1)[None].float() / 255
            pushed = ours_model.refine(their_pre)
            glsl = glsl_model(lr)
        ours_u8, theirs_u8 = _u8(out), theirs[f"full/{key}"]
        emu = {name: emulate(theirs[f"pre/{key}"], rules) for name, rules in ABLATIONS.items()}
        hr = hrs[key]
        q = {}
        for name, img in (("ours", ours_u8), ("theirs", theirs_u8)):
            sr = torch.from_numpy(img).permute(2, 0, 1).float() / 255
            q[name] = evaluate(sr, hr[0], scale, y=True)["psnr"]
        rows.append({
            "image": key, "lr_hw": list(lrs[key].shape[:2]), "out_mp": ours_u8.shape[0] * ours_u8.shape[1] / 1e6,
            "ours_s": wall, "ours_cpu_s": cpu, "theirs_s": t["median_s"], "theirs_cpu_s": t["cpu_s"],
            "theirs_deterministic": t["deterministic"],
            "full": _mad(ours_u8, theirs_u8), "pre": _mad(_u8(pre), theirs[f"pre/{key}"]),
            "push": _mad(_u8(pushed), theirs_u8), "glsl_full": _mad(_u8(glsl), theirs_u8),
            "psnr_y_ours": q["ours"], "psnr_y_theirs": q["theirs"],
            "emulated_vs_theirs": {name: _mad(emu[name], theirs_u8)["mad"] for name in ABLATIONS},
            "emulated_ours_vs_ours": _mad(emu[OURS_ROW], _u8(pushed))["mad"],
            "emulated_cpp_pixels_off_outside_corner": _off_outside_corner(emu[CPP_ROW], theirs_u8),
        })
    ours_total, theirs_total = sum(r["ours_s"] for r in rows), sum(r["theirs_s"] for r in rows)
    mp = sum(r["out_mp"] for r in rows)
    summary = {
        "dataset": label, "scale": scale, "images": len(rows),
        "ours_ms_per_image": 1e3 * statistics.median(r["ours_s"] for r in rows),
        "theirs_ms_per_image": 1e3 * statistics.median(r["theirs_s"] for r in rows),
        "ours_cpu_ms_per_image": 1e3 * statistics.median(r["ours_cpu_s"] for r in rows),
        "theirs_cpu_ms_per_image": 1e3 * statistics.median(r["theirs_cpu_s"] for r in rows),
        "ours_ms_per_mp": 1e3 * ours_total / mp, "theirs_ms_per_mp": 1e3 * theirs_total / mp,
        "time_ratio_ours_over_theirs": ours_total / theirs_total,
        "median_image_time_ratio": statistics.median(r["ours_s"] / r["theirs_s"] for r in rows),
        "cpu_ratio_ours_over_theirs": sum(r["ours_cpu_s"] for r in rows) / sum(r["theirs_cpu_s"] for r in rows),
        **{f"mad_{k}": sum(r[k]["mad"] for r in rows) / len(rows) for k in ("full", "pre", "push", "glsl_full")},
        "max_abs_full": max(r["full"]["max"] for r in rows),
        "share_gt_8_full": _mean([r["full"] for r in rows], "share_gt_8"),
        "psnr_y_ours": _mean(rows, "psnr_y_ours"), "psnr_y_theirs": _mean(rows, "psnr_y_theirs"),
        "theirs_deterministic": all(r["theirs_deterministic"] for r in rows),
        "emulated_vs_theirs": {n: sum(r["emulated_vs_theirs"][n] for r in rows) / len(rows) for n in ABLATIONS},
        "emulated_ours_vs_ours": _mean(rows, "emulated_ours_vs_ours"),
        "emulated_cpp_pixels_off_outside_corner": sum(r["emulated_cpp_pixels_off_outside_corner"] for r in rows),
    }
    return {"summary": summary, "per_image": rows, "cpp": info["version"], "processor": info["processor"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", nargs=2, type=Path, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--cpp-python", type=Path, default=DEFAULT_CPP_PYTHON,
                    help="python of the venv made by experiments/anime4k_vs_cpp_setup.sh")
    ap.add_argument("--data", default="data/anime,Set5", help="bench --data spec (names or folders)")
    ap.add_argument("--max-images", type=int, default=32, help="first N images of each dataset (0: all)")
    ap.add_argument("--scales", default="2,4")
    ap.add_argument("--scale", type=int, default=2, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--sizes", default="720p,1080p", help="frame sizes timed on crops of --size-source ('' skips)")
    ap.add_argument("--size-source", type=Path,
                    default=ROOT.parent / "shared/datasets/peppercarrot_gamegfx/concept__level_octopussy-river.jpg")
    ap.add_argument("--size-scale", type=int, default=2)
    ap.add_argument("--load-note", default="2 cores shared with other jobs",
                    help="what else ran on the machine (goes into results.md)")
    ap.add_argument("--out", type=Path, default=ROOT / "experiments/results/anime4k_vs_cpp")
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker, args.scale, args.threads, args.runs, args.warmup)
        return

    import torch

    from gan_sr.pipelines import report
    from gan_sr.pipelines.bench import parse_datasets

    if not args.cpp_python.is_file():
        raise SystemExit(f"--cpp-python {args.cpp_python}: not found; run experiments/anime4k_vs_cpp_setup.sh first")
    torch.set_num_threads(args.threads)
    t0 = time.time()
    results = []
    sizes = [x for x in args.sizes.split(",") if x]
    unknown = [x for x in sizes if x not in SIZES]
    if unknown:
        raise SystemExit(f"--sizes {','.join(unknown)}: choose from {', '.join(SIZES)}")
    frames = compare_sizes(args.size_source, sizes, args.size_scale, args, args.cpp_python) if sizes else []
    for label, folder in (parse_datasets(args.data) if args.data else []):
        for s in (int(x) for x in args.scales.split(",")):
            r = compare(label, folder, s, args, args.cpp_python)
            results.append(r)
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in r["summary"].items()}),
                  flush=True)
    cmd = " ".join([".venv/bin/python", os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])
    meta = {"command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} {cmd}",
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "threads": args.threads, "runs": args.runs,
            "warmup": args.warmup, "torch": torch.__version__, "load_note": args.load_note,
            "loadavg_1min_end": os.getloadavg()[0], "niceness": os.nice(0), "wall_s": round(time.time() - t0, 1)}
    first = (frames or results)[0]
    meta.update(cpp=first["cpp"], cpp_processor=first["processor"])
    args.out.mkdir(parents=True, exist_ok=True)
    report.write_json(args.out / "results.json", {"meta": meta, "frames": frames, "results": results})
    if frames:
        sys.path.insert(0, str(ROOT / "experiments"))
        from perf_summary import update

        update({f"anime4k_vs_cpp_ratio_{f['size']}": round(f["ratio_theirs_over_ours"], 3) for f in frames},
               threads=args.threads, script="experiments/anime4k_vs_cpp.py")
    rows = [r["summary"] for r in results]
    cols = ["dataset", "scale", "images", "ours_cpu_ms_per_image", "theirs_cpu_ms_per_image",
            "cpu_ratio_ours_over_theirs", "ours_ms_per_image", "theirs_ms_per_image", "ours_ms_per_mp",
            "theirs_ms_per_mp", "time_ratio_ours_over_theirs", "median_image_time_ratio"]
    qcols = ["dataset", "scale", "mad_full", "mad_pre", "mad_push", "mad_glsl_full", "max_abs_full",
             "share_gt_8_full", "psnr_y_ours", "psnr_y_theirs"]
    fmt = {c: "{:.2f}" for c in cols + qcols} | {"share_gt_8_full": "{:.4f}", "mad_full": "{:.3f}",
                                                  "mad_pre": "{:.3f}", "mad_push": "{:.3f}", "mad_glsl_full": "{:.3f}"}
    v = meta["cpp"]
    md = ["# Classic Anime4K: gansr `anime4k` (cpp variant) vs Anime4KCPP CPU Anime4K09", "",
          f"- command: `{meta['command']}` (after `bash experiments/anime4k_vs_cpp_setup.sh`)",
          f"- date {meta['date']}; pyanime4k {v['pyanime4k']} (Anime4KCPP core {v['core']}, C wrapper {v['wrapper']}, "
          f"processor {meta['cpp_processor']}); torch {meta['torch']}",
          f"- {args.threads} thread(s) on each side; per image {args.warmup} warm-up + median of {args.runs} timed calls, "
          "the two sides interleaved image by image",
          f"- machine: {args.load_note} (1-min load average at the end {meta['loadavg_1min_end']:.2f}; niceness "
          f"{meta['niceness']}). On a busy machine a timed call can be preempted, which inflates wall times; "
          "process CPU time per call (cpu_* columns) is not inflated by waiting.",
          "- settings: passes 2, pushColorCount 2, strengthColor 0.3, strengthGradient 1.0 on both sides; "
          "input: 8-bit LR = round(MATLAB bicubic(HR, 1/s))", "",
          "## Speed at frame sizes", "",
          f"LR inputs: two crops (top-left, bottom-right) per size of `{os.path.relpath(args.size_source, ROOT)}`, "
          f"upscaled x{args.size_scale}. ratio = Anime4KCPP's time / ours (above 1: gansr is faster).", "",
          report.markdown_table(frames, ["size", "scale", "images", "ours_ms_per_image", "theirs_ms_per_image",
                                         "ours_ms_per_mp", "theirs_ms_per_mp", "ratio_theirs_over_ours",
                                         "cpu_ratio_theirs_over_ours", "mad_full"], floatfmt="{:.2f}") if frames else "",
          "## Speed on the benchmark images", "", report.markdown_table(rows, cols, floatfmt=fmt) if rows else "",
          "## Output difference (8-bit, 0-255) and quality", "",
          "mad_full: our cpp variant vs Anime4KCPP, end to end. mad_pre: pre-upscalers alone (Anime4KCPP with "
          "passes = 0). mad_push: push passes alone (ours applied to Anime4KCPP's own pre-upscaled image). "
          "mad_glsl_full: our glsl variant (not the matching one), for scale. share_gt_8: share of values "
          "differing by more than 8 levels. PSNR Y against HR, crop = scale.", "",
          report.markdown_table(rows, qcols, floatfmt=fmt),
          "## Which rule differs", "",
          "The push passes re-implemented in numpy (`emulate` in this script) with each of Anime4KCPP's choices "
          "switchable to ours, run on Anime4KCPP's own pre-upscaled image; cells: mean absolute difference to "
          "Anime4KCPP's output (0-255). The first row checks the emulation itself, the last one equals our cpp "
          "variant (its difference to our torch output is given below).", ""]
    abl = [{"rules": name, **{f"{r['dataset']} x{r['scale']}": r["emulated_vs_theirs"][name] for r in rows}}
           for name in ABLATIONS]
    md += [report.markdown_table(abl, floatfmt="{:.3f}"),
           "Emulation checks: pixels where the Anime4KCPP-rules emulation differs from Anime4KCPP outside the "
           "top-left 4x4 corner: " + ", ".join(f"{r['dataset']} x{r['scale']}: {r['emulated_cpp_pixels_off_outside_corner']}"
                                                for r in rows)
           + "; mean absolute difference of the gansr-rules emulation to our torch output: "
           + ", ".join(f"{r['emulated_ours_vs_ours']:.4f}" for r in rows) + ".", "", f"Wall time {meta['wall_s']} s.", ""]
    (args.out / "results.md").write_text("\n".join(md))
    print(f"wrote {args.out}/results.md and results.json")


if __name__ == "__main__":
    main()
