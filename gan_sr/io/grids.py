"""Sample pictures: tiling (3, H, W) tensors into one grid, optionally under a header row of labels.

The one grid builder: trainers (TensorBoard and samples/), `gansr gan sample`, posthoc and compare use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gan_sr.errors import ConfigError

__all__ = ["image_grid", "grid_columns", "make_grid", "label_strip", "labelled_grid"]


def image_grid(rows: list[list[Tensor]], pad: int = 2) -> Tensor:
    """Tile (3, H, W) images into one (3, H', W') picture: a row per sample, columns side by side."""
    heights = [max(im.shape[-2] for im in row) for row in rows]
    width = max(sum(im.shape[-1] for im in row) + pad * (len(row) - 1) for row in rows)
    out = torch.ones(3, sum(heights) + pad * (len(rows) - 1), width)
    y = 0
    for row, h in zip(rows, heights):
        x = 0
        for im in row:
            out[:, y : y + im.shape[-2], x : x + im.shape[-1]] = im.detach().float().clamp(0, 1).cpu()
            x += im.shape[-1] + pad
        y += h + pad
    return out


def grid_columns(n: int) -> int:
    """Columns for a grid of n images: the smallest divisor of n from sqrt(n) up, so no row is left ragged."""
    return next(c for c in range(max(1, math.isqrt(n)), n + 1) if n % c == 0) if n > 0 else 1


def make_grid(images: Tensor, cols: int, pad: int = 2) -> Tensor:
    """(N, 3, H, W) in [0, 1] -> one (3, H', W') picture with `cols` images per row."""
    rows = [list(images[i : i + cols]) for i in range(0, images.shape[0], cols)]
    return image_grid(rows, pad=pad)


def label_strip(text: str, width: int, height: int = 14) -> Tensor:
    """A (3, height, width) white strip with `text` in black (Pillow's built-in font), cut to fit."""
    from PIL import Image, ImageDraw, ImageFont

    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    shown = text
    while shown and draw.textlength(shown, font=font) > width - 4:
        shown = shown[:-1]
    if shown != text and len(shown) > 1:
        shown = shown[:-1] + "~"
    draw.text((2, max(0, (height - 11) // 2)), shown, fill=(0, 0, 0), font=font)
    return torch.from_numpy(np.asarray(canvas).copy()).permute(2, 0, 1).float() / 255.0


def labelled_grid(columns: Sequence[tuple[str, Tensor]], rows: int = 8, pad: int = 2) -> Tensor:
    """A (3, H, W) picture: a header row of labels, then one row per sample with a tile from each column.

    Every column is an (N, 3, h, w) batch; tiles smaller than the largest are enlarged nearest-neighbour.
    """
    if not columns:
        raise ConfigError("labelled_grid needs at least one column")
    size = max(c.shape[-1] for _, c in columns)
    n = min(rows, min(c.shape[0] for _, c in columns))
    tiles = []
    for _, c in columns:
        c = c[:n].float()
        if c.shape[-1] != size:
            c = F.interpolate(c, size=(size, size), mode="nearest")
        tiles.append(c)
    header = [label_strip(label, size) for label, _ in columns]
    return image_grid([header] + [[t[i] for t in tiles] for i in range(n)], pad=pad)
