"""The one image I/O module: read any common image into a float RGB tensor, write lossless PNGs, list image files.

One file on purpose: reading and writing share the format rules (bit depth, grayscale, alpha, the pixel limit),
and everything that touches an image file goes through this one module.

Everything that touches image files goes through here, so odd inputs (palette, 16-bit, CMYK, EXIF rotation,
truncated files, decompression bombs) are handled once. Pillow drops 16-bit colour PNGs to 8 bits, so those
are decoded and encoded by `gan_sr.io.png16`; listing lives in `gan_sr.io.listing` and is re-exported here.
"""

from __future__ import annotations

import os
import stat
import struct
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import torch
from PIL import Image as PILImage
from PIL import ImageFile, UnidentifiedImageError

from gan_sr.colour import LUMA
from gan_sr.errors import ConfigError, ImageError
from gan_sr.io import png16
from gan_sr.io.atomic import atomic_write
from gan_sr.io.listing import IMAGE_SUFFIXES, list_images
from gan_sr.tensor_cache import tensor_cache

__all__ = ["DEFAULT_MAX_PIXELS", "IMAGE_SUFFIXES", "MAX_PIXELS_ENV", "Image", "max_pixels_limit", "read_image",
           "read_size", "quantize", "composite", "to_levels", "write_image", "list_images"]

PathLike = Union[str, os.PathLike]

DEFAULT_MAX_PIXELS: int = 100_000_000
"""Decompression-bomb limit (width * height); an RGB float32 tensor of this size is 1.2 GB."""

MAX_PIXELS_ENV = "GANSR_MAX_PIXELS"

# Our own limit (checked on the header, before decoding) replaces Pillow's global one, which would otherwise
# refuse images that a user allowed with GANSR_MAX_PIXELS.
PILImage.MAX_IMAGE_PIXELS = None

_EXIF_ORIENTATION = 0x0112
_CHUNK_ELEMENTS = 1 << 20  # float work per row chunk when writing: a few MB whatever the image size


