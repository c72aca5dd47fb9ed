"""The 16-bit PNG codec behind gan_sr.io.images: reads 16-bit colour and gray + alpha, writes every 16-bit PNG.

Why not Pillow: Pillow 13.0.0 (measured) reads 16-bit RGB, RGBA and gray + alpha PNGs as 8-bit RGB/RGBA (the
high byte of each sample) and writes 16 bits only as grayscale (modes I;16/I;16B); `Image.fromarray` refuses
uint16 arrays of 2 to 4 channels. Plain 16-bit gray, which Pillow reads losslessly (I;16), is left to Pillow.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from gan_sr.errors import ImageError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def decode(data: bytes, path: Path) -> tuple[np.ndarray, tuple[int, ...] | None, bytes | None]:
    """16-bit PNG bytes -> ((H, W, C) uint16, tRNS colour key or None, raw eXIf payload or None)."""
    if not data.startswith(SIGNATURE):
        raise ImageError(f"{path}: not a PNG file")
    pos = len(SIGNATURE)
    header = None
    idat: list[bytes] = []
    trns = exif = None
    ended = False
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        crc_bytes = data[pos + 8 + length : pos + 12 + length]
        if len(body) < length or len(crc_bytes) < 4:
            raise ImageError(f"{path}: truncated PNG (chunk {ctype.decode('latin-1')!r} is cut off)")
        if zlib.crc32(ctype + body) != struct.unpack(">I", crc_bytes)[0]:
            raise ImageError(f"{path}: corrupt PNG (CRC mismatch in chunk {ctype.decode('latin-1')!r})")
        pos += 12 + length
        if ctype == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"tRNS":
            trns = body
        elif ctype == b"eXIf":
            exif = body
        elif ctype == b"IEND":
            ended = True
            break
    if header is None:
        raise ImageError(f"{path}: corrupt PNG (no IHDR chunk)")
    if not ended:
        raise ImageError(f"{path}: truncated PNG (no IEND chunk)")
    width, height, depth, colour_type, _, filter_method, interlace = header
    if width == 0 or height == 0:
        raise ImageError(f"{path}: corrupt PNG (size {width}x{height})")
    if depth != 16 or colour_type not in _CHANNELS or filter_method != 0 or interlace not in (0, 1):
        raise ImageError(f"{path}: unsupported PNG header {header}")
    channels = _CHANNELS[colour_type]
    bpp = 2 * channels
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    geometry = []
    for x0, y0, dx, dy in passes:
        pw = (width - x0 + dx - 1) // dx if width > x0 else 0
        ph = (height - y0 + dy - 1) // dy if height > y0 else 0
        geometry.append((x0, y0, dx, dy, pw, ph))
    expected = sum(ph * (1 + pw * bpp) for *_, pw, ph in geometry if pw and ph)

    inflater = zlib.decompressobj()
    raw = inflater.decompress(b"".join(idat), expected + 1)
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "corrupt"
        raise ImageError(f"{path}: {what} PNG image data ({len(raw)} bytes decoded, {expected} expected)")

    out = np.empty((height, width, bpp), np.uint8)
    offset = 0
    for x0, y0, dx, dy, pw, ph in geometry:
        if not (pw and ph):
            continue
        size = ph * (1 + pw * bpp)
        rows = np.frombuffer(raw, np.uint8, size, offset).reshape(ph, 1 + pw * bpp)
        offset += size
        filters = rows[:, 0]
        if filters.max() > 4:
            raise ImageError(f"{path}: corrupt PNG (unknown row filter {int(filters.max())})")
        out[y0::dy, x0::dx] = _unfilter(filters, rows[:, 1:].reshape(ph, pw, bpp))
    pixels = out.view(">u2").reshape(height, width, channels).astype(np.uint16)

    key = None
    if trns is not None and colour_type in (0, 2) and len(trns) >= 2 * channels:
        key = struct.unpack(f">{channels}H", trns[: 2 * channels])
    return pixels, key, exif


def _unfilter(filters: np.ndarray, filtered: np.ndarray) -> np.ndarray:
    """Undo PNG row filters on (H, W, bpp) bytes (filters: (H,) row filter types 0..4).

    Byte lane i of a pixel only ever combines with lane i of its neighbours, so whole pixels are one unit.
    """
    height, width, bpp = filtered.shape
    if filters.max() <= 2:  # None/Sub/Up only: each row is one vectorised step
        out = np.empty_like(filtered)
        prev = np.zeros((width, bpp), np.uint8)
        for y in range(height):
            f = int(filters[y])
            row = filtered[y]
            if f == 1:
                row = np.cumsum(row, axis=0, dtype=np.uint8)
            elif f == 2:
                row = row + prev
            out[y] = row
            prev = out[y]
        return out

    # Average and Paeth need the decoded left neighbour, so sweep anti-diagonals x + y = d instead: every pixel
    # on a diagonal depends only on the two diagonals before it. Diagonals are stored as rows of a skewed array
    # indexed by y (or by x when the image is taller than wide), so each step works on plain slices.
    by_y = height <= width
    n, span = (height, width) if by_y else (width, height)
    diagonals = height + width - 1
    ys = np.arange(height, dtype=np.int32)[:, None]
    xs = np.arange(width, dtype=np.int32)[None, :]
    dd, kk = ys + xs, (ys if by_y else xs)
    skewed = np.zeros((diagonals, n, bpp), np.uint8)
    skewed[dd, kk] = filtered
    recon = np.zeros((diagonals + 2, n + 1, bpp), np.uint8)  # two zero diagonals before, a zero cell at k = -1
    ft = filters.astype(np.intp)
    for d in range(diagonals):
        lo, hi = max(0, d - span + 1), min(n - 1, d) + 1
        prev = recon[d + 1].astype(np.int16)
        a, b = (prev[lo + 1 : hi + 1], prev[lo:hi]) if by_y else (prev[lo:hi], prev[lo + 1 : hi + 1])
        c = recon[d, lo:hi].astype(np.int16)
        kind = ft[lo:hi, None] if by_y else ft[d - hi + 1 : d - lo + 1][::-1, None]
        pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        pred = np.choose(kind, (0, a, b, (a + b) >> 1, paeth))
        recon[d + 2, lo + 1 : hi + 1] = skewed[d, lo:hi] + pred.astype(np.uint8)
    return recon[dd + 2, kk + 1]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def encode(arr: np.ndarray, f: BinaryIO, *, level: int = 6) -> None:
    """(H, W, C) uint16 -> 16-bit PNG written to `f`; each row takes the filter with the smallest sum of |residual|."""
    height, width, channels = arr.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    bpp = 2 * channels
    compressor = zlib.compressobj(level)
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    f.write(SIGNATURE + _png_chunk(b"IHDR", header))
    parts = []
    prev = np.zeros((1, width * bpp), np.int16)
    step = max(1, (1 << 22) // max(1, width * bpp))  # about 4 MB of rows at a time
    for start in range(0, height, step):
        big_endian = np.ascontiguousarray(arr[start : start + step].astype(">u2"))
        x = big_endian.view(np.uint8).reshape(-1, width * bpp).astype(np.int16)
        b = np.concatenate([prev, x[:-1]], 0)
        a = np.zeros_like(x)
        a[:, bpp:] = x[:, :-bpp]
        c = np.zeros_like(b)
        c[:, bpp:] = b[:, :-bpp]
        p = a + b - c
        pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        candidates = np.stack([x, x - a, x - b, x - ((a + b) >> 1), x - paeth]) & 255
        cost = np.where(candidates > 127, 256 - candidates, candidates).sum(-1)
        choice = cost.argmin(0)
        rows = candidates[choice, np.arange(len(x))].astype(np.uint8)
        parts.append(compressor.compress(np.concatenate([choice.astype(np.uint8)[:, None], rows], 1).tobytes()))
        prev = x[-1:]
    parts.append(compressor.flush())
    f.write(_png_chunk(b"IDAT", b"".join(parts)) + _png_chunk(b"IEND", b""))
