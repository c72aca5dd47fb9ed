"""gan_sr.io.images: every odd input is made on the fly; 16-bit PNGs are checked against a spec-literal encoder."""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from PIL import ImageOps, features

from gan_sr.errors import ConfigError, ImageError
from gan_sr.io import images
from gan_sr.io.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    Image,
    composite,
    list_images,
    quantize,
    read_image,
    read_size,
    write_image,
)

RNG = np.random.default_rng(1234)


def save(path: Path, arr: np.ndarray, mode: str | None = None, **kw) -> Path:
    PILImage.fromarray(arr, mode=mode).save(path, **kw) if mode else PILImage.fromarray(arr).save(path, **kw)
    return path


def chw(arr: np.ndarray, peak: int = 255) -> torch.Tensor:
    """(H, W, C) integer array -> the (C, H, W) float tensor read_image should return."""
    if arr.ndim == 2:
        arr = arr[..., None]
    return torch.from_numpy(arr.astype(np.float32) / peak).permute(2, 0, 1)


# ------------------------------------------------------------ a spec-literal PNG encoder (reference)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _filter_rows(img: np.ndarray, filters: list[int]) -> bytes:
    """PNG filtering straight from the spec, byte by byte (tiny images only)."""
    h = img.shape[0]
    bpp = img.shape[2] * 2
    out = bytearray()
    prev = None
    for y in range(h):
        raw = img[y].astype(">u2").tobytes()
        ft = filters[y % len(filters)]
        out.append(ft)
        for i, x in enumerate(raw):
            a = raw[i - bpp] if i >= bpp else 0
            b = prev[i] if prev is not None else 0
            c = prev[i - bpp] if prev is not None and i >= bpp else 0
            pred = [0, a, b, (a + b) // 2, _paeth(a, b, c)][ft]
            out.append((x - pred) % 256)
        prev = raw
    return bytes(out)


ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def ref_png16(
    arr: np.ndarray, filters=(0, 1, 2, 3, 4), *, interlace: bool = False, extra: bytes = b"", trns: bytes = b""
) -> bytes:
    h, w, c = arr.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    if interlace:
        data = b""
        for x0, y0, dx, dy in ADAM7:
            sub = arr[y0::dy, x0::dx]
            if sub.size:
                data += _filter_rows(sub, list(filters))
    else:
        data = _filter_rows(arr, list(filters))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, int(interlace))
    body = _chunk(b"IHDR", ihdr) + extra + (_chunk(b"tRNS", trns) if trns else b"")
    return b"\x89PNG\r\n\x1a\n" + body + _chunk(b"IDAT", zlib.compress(data)) + _chunk(b"IEND", b"")


def rand16(h: int, w: int, c: int) -> np.ndarray:
    return RNG.integers(0, 65536, (h, w, c), dtype=np.uint16)


# ------------------------------------------------------------------------------------------ reading


def test_rgb8_png_exact(tmp_path):
    arr = RNG.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    img = read_image(save(tmp_path / "a.png", arr))
    assert isinstance(img, Image)
    assert img.rgb.dtype == torch.float32 and img.rgb.shape == (3, 13, 17)
    assert torch.equal(img.rgb, chw(arr))
    assert img.alpha is None and img.bit_depth == 8 and not img.grayscale
    assert img.path == tmp_path / "a.png" and img.size == (17, 13)


def test_palette_without_and_with_transparency(tmp_path):
    idx = RNG.integers(0, 4, (8, 9), dtype=np.uint8)
    pal = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]
    im = PILImage.fromarray(idx, "P")
    im.putpalette(pal + [0] * (768 - len(pal)))
    im.save(tmp_path / "p.png")
    im.save(tmp_path / "pt.png", transparency=2)
    colours = np.array(pal, np.uint8).reshape(4, 3)

    plain = read_image(tmp_path / "p.png")
    assert torch.equal(plain.rgb, chw(colours[idx]))
    assert plain.alpha is None and not plain.grayscale

    clear = read_image(tmp_path / "pt.png")
    assert torch.equal(clear.rgb, chw(colours[idx]))
    assert clear.alpha is not None and clear.alpha.shape == (1, 8, 9)
    assert torch.equal(clear.alpha[0], torch.from_numpy(idx != 2).float())


