"""ONNX export of SR models with dynamic batch, height and width, checked against torch.

The legacy (TorchScript-tracing) exporter is used: the dynamo exporter needs onnxscript, and both need
the `onnx` package. Tracing records Python-side size arithmetic as constants, so before exporting the
model is traced at one size and run at another: a model whose graph only fits the traced size (the
MATLAB-bicubic paths of bicubic, SRCNN, Y-channel ESPCN, Anime4K) is refused with dynamic axes and can
still be exported at a fixed size (`dynamic=False`).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gan_sr.errors import ConfigError, MissingDependencyError

__all__ = ["MissingDependencyError", "ExportResult", "export_onnx", "check_dynamic_trace", "onnxruntime_diff"]


@dataclass(frozen=True)
class ExportResult:
    """The written file, the export size, and the onnxruntime check (None when onnxruntime is absent)."""

    path: Path
    size: tuple[int, int]
    dynamic: bool
    check_size: tuple[int, int] | None
    max_abs_diff: float | None


def _require(package: str, why: str) -> None:
    if importlib.util.find_spec(package) is None:
        raise MissingDependencyError(f"{why} needs the `{package}` package, which is not installed: pip install {package}")


def _other_size(size: tuple[int, int]) -> tuple[int, int]:
    return size[0] + 7, size[1] + 13


def check_dynamic_trace(model: nn.Module, size: tuple[int, int] = (32, 32)) -> float:
    """Trace at `size`, run the trace at another size and return the max abs difference to eager.

    ConfigError when the traced graph fails or disagrees (it baked the export size in).
    """
    name = getattr(model, "registry_entry", {}).get("name", type(model).__name__)
    a, b = torch.rand(1, 3, *size), torch.rand(1, 3, *_other_size(size))
    hint = (f"model {name} cannot be exported with dynamic height/width: its forward computes sizes in Python "
            "(e.g. MATLAB bicubic resampling) that tracing fixes to the export size. Export a fixed size "
            "with --static --size HxW, or use a model without a bicubic path (esrgan, srgan, espcn with RGB channels)")
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            traced = torch.jit.trace(model, a, check_trace=False)
            diff = (traced(b) - model(b)).abs().max().item()
        except (RuntimeError, TypeError, ValueError) as exc:
            raise ConfigError(f"{hint} (trace at {size} failed at {_other_size(size)}: "
                              f"{str(exc).strip().splitlines()[-1][:160]})") from None
    if not diff <= 1e-4:
        raise ConfigError(f"{hint} (traced output differs by {diff:.3g} at another size)")
    return diff


def onnxruntime_diff(path: str | os.PathLike, model: nn.Module, size: tuple[int, int]) -> float | None:
    """Max abs difference between onnxruntime and torch on a random (1, 3, *size) input; None without onnxruntime."""
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    import onnxruntime

    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0))
    session = onnxruntime.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        want = model(x).numpy()
    if got.shape != want.shape:
        raise ConfigError(f"{path}: onnxruntime gave shape {got.shape} for a {tuple(x.shape)} input, torch {want.shape}")
    return float(abs(got - want).max())


def export_onnx(model: nn.Module, path: str | os.PathLike, *, opset: int = 17, size: tuple[int, int] = (64, 64),
                dynamic: bool = True, check: bool = True) -> ExportResult:
    """Export `model` (eval mode, on CPU) to ONNX at `path`: input "lr" (B, 3, H, W), output "sr".

    dynamic: batch, height and width are free (refused for models whose trace fixes the size).
    check: with onnxruntime installed, compare it with torch on an input of another size (same size if static).
    """
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise ConfigError(f"--onnx {path}: give a file name ending in .onnx")
    if path.is_dir():
        raise ConfigError(f"--onnx {path}: is a directory; give a file name ending in .onnx")
    if not 7 <= opset <= 25:
        raise ConfigError(f"--opset {opset}: choose an ONNX opset between 7 and 25 (17 is a safe default)")
    _require("onnx", "ONNX export (torch.onnx.export)")
    model = model.cpu().eval()
    if dynamic:
        check_dynamic_trace(model, size)
    axes = {"lr": {0: "batch", 2: "height", 3: "width"}, "sr": {0: "batch", 2: "out_height", 3: "out_width"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.rand(1, 3, *size),), tmp, dynamo=False, opset_version=opset,
                              input_names=["lr"], output_names=["sr"], dynamic_axes=axes if dynamic else None)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, (RuntimeError, torch.onnx.errors.OnnxExporterError)):
            raise ConfigError(f"--onnx {path}: export failed: {str(exc).strip().splitlines()[0][:200]}") from None
        raise
    check_size = None
    diff = None
    if check:
        check_size = _other_size(size) if dynamic else size
        diff = onnxruntime_diff(path, model, check_size)
        if diff is None:
            check_size = None
    return ExportResult(path, tuple(size), dynamic, check_size, diff)
