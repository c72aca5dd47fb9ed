"""Cutting a source into patches for `gansr data build`: decode and prepare it, a centred grid of boxes, and per
patch its low-information score and perceptual fingerprint."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from gan_sr.data import dedup, lowinfo
from gan_sr.errors import GansrError
from gan_sr.io.images import composite, read_image, write_image

if TYPE_CHECKING:
    from gan_sr.data.build import BuildConfig


def load_working_image(path: Path, config: BuildConfig) -> tuple[torch.Tensor, int, bool, tuple[int, int]]:
    """Decode, composite alpha on the background, downscale to max_side.

    Returns (rgb (3, H, W) float, source bit depth, source grayscale, source (width, height)).
    """
    image = read_image(path)
    rgb = composite(image.rgb, image.alpha, config.background)
    w, h = image.size
    if config.max_side and max(w, h) > config.max_side:
        scale = config.max_side / max(w, h)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        rgb = F.interpolate(rgb[None], size=size, mode="bicubic", antialias=True, align_corners=False)[0]
        rgb = rgb.clamp_(0.0, 1.0)
    return rgb, image.bit_depth, image.grayscale, (w, h)


def to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8, rounded."""
    return (rgb.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()


def patch_grid(width: int, height: int, patch: int, step: int) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1) of a grid of patches, row by row, centred so the unused margin is split evenly."""
    if width < patch or height < patch:
        return []
    nx, ny = (width - patch) // step + 1, (height - patch) // step + 1
    ox = (width - ((nx - 1) * step + patch)) // 2
    oy = (height - ((ny - 1) * step + patch)) // 2
    return [(ox + i * step, oy + j * step, ox + i * step + patch, oy + j * step + patch)
            for j in range(ny) for i in range(nx)]


def patch_id(source_sha256: str, box: Sequence[int]) -> str:
    return f"{source_sha256[:16]}_{box[0]}_{box[1]}"


def process_source(path: Path, sha: str, split_name: str, config: BuildConfig, out: Path | None) -> dict:
    """Patches of one source with their scores and fingerprints; writes those above min_info under `out`."""
    try:
        rgb, depth, gray, (sw, sh) = load_working_image(path, config)
        gray = gray and len(set(config.background)) == 1  # a coloured background makes a grey source colour
    except GansrError as e:
        return {"error": str(e)}
    except OSError as e:
        return {"error": f"{path}: cannot read ({e.strerror or e})"}
    _, h, w = rgb.shape
    boxes = patch_grid(w, h, config.patch, config.step)
    if not boxes:
        where = f" after downscaling to {w}x{h}" if (w, h) != (sw, sh) else ""
        return {"error": f"{path}: {sw}x{sh}{where} is smaller than one {config.patch}x{config.patch} patch"}
    u8 = to_uint8(rgb)
    patches = []
    for box in boxes:
        x0, y0, x1, y1 = box
        p = u8[y0:y1, x0:x1]
        info = lowinfo.info_score(p)
        bits = dedup.fingerprint(p, config.hash, config.hash_size)
        pid = patch_id(sha, box)
        low = info < config.min_info
        if out is not None and not low:
            write_image(out / split_name / f"{pid}.png", rgb[:, y0:y1, x0:x1], bit_depth=depth, grayscale=gray)
        patches.append({"id": pid, "box": list(box), "hash": dedup.bits_to_hex(bits), "info": round(info, 4),
                        "low": low})
    return {"patches": patches, "source_size": [sw, sh], "image_size": [w, h]}


def cut_patches(records: Sequence[dict], config: BuildConfig) -> dict[str, np.ndarray]:
    """Pixels (uint8) of the given patch records, decoding each source once; sources gone are skipped."""
    by_source: dict[str, list[dict]] = {}
    for r in records:
        by_source.setdefault(r["source"], []).append(r)
    pixels = {}
    for src, recs in sorted(by_source.items()):
        try:
            rgb, *_ = load_working_image(Path(src), config)
        except (GansrError, OSError):
            continue
        u8 = to_uint8(rgb)
        for r in recs:
            x0, y0, x1, y1 = r["box"]
            if y1 <= u8.shape[0] and x1 <= u8.shape[1]:
                pixels[r["id"]] = u8[y0:y1, x0:x1]
    return pixels
