"""Contact sheets: labelled grids of patch thumbnails, to see what a filter keeps and drops."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from gan_sr.io.images import write_image

Tile = tuple[np.ndarray, str]  # (H, W, 3) uint8 image, caption under it
Section = tuple[str, Sequence[Tile]]  # heading, tiles

_PAD = 4
_TEXT = 12  # height of one line of the default bitmap font, with spacing


def render_sheet(sections: Sequence[Section], *, title: str = "", tile: int = 80, columns: int = 8) -> np.ndarray:
    """An (H, W, 3) uint8 sheet: an optional title, then per section a heading and its tiles, `columns` a row."""
    font = ImageFont.load_default()
    cell_w, cell_h = tile + _PAD, tile + _TEXT + _PAD
    width = max(columns * cell_w + _PAD, 320)
    height = _PAD + (_TEXT + _PAD if title else 0)
    for _, tiles in sections:
        height += _TEXT + _PAD + max(1, -(-len(tiles) // columns)) * cell_h
    sheet = PILImage.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    y = _PAD
    if title:
        draw.text((_PAD, y), title, fill=(0, 0, 0), font=font)
        y += _TEXT + _PAD
    for heading, tiles in sections:
        draw.text((_PAD, y), heading, fill=(0, 0, 0), font=font)
        y += _TEXT + _PAD
        if not tiles:
            draw.text((_PAD, y), "(none)", fill=(120, 120, 120), font=font)
        for i, (image, caption) in enumerate(tiles):
            x0 = _PAD + (i % columns) * cell_w
            y0 = y + (i // columns) * cell_h
            thumb = PILImage.fromarray(np.ascontiguousarray(image)).resize((tile, tile), PILImage.Resampling.BOX)
            sheet.paste(thumb, (x0, y0))
            draw.rectangle((x0 - 1, y0 - 1, x0 + tile, y0 + tile), outline=(160, 160, 160))
            draw.text((x0, y0 + tile + 1), caption[: tile // 6], fill=(40, 40, 40), font=font)
        y += max(1, -(-len(tiles) // columns)) * cell_h
    return np.asarray(sheet)


def write_sheet(path: str | Path, sections: Sequence[Section], *, title: str = "", tile: int = 80,
                columns: int = 8) -> Path:
    """Render and write a contact sheet PNG (atomically, through gan_sr.io.images)."""
    sheet = render_sheet(sections, title=title, tile=tile, columns=columns)
    write_image(path, torch.from_numpy(sheet.copy()).permute(2, 0, 1).float().div(255.0))
    return Path(path)
