"""Tiled upscaling of tensors and files with any SR model: bounded memory, no seams, alpha kept.

The LR image is cut into a grid of `tile` x `tile` cores. Each tile goes to the device alone with
`tile_pad` LR pixels of context on every side (clipped at the image border, where the model sees
the same edge as it would untiled). Of that pad, the inner half is a cross-fade band shared with the
neighbour and the outer half is context that is thrown away, so when the model's receptive-field
radius is at most `tile_pad - tile_pad // 2` LR pixels, every blended pixel is one the model computed
exactly as it would on the whole image: the tiled output equals the untiled one up to float rounding.
Blend weights are separable (a row ramp times a column ramp), so they normalise per axis and no
weight image is ever allocated.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from gan_sr.degrade import imresize
from gan_sr.errors import ConfigError, GansrError, ImageError
from gan_sr.io.images import list_images, read_image, to_levels, write_image
from gan_sr.io.paths import check_output_outside

__all__ = ["UpscaleReport", "upscale_tensor", "upscale_levels", "upscale_image", "upscale_files", "output_paths",
           "default_dtype", "tile_grid"]

PathLike = str | os.PathLike


def default_dtype(device: str | torch.device) -> torch.dtype:
    """fp16 autocast on CUDA (with a per-tile fp32 fallback), fp32 elsewhere."""
    return torch.float16 if torch.device(device).type == "cuda" else torch.float32


def _bounds(length: int, tile: int) -> list[int]:
    """Core boundaries 0 = b0 < b1 < ... < bn = length with cores as even as possible, none wider than `tile`."""
    n = max(1, -(-length // tile))
    return [round(i * length / n) for i in range(n + 1)]


def tile_grid(height: int, width: int, tile: int) -> tuple[list[int], list[int]]:
    """Row and column core boundaries of the tiling (tile 0: one tile holding the whole image)."""
    if tile <= 0:
        return [0, height], [0, width]
    return _bounds(height, tile), _bounds(width, tile)


def _axis_weights(bounds: list[int], scale: int, feather: int) -> list[tuple[int, int, Tensor]]:
    """Per tile along one axis: (HR start, HR stop, weights) with weights summing to one at every HR pixel."""
    length = bounds[-1] * scale
    u = torch.arange(length, dtype=torch.float64) + 0.5
    n = len(bounds) - 1
    raw = []
    for i in range(n):
        lo, hi = bounds[i], bounds[i + 1]
        w = torch.zeros(length, dtype=torch.float64)
        if feather == 0:
            w[lo * scale:hi * scale] = 1.0
        else:
            w[:] = 1.0
            band = 2.0 * feather * scale
            if i > 0:
                w *= ((u - (lo - feather) * scale) / band).clamp(0.0, 1.0)
            if i < n - 1:
                w *= (((hi + feather) * scale - u) / band).clamp(0.0, 1.0)
        raw.append(w)
    total = torch.stack(raw).sum(0)
    out = []
    for w in raw:
        nz = torch.nonzero(w).flatten()
        start, stop = int(nz[0]), int(nz[-1]) + 1
        out.append((start, stop, (w[start:stop] / total[start:stop]).to(torch.float32)))
    return out


def _bad_output(y: Tensor, x: Tensor) -> bool:
    """NaN/Inf, or a black tile from a non-black input: the usual symptoms of fp16 overflow."""
    if not torch.isfinite(y).all():
        return True
    return bool(y.abs().amax() < 1e-3) and bool(x.abs().amax() > 1e-2)


def _run(model: nn.Module, x: Tensor, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, bool]:
    """The model on one tile under autocast at `dtype`; reruns in fp32 when the result is NaN or black."""
    with torch.inference_mode():
        if dtype != torch.float32:
            with torch.autocast(device.type, dtype=dtype):
                y = model(x)
            if not _bad_output(y, x):
                return y.float(), False
        return model(x).float(), dtype != torch.float32


def _check_args(model: nn.Module, rgb: Tensor, tile: int, tile_pad: int) -> int:
    if tile < 0 or tile_pad < 0:
        raise ConfigError(f"--tile ({tile}) and --tile-pad ({tile_pad}) must be >= 0")
    if rgb.ndim not in (3, 4) or rgb.shape[-3] != 3:
        raise ValueError(f"rgb must be (3, H, W) or (B, 3, H, W), got {tuple(rgb.shape)}")
    scale = getattr(model, "scale", None)
    if not isinstance(scale, int):
        raise ConfigError(f"{type(model).__name__} has no int attribute `scale`; it is not an SR model")
    return scale


def _bands(
    model: nn.Module, x: Tensor, scale: int, tile: int, tile_pad: int, device: torch.device, dtype: torch.dtype,
    progress: bool, stats: dict | None,
) -> Iterator[tuple[int, Tensor]]:
    """Blend the tiles of (B, 3, H, W) `x` one tile row at a time, yielding (first HR row, finished rows).

    Only the current tile row's float32 band is held: rows that the next tile row also covers are carried
    over, the rest are final and handed out, so callers never need the whole float output.
    """
    b, _, h, w = x.shape
    rows, cols = tile_grid(h, w, tile)
    feather = tile_pad // 2
    wy, wx = _axis_weights(rows, scale, feather), _axis_weights(cols, scale, feather)
    carry = torch.zeros(b, 3, 0, w * scale)
    fallbacks = 0
    bar = tqdm(total=len(wy) * len(wx), desc="tiles", unit="tile", leave=False, disable=not progress)
    for i, (oy0, oy1, ry) in enumerate(wy):
        band = torch.zeros(b, 3, oy1 - oy0, w * scale)
        band[:, :, :carry.shape[2]] = carry
        iy0, iy1 = max(0, rows[i] - tile_pad), min(h, rows[i + 1] + tile_pad)
        for j, (ox0, ox1, rx) in enumerate(wx):
            ix0, ix1 = max(0, cols[j] - tile_pad), min(w, cols[j + 1] + tile_pad)
            piece = x[:, :, iy0:iy1, ix0:ix1].to(device=device, dtype=torch.float32)
            y, fell_back = _run(model, piece, device, dtype)
            fallbacks += fell_back
            expect = (b, 3, (iy1 - iy0) * scale, (ix1 - ix0) * scale)
            if tuple(y.shape) != expect:
                raise ConfigError(f"{type(model).__name__} turned a {tuple(piece.shape)} tile into "
                                  f"{tuple(y.shape)}, not {expect}; it does not upscale by {scale}")
            y = y[:, :, oy0 - iy0 * scale:oy1 - iy0 * scale, ox0 - ix0 * scale:ox1 - ix0 * scale].cpu()
            band[:, :, :, ox0:ox1].addcmul_(y, ry[:, None] * rx[None, :])
            del piece, y
            bar.update()
        done = (wy[i + 1][0] if i + 1 < len(wy) else oy1) - oy0
        carry = band[:, :, done:].clone()
        yield oy0, band[:, :, :done]
        del band
    bar.close()
    if stats is not None:
        stats["tiles"] = stats.get("tiles", 0) + len(wy) * len(wx)
        stats["fp32_fallbacks"] = stats.get("fp32_fallbacks", 0) + fallbacks


def upscale_tensor(
    model: nn.Module,
    rgb: Tensor,
    *,
    tile: int = 256,
    tile_pad: int = 16,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    progress: bool = False,
    stats: dict | None = None,
) -> Tensor:
    """Upscale (3, H, W) or (B, 3, H, W) in [0, 1] by `model.scale`, tile by tile; the result is on the CPU.

    tile: LR core size (0: the whole image at once); tile_pad: LR context on each side.
    dtype: None picks `default_dtype(device)`; fp16/bf16 run under autocast and fall back to fp32 for
    any tile whose output is NaN or black. `stats` (a dict) receives "tiles" and "fp32_fallbacks".
    """
    scale = _check_args(model, rgb, tile, tile_pad)
    device = torch.device(device)
    x = rgb if rgb.ndim == 4 else rgb[None]
    b, _, h, w = x.shape
    out = torch.empty(b, 3, h * scale, w * scale, dtype=torch.float32)
    for y0, band in _bands(model, x, scale, tile, tile_pad, device,
                           default_dtype(device) if dtype is None else dtype, progress, stats):
        out[:, :, y0:y0 + band.shape[2]] = band
    return out if rgb.ndim == 4 else out[0]


def upscale_levels(
    model: nn.Module,
    rgb: Tensor,
    *,
    bits: int = 8,
    grayscale: bool = False,
    tile: int = 256,
    tile_pad: int = 16,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    progress: bool = False,
    stats: dict | None = None,
) -> np.ndarray:
    """Upscale (3, H, W) like `upscale_tensor` straight to (H*s, W*s, C) uint8/uint16 PNG levels.

    Each finished band of rows is quantised (exactly as write_image rounds, luma if `grayscale`) into
    a preallocated integer buffer, so the full-size float32 output is never held.
    """
    if rgb.ndim != 3:
        raise ValueError(f"rgb must be (3, H, W), got {tuple(rgb.shape)}")
    scale = _check_args(model, rgb, tile, tile_pad)
    device = torch.device(device)
    _, h, w = rgb.shape
    out = np.empty((h * scale, w * scale, 1 if grayscale else 3), np.uint8 if bits == 8 else np.uint16)
    for y0, band in _bands(model, rgb[None], scale, tile, tile_pad, device,
                           default_dtype(device) if dtype is None else dtype, progress, stats):
        to_levels(band[0], bits, grayscale=grayscale, out=out[y0:y0 + band.shape[2]])
    return out


def upscale_image(model: nn.Module, path: PathLike, out_path: PathLike, **kwargs) -> None:
    """Read `path`, upscale its colour with the model and its alpha with bicubic, write a PNG at `out_path`.

    Grayscale stays grayscale and 16-bit stays 16-bit; kwargs go to `upscale_tensor`. The colour goes
    to integer levels band by band (`upscale_levels`), which keeps peak memory near the size of the PNG's pixels.
    """
    image = read_image(path)
    levels = upscale_levels(model, image.rgb, bits=image.bit_depth, grayscale=image.grayscale, **kwargs)
    alpha = None
    if image.alpha is not None:
        alpha = imresize(image.alpha, model.scale).clamp_(0.0, 1.0)
    write_image(out_path, torch.from_numpy(levels).permute(2, 0, 1), alpha, bit_depth=image.bit_depth,
                grayscale=image.grayscale)


def output_paths(sources: Iterable[PathLike], out_dir: PathLike, scale: int) -> list[tuple[Path, Path]]:
    """(input, output) pairs: OUT/<stem>_x<scale>.png, mirroring sub-folders of folder sources.

    Inputs whose names would collide (a.png and a.jpg) keep their suffix in the name (a_jpg_x4.png).
    ImageError for a missing source; ConfigError when an output would land on an input file.
    """
    out_dir = Path(out_dir)
    pairs: list[tuple[Path, Path]] = []
    seen: set[str] = set()
    for source in sources:
        src = Path(source)
        for p in list_images(source):
            key = os.path.realpath(p)
            if key in seen:
                continue
            seen.add(key)
            rel = p.parent.relative_to(src) if src.is_dir() else Path()
            pairs.append((p, out_dir / rel / f"{p.stem}_x{scale}.png"))
    counts: dict[str, int] = {}
    for _, o in pairs:
        counts[str(o)] = counts.get(str(o), 0) + 1
    pairs = [(p, o if counts[str(o)] == 1 else o.with_name(f"{p.stem}_{p.suffix.lstrip('.').lower()}_x{scale}.png"))
             for p, o in pairs]
    inputs = {os.path.realpath(p): p for p, _ in pairs}
    for _, o in pairs:
        hit = inputs.get(os.path.realpath(o))
        if hit is not None:
            raise ConfigError(f"-o {out_dir}: the output {o} would overwrite the input {hit}; choose another -o folder")
    return pairs


@dataclass
class UpscaleReport:
    """What `upscale_files` did: outputs written, inputs that failed (with the reason), tile counts."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    tiles: int = 0
    fp32_fallbacks: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self, out_dir: PathLike) -> str:
        total = len(self.written) + len(self.failed) + len(self.skipped)
        line = f"upscaled {len(self.written)} of {total} image(s) into {out_dir}"
        if self.skipped:
            line += f"; {len(self.skipped)} already there, left as they were (--skip-existing)"
        if self.fp32_fallbacks:
            line += f"; {self.fp32_fallbacks} tile(s) re-run in fp32 after NaN/black half-precision output"
        if self.failed:
            line += f"; {len(self.failed)} failed: " + ", ".join(str(p) for p, _ in self.failed)
        return line