@dataclass(frozen=True)
class Image:
    """A decoded image: colour in [0, 1], optional alpha, and what the source file was like."""

    rgb: torch.Tensor
    alpha: torch.Tensor | None
    bit_depth: int
    grayscale: bool
    path: Path | None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as Pillow reports it."""
        return int(self.rgb.shape[-1]), int(self.rgb.shape[-2])


# --------------------------------------------------------------------------------------------------- limits


def max_pixels_limit(max_pixels: int | None = None) -> int:
    """The pixel limit in force: the argument, else $GANSR_MAX_PIXELS, else DEFAULT_MAX_PIXELS."""
    if max_pixels is not None:
        return int(max_pixels)
    env = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not env:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(env.replace("_", ""))
    except ValueError:
        raise ConfigError(f"{MAX_PIXELS_ENV}={env!r} is not a whole number of pixels") from None
    if value <= 0:
        raise ConfigError(f"{MAX_PIXELS_ENV}={env!r} must be a positive number of pixels")
    return value


def _check_pixels(path: Path, width: int, height: int, max_pixels: int | None) -> None:
    limit = max_pixels_limit(max_pixels)
    if width * height > limit:
        raise ImageError(
            f"{path}: {width}x{height} = {width * height:,} pixels exceeds the limit of {limit:,} "
            f"(decompression-bomb guard); if the file is trusted, raise the limit with "
            f"{MAX_PIXELS_ENV}={width * height} or max_pixels={width * height}"
        )


# ---------------------------------------------------------------------------------------------------- read


def _open_binary(path: Path) -> BinaryIO:
    return open(path, "rb")  # noqa: SIM115 - closed by the caller


def _check_file(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except OSError as e:
        raise ImageError(f"{path}: cannot access ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{path}: is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(f"{path}: not a regular file (a pipe, socket or device), not an image")
    if st.st_size == 0:
        raise ImageError(f"{path}: empty file (0 bytes), not an image")


def read_image(path: PathLike, *, max_pixels: int | None = None) -> Image:
    """Decode `path` into an Image (EXIF orientation applied, first frame of animations).

    Raises ImageError naming the file for anything that is not a complete, readable image within the
    pixel limit (`max_pixels`, else $GANSR_MAX_PIXELS, else DEFAULT_MAX_PIXELS).
    """
    path = Path(path)
    _check_file(path)
    try:
        with _open_binary(path) as f:
            return _read_open(f, path, max_pixels)
    except ImageError:
        raise
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image, or a format Pillow cannot read") from None
    except MemoryError:
        raise ImageError(f"{path}: out of memory while decoding") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError) as e:
        raise ImageError(f"{path}: truncated or corrupt image ({e})") from None


def read_size(path: PathLike, *, max_pixels: int | None = None) -> tuple[int, int]:
    """(width, height) as displayed (after EXIF rotation), from the header alone; no pixels are decoded.

    Applies the same pixel limit as read_image, so a file that passes here will not be refused as a bomb.
    """
    path = Path(path)
    _check_file(path)
    try:
        with _open_binary(path) as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = PILImage.open(f)
            w, h = im.size
            _check_pixels(path, w, h, max_pixels)
            if im.format == "PNG":  # getexif() would decode the whole PNG to look after the image data
                exif = im.info.get("exif")
                orientation = _orientation(_exif_from_bytes(exif)) if isinstance(exif, bytes) else 1
            else:
                orientation = _orientation(im.getexif())
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image, or a format Pillow cannot read") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise ImageError(f"{path}: truncated or corrupt image ({e})") from None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _read_open(f: BinaryIO, path: Path, max_pixels: int | None) -> Image:
    head = f.read(32)
    f.seek(0)
    if head.startswith(png16.SIGNATURE) and len(head) >= 26 and head[12:16] == b"IHDR":
        width, height, depth, colour_type = struct.unpack(">IIBB", head[16:26])
        if depth == 16 and colour_type in (2, 4, 6):
            _check_pixels(path, width, height, max_pixels)
            pixels, transparent, exif = png16.decode(f.read(), path)
            orientation = _orientation(_exif_from_bytes(exif)) if exif else 1
            return _from_array(pixels, 16, colour_type == 4, transparent, orientation, path)

    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise ImageError(
            f"{path}: refusing to read with PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True "
            "(truncated files would load silently); reset it to False"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's own bomb and palette warnings: we check both ourselves
        im = PILImage.open(f)
        _check_pixels(path, *im.size, max_pixels)
        im.load()  # the whole first frame: truncated data raises here instead of loading as grey
        if im.format == "PNG":
            _check_png_complete(f, path)
        orientation = _orientation(im.getexif())
        pixels, depth, gray = _pil_to_array(im, path)
    return _from_array(pixels, depth, gray, None, orientation, path)


def _check_png_complete(f: BinaryIO, path: Path) -> None:
    """Walk the PNG chunk lengths up to IEND: Pillow accepts files cut after the last image data."""
    f.seek(0, os.SEEK_END)
    end = f.tell()
    pos = len(png16.SIGNATURE)
    while pos + 12 <= end:
        f.seek(pos)
        length, kind = struct.unpack(">I4s", f.read(8))
        pos += 12 + length
        if kind == b"IEND":
            if pos <= end:
                return
            break
    raise ImageError(f"{path}: truncated PNG (the file ends before its IEND chunk)")


def _pil_to_array(im: PILImage.Image, path: Path) -> tuple[np.ndarray, int, bool]:
    """(H, W, C) uint8 or uint16 array with C in {1, 2, 3, 4}, the source bit depth, and grayscale."""
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        arr = np.asarray(im).astype(np.uint16)
        if "transparency" in im.info and isinstance(im.info["transparency"], int):
            alpha = np.where(arr == im.info["transparency"], 0, 65535).astype(np.uint16)
            return np.stack([arr, alpha], -1), 16, True
        return arr[..., None], 16, True
    if mode == "I":
        arr = np.asarray(im)
        if arr.min() < 0 or arr.max() > 65535:
            raise ImageError(f"{path}: 32-bit integer pixels outside 0..65535 are not supported")
        return arr.astype(np.uint16)[..., None], 16, True
    if mode == "F":
        raise ImageError(f"{path}: floating-point images (mode F) are not supported; save it as 8- or 16-bit")
    if mode == "1":
        return np.asarray(im.convert("L"))[..., None], 8, True
    if mode == "L":
        if "transparency" in im.info and isinstance(im.info["transparency"], int):
            im = im.convert("LA")
            return np.asarray(im), 8, True
        return np.asarray(im)[..., None], 8, True
    if mode in ("LA", "La"):
        return np.asarray(im.convert("LA")), 8, True
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        return np.asarray(im.convert("RGBA" if has_alpha else "RGB")), 8, False
    if mode == "RGB":
        if "transparency" in im.info and isinstance(im.info["transparency"], tuple):
            return np.asarray(im.convert("RGBA")), 8, False
        return np.asarray(im), 8, False
    if mode == "RGBA":
        return np.asarray(im), 8, False
    if mode == "RGBa":
        return np.asarray(im.convert("RGBA")), 8, False
    return np.asarray(im.convert("RGB")), 8, False  # CMYK, YCbCr, LAB, HSV, RGBX


def _from_array(
    pixels: np.ndarray, depth: int, gray: bool, transparent: tuple[int, ...] | None, orientation: int, path: Path
) -> Image:
    """(H, W, C) integer array -> Image; `transparent` is a PNG tRNS colour key (one value per colour channel)."""
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    pixels = _orient(pixels, orientation)
    channels = pixels.shape[-1]
    n_colour = 1 if channels in (1, 2) else 3
    peak = 65535 if depth == 16 else 255
    planes = np.ascontiguousarray(pixels.transpose(2, 0, 1))  # (C, H, W), transposed while still 1-2 bytes
    alpha_arr = None
    if channels in (2, 4):
        alpha_arr = planes[n_colour:]
    elif transparent is not None:
        key = np.asarray(transparent, planes.dtype).reshape(-1, 1, 1)
        alpha_arr = np.where(np.all(planes == key, 0, keepdims=True), 0, peak)
    rgb = _to_float(planes[:n_colour], peak)
    if n_colour == 1:
        rgb = rgb.expand(3, -1, -1).contiguous()
    alpha = None
    if alpha_arr is not None and int(alpha_arr.min()) < peak:
        alpha = _to_float(alpha_arr, peak)
    return Image(rgb=rgb, alpha=alpha, bit_depth=depth, grayscale=gray, path=path)


def _to_float(planes: np.ndarray, peak: int) -> torch.Tensor:
    """(C, H, W) integer planes -> float32 k / peak, bit-identical to quantize()."""
    if planes.dtype != np.uint8:
        planes = planes.astype(np.int32)  # torch has little arithmetic on uint16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Pillow's buffer is read-only; .to() copies right away
        t = torch.from_numpy(np.ascontiguousarray(planes))
    return t.to(torch.float32).div_(float(peak))


def _orientation(exif: PILImage.Exif | None) -> int:
    if not exif:
        return 1
    value = exif.get(_EXIF_ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _exif_from_bytes(data: bytes) -> PILImage.Exif | None:
    exif = PILImage.Exif()
    try:
        exif.load(data)
    except Exception:  # a broken eXIf chunk is no reason to refuse the pixels
        return None
    return exif


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation 1..8 to an (H, W, C) array so it reads as displayed."""
    if orientation == 2:
        return a[:, ::-1]
    if orientation == 3:
        return a[::-1, ::-1]
    if orientation == 4:
        return a[::-1]
    if orientation == 5:
        return a.transpose(1, 0, 2)
    if orientation == 6:
        return np.rot90(a, k=-1)
    if orientation == 7:
        return a.transpose(1, 0, 2)[::-1, ::-1]
    if orientation == 8:
        return np.rot90(a, k=1)
    return a


