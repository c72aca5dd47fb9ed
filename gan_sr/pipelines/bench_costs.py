"""What a bench method costs: parameters, MACs, peak memory, batch-1 timing, and the matmul peak to compare with."""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import time
from collections.abc import Callable

import torch
from torch import nn

from gan_sr.errors import ConfigError
from gan_sr.metrics.timing import time_fn
from gan_sr.sr.complexity import count_macs
from gan_sr.sr.registry import count_params


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


def add_throughput(res: dict, peaks: dict[str, dict]) -> None:
    """Achieved GFLOP/s and percentage of the matmul peak for each timed dtype of a model_costs result."""
    for key, peak in peaks.items():
        if key in res:
            gf = achieved_gflops(res["macs"], res[key]["median_s"])
            res[key]["gflops"] = gf
            res[key]["peak_pct"] = None if gf is None else 100.0 * gf / peak["gflops"]


def bf16_default(device: torch.device) -> bool:
    """Whether bf16 is timed when not asked either way: on a CUDA device that supports it."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def model_costs(model: nn.Module, scale: int, device: torch.device, size: int, runs: int, warmup: int,
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