def upscale_files(
    sources: Iterable[PathLike],
    out_dir: PathLike,
    model: nn.Module,
    *,
    tile: int = 256,
    tile_pad: int = 16,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    progress: bool = False,
    skip_existing: bool = False,
) -> UpscaleReport:
    """Upscale every image in `sources` (files, folders, globs) into `out_dir`; bad files are reported, not fatal.

    Naming follows `output_paths`. Errors that concern the whole job (missing source, output onto an
    input) raise before anything is written. Every output is written atomically, so after a kill an output
    either exists whole or not at all, and `skip_existing` continues an interrupted batch where it stopped.
    """
    scale = getattr(model, "scale", None)
    if not isinstance(scale, int):
        raise ConfigError(f"{type(model).__name__} has no int attribute `scale`; it is not an SR model")
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    check_output_outside(sources, out_dir, option="-o")
    pairs = output_paths(sources, out_dir, scale)
    if not pairs:
        raise ImageError(f"no images found in {', '.join(map(str, sources))}")
    report = UpscaleReport()
    stats: dict = {}
    for src, dst in tqdm(pairs, desc="images", unit="img", disable=not progress):
        if skip_existing and dst.is_file():
            report.skipped.append(dst)
            continue
        try:
            upscale_image(model, src, dst, tile=tile, tile_pad=tile_pad, device=device, dtype=dtype,
                          progress=progress, stats=stats)
        except (GansrError, MemoryError, torch.OutOfMemoryError) as exc:
            report.failed.append((src, str(exc) or type(exc).__name__))
        else:
            report.written.append(dst)
    report.tiles = stats.get("tiles", 0)
    report.fp32_fallbacks = stats.get("fp32_fallbacks", 0)
    return report
