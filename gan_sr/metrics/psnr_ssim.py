"""PSNR and SSIM as the SR literature computes them (REFERENCE.md section 1).

Y channel of BT.601 (MATLAB `rgb2ycbcr`, `gan_sr.colour.rgb_to_y`) or RGB, on the 0..255 scale in float64,
`crop` pixels shaved from every edge; SSIM with an 11x11 Gaussian window (sigma 1.5) and valid filtering,
averaged over the map (and over channels for RGB). Inputs are (3, H, W) or (B, 3, H, W) floats in [0, 1]; the
literature scores 8-bit images, so quantize SR outputs (`gan_sr.io.images.quantize`) before calling.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from gan_sr.colour import rgb_to_y
from gan_sr.errors import ConfigError, ImageError
from gan_sr.tensor_cache import tensor_cache

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def _batched(x: Tensor, name: str) -> Tensor:
    if not torch.is_tensor(x) or x.dim() not in (3, 4) or x.shape[-3] != 3:
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ConfigError(f"{name} must be an RGB tensor (3, H, W) or (B, 3, H, W), got {shape}")
    return x if x.dim() == 4 else x[None]


def planes(x: Tensor, *, y: bool = True, gray: bool = False) -> Tensor:
    """The float64 0..255 planes that get scored: Y (B, 1, H, W), or RGB (B, 3, H, W) when y=False.

    gray=True is for grayscale sources: the gray level itself on 0..255 (full-range luma,
    (Y - 16) * 255/219, equal to the gray value when R = G = B), which is what MATLAB evaluation
    scripts score for single-channel images instead of rgb2ycbcr.
    """
    x = _batched(x, "image")
    if not y:
        return x.to(torch.float64) * 255.0
    luma = rgb_to_y(x)
    return (luma - 16.0) * (255.0 / 219.0) if gray else luma


def _check_pair(a: Tensor, b: Tensor, crop: int, min_side: int) -> tuple[Tensor, Tensor]:
    if a.shape != b.shape:
        raise ConfigError(f"SR and HR shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    crop = int(crop)
    if crop < 0:
        raise ConfigError(f"crop must be >= 0, got {crop}")
    h, w = a.shape[-2] - 2 * crop, a.shape[-1] - 2 * crop
    if h < min_side or w < min_side:
        raise ConfigError(
            f"image of {a.shape[-2]}x{a.shape[-1]} px leaves {max(h, 0)}x{max(w, 0)} after cropping {crop} px "
            f"per edge; at least {min_side}x{min_side} is needed"
        )
    if crop:
        a, b = a[..., crop:-crop, crop:-crop], b[..., crop:-crop, crop:-crop]
    return a, b


def psnr_planes(a: Tensor, b: Tensor, *, crop: int = 0) -> Tensor:
    """PSNR (B,) of (B, C, H, W) planes on the 0..255 scale; MSE pooled over channels; +inf when equal."""
    a, b = _check_pair(a, b, crop, 1)
    mse = (a.to(torch.float64) - b.to(torch.float64)).pow(2).mean(dim=(-3, -2, -1))
    return 10.0 * torch.log10((255.0**2) / mse)


@tensor_cache(maxsize=8)
def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> Tensor:
    """1-D normalised Gaussian taps (float64); the 2-D window is its outer product."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(x: Tensor, g: Tensor) -> Tensor:
    """Separable filtering of (..., H, W) over the last two axes without padding (shrinks by size - 1).

    Shift-and-add in place, float64 throughout: on CPU far faster than a float64 conv2d (no fast path).
    """
    k = g.numel()
    taps = g.tolist()
    h, w = x.shape[-2] - k + 1, x.shape[-1] - k + 1
    rows = x[..., 0:h, :] * taps[0]
    for i in range(1, k):
        rows.add_(x[..., i : i + h, :], alpha=taps[i])
    out = rows[..., 0:w] * taps[0]
    for i in range(1, k):
        out.add_(rows[..., i : i + w], alpha=taps[i])
    return out


def ssim_planes(a: Tensor, b: Tensor, *, crop: int = 0) -> Tensor:
    """SSIM (B,) of (B, C, H, W) planes on the 0..255 scale: mean SSIM map per channel, then mean over C."""
    a, b = _check_pair(a, b, crop, SSIM_WINDOW)
    a, b = a.to(torch.float64), b.to(torch.float64)
    stats = _filter_valid(torch.stack([a, b, a * a, b * b, a * b]), gaussian_window())
    mu_a, mu_b, e_aa, e_bb, e_ab = stats.unbind(dim=0)
    var_a, var_b, cov = e_aa - mu_a**2, e_bb - mu_b**2, e_ab - mu_a * mu_b
    num = (2 * mu_a * mu_b + _C1) * (2 * cov + _C2)
    den = (mu_a**2 + mu_b**2 + _C1) * (var_a + var_b + _C2)
    return (num / den).mean(dim=(-2, -1)).mean(dim=1)


def psnr(sr: Tensor, hr: Tensor, *, crop: int = 0, y: bool = True) -> Tensor:
    """PSNR in dB, (B,) float64 (an unbatched pair counts as B = 1); Y channel unless y=False."""
    return psnr_planes(planes(sr, y=y), planes(hr, y=y), crop=crop)


def ssim(sr: Tensor, hr: Tensor, *, crop: int = 0, y: bool = True) -> Tensor:
    """SSIM, (B,) float64 (an unbatched pair counts as B = 1); Y channel unless y=False."""
    return ssim_planes(planes(sr, y=y), planes(hr, y=y), crop=crop)