def test_grayscale_modes(tmp_path):
    g = RNG.integers(0, 256, (6, 7), dtype=np.uint8)
    a = RNG.integers(0, 256, (6, 7), dtype=np.uint8)
    a[0, 0] = 0
    lum = read_image(save(tmp_path / "l.png", g, "L"))
    assert lum.grayscale and lum.bit_depth == 8 and lum.alpha is None
    assert torch.equal(lum.rgb, chw(np.stack([g] * 3, -1)))

    la = read_image(save(tmp_path / "la.png", np.stack([g, a], -1), "LA"))
    assert la.grayscale and torch.equal(la.rgb[1], chw(g)[0]) and torch.equal(la.alpha, chw(a))

    opaque = read_image(save(tmp_path / "la_opaque.png", np.stack([g, np.full_like(g, 255)], -1), "LA"))
    assert opaque.alpha is None

    bits = g > 127
    PILImage.fromarray(bits).convert("1").save(tmp_path / "one.png")
    one = read_image(tmp_path / "one.png")
    assert one.grayscale and torch.equal(one.rgb[0], torch.from_numpy(bits).float())


def test_gray16_png_keeps_16_bits(tmp_path):
    arr = RNG.integers(0, 65536, (5, 11), dtype=np.uint16)
    PILImage.fromarray(arr).save(tmp_path / "g16.png")
    assert PILImage.open(tmp_path / "g16.png").mode.startswith("I")
    img = read_image(tmp_path / "g16.png")
    assert img.bit_depth == 16 and img.grayscale and img.alpha is None
    assert torch.equal(img.rgb, chw(np.stack([arr] * 3, -1), 65535))


@pytest.mark.parametrize("channels", [3, 4, 2])
@pytest.mark.parametrize("interlace", [False, True])
def test_16bit_colour_png_decoded_exactly(tmp_path, channels, interlace):
    arr = rand16(11, 13, channels)
    arr[..., :][0, 0, -1] = 0  # some transparency where there is alpha
    path = tmp_path / "c16.png"
    path.write_bytes(ref_png16(arr, interlace=interlace))
    img = read_image(path)
    n_colour = 1 if channels == 2 else 3
    colour = np.repeat(arr[..., :1], 3, -1) if channels == 2 else arr[..., :3]
    assert img.bit_depth == 16 and img.grayscale == (channels == 2)
    assert torch.equal(img.rgb, chw(colour, 65535))
    if channels in (2, 4):
        assert torch.equal(img.alpha, chw(arr[..., n_colour:], 65535))
    else:
        assert img.alpha is None


@pytest.mark.parametrize("filters", [(0,), (1,), (2,), (3,), (4,), (1, 2, 0, 1)])
def test_16bit_png_every_filter(tmp_path, filters):
    arr = rand16(7, 9, 3)
    arr[2:5, 2:6] = arr[2, 2]  # flat patch
    (tmp_path / "f.png").write_bytes(ref_png16(arr, filters))
    assert torch.equal(read_image(tmp_path / "f.png").rgb, chw(arr, 65535))
    # bytes from {0, 10, 20, 30}: Paeth distances often tie (e.g. left 30, up 0, upper-left 10)
    ties = RNG.choice(np.array([0, 0x0A0A, 0x1414, 0x1E1E], np.uint16), (9, 8, 3))
    (tmp_path / "t.png").write_bytes(ref_png16(ties, filters))
    assert torch.equal(read_image(tmp_path / "t.png").rgb, chw(ties, 65535))


def test_16bit_rgb_transparent_colour_key(tmp_path):
    arr = rand16(4, 5, 3)
    arr[1, 2] = arr[3, 4] = (1, 2, 3)
    (tmp_path / "k.png").write_bytes(ref_png16(arr, trns=struct.pack(">3H", 1, 2, 3)))
    img = read_image(tmp_path / "k.png")
    expected = np.ones((4, 5), np.float32)
    expected[1, 2] = expected[3, 4] = 0
    assert torch.equal(img.alpha[0], torch.from_numpy(expected))