# --------------------------------------------------------------------------------------------------- write


def quantize(x: torch.Tensor, bits: int = 8) -> torch.Tensor:
    """Round to the nearest level of the `bits`-bit grid (halves up, like MATLAB im2uint8); float in [0, 1]."""
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    peak = float((1 << bits) - 1)
    dtype = x.dtype if x.is_floating_point() else torch.float32
    return _levels(x, bits).to(dtype).div_(peak)


def _levels(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Integer levels 0..2**bits-1 (as float64): NaN -> 0, clamped, rounded half up in double precision."""
    x = torch.nan_to_num(x.detach().to(torch.float64), nan=0.0).clamp(0.0, 1.0)
    return torch.floor(x * float((1 << bits) - 1) + 0.5)


def composite(
    rgb: torch.Tensor, alpha: torch.Tensor | None, background: Sequence[float] | torch.Tensor = (1.0, 1.0, 1.0)
) -> torch.Tensor:
    """Blend `rgb` over a solid `background` colour with straight (non-premultiplied) `alpha`.

    Works on (3, H, W) or (B, 3, H, W) with alpha (1, H, W) / (B, 1, H, W); alpha None returns rgb unchanged.
    """
    if alpha is None:
        return rgb
    bg = torch.as_tensor(background, dtype=rgb.dtype, device=rgb.device)
    if bg.numel() == 1:
        bg = bg.reshape(1).expand(3)
    bg = bg.reshape(-1, 1, 1)
    a = alpha.to(rgb.dtype).clamp(0.0, 1.0)
    return rgb * a + bg * (1.0 - a)


def _to_integer_planes(x: torch.Tensor | np.ndarray, what: str, path: Path) -> torch.Tensor | np.ndarray:
    """(C, H, W) float tensor, or (C, H, W) uint8/uint16 numpy array (a view where possible)."""
    if isinstance(x, np.ndarray) and x.dtype in (np.uint8, np.uint16):
        t: torch.Tensor | np.ndarray = x
    else:
        t = torch.as_tensor(x)
        if t.dtype in (torch.uint8, torch.uint16):
            t = t.detach().cpu().numpy()
    if t.ndim == 4 and t.shape[0] == 1:
        t = t[0]
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3:
        raise ValueError(f"{path}: {what} must be (C, H, W), got shape {tuple(t.shape)}")
    if isinstance(t, torch.Tensor) and not t.is_floating_point():
        raise ValueError(f"{path}: {what} must be a float tensor in [0, 1] or uint8/uint16 levels, got {t.dtype}")
    return t


@tensor_cache(maxsize=2)
def _float32_thresholds(bits: int) -> torch.Tensor:
    """t[k] = the smallest float32 that _levels (float64, half up) sends to level >= k; t[0] = -inf, t[peak+1] = inf."""
    peak = (1 << bits) - 1
    k = np.arange(1, peak + 1, dtype=np.float64)
    t = ((k - 0.5) / peak).astype(np.float32)

    def reaches(v: np.ndarray) -> np.ndarray:
        return np.floor(v.astype(np.float64) * peak + 0.5) >= k

    while True:
        down = np.nextafter(t, np.float32(-np.inf))
        low, high = reaches(down), ~reaches(t)
        if not (low.any() or high.any()):
            return torch.from_numpy(np.concatenate([[-np.inf], t, [np.inf]]).astype(np.float32))
        t = np.where(low, down, np.where(high, np.nextafter(t, np.float32(np.inf)), t))


def _levels32(x: torch.Tensor, bits: int) -> torch.Tensor:
    """int32 levels of float32 `x`, identical to _levels: a float32 guess, corrected by one against exact thresholds."""
    t = _float32_thresholds(bits)
    x = torch.nan_to_num(x, nan=0.0).clamp_(0.0, 1.0)
    k = (x * float((1 << bits) - 1)).add_(0.5).floor_().to(torch.int32)
    k -= (x < t[k]).to(torch.int32)
    k += (x >= t[k + 1]).to(torch.int32)
    return k


def _chunk_levels(x: torch.Tensor, bits: int, grayscale: bool) -> np.ndarray:
    """(C, h, W) float chunk -> (h, W, C') int levels, exactly as _levels rounds (luma first if grayscale)."""
    x = x.detach().to("cpu")
    if grayscale and x.shape[0] == 3:
        w = torch.tensor(LUMA, dtype=torch.float64).reshape(3, 1, 1)
        x = (x.to(torch.float64) * w).sum(0, keepdim=True)
    if x.dtype == torch.float64:
        levels = _levels(x, bits).to(torch.int32)
    else:
        levels = _levels32(x.to(torch.float32), bits)
    return levels.permute(1, 2, 0).numpy()


def _int_luma(x: np.ndarray, bits: int) -> np.ndarray:
    """(3, h, W) integer levels -> (h, W, 1) luma levels (ITU-R 601, rounded half up)."""
    peak = float((1 << bits) - 1)
    return _chunk_levels(torch.from_numpy(x.astype(np.float64) / peak), bits, True)


def to_levels(
    x: torch.Tensor | np.ndarray, bits: int = 8, *, grayscale: bool = False, out: np.ndarray | None = None
) -> np.ndarray:
    """(C, H, W) float in [0, 1] (or uint8/uint16 levels) -> (H, W, C') uint8/uint16 PNG-ready levels.

    NaN -> 0, clamped, rounded half up exactly like quantize(), computed in row chunks so no full-size
    float64 copy is made. grayscale reduces 3 channels to ITU-R 601 luma (C' = 1). `out`, if given,
    is filled in place (it may be a channel slice of a larger array) and returned.
    """
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    dtype = np.uint8 if bits == 8 else np.uint16
    c, h, w = x.shape
    c_out = 1 if grayscale and c == 3 else c
    if out is None:
        out = np.empty((h, w, c_out), dtype)
    elif out.shape != (h, w, c_out) or out.dtype != dtype:
        raise ValueError(f"out must be {dtype.__name__} of shape {(h, w, c_out)}, got {out.dtype} {out.shape}")
    integer = isinstance(x, np.ndarray)
    if integer and x.dtype != dtype:
        raise ValueError(f"levels of dtype {x.dtype} cannot be written at bit depth {bits}; pass {dtype.__name__}")
    step = max(1, _CHUNK_ELEMENTS // max(1, c * w))
    for y in range(0, h, step):
        chunk = x[:, y:y + step]
        if not integer:
            out[y:y + step] = _chunk_levels(chunk, bits, grayscale)
        elif c_out != c:
            out[y:y + step] = _int_luma(chunk, bits)
        else:
            out[y:y + step] = chunk.transpose(1, 2, 0)
    return out


def write_image(
    path: PathLike,
    rgb: torch.Tensor | np.ndarray,
    alpha: torch.Tensor | np.ndarray | None = None,
    *,
    bit_depth: int = 8,
    grayscale: bool = False,
) -> None:
    """Write a lossless PNG atomically (temp file in the same folder, then rename); parent folders are created.

    `rgb` is (3, H, W) or (1, H, W): float in [0, 1] (clamped, rounded to nearest, half up), or integer
    levels already, uint8 for bit_depth 8 and uint16 for 16 (tensor or numpy array, written as they are;
    a (C, H, W) view of an (H, W, C) buffer is written without a copy). A 1-channel input, or
    `grayscale=True`, writes a grayscale PNG (a 3-channel input is reduced with ITU-R 601 luma).
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ImageError(f"{path}: write_image writes lossless PNG only; give a file name ending in .png")
    if bit_depth not in (8, 16):
        raise ValueError(f"{path}: bit_depth must be 8 or 16, got {bit_depth}")
    colour = _to_integer_planes(rgb, "rgb", path)
    if colour.shape[0] not in (1, 3):
        raise ValueError(f"{path}: rgb must have 1 or 3 channels, got {colour.shape[0]}")
    c_out = 1 if grayscale or colour.shape[0] == 1 else 3
    a = None
    if alpha is not None:
        a = _to_integer_planes(alpha, "alpha", path)
        if a.shape[0] != 1 or tuple(a.shape[-2:]) != tuple(colour.shape[-2:]):
            raise ValueError(
                f"{path}: alpha must be (1, H, W) matching rgb {tuple(colour.shape)}, got {tuple(a.shape)}"
            )
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    for name, planes in (("rgb", colour), ("alpha", a)):
        if isinstance(planes, np.ndarray) and planes.dtype != dtype:
            raise ValueError(f"{path}: {name} holds {planes.dtype} levels but bit_depth is {bit_depth}; "
                             f"pass {dtype.__name__} levels or float in [0, 1]")
    h, w = colour.shape[-2:]
    if a is None and isinstance(colour, np.ndarray) and c_out == colour.shape[0]:
        arr = colour.transpose(1, 2, 0)
    else:
        arr = np.empty((h, w, c_out + (a is not None)), dtype)
        to_levels(colour, bit_depth, grayscale=grayscale, out=arr[..., :c_out])
        if a is not None:
            to_levels(a, bit_depth, out=arr[..., c_out:])
    _write_file(path, arr, bit_depth)


def _write_file(path: Path, arr: np.ndarray, bit_depth: int) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ImageError(f"{path}: cannot create folder {path.parent} ({e.strerror or e})") from None
    if path.is_dir():
        raise ImageError(f"{path}: is a directory; give a file name ending in .png")
    try:
        atomic_write(path, lambda f: png16.encode(arr, f) if bit_depth == 16 else _encode_png8(arr, f))
    except OSError as e:
        raise ImageError(f"{path}: write failed ({e.strerror or e})") from None


def _encode_png8(arr: np.ndarray, f: BinaryIO) -> None:
    im = PILImage.fromarray(np.ascontiguousarray(arr[..., 0] if arr.shape[-1] == 1 else arr))  # L, LA, RGB, RGBA
    im.save(f, format="PNG")
