"""`gansr sr bench`: every SR method on the same images, scored the way the literature scores them.

Protocol (as experiments/bicubic_baseline.py, "rgb"): HR modcropped to the scale, LR = MATLAB bicubic
imresize(HR, 1/s) in float64 (not rounded), SR = model(LR) clamped and quantized to 8 bit, PSNR/SSIM with
crop = scale on Y (grayscale sources on their gray level) and on RGB. Cost: parameters, MACs per output
megapixel, median wall time of batch-1 forward passes on a fixed-size random LR input, peak memory.

Speed against the physical limit: the same run measures the machine's dense matmul peak (torch.mm of two
square random matrices, best of several calls, at the bench's thread count and dtype) and reports each
model's achieved GFLOP/s = 2 x MACs / median time, and that as a percentage of the peak.

Split by what each part holds: `bench_samples` (datasets, prepared images, scoring), `bench_costs` (params,
MACs, memory, timing, matmul peak), `bench_report` (tables, plots, grid, HTML, the multi-run summary); this
module picks the methods and runs the bench, and every public name of the parts is importable from here.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from gan_sr.devices import parse_device
from gan_sr.errors import CheckpointError, ConfigError
from gan_sr.io.checkpoints import git_commit
from gan_sr.io.paths import check_output_outside
from gan_sr.pipelines import report
from gan_sr.pipelines.bench_costs import (
    DTYPES,
    achieved_gflops,
    add_throughput,
    bf16_default,
    matmul_peak,
    model_costs,
    peak_memory_mib,
)
from gan_sr.pipelines.bench_report import (
    FLOATFMT,
    SUMMARY_COLUMNS,
    grid_order,
    merge_results,
    per_image_rows,
    summary_rows,
    write_outputs,
    write_summary,
)
from gan_sr.pipelines.bench_samples import (
    KNOWN_DATASETS,
    Sample,
    load_samples,
    parse_datasets,
    resolve_dataset,
    score_samples,
    shared_datasets_dir,
)
from gan_sr.progress import progress_bar
from gan_sr.sr.registry import checkpoints_dir, get_spec, list_models, load_model

__all__ = ["KNOWN_DATASETS", "Sample", "shared_datasets_dir", "resolve_dataset", "parse_datasets", "parse_models",
           "parse_ckpts", "load_samples", "score_samples", "peak_memory_mib", "matmul_peak", "achieved_gflops",
           "run_bench", "merge_results", "write_summary", "summary_rows", "per_image_rows", "write_outputs",
           "grid_order", "SUMMARY_COLUMNS", "FLOATFMT", "DTYPES", "GRID_CROP"]

GRID_CROP = 96


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


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} {platform.processor() or ''} ({os.cpu_count()} cpus)".replace("  ", " ")


def _check_out(out: Path, datasets: list[tuple[str, Path]]) -> None:
    check_output_outside([folder for _, folder in datasets], out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")


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
    use_bf16 = bf16_default(dev) if bf16 is None else bool(bf16)
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
        info.update(model_costs(model, scale, dev, timing_size, runs, warmup, timing, use_bf16))
        add_throughput(info, peaks)
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