def test_rgba_opaque_has_no_alpha_and_transparent_has(tmp_path):
    arr = RNG.integers(0, 256, (6, 6, 4), dtype=np.uint8)
    arr[..., 3] = 255
    assert read_image(save(tmp_path / "o.png", arr, "RGBA")).alpha is None
    arr[2, 3, 3] = 7
    img = read_image(save(tmp_path / "t.png", arr, "RGBA"))
    assert torch.equal(img.alpha, chw(arr[..., 3:])) and torch.equal(img.rgb, chw(arr[..., :3]))


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    im = PILImage.new("CMYK", (32, 16))
    im.paste((0, 255, 255, 0), (0, 0, 16, 16))  # red
    im.paste((255, 0, 255, 0), (16, 0, 32, 16))  # green
    im.save(tmp_path / "cmyk.jpg", quality=95)
    img = read_image(tmp_path / "cmyk.jpg")
    assert img.rgb.shape == (3, 16, 32) and not img.grayscale
    assert torch.allclose(img.rgb[:, 8, 4], torch.tensor([1.0, 0.0, 0.0]), atol=0.05)
    assert torch.allclose(img.rgb[:, 8, 28], torch.tensor([0.0, 1.0, 0.0]), atol=0.05)


def _quadrants(w: int = 48, h: int = 32) -> np.ndarray:
    """Red top-left, green top-right, blue bottom-left, white bottom-right (flat, so JPEG keeps them)."""
    arr = np.zeros((h, w, 3), np.uint8)
    arr[: h // 2, : w // 2] = (255, 0, 0)
    arr[: h // 2, w // 2 :] = (0, 255, 0)
    arr[h // 2 :, : w // 2] = (0, 0, 255)
    arr[h // 2 :, w // 2 :] = (255, 255, 255)
    return arr


def _exif(orientation: int) -> bytes:
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _corner_colours(img: Image) -> list[tuple[int, ...]]:
    h, w = img.rgb.shape[1:]
    pts = [(h // 4, w // 4), (h // 4, 3 * w // 4), (3 * h // 4, w // 4), (3 * h // 4, 3 * w // 4)]
    return [tuple(round(float(v)) for v in img.rgb[:, y, x]) for y, x in pts]


R, G, B, W = (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)


@pytest.mark.parametrize(
    "orientation, shape, corners",
    [
        (1, (32, 48), [R, G, B, W]),
        (3, (32, 48), [W, B, G, R]),  # rotated 180
        (6, (48, 32), [B, R, W, G]),  # stored rotated; shown turned 90 degrees clockwise
        (8, (48, 32), [G, W, R, B]),  # shown turned 90 degrees counter-clockwise
    ],
)
def test_exif_orientation_jpeg_pixel_placement(tmp_path, orientation, shape, corners):
    path = tmp_path / f"o{orientation}.jpg"
    PILImage.fromarray(_quadrants()).save(path, quality=95, exif=_exif(orientation))
    img = read_image(path)
    assert tuple(img.rgb.shape[1:]) == shape
    assert _corner_colours(img) == corners
    assert read_size(path) == (shape[1], shape[0])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_all_orientations_match_pillow(tmp_path, orientation):
    arr = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = save(tmp_path / "o.png", arr, exif=_exif(orientation))
    ref = np.asarray(ImageOps.exif_transpose(PILImage.open(path)))
    assert torch.equal(read_image(path).rgb, chw(ref))


def test_read_size_from_header(tmp_path):
    path = save(tmp_path / "r.png", np.zeros((5, 7, 3), np.uint8), exif=_exif(6))
    assert read_size(path) == (5, 7) == read_image(path).size
    assert read_size(save(tmp_path / "p.png", np.zeros((5, 7, 3), np.uint8))) == (7, 5)
    (tmp_path / "bomb.png").write_bytes(_huge_header_png(200_000, 100_000))
    with pytest.raises(ImageError, match=r"bomb\.png: 200000x100000 = 20,000,000,000 pixels exceeds"):
        read_size(tmp_path / "bomb.png")
    (tmp_path / "t.png").write_text("text")
    with pytest.raises(ImageError, match=r"t\.png: not an image"):
        read_size(tmp_path / "t.png")
    with pytest.raises(ImageError, match=r"gone\.png: no such file"):
        read_size(tmp_path / "gone.png")


def test_exif_orientation_on_16bit_png(tmp_path):
    arr = rand16(3, 5, 3)
    exif_chunk = _chunk(b"eXIf", _exif(6)[6:])  # PNG stores the TIFF block without the "Exif\0\0" prefix
    (tmp_path / "r.png").write_bytes(ref_png16(arr, extra=exif_chunk))
    img = read_image(tmp_path / "r.png")
    assert torch.equal(img.rgb, chw(np.rot90(arr, -1).copy(), 65535))


def test_animated_gif_first_frame(tmp_path):
    frames = [PILImage.new("RGB", (8, 6), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
    img = read_image(tmp_path / "a.gif")
    assert img.rgb.shape == (3, 6, 8)
    assert torch.equal(img.rgb[:, 3, 4], torch.tensor([1.0, 0.0, 0.0]))


@pytest.mark.skipif(not features.check("webp"), reason="Pillow without WebP")
def test_animated_webp_first_frame(tmp_path):
    frames = [PILImage.new("RGB", (8, 6), c) for c in ((0, 0, 255), (255, 0, 0))]
    frames[0].save(tmp_path / "a.webp", save_all=True, append_images=frames[1:], duration=50, lossless=True)
    assert PILImage.open(tmp_path / "a.webp").n_frames == 2
    img = read_image(tmp_path / "a.webp")
    assert torch.equal(img.rgb[:, 3, 4], torch.tensor([0.0, 0.0, 1.0]))


# ---------------------------------------------------------------------------------------- bad inputs


def test_missing_directory_empty_and_text(tmp_path):
    with pytest.raises(ImageError, match=r"nope\.png: no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="is a directory"):
        read_image(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.png: empty file \(0 bytes\)"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "notes.png").write_text("hello, I am not a picture\n")
    with pytest.raises(ImageError, match=r"notes\.png: not an image"):
        read_image(tmp_path / "notes.png")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_pipe_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(ImageError, match=r"pipe\.png: not a regular file"):
        read_image(tmp_path / "pipe.png")


@pytest.mark.parametrize("fmt", ["png", "jpg"])
@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_truncated_files_refused(tmp_path, fmt, keep):
    full = save(tmp_path / f"full.{fmt}", RNG.integers(0, 256, (40, 50, 3), dtype=np.uint8)).read_bytes()
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(full[: int(len(full) * keep)])
    with pytest.raises(ImageError, match=r"cut\.(png|jpg): truncated"):
        read_image(cut)


@pytest.mark.parametrize("drop", [1, 12])
def test_png_cut_after_image_data_refused(tmp_path, drop):
    full = save(tmp_path / "full.png", RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)).read_bytes()
    (tmp_path / "cut.png").write_bytes(full[:-drop])
    with pytest.raises(ImageError, match=r"cut\.png: truncated PNG"):
        read_image(tmp_path / "cut.png")


def test_jpeg_missing_end_marker_refused(tmp_path):
    full = save(tmp_path / "full.jpg", RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8)).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(full[:-2])
    with pytest.raises(ImageError, match=r"cut\.jpg: truncated"):
        read_image(tmp_path / "cut.jpg")


def test_16bit_png_truncated_or_corrupt(tmp_path):
    data = ref_png16(rand16(16, 16, 3))
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"cut\.png: truncated PNG"):
        read_image(tmp_path / "cut.png")
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    (tmp_path / "bad.png").write_bytes(bytes(flipped))
    with pytest.raises(ImageError, match=r"bad\.png: corrupt PNG \(CRC mismatch"):
        read_image(tmp_path / "bad.png")
    short = ref_png16(rand16(4, 4, 3))
    idat_missing_rows = short.replace(b"IHDR" + struct.pack(">II", 4, 4), b"IHDR" + struct.pack(">II", 4, 5))
    ihdr_start = short.index(b"IHDR")
    ihdr = idat_missing_rows[ihdr_start : ihdr_start + 17]
    crc = struct.pack(">I", zlib.crc32(ihdr))
    fixed = idat_missing_rows[: ihdr_start + 17] + crc + idat_missing_rows[ihdr_start + 21 :]
    (tmp_path / "rows.png").write_bytes(fixed)
    with pytest.raises(ImageError, match=r"rows\.png: truncated PNG image data"):
        read_image(tmp_path / "rows.png")


def _huge_header_png(width: int, height: int, depth: int = 8, colour_type: int = 2) -> bytes:
    """A PNG whose header claims a huge size; its image data is garbage, so only a header check can refuse it."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"garbage") + _chunk(b"IEND", b"")


@pytest.mark.parametrize("depth", [8, 16])
def test_decompression_bomb_refused_from_header(tmp_path, depth):
    path = tmp_path / "bomb.png"
    path.write_bytes(_huge_header_png(200_000, 100_000, depth))
    with pytest.raises(ImageError, match=r"bomb\.png: 200000x100000 = 20,000,000,000 pixels exceeds") as e:
        read_image(path)
    assert "GANSR_MAX_PIXELS=20000000000" in str(e.value)
    assert f"{DEFAULT_MAX_PIXELS:,}" in str(e.value)


def test_max_pixels_argument_and_env(tmp_path, monkeypatch):
    path = save(tmp_path / "s.png", np.zeros((50, 100, 3), np.uint8))
    assert read_image(path, max_pixels=5000).rgb.shape == (3, 50, 100)  # the limit itself is allowed
    with pytest.raises(ImageError, match=r"s\.png: 100x50 = 5,000 pixels exceeds the limit of 4,999"):
        read_image(path, max_pixels=4999)
    monkeypatch.setenv("GANSR_MAX_PIXELS", "1000")
    with pytest.raises(ImageError, match="limit of 1,000"):
        read_image(path)
    assert read_image(path, max_pixels=10_000).rgb.shape[1:] == (50, 100)  # the argument wins over the env
    monkeypatch.setenv("GANSR_MAX_PIXELS", "lots")
    with pytest.raises(ConfigError, match="GANSR_MAX_PIXELS='lots' is not a whole number"):
        read_image(path)


def _read_as_nobody(path: Path) -> str:
    """Run read_image in a forked child that dropped root, so file modes apply; returns the error text."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            os.setgid(65534)
            os.setuid(65534)
            read_image(path)
            msg = "no error"
        except ImageError as e:
            msg = str(e)
        except BaseException as e:  # noqa: BLE001 - report anything to the parent
            msg = f"{type(e).__name__}: {e}"
        os.write(w, msg.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    os.waitpid(pid, 0)
    return out


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_permission_denied_real():
    folder = Path(tempfile.mkdtemp(prefix="gansr-perm-"))  # outside pytest's 0700 tree, so others can enter it
    try:
        folder.chmod(0o755)
        readable = save(folder / "open.png", np.zeros((4, 4, 3), np.uint8))
        locked = save(folder / "locked.png", np.zeros((4, 4, 3), np.uint8))
        locked.chmod(0)
        if os.geteuid() == 0:  # root reads anything: check from an unprivileged child instead
            assert _read_as_nobody(readable) == "no error"
            message = _read_as_nobody(locked)
            assert "locked.png: permission denied" in message, message
        else:
            with pytest.raises(ImageError, match=r"locked\.png: permission denied"):
                read_image(locked)
    finally:
        shutil.rmtree(folder)


def test_permission_denied_message(tmp_path, monkeypatch):
    path = save(tmp_path / "locked.png", np.zeros((4, 4, 3), np.uint8))

    def deny(p):
        raise PermissionError(13, "Permission denied", str(p))

    monkeypatch.setattr(images, "_open_binary", deny)
    with pytest.raises(ImageError, match=r"locked\.png: permission denied"):
        read_image(path)


def test_load_truncated_images_flag_is_refused(tmp_path, monkeypatch):
    from PIL import ImageFile

    path = save(tmp_path / "a.jpg", np.zeros((8, 8, 3), np.uint8))
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ImageError, match="LOAD_TRUNCATED_IMAGES"):
        read_image(path)


# ------------------------------------------------------------------------------------------- writing


@pytest.mark.parametrize("bit_depth", [8, 16])
@pytest.mark.parametrize("with_alpha", [False, True])
@pytest.mark.parametrize("gray", [False, True])
def test_write_read_round_trip_exact(tmp_path, bit_depth, with_alpha, gray):
    g = torch.Generator().manual_seed(bit_depth + 2 * with_alpha + 4 * gray)
    rgb = torch.rand(1 if gray else 3, 19, 23, generator=g)
    alpha = torch.rand(1, 19, 23, generator=g) if with_alpha else None
    path = tmp_path / "out" / "deeper" / "x.png"
    write_image(path, rgb, alpha, bit_depth=bit_depth)
    img = read_image(path)
    expected = quantize(rgb, bit_depth).expand(3, -1, -1)
    assert img.bit_depth == bit_depth and img.grayscale == gray
    assert torch.equal(img.rgb, expected)
    if with_alpha:
        assert torch.equal(img.alpha, quantize(alpha, bit_depth))
    else:
        assert img.alpha is None
    assert [p.name for p in path.parent.iterdir()] == ["x.png"]


def test_write16_matches_pillow_reading(tmp_path):
    """Pillow reads 16-bit gray exactly and 16-bit colour as the high byte: an independent check of our encoder."""
    g = torch.Generator().manual_seed(3)
    gray = torch.rand(1, 37, 41, generator=g)
    write_image(tmp_path / "g.png", gray, bit_depth=16)
    ref = np.asarray(PILImage.open(tmp_path / "g.png")).astype(np.int64)
    assert np.array_equal(ref, np.floor(gray[0].numpy().astype(np.float64) * 65535 + 0.5).astype(np.int64))

    rgba = torch.rand(4, 37, 41, generator=g)
    write_image(tmp_path / "c.png", rgba[:3], rgba[3:], bit_depth=16)
    pil = PILImage.open(tmp_path / "c.png")
    assert pil.mode == "RGBA"
    words = np.floor(rgba.permute(1, 2, 0).numpy().astype(np.float64) * 65535 + 0.5).astype(np.int64)
    assert np.array_equal(np.asarray(pil).astype(np.int64), words >> 8)


def test_write_clamps_and_rounds_to_nearest(tmp_path):
    vals = torch.tensor([-0.3, 0.0, 0.4 / 255, 0.6 / 255, 127.49 / 255, 127.51 / 255, 1.0, 1.7, float("nan")])
    write_image(tmp_path / "v.png", vals.reshape(1, 1, -1).expand(3, 1, -1))
    got = np.asarray(PILImage.open(tmp_path / "v.png"))[0, :, 0]
    assert got.tolist() == [0, 0, 0, 1, 127, 128, 255, 255, 0]


def test_write_grayscale_flag_uses_luma(tmp_path):
    rgb = torch.zeros(3, 2, 2)
    rgb[0] = 1.0  # pure red -> 0.299
    write_image(tmp_path / "g.png", rgb, grayscale=True)
    pil = PILImage.open(tmp_path / "g.png")
    assert pil.mode == "L" and np.asarray(pil).max() == round(0.299 * 255)
    assert read_image(tmp_path / "g.png").grayscale


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "keep.png"
    write_image(path, torch.zeros(3, 4, 4))
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(images.os, "replace", broken_replace)
    with pytest.raises(ImageError, match=r"keep\.png: write failed \(No space left on device\)"):
        write_image(path, torch.ones(3, 4, 4))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


def test_write_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="bit_depth must be 8 or 16"):
        write_image(tmp_path / "a.png", torch.zeros(3, 2, 2), bit_depth=12)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        write_image(tmp_path / "a.png", torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="alpha must be"):
        write_image(tmp_path / "a.png", torch.zeros(3, 2, 2), torch.zeros(1, 3, 2))
    with pytest.raises(ImageError, match=r"a\.jpg: write_image writes lossless PNG only"):
        write_image(tmp_path / "a.jpg", torch.zeros(3, 2, 2))
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ImageError, match=r"dir\.png: is a directory"):
        write_image(tmp_path / "dir.png", torch.zeros(3, 2, 2))
    assert not (tmp_path / "a.png").exists()


# --------------------------------------------------------------------------------- quantize, composite


def test_quantize_grid():
    x = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0)) * 1.4 - 0.2
    for bits in (8, 16):
        peak = 2**bits - 1
        q = quantize(x, bits)
        assert q.dtype == torch.float32 and q.min() >= 0 and q.max() <= 1
        k = q.double() * peak
        assert torch.allclose(k, k.round(), atol=1e-3)
        assert torch.equal(quantize(q, bits), q)
        assert (q.double() - x.double().clamp(0, 1)).abs().max() <= 0.5 / peak + 1e-7
    with pytest.raises(ValueError, match="bits must be 8 or 16"):
        quantize(x, 4)


def test_composite():
    rgb = torch.rand(3, 4, 5, generator=torch.Generator().manual_seed(1))
    alpha = torch.rand(1, 4, 5, generator=torch.Generator().manual_seed(2))
    bg = torch.tensor([0.2, 0.5, 0.9]).reshape(3, 1, 1)
    assert torch.allclose(composite(rgb, alpha, (0.2, 0.5, 0.9)), alpha * rgb + (1 - alpha) * bg)
    assert composite(rgb, None) is rgb
    assert torch.allclose(composite(rgb, torch.zeros(1, 4, 5)), torch.ones(3, 4, 5))
    batch = composite(rgb[None].repeat(2, 1, 1, 1), alpha[None].repeat(2, 1, 1, 1), 0.0)
    assert batch.shape == (2, 3, 4, 5) and torch.allclose(batch[1], rgb * alpha)


# ------------------------------------------------------------------------------------------ listing


def _touch_png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return save(path, np.zeros((2, 2, 3), np.uint8))


def test_list_folders_recursive_sorted_filtered(tmp_path):
    root = tmp_path / "data"
    for name in ["b.png", "a.JPG", "sub/c.webp", "sub/deeper/d.TIFF", ".hidden.png", "sub/.cache/e.png"]:
        _touch_png(root / name)  # listing goes by name; the content does not matter
    (root / "notes.txt").write_text("not an image")
    got = list_images(root)
    assert got == [root / "a.JPG", root / "b.png", root / "sub/c.webp", root / "sub/deeper/d.TIFF"]
    assert list_images(root, recursive=False) == [root / "a.JPG", root / "b.png"]
    assert {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"} == set(IMAGE_SUFFIXES)


def test_list_explicit_files_globs_and_uniqueness(tmp_path):
    a = _touch_png(tmp_path / "x" / "a.png")
    b = _touch_png(tmp_path / "x" / "b.png")
    c = _touch_png(tmp_path / "y" / "c.png")
    odd = tmp_path / "y" / "image.dat"
    odd.write_bytes(b"x")
    got = list_images([str(c), tmp_path / "x", str(tmp_path / "x" / "*.png"), a, odd])
    assert got == sorted([a, b, c, odd])  # odd: explicit files are returned as given
    assert list_images(str(tmp_path / "**" / "*.png")) == [a, b, c]
    assert list_images(str(tmp_path / "[xy]")) == [a, b, c]  # a glob matching folders lists them


def test_list_symlink_loop_and_aliases(tmp_path):
    root = tmp_path / "r"
    x = _touch_png(root / "x.png")
    y = _touch_png(root / "sub" / "y.png")
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    (root / "alias.png").symlink_to(x)
    outside = _touch_png(tmp_path / "elsewhere" / "z.png")
    (root / "linked_dir").symlink_to(outside.parent, target_is_directory=True)
    got = list_images(root)
    assert len(got) == 3
    assert {os.path.realpath(p) for p in got} == {os.path.realpath(p) for p in (x, y, outside)}
    assert list_images([root, root / "sub" / "loop" / "x.png"]) == got


def test_list_errors(tmp_path):
    with pytest.raises(ImageError, match=r"missing_dir: no such file or folder"):
        list_images([tmp_path / "missing_dir"])
    with pytest.raises(ImageError, match=r"\*\.png: the pattern matches no image files"):
        list_images(str(tmp_path / "*.png"))
    (tmp_path / "dangling.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(ImageError, match=r"dangling\.png: not a regular file or folder"):
        list_images(tmp_path / "dangling.png")
    assert list_images(tmp_path) == []  # an empty folder is not an error; callers decide


# ----------------------------------------------------------------------------------- real datasets


def test_real_grayscale_and_rgba_files(shared_datasets):
    bridge = shared_datasets / "Set14" / "bridge.png"
    if not bridge.exists():
        pytest.skip("Set14/bridge.png not present")
    img = read_image(bridge)
    ref = np.asarray(PILImage.open(bridge))
    assert img.grayscale and img.rgb.shape == (3, *ref.shape)
    assert torch.equal(img.rgb[2], chw(ref)[0])

    sprites = list_images(shared_datasets / "learntocoderpg_vn_sprites")
    assert sprites and all(p.suffix == ".png" for p in sprites)
    sprite = read_image(sprites[0])
    assert sprite.alpha is not None and sprite.alpha.min() == 0 and not sprite.grayscale
    ref = np.asarray(PILImage.open(sprites[0]).convert("RGBA"))
    assert torch.equal(sprite.alpha, chw(ref[..., 3:]))


# ------------------------------------------------------------------------------------ integer levels, chunked


def _reference_levels(x: torch.Tensor, bits: int) -> np.ndarray:
    """Round half up in float64, the rule quantize() pins, computed independently of the chunked writer."""
    a = np.nan_to_num(x.numpy().astype(np.float64), nan=0.0).clip(0.0, 1.0)
    return np.floor(a * ((1 << bits) - 1) + 0.5).astype(np.int64)


@pytest.mark.parametrize("bits", [8, 16])
def test_float32_levels_match_float64_rounding_at_every_half_step(bits):
    """float32 values right at and beside each k + 0.5 boundary round as the float64 reference does."""
    peak = (1 << bits) - 1
    half = ((np.arange(peak + 1) + 0.5) / peak).astype(np.float32)
    values = np.concatenate([half, np.nextafter(half, np.float32(-1)), np.nextafter(half, np.float32(2)),
                             np.array([np.nan, -np.inf, np.inf, -0.5, 0.0, 1.0, 1.5], np.float32)])
    x = torch.from_numpy(values).reshape(1, 1, -1)
    assert np.array_equal(images.to_levels(x, bits)[..., 0].astype(np.int64), _reference_levels(x, bits)[0])


def test_write_in_row_chunks_equals_reference(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "_CHUNK_ELEMENTS", 3 * 23 * 2)  # two rows per chunk, odd remainder
    g = torch.Generator().manual_seed(11)
    rgb = torch.rand(3, 17, 23, generator=g)
    write_image(tmp_path / "c.png", rgb)
    assert np.array_equal(np.asarray(PILImage.open(tmp_path / "c.png")),
                          _reference_levels(rgb, 8).transpose(1, 2, 0))
    write_image(tmp_path / "g.png", rgb, grayscale=True)
    luma = (rgb.double() * torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)[:, None, None]).sum(0)
    assert np.array_equal(np.asarray(PILImage.open(tmp_path / "g.png")), _reference_levels(luma, 8))


@pytest.mark.parametrize("as_numpy", [False, True])
def test_write_integer_levels_as_given(tmp_path, as_numpy):
    g = torch.Generator().manual_seed(5)
    hwc8 = torch.randint(0, 256, (9, 7, 3), generator=g, dtype=torch.uint8)
    hwc16 = torch.randint(0, 65536, (9, 7, 3), generator=g, dtype=torch.int32).numpy().astype(np.uint16)
    alpha = torch.randint(0, 256, (1, 9, 7), generator=g, dtype=torch.uint8)
    rgb8 = hwc8.numpy().transpose(2, 0, 1) if as_numpy else hwc8.permute(2, 0, 1)
    rgb16 = hwc16.transpose(2, 0, 1) if as_numpy else torch.from_numpy(hwc16).permute(2, 0, 1)
    write_image(tmp_path / "a.png", rgb8, alpha.numpy() if as_numpy else alpha)
    got = np.asarray(PILImage.open(tmp_path / "a.png"))
    assert np.array_equal(got[..., :3], hwc8.numpy()) and np.array_equal(got[..., 3], alpha[0].numpy())
    write_image(tmp_path / "b.png", rgb16, bit_depth=16)
    assert torch.equal(read_image(tmp_path / "b.png").rgb, torch.from_numpy(hwc16.astype(np.float32) / 65535).permute(2, 0, 1))
    write_image(tmp_path / "c.png", rgb8[:1])
    assert np.array_equal(np.asarray(PILImage.open(tmp_path / "c.png")), hwc8.numpy()[..., 0])


def test_write_integer_levels_of_the_wrong_depth_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"a\.png: rgb holds uint8 levels but bit_depth is 16"):
        write_image(tmp_path / "a.png", np.zeros((3, 2, 2), np.uint8), bit_depth=16)
    with pytest.raises(ValueError, match=r"a\.png: alpha holds uint16 levels but bit_depth is 8"):
        write_image(tmp_path / "a.png", torch.zeros(3, 2, 2), np.zeros((1, 2, 2), np.uint16))
    with pytest.raises(ValueError, match="float tensor in \\[0, 1\\] or uint8/uint16 levels, got torch.int64"):
        write_image(tmp_path / "a.png", torch.zeros(3, 2, 2, dtype=torch.int64))
    assert list(tmp_path.iterdir()) == []
