"""The bench's test images: datasets by name or folder, each image prepared once (modcrop, float LR), and scoring.

The same preparation and scoring serve `gansr sr bench` and the experiment scripts that score checkpoints.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from gan_sr.degrade import imresize, modcrop
from gan_sr.errors import ConfigError, ImageError
from gan_sr.io.images import list_images, quantize, read_image
from gan_sr.metrics.psnr_ssim import evaluate

KNOWN_DATASETS = ("Set5", "Set14", "BSD100", "T91")


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