def evaluate(sr: Tensor, hr: Tensor, scale: int, *, y: bool = True, gray: bool = False) -> dict:
    """{"psnr", "ssim"} with crop = scale: floats for a (3, H, W) pair, lists of floats for a batch.

    gray=True scores grayscale sources on their gray level (see `planes`).
    """
    a, b = planes(sr, y=y, gray=gray), planes(hr, y=y, gray=gray)
    p, s = psnr_planes(a, b, crop=scale), ssim_planes(a, b, crop=scale)
    if sr.dim() == 3:
        return {"psnr": float(p[0]), "ssim": float(s[0])}
    return {"psnr": p.tolist(), "ssim": s.tolist()}


# ------------------------------------------------------------------------------------- folders of images


def pair_by_name(hr_paths: list[Path], sr_paths: list[Path]) -> list[tuple[Path, Path]]:
    """Pair SR files with HR files by file stem (extensions may differ); (hr, sr) in HR order.

    An SR file matches the HR file of the same stem, or, failing that, the longest HR stem it extends by
    "_<tag>" (so "baby_x4.png" and "baby_SR.png" pair with "baby.png"). Duplicate stems, two SR files for
    one HR image, and files left without a counterpart on either side raise ImageError.
    """
    hr_by_stem: dict[str, Path] = {}
    for p in hr_paths:
        if p.stem in hr_by_stem:
            raise ImageError(f"{p}: HR stem {p.stem!r} also used by {hr_by_stem[p.stem]}; names must be unique")
        hr_by_stem[p.stem] = p
    sr_for: dict[str, Path] = {}
    unmatched_sr = []
    for p in sr_paths:
        stem = p.stem if p.stem in hr_by_stem else _longest_prefix(p.stem, hr_by_stem)
        if stem is None:
            unmatched_sr.append(p.name)
            continue
        if stem in sr_for:
            raise ImageError(f"{p}: both {sr_for[stem].name} and {p.name} match HR {hr_by_stem[stem].name}; keep one")
        sr_for[stem] = p
    missing = [hr_by_stem[s].name for s in hr_by_stem if s not in sr_for]
    if unmatched_sr:
        raise ImageError(f"{sr_paths[0].parent}: no HR image for {_some(unmatched_sr)}")
    if missing:
        raise ImageError(f"{sr_paths[0].parent if sr_paths else 'SR folder'}: no SR image for HR {_some(missing)}")
    return [(hr_by_stem[s], sr_for[s]) for s in hr_by_stem]


def _longest_prefix(stem: str, hr_by_stem: dict[str, Path]) -> str | None:
    best = None
    for s in hr_by_stem:
        if stem.startswith(s + "_") and (best is None or len(s) > len(best)):
            best = s
    return best


def _some(names: list[str], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def match_hr_size(hr: Tensor, sr: Tensor, scale: int) -> Tensor | None:
    """HR cropped (top-left) to SR's size when it is larger by less than `scale` per axis, else None."""
    (h, w), (sh, sw) = hr.shape[-2:], sr.shape[-2:]
    if 0 <= h - sh < scale and 0 <= w - sw < scale:
        return hr[..., :sh, :sw]
    return None


def score_folders(hr_dir, sr_dir, scale: int, *, y: bool = True, progress: bool = False) -> list[dict]:
    """Score every SR image in `sr_dir` against its HR namesake in `hr_dir` (crop = scale).

    Returns [{"image", "psnr", "ssim"}, ...] in HR order. Grayscale HR images are scored on their gray
    level (see `planes`); SR outputs are scored as stored (8-bit files are already quantized); alpha is
    ignored. HR is cropped to SR's size when it differs by less than the scale (modcrop).
    """
    from tqdm import tqdm

    from gan_sr.io.images import list_images, read_image

    scale = int(scale)
    if scale < 1:
        raise ConfigError(f"--scale must be a positive integer, got {scale}")
    dirs = []
    for name, d in (("HR_DIR", hr_dir), ("SR_DIR", sr_dir)):
        d = Path(d)
        if not d.is_dir():
            raise ImageError(f"{d}: {name} is not a folder" if d.exists() else f"{d}: {name} does not exist")
        files = list_images(d, recursive=False)
        if not files:
            raise ImageError(f"{d}: {name} holds no image files")
        dirs.append(files)
    pairs = pair_by_name(*dirs)
    rows = []
    for hr_path, sr_path in tqdm(pairs, desc="metrics", unit="img", disable=not progress):
        hr_img, sr_img = read_image(hr_path), read_image(sr_path)
        hr = match_hr_size(hr_img.rgb, sr_img.rgb, scale)
        if hr is None:
            (h, w), (sh, sw) = hr_img.rgb.shape[-2:], sr_img.rgb.shape[-2:]
            raise ImageError(
                f"{sr_path}: SR is {sw}x{sh} px but HR {hr_path.name} is {w}x{h} "
                f"(expected {w}x{h} or, cropped to a multiple of {scale}, {w - w % scale}x{h - h % scale})"
            )
        try:
            r = evaluate(sr_img.rgb, hr, scale, y=y, gray=hr_img.grayscale)
        except ConfigError as e:
            raise ImageError(f"{sr_path}: {e}") from None
        rows.append({"image": hr_path.stem, **r})
    return rows


def mean_row(rows: list[dict]) -> dict:
    """{"image": "mean", "psnr", "ssim"} averaged over `rows` (the figure papers report)."""
    n = len(rows)
    return {"image": "mean", "psnr": sum(r["psnr"] for r in rows) / n, "ssim": sum(r["ssim"] for r in rows) / n}
