"""Multi-scale sliced Wasserstein distance (Karras et al. 2018, ProGAN), a weight-free GAN metric.

Per image a Laplacian pyramid (5x5 binomial filter, mirror borders) from full resolution down to
16 px; per level 128 random 7x7 neighbourhoods per image (147-dim descriptors); each set of descriptors
is normalised by its own per-channel mean and std; SWD = mean over 4 repeats of 128 random unit
directions of the mean absolute difference of the sorted projections, times 1e3. Reported per level
and averaged. Real and fake sets must hold the same number of images. Lower is better.
"""

from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_sr.errors import ConfigError

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])


def _kernel(x: Tensor, gain: float = 1.0) -> Tensor:
    k = torch.outer(_BINOMIAL, _BINOMIAL) / 256.0 * gain
    c = x.shape[1]
    return k.to(x.device, x.dtype)[None, None].expand(c, 1, 5, 5)


def pyr_down(x: Tensor) -> Tensor:
    """Blur with the 5x5 binomial filter (mirror borders) and keep every second pixel."""
    y = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), _kernel(x), groups=x.shape[1])
    return y[:, :, ::2, ::2]


def pyr_up(x: Tensor) -> Tensor:
    """Insert zeros between pixels, then blur with 4x the binomial filter (mirror borders)."""
    b, c, h, w = x.shape
    up = x.new_zeros(b, c, h * 2, w * 2)
    up[:, :, ::2, ::2] = x
    return F.conv2d(F.pad(up, (2, 2, 2, 2), mode="reflect"), _kernel(x, 4.0), groups=c)


def laplacian_pyramid(x: Tensor, levels: int) -> list[Tensor]:
    """[band at full res, band at res/2, ..., Gaussian residual at res/2^(levels-1)]."""
    out = []
    for _ in range(levels - 1):
        small = pyr_down(x)
        out.append(x - pyr_up(small))
        x = small
    out.append(x)
    return out


def swd_resolutions(res: int, min_res: int = 16) -> list[int]:
    """Pyramid levels ProGAN reports: res, res/2, ... down to min_res (just res when res < min_res)."""
    out = [res]
    while out[-1] // 2 >= min_res:
        out.append(out[-1] // 2)
    return out


def patch_descriptors(level: Tensor, nhoods: int = 128, patch: int = 7,
                      generator: torch.Generator | None = None) -> Tensor:
    """(B, C, H, W) -> (B * nhoods, C * patch^2): random patches fully inside each image."""
    b, c, h, w = level.shape
    half = patch // 2
    if h < patch or w < patch:
        raise ConfigError(f"SWD needs images of at least {patch}x{patch} px per pyramid level, got {w}x{h}")
    ys = torch.randint(half, h - half, (b, nhoods), generator=generator)
    xs = torch.randint(half, w - half, (b, nhoods), generator=generator)
    offs = torch.arange(-half, half + 1)
    yy = (ys[..., None] + offs).to(level.device)          # (b, n, patch)
    xx = (xs[..., None] + offs).to(level.device)
    bi = torch.arange(b, device=level.device)[:, None, None, None]
    patches = level.permute(0, 2, 3, 1)[bi, yy[..., :, None], xx[..., None, :]]  # (b, n, p, p, c)
    return patches.permute(0, 1, 4, 2, 3).reshape(b * nhoods, c * patch * patch)


def normalize_descriptors(desc: Tensor, channels: int = 3) -> Tensor:
    """Subtract each colour channel's mean and divide by its std, over all descriptors and positions."""
    d = desc.double().reshape(desc.shape[0], channels, -1)
    mean = d.mean((0, 2), keepdim=True)
    std = d.std((0, 2), keepdim=True, unbiased=False).clamp_min(1e-12)
    return ((d - mean) / std).reshape(desc.shape[0], -1).float()


def sliced_wasserstein(a: Tensor, b: Tensor, *, repeats: int = 4, dirs: int = 128,
                       generator: torch.Generator | None = None) -> float:
    """Mean |sorted(a @ u) - sorted(b @ u)| over `repeats` x `dirs` random unit directions u."""
    if a.shape != b.shape:
        raise ConfigError(f"SWD compares equal-sized sets; got {a.shape[0]} and {b.shape[0]} descriptors")
    results = []
    for _ in range(repeats):
        u = torch.randn(dirs, a.shape[1], generator=generator, dtype=torch.float64)
        u = (u / u.norm(dim=1, keepdim=True)).to(a.device, torch.float32)
        pa = torch.sort(u @ a.float().t(), dim=1).values
        pb = torch.sort(u @ b.float().t(), dim=1).values
        results.append((pa - pb).abs().double().mean())
    return float(torch.stack(results).mean())


def _batches(images: Tensor | Iterable[Tensor], batch: int) -> Iterable[Tensor]:
    if isinstance(images, Tensor):
        for i in range(0, images.shape[0], batch):
            yield images[i : i + batch]
    else:
        yield from images


def collect_descriptors(images: Tensor | Iterable[Tensor], *, min_res: int = 16, nhoods: int = 128,
                        patch: int = 7, batch: int = 64, generator: torch.Generator | None = None
                        ) -> tuple[list[int], list[Tensor]]:
    """Per pyramid level, the raw descriptors of all images (a tensor, or an iterable of batches)."""
    levels: list[int] | None = None
    per_level: list[list[Tensor]] = []
    for x in _batches(images, batch):
        x = x.float()
        if x.dim() != 4 or x.shape[1] != 3:
            raise ConfigError(f"SWD needs RGB image batches (B, 3, H, W), got shape {tuple(x.shape)}")
        if levels is None:
            levels = swd_resolutions(min(x.shape[-2:]), min_res)
            per_level = [[] for _ in levels]
        for i, lev in enumerate(laplacian_pyramid(x, len(levels))):
            per_level[i].append(patch_descriptors(lev, nhoods, patch, generator))
    if levels is None:
        raise ConfigError("SWD got an empty image set")
    return levels, [torch.cat(d) for d in per_level]


def swd(real: Tensor | Iterable[Tensor], fake: Tensor | Iterable[Tensor], *, min_res: int = 16,
        nhoods: int = 128, patch: int = 7, repeats: int = 4, dirs: int = 128, batch: int = 64,
        generator: torch.Generator | None = None) -> dict:
    """SWD x 1e3 per level and averaged: {"levels": {res: value}, "mean": value}; images in [0, 1]."""
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    lv_r, desc_r = collect_descriptors(real, min_res=min_res, nhoods=nhoods, patch=patch, batch=batch, generator=gen)
    lv_f, desc_f = collect_descriptors(fake, min_res=min_res, nhoods=nhoods, patch=patch, batch=batch, generator=gen)
    if lv_r != lv_f:
        raise ConfigError(f"SWD: real images ({lv_r[0]} px) and fakes ({lv_f[0]} px) differ in size")
    out = {}
    for res, a, b in zip(lv_r, desc_r, desc_f):
        if a.shape[0] != b.shape[0]:
            raise ConfigError(
                f"SWD compares equal-sized sets; got {a.shape[0] // nhoods} real and {b.shape[0] // nhoods} fake images"
            )
        out[res] = 1e3 * sliced_wasserstein(normalize_descriptors(a), normalize_descriptors(b),
                                            repeats=repeats, dirs=dirs, generator=gen)
    return {"levels": out, "mean": sum(out.values()) / len(out)}
