"""A shared wall-clock timer for speed benchmarks: warm-up runs, then median and IQR of timed runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Timing:
    """Seconds per call of a timed function (median and quartiles over `runs` calls after `warmup`)."""

    median_s: float
    q1_s: float
    q3_s: float
    runs: int
    warmup: int
    times_s: tuple[float, ...]

    @property
    def iqr_s(self) -> float:
        return self.q3_s - self.q1_s

    def rate(self, amount: float) -> float:
        """Throughput: `amount` (images, megapixels, ...) per second at the median time."""
        return amount / self.median_s if self.median_s > 0 else float("inf")

    def as_dict(self) -> dict:
        return {"median_s": self.median_s, "iqr_s": self.iqr_s, "q1_s": self.q1_s, "q3_s": self.q3_s,
                "runs": self.runs, "warmup": self.warmup}

    def __str__(self) -> str:
        return f"{_fmt(self.median_s)} (IQR {_fmt(self.iqr_s)}, n={self.runs})"


def _fmt(s: float) -> str:
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} us"


def _cuda_sync_needed(device: torch.device | str | None) -> bool:
    if device is not None:
        return torch.device(device).type == "cuda" and torch.cuda.is_available()
    return torch.cuda.is_available() and torch.cuda.is_initialized()


def time_fn(
    fn: Callable[[], object],
    *,
    warmup: int = 2,
    runs: int = 10,
    device: torch.device | str | None = None,
) -> Timing:
    """Call `fn()` `warmup` times untimed, then `runs` times timed; CUDA is synchronised around each run.

    device: where fn computes; None syncs CUDA whenever it has been initialised in this process.
    """
    if runs < 1 or warmup < 0:
        raise ValueError(f"need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    sync = torch.cuda.synchronize if _cuda_sync_needed(device) else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    if runs >= 2:
        q1, _, q3 = statistics.quantiles(times, n=4, method="inclusive")
    else:
        q1 = q3 = times[0]
    return Timing(statistics.median(times), q1, q3, runs, warmup, tuple(times))
