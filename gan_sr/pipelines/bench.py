"""`gansr sr bench`: every SR method on the same images, scored the way the literature scores them.

Protocol (as experiments/bicubic_baseline.py, "rgb"): HR modcropped to the scale, LR = MATLAB bicubic
imresize(HR, 1/s) in float64 (not rounded), SR = model(LR) clamped and quantized to 8 bit, PSNR/SSIM with
crop = scale on Y (grayscale sources on their gray level) and on RGB. Cost: parameters, MACs per output
megapixel, median wall time of batch-1 forward passes on a fixed-size random LR input, peak memory.

Speed against the physical limit: the same run measures the machine's dense matmul peak (torch.mm of two
square random matrices, best of several calls, at the bench's thread count and dtype) and reports each
model's achieved GFLOP/s = 2 x MACs / median time, and that as a percentage of the peak.
"""

from __future__ import annotations

import contextlib
import ctypes
import html
import datetime as dt
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from gan_sr.degrade import imresize, modcrop
from gan_sr.devices import parse_device
from gan_sr.errors import CheckpointError, ConfigError, ImageError
from gan_sr.io.checkpoints import git_commit
from gan_sr.io.images import list_images, quantize, read_image
from gan_sr.io.paths import check_output_outside
from gan_sr.metrics.psnr_ssim import evaluate
from gan_sr.metrics.timing import time_fn
from gan_sr.pipelines import report
from gan_sr.progress import progress_bar
from gan_sr.sr.complexity import count_macs
from gan_sr.sr.registry import checkpoints_dir, count_params, get_spec, list_models, load_model, model_names

__all__ = ["KNOWN_DATASETS", "Sample", "shared_datasets_dir", "resolve_dataset", "parse_datasets", "parse_models",
           "parse_ckpts", "load_samples", "score_samples", "peak_memory_mib", "matmul_peak", "achieved_gflops",
           "run_bench", "merge_results", "write_summary"]

KNOWN_DATASETS = ("Set5", "Set14", "BSD100", "T91")


def grid_order() -> tuple[str, ...]:
    """Column order of tables and grids: the registry's, then the ESRGAN interpolation; other entries
    (--ckpt NAME=PATH) follow in the order given."""
    return (*model_names(), "esrgan_interp")

GRID_CROP = 96


def shared_datasets_dir() -> Path:
    """$GANSR_SHARED/datasets, else the shared/datasets folder beside the repository."""
    env = os.environ.get("GANSR_SHARED")
    root = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared"
    return root / "datasets"


def resolve_dataset(spec: str) -> tuple[str, Path]:
    """(label, folder of HR images) for a dataset name (Set5, Set14, BSD100, T91) or a folder.

    A built dataset folder (with a test/ split) is scored on its test split.
    """
    text = str(spec).strip()
    if not text:
        raise ConfigError("--data has an empty entry; give names (Set5,Set14,BSD100,T91) or folders")
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ImageError(f"--data {text}: not a folder of HR images")
        if (path / "test").is_dir():
            return f"{path.resolve().name}/test", path / "test"
        return path.resolve().name, path
    known = {n.lower(): n for n in KNOWN_DATASETS}
    name = known.get(text.lower())
    if name is None:
        raise ConfigError(f"--data {text!r} is neither a folder nor a known dataset name "
                          f"({', '.join(KNOWN_DATASETS)})")
    folder = shared_datasets_dir() / name
    if not folder.is_dir():
        raise ImageError(f"--data {name}: dataset folder {folder} not found; set GANSR_SHARED to the folder that "
                         f"holds datasets/{name}, or pass a folder of HR images")
    return name, folder


def parse_datasets(data: str | Sequence[str]) -> list[tuple[str, Path]]:
    """Comma-separated names/folders (or a list of them) -> unique (label, folder) pairs, in order."""
    items = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    specs = [s for item in items for s in str(item).split(",") if s.strip()]
    if not specs:
        raise ConfigError("--data is empty; give names (Set5,Set14,BSD100,T91) or folders of HR images")
    out: list[tuple[str, Path]] = []
    for s in specs:
        label, folder = resolve_dataset(s)
        if any(f.resolve() == folder.resolve() for _, f in out):
            continue
        base, k = label, 2
        while any(lbl == label for lbl, _ in out):
            label, k = f"{base}#{k}", k + 1
        out.append((label, folder))
    return out


def parse_models(models: str | Sequence[str]) -> list[str]:
    """"all" or comma-separated registry names (or a list) -> canonical names; ConfigError for unknown ones."""
    items = [models] if isinstance(models, str) else list(models)
    names = [s.strip() for item in items for s in str(item).split(",") if s.strip()]
    if not names:
        raise ConfigError("--models is empty; give 'all' or names such as bicubic,anime4k,espcn")
    out: list[str] = []
    for n in names:
        for name in ([s.name for s in list_models(shipped_only=True)] if n.lower() == "all" else [get_spec(n).name]):
            if name not in out:
                out.append(name)
    return out


def parse_ckpts(items: Sequence[str] | dict | None) -> dict[str, str]:
    """["NAME=PATH", ...] -> {NAME: PATH}; ConfigError naming the malformed --ckpt."""
    if not items:
        return {}
    if isinstance(items, dict):
        return {str(k): str(v) for k, v in items.items()}
    out = {}
    for item in items:
        name, sep, path = str(item).partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigError(f"--ckpt {item!r}: expected NAME=PATH, e.g. --ckpt espcn=runs/espcn/best.pt")
        out[name.strip()] = path.strip()
    return out


@dataclass(frozen=True)
class Sample:
    """One test image prepared once for every method: modcropped HR, its float LR, how to score it."""

    name: str
    hr: Tensor      # (1, 3, H, W) float32, H and W multiples of the scale
    lr: Tensor      # (1, 3, H/s, W/s) float32, unrounded MATLAB bicubic of HR
    gray: bool
    path: Path


def load_samples(folder: Path, scale: int) -> list[Sample]:
    """HR images of `folder` (not recursive) prepared for scoring at `scale`; ImageError when there are none."""
    paths = list_images(folder, recursive=False)
    if not paths:
        raise ImageError(f"--data {folder}: holds no image files")
    out = []
    for p in paths:
        im = read_image(p)
        hr = modcrop(im.rgb[None], scale)
        if min(hr.shape[-2:]) // scale < 2 or min(hr.shape[-2:]) - 2 * scale < 11:
            raise ImageError(f"{p}: {im.rgb.shape[-1]}x{im.rgb.shape[-2]} px is too small to score at x{scale} "
                             f"(SSIM needs 11 px after cropping {scale} px per edge)")
        lr = imresize(hr.to(torch.float64), 1.0 / scale).to(torch.float32)
        out.append(Sample(p.stem, hr, lr, im.grayscale, p))
    return out


# ------------------------------------------------------------------------------------------ costs


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _malloc_trim() -> None:
    """Give freed heap pages back to the OS (glibc), so that an RSS delta sees a pass's allocations anew."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def peak_memory_mib(fn: Callable[[], object], device: torch.device) -> tuple[float | None, str]:
    """(peak MiB above the starting point while fn() runs, how it was measured).

    CUDA: torch.cuda.max_memory_allocated. CPU: process RSS sampled every 0.5 ms after malloc_trim
    (a lower bound: allocations shorter than a sample or served from already-resident pages are missed).
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20, "torch.cuda.max_memory_allocated"
    try:
        _rss_bytes()
    except (OSError, ValueError, IndexError):
        return None, "unavailable (no /proc/self/statm)"
    _malloc_trim()
    base = _rss_bytes()
    peak = base
    stop = threading.Event()

    def poll():
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _rss_bytes())
            time.sleep(0.0005)

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    try:
        fn()
    finally:
        stop.set()
        t.join()
    peak = max(peak, _rss_bytes())
    return (peak - base) / 2**20, "RSS delta, sampled every 0.5 ms after malloc_trim"


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def achieved_gflops(macs: int, seconds: float) -> float | None:
    """2 x MACs / seconds in GFLOP/s (a multiply-accumulate is two floating-point operations); None without MACs."""
    if not macs or not seconds or seconds <= 0:
        return None
    return 2.0 * macs / seconds / 1e9


def matmul_peak(device: str | torch.device = "cpu", *, size: int | None = None, repeats: int = 5,
                dtype: str = "fp32") -> dict:
    """This machine's dense matmul rate: torch.mm of two size x size random matrices, best of `repeats` calls.

    size None: 2048 on CPU, 8192 on CUDA (large enough to reach the BLAS plateau). Runs at the current
    torch thread count; one untimed call first. Returns {"gflops", "size", "best_s", "repeats", "dtype",
    "threads", "device"}.
    """
    dev = torch.device(device)
    if size is None:
        size = 8192 if dev.type == "cuda" else 2048
    if isinstance(size, bool) or not isinstance(size, int) or size < 16:
        raise ConfigError(f"--peak-size must be an integer >= 16 (the side of the square matmul), got {size!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"matmul peak repeats must be an integer >= 1, got {repeats!r}")
    if dtype not in DTYPES:
        raise ConfigError(f"matmul peak dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    g = torch.Generator().manual_seed(0)
    a = torch.rand(size, size, generator=g).to(dev, DTYPES[dtype])
    b = torch.rand(size, size, generator=g).to(dev, DTYPES[dtype])
    t = time_fn(lambda: torch.mm(a, b), warmup=1, runs=repeats, device=dev)
    best = min(t.times_s)
    out = {"gflops": 2.0 * size ** 3 / best / 1e9, "size": size, "best_s": best, "repeats": repeats,
           "dtype": dtype, "threads": torch.get_num_threads(), "device": str(dev)}
    if dev.type == "cuda":  # TF32 makes "fp32" matmuls and convolutions faster than true fp32: say which ran
        out["tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
        out["tf32_conv"] = torch.backends.cudnn.allow_tf32
    return out


def _add_throughput(res: dict, peaks: dict[str, dict]) -> None:
    """Achieved GFLOP/s and percentage of the matmul peak for each timed dtype of a _costs result."""
    for key, peak in peaks.items():
        if key in res:
            gf = achieved_gflops(res["macs"], res[key]["median_s"])
            res[key]["gflops"] = gf
            res[key]["peak_pct"] = None if gf is None else 100.0 * gf / peak["gflops"]


def _bf16_default(device: torch.device) -> bool:
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def _costs(model: nn.Module, scale: int, device: torch.device, size: int, runs: int, warmup: int,
           timing: bool, bf16: bool) -> dict:
    """Params, MACs per output MP, memory and (optionally) fp32/bf16 timing on a size x size LR input."""
    out_mp = (size * scale) ** 2 / 1e6
    counted = any(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
    macs = count_macs(model, (1, 3, size, size)) if counted else 0  # count_macs counts only these layers
    res = {"params": count_params(model), "macs": macs, "gmacs_per_mp": macs / out_mp / 1e9}
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)

    def fwd():
        with torch.inference_mode():
            return model(x)

    mem, how = peak_memory_mib(fwd, device)
    res.update(peak_mem_mib=mem, mem_method=how)
    if timing:
        t = time_fn(fwd, warmup=warmup, runs=runs, device=device)
        res["fp32"] = {**t.as_dict(), "ms_per_image": t.median_s * 1e3, "out_mp_per_s": t.rate(out_mp)}
        if bf16:
            def fwd_bf16():
                with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16):
                    return model(x)

            t = time_fn(fwd_bf16, warmup=warmup, runs=runs, device=device)
            res["bf16"] = {**t.as_dict(), "ms_per_image": t.median_s * 1e3, "out_mp_per_s": t.rate(out_mp)}
    return res


# ------------------------------------------------------------------------------------------ methods


def _load_method(label: str, scale: int, device: torch.device, ckpt: str | None) -> tuple[nn.Module | None, dict]:
    """The model for one bench entry and its description; learned models without weights come back skipped."""
    if ckpt is not None:
        path = Path(ckpt)
        if not path.is_file():
            raise CheckpointError(f"--ckpt {label}={ckpt}: no such checkpoint file")
        model = load_model(path, scale, device=device)
        return model, {"name": label, "model": model.registry_entry["name"], "preset": model.registry_entry["preset"],
                       "source": str(path), "status": "ok"}
    spec = get_spec(label)
    info = {"name": spec.name, "model": spec.name, "paper": spec.paper}
    if spec.learnable:
        path = checkpoints_dir() / f"{spec.name}_x{scale}.pt"
        if not path.is_file():
            reason = (f"skipped: no checkpoint (train with `gansr sr train --model {spec.name} --scale {scale} "
                      f"--data DIR`, then pass --ckpt {spec.name}=RUN/best.pt or put it at {path})")
            return None, {**info, "status": "skipped", "reason": reason}
        try:
            model = load_model(path, scale, device=device)
        except CheckpointError as exc:
            return None, {**info, "status": "skipped", "reason": f"skipped: {exc}"}
        return model, {**info, "preset": model.registry_entry["preset"], "source": str(path), "status": "ok"}
    model = load_model(spec.name, scale, device=device)
    return model, {**info, "preset": model.registry_entry["preset"], "source": "built (no weights)", "status": "ok"}


def _super_resolve(model: nn.Module, lr: Tensor, device: torch.device) -> Tensor:
    with torch.inference_mode():
        sr = model(lr.to(device))
    return quantize(sr.float().clamp(0, 1).cpu())


def _score(sr: Tensor, s: Sample, scale: int, method: str) -> dict:
    if sr.shape != s.hr.shape:
        raise ConfigError(f"model {method} returned {tuple(sr.shape)} for {s.path.name}, expected {tuple(s.hr.shape)}")
    y = evaluate(sr[0], s.hr[0], scale, y=True, gray=s.gray)
    rgb = evaluate(sr[0], s.hr[0], scale, y=False)
    return {"image": s.name, "psnr_y": y["psnr"], "ssim_y": y["ssim"], "psnr_rgb": rgb["psnr"], "ssim_rgb": rgb["ssim"]}


def _mean(rows: list[dict]) -> dict:
    keys = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")
    return {k: sum(r[k] for r in rows) / len(rows) for k in keys}


def score_samples(model: nn.Module, samples: Sequence[Sample], scale: int, *, device: str | torch.device = "cpu",
                  label: str = "model", on_image: Callable[[Sample, Tensor], None] | None = None) -> dict:
    """{"mean", "per_image"} PSNR/SSIM (Y and RGB) of `model` on prepared samples; on_image(sample, sr) sees each SR."""
    dev = torch.device(device)
    rows = []
    for s in samples:
        sr = _super_resolve(model, s.lr, dev)
        rows.append(_score(sr, s, scale, label))
        if on_image is not None:
            on_image(s, sr)
    return {"mean": _mean(rows), "per_image": rows}


# ------------------------------------------------------------------------------------------ environment


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} {platform.processor() or ''} ({os.cpu_count()} cpus)".replace("  ", " ")


def _check_out(out: Path, datasets: list[tuple[str, Path]]) -> None:
    check_output_outside([folder for _, folder in datasets], out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")


# ------------------------------------------------------------------------------------------ the bench


def run_bench(models: str | Sequence[str] = "all", datasets: str | Sequence[str] = "Set5", scale: int = 4,
              out: str | os.PathLike = "out/bench", *, device: str | torch.device = "cpu", runs: int = 5,
              warmup: int = 1, timing: bool = True, ckpts: Sequence[str] | dict | None = None,
              bf16: bool | None = None, timing_size: int = 128, grid_image: str | None = None,
              progress: bool = False, command: str | None = None, peak_size: int | None = None,
              peak_repeats: int = 5) -> dict:
    """Score, time and picture every method; write results.{md,csv,json}, plots, grid.png and index.html.

    models: "all" or names; datasets: names (Set5, Set14, BSD100, T91) or folders; ckpts: NAME=PATH entries
    (a registry name uses that checkpoint, any other name adds an entry). bf16=None times bf16 only on a
    CUDA device that supports it. With timing, the matmul peak (`matmul_peak`, peak_size x peak_size, best of
    peak_repeats) is measured in the same run for each timed dtype. Returns the results dict that results.json holds.
    """
    t_start = time.time()
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ConfigError(f"--scale must be a positive integer, got {scale!r}")
    if runs < 1 or warmup < 0:
        raise ConfigError(f"--runs must be >= 1 (got {runs}) and warm-up >= 0 (got {warmup})")
    if timing_size < 8:
        raise ConfigError(f"timing input size must be at least 8 px, got {timing_size}")
    dev = parse_device(device, types=("cpu", "cuda"))
    ckpt_map = parse_ckpts(ckpts)
    items = [models] if isinstance(models, str) else list(models or [])
    entries = [e.strip() for item in items for e in str(item).split(",") if e.strip()]
    files = [e for e in entries if Path(e).suffix and Path(e).is_file()]  # weights files, shown by file name
    ckpt_map.update({Path(f).stem: f for f in files})
    names = parse_models([e for e in entries if e not in files]) if len(files) < len(entries) else []
    names += [n for n in ckpt_map if n not in names]
    if not names:
        raise ConfigError("nothing to bench: --models is empty and no --ckpt was given")
    sets = parse_datasets(datasets)
    out = Path(out)
    _check_out(out, sets)
    use_bf16 = _bf16_default(dev) if bf16 is None else bool(bf16)
    peaks: dict[str, dict] = {}
    if timing:
        for key in ("fp32", "bf16") if use_bf16 else ("fp32",):
            peaks[key] = matmul_peak(dev, size=peak_size, repeats=peak_repeats, dtype=key)

    samples = {label: load_samples(folder, scale) for label, folder in sets}
    grid_set = sets[0][0]
    grid_pool = samples[grid_set]
    if grid_image is not None:
        pick = [s for s in grid_pool if s.name == grid_image]
        if not pick:
            raise ConfigError(f"--grid-image {grid_image!r} is not an image of {grid_set} "
                              f"(images: {', '.join(s.name for s in grid_pool[:8])}...)")
        grid_sample = pick[0]
    else:
        grid_sample = max(grid_pool, key=lambda s: s.hr.shape[-1] * s.hr.shape[-2])
    h, w = grid_sample.hr.shape[-2:]
    crop = min(GRID_CROP, h, w) // scale * scale
    top, left = report.detail_window(grid_sample.hr, crop, stride=scale)
    tiles: dict[str, Tensor] = {"HR": report.tile_crop(grid_sample.hr, top, left, crop)}

    loaded: list[tuple[nn.Module, dict]] = []
    entries: list[dict] = []
    for name in names:
        model, info = _load_method(name, scale, dev, ckpt_map.get(name))
        entries.append(info)
        if model is not None:
            loaded.append((model, info))

    n_images = sum(len(v) for v in samples.values())
    bar = progress_bar(len(loaded) * n_images, desc="bench", unit="img", enabled=progress)
    for model, info in loaded:
        label = info["name"]
        bar.set_postfix_str(label)
        info.update(_costs(model, scale, dev, timing_size, runs, warmup, timing, use_bf16))
        _add_throughput(info, peaks)
        info["datasets"] = {}
        def keep_tile(s: Sample, sr: Tensor, label=label) -> None:
            if s is grid_sample:
                tiles[label] = report.tile_crop(sr, top, left, crop)
            bar.update(1)

        for ds, items in samples.items():
            info["datasets"][ds] = score_samples(model, items, scale, device=dev, label=label, on_image=keep_tile)
        del model
    bar.close()

    meta = {
        "command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "git_commit": git_commit(), "torch": torch.__version__, "python": platform.python_version(),
        "threads": torch.get_num_threads(), "device": str(dev), "device_name": _device_name(dev),
        "scale": scale, "timing": timing, "runs": runs, "warmup": warmup, "bf16_timed": use_bf16 and timing,
        "timing_input": [1, 3, timing_size, timing_size], "protocol": __doc__.split("\n\n")[1].replace("\n", " "),
        "matmul_peak": peaks,
        "wall_s": None,
    }
    grid = {"dataset": grid_set, "image": grid_sample.name, "top": top, "left": left, "size": crop,
            "methods": list(tiles)}
    results = {"meta": meta, "datasets": {lbl: {"path": str(f), "images": len(samples[lbl])} for lbl, f in sets},
               "methods": entries, "grid": grid}
    out.mkdir(parents=True, exist_ok=True)
    meta["wall_s"] = time.time() - t_start
    write_outputs(results, tiles, out)
    return results


# ------------------------------------------------------------------------------------------ outputs

SUMMARY_COLUMNS = ("method", "dataset", "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "params", "gmacs_per_mp",
                   "ms_fp32", "out_mp_per_s_fp32", "gflops_fp32", "peak_pct_fp32", "ms_bf16", "out_mp_per_s_bf16",
                   "gflops_bf16", "peak_pct_bf16", "peak_mem_mib")
FLOATFMT = {"psnr_y": "{:.2f}", "psnr_rgb": "{:.2f}", "ssim_y": "{:.4f}", "ssim_rgb": "{:.4f}",
            "gmacs_per_mp": "{:.2f}", "ms_fp32": "{:.2f}", "ms_bf16": "{:.2f}", "out_mp_per_s_fp32": "{:.2f}",
            "out_mp_per_s_bf16": "{:.2f}", "gflops_fp32": "{:.2f}", "gflops_bf16": "{:.2f}", "peak_pct_fp32": "{:.1f}",
            "peak_pct_bf16": "{:.1f}", "peak_mem_mib": "{:.1f}"}


def summary_rows(results: dict) -> list[dict]:
    """One row per (method, dataset) with mean quality and the method's costs."""
    rows = []
    for m in results["methods"]:
        if m["status"] != "ok":
            continue
        for ds, d in m["datasets"].items():
            rows.append({"method": m["name"], "dataset": ds, **d["mean"], "params": m["params"],
                         "gmacs_per_mp": m["gmacs_per_mp"],
                         "ms_fp32": m.get("fp32", {}).get("ms_per_image"),
                         "out_mp_per_s_fp32": m.get("fp32", {}).get("out_mp_per_s"),
                         "gflops_fp32": m.get("fp32", {}).get("gflops"),
                         "peak_pct_fp32": m.get("fp32", {}).get("peak_pct"),
                         "ms_bf16": m.get("bf16", {}).get("ms_per_image"),
                         "out_mp_per_s_bf16": m.get("bf16", {}).get("out_mp_per_s"),
                         "gflops_bf16": m.get("bf16", {}).get("gflops"),
                         "peak_pct_bf16": m.get("bf16", {}).get("peak_pct"),
                         "peak_mem_mib": m["peak_mem_mib"]})
    return rows


def per_image_rows(results: dict) -> list[dict]:
    """One row per (method, dataset, image)."""
    return [{"method": m["name"], "dataset": ds, **r}
            for m in results["methods"] if m["status"] == "ok"
            for ds, d in m["datasets"].items() for r in d["per_image"]]


def _columns(results: dict) -> list[str]:
    cols = list(SUMMARY_COLUMNS)
    if not results["meta"]["timing"]:
        cols = [c for c in cols if "fp32" not in c and "bf16" not in c]
    elif not results["meta"]["bf16_timed"]:
        cols = [c for c in cols if "bf16" not in c]
    return cols


def _meta_lines(meta: dict) -> list[str]:
    t = meta["timing_input"]
    timing = (f"batch 1, LR {t[2]}x{t[3]} random input, {meta['warmup']} warm-up + median of {meta['runs']} runs, "
              f"fp32{' and bf16 autocast' if meta['bf16_timed'] else ''}" if meta["timing"] else "not timed (--no-timing)")
    return [f"command: `{meta['command']}`", f"date: {meta['date']}, git commit {meta['git_commit']}",
            f"torch {meta['torch']}, python {meta['python']}, {meta['threads']} thread(s), device {meta['device']} "
            f"({meta['device_name']})", f"scale x{meta['scale']}; timing: {timing}",
            *_peak_lines(meta), f"protocol: {meta['protocol']}", f"wall time {meta['wall_s']:.1f} s"]


def _peak_lines(meta: dict) -> list[str]:
    return [f"matmul peak ({k}, same run): {p['gflops']:.1f} GFLOP/s (torch.mm {p['size']}x{p['size']}, best of "
            f"{p['repeats']}, {p['threads']} thread(s), {p['device']})" for k, p in meta.get("matmul_peak", {}).items()]


def write_outputs(results: dict, tiles: dict[str, Tensor], out: Path) -> dict[str, Path]:
    """results.md/.csv/.json, per_image.csv, psnr_vs_speed.png, per_image_psnr.png, grid.png, index.html."""
    files = {k: out / v for k, v in (("md", "results.md"), ("csv", "results.csv"), ("json", "results.json"),
                                      ("per_image", "per_image.csv"), ("scatter", "psnr_vs_speed.png"),
                                      ("bars", "per_image_psnr.png"), ("grid", "grid.png"), ("html", "index.html"))}
    meta = results["meta"]
    rows, cols = summary_rows(results), _columns(results)
    skipped = [m for m in results["methods"] if m["status"] != "ok"]
    mem_method = next((m["mem_method"] for m in results["methods"] if m.get("mem_method")), "")
    report.write_csv(files["csv"], rows, cols)
    report.write_csv(files["per_image"], per_image_rows(results))
    images = {}

    g = results["grid"]
    labelled = []
    for name, tile in tiles.items():
        psnr = None
        for m in results["methods"]:
            if m["name"] == name and m["status"] == "ok":
                psnr = next(r["psnr_y"] for r in m["datasets"][g["dataset"]]["per_image"] if r["image"] == g["image"])
        labelled.append((name if psnr is None else f"{name}\n{psnr:.2f} dB (Y)", tile))
    order = {n: i for i, n in enumerate(("HR", *grid_order()))}
    labelled.sort(key=lambda t: order.get(t[0].split("\n")[0], len(order)))
    report.comparison_grid(files["grid"], labelled, columns=min(len(labelled), 4),
                           title=f"{g['dataset']}/{g['image']}, {g['size']}x{g['size']} HR px at "
                                 f"({g['left']}, {g['top']}), x{meta['scale']}")
    images["grid"] = files["grid"]

    if meta["timing"] and rows:
        report.scatter_plot(files["scatter"], rows, x="out_mp_per_s_fp32", y="psnr_y", label="method", group="dataset",
                            xlabel=f"output MP/s (fp32, batch 1, {meta['device']}, {meta['threads']} thread(s))",
                            ylabel="PSNR Y (dB)", logx=True, title=f"Quality vs throughput, x{meta['scale']}")
        images["scatter"] = files["scatter"]
    else:
        files.pop("scatter")
    ok = [m for m in results["methods"] if m["status"] == "ok"]
    if ok:
        panels = []
        for ds in results["datasets"]:
            cats = [r["image"] for r in ok[0]["datasets"][ds]["per_image"]]
            panels.append((f"{ds}: PSNR Y per image, x{meta['scale']}", cats,
                           {m["name"]: [r["psnr_y"] for r in m["datasets"][ds]["per_image"]] for m in ok}))
        report.bar_plot(files["bars"], panels, ylabel="PSNR Y (dB)")
        images["bars"] = files["bars"]
    else:
        files.pop("bars")

    md = [f"# SR bench x{meta['scale']}", "", *[f"- {line}" for line in _meta_lines(meta)], "",
          "## Results (mean per dataset)", "",
          "PSNR dB / SSIM; params; GMAC per output megapixel (conv/linear layers only); ms per image and "
          "output MP/s at batch 1; achieved GFLOP/s = 2 x MACs / median time and its percentage of the matmul "
          f"peak (empty for methods without conv/linear MACs); peak memory MiB ({mem_method}).", "",
          report.markdown_table(rows, cols, floatfmt=FLOATFMT) if rows else "No method ran.", ""]
    if skipped:
        md += ["## Skipped", "", *[f"- {m['name']}: {m['reason']}" for m in skipped], ""]
    md += ["## Files", "", "- per-image scores: per_image.csv (and results.json)",
           f"- visual comparison: grid.png ({g['dataset']}/{g['image']})"]
    md += [f"- {files[k].name}" for k in ("scatter", "bars") if k in files] + ["- index.html (all of it, self-contained)", ""]
    files["md"].write_text("\n".join(md))
    report.write_json(files["json"], results)

    sections = [("Run", "<ul class='meta'>" + "".join(f"<li>{html.escape(line)}</li>"
                                                         for line in _meta_lines(meta)) + "</ul>"),
                ("Results (mean per dataset)", report.html_table(rows, cols, floatfmt=FLOATFMT) if rows else "<p>No method ran.</p>")]
    if skipped:
        sections.append(("Skipped", "<ul>" + "".join(f"<li><b>{html.escape(m['name'])}</b>: "
                                                      f"{html.escape(m['reason'])}</li>" for m in skipped) + "</ul>"))
    sections.append(("Visual comparison", "{{img:grid}}"))
    if "scatter" in images:
        sections.append(("Quality vs throughput", "{{img:scatter}}"))
    if "bars" in images:
        sections.append(("Per image", "{{img:bars}}"))
    report.write_html(files["html"], f"SR bench x{meta['scale']}", sections, images=images)
    return files


# ------------------------------------------------------------------------------------------ several runs, one table


def _method_order(name: str) -> tuple[int, str]:
    order = grid_order()
    return (order.index(name), "") if name in order else (len(order), name)


def merge_results(runs: Sequence[tuple[str, dict]]) -> tuple[list[dict], list[str]]:
    """Rows (scale, method) x datasets from several bench results (each (source, results.json dict)).

    A dataset cell is "PSNR / SSIM" on Y (or "skipped"); cost columns are the medians over the runs of that
    scale, since each run times the method on the same random input: ms per output megapixel (fp32, batch 1),
    achieved GFLOP/s and its percentage of that run's matmul peak. Returns (rows, dataset labels in order).
    ConfigError when two runs score the same method on the same dataset and scale.
    """
    cells: dict[tuple[int, str], dict] = {}
    seen: dict[tuple[int, str, str], str] = {}
    datasets: list[str] = []
    for source, res in runs:
        scale = res["meta"]["scale"]
        for ds in res["datasets"]:
            if ds not in datasets:
                datasets.append(ds)
        for m in res["methods"]:
            row = cells.setdefault((scale, m["name"]), {"scale": scale, "method": m["name"], "_cost": []})
            for ds in res["datasets"]:
                key = (scale, m["name"], ds)
                if key in seen:
                    raise ConfigError(f"{source}: {m['name']} on {ds} at x{scale} is already in {seen[key]}; "
                                      "give each (method, dataset, scale) once")
                seen[key] = source
                if m["status"] != "ok":
                    row[ds] = "skipped"
                    continue
                mean = m["datasets"][ds]["mean"]
                row[ds] = f"{mean['psnr_y']:.2f} / {mean['ssim_y']:.4f}"
            fp32 = m.get("fp32") if m["status"] == "ok" else None
            if fp32:
                row["_cost"].append((1e3 / fp32["out_mp_per_s"], fp32.get("gflops"), fp32.get("peak_pct")))
    rows = []
    for _, row in sorted(cells.items(), key=lambda kv: (-kv[0][0], _method_order(kv[0][1]))):
        cost = row.pop("_cost")

        def med(i, cost=cost):
            vals = [c[i] for c in cost if c[i] is not None]
            return statistics.median(vals) if vals else None

        rows.append({**row, "ms_per_mp": med(0), "gflops": med(1), "peak_pct": med(2), "timed_runs": len(cost)})
    return rows, datasets


def write_summary(path: str | os.PathLike, runs: Sequence[tuple[str, dict]], *, command: str = "") -> str:
    """The merged Markdown table of `merge_results`, with the runs and matmul peaks it came from; returns the text."""
    rows, datasets = merge_results(runs)
    cols = ["scale", "method", *datasets, "ms_per_mp", "gflops", "peak_pct", "timed_runs"]
    peaks = [r["meta"].get("matmul_peak", {}).get("fp32", {}).get("gflops") for _, r in runs]
    peaks = [p for p in peaks if p is not None]
    threads = sorted({r["meta"]["threads"] for _, r in runs})
    lines = ["# SR bench summary", "",
             "PSNR / SSIM on Y (crop = scale, MATLAB bicubic LR, 8-bit SR) per dataset; ms per output megapixel "
             "(fp32, batch 1), achieved GFLOP/s (2 x MACs / time) and % of the matmul peak: medians over the runs "
             "of that scale (timed_runs). Empty cost cells: methods without conv/linear MACs.", ""]
    if command:
        lines += [f"- command: `{command}`"]
    if peaks:
        lines += [f"- matmul peak (fp32, measured in each run): median {statistics.median(peaks):.1f} GFLOP/s, "
                  f"range {min(peaks):.1f}-{max(peaks):.1f}; torch thread(s): {', '.join(map(str, threads))}"]
    lines += ["- runs: " + ", ".join(f"`{src}` ({r['meta']['date']}, commit {r['meta']['git_commit']})"
                                     for src, r in runs), "",
              report.markdown_table(rows, cols, floatfmt={"ms_per_mp": "{:.1f}", "gflops": "{:.2f}",
                                                          "peak_pct": "{:.1f}"})]
    text = "\n".join(lines)
    Path(path).write_text(text)
    return text
