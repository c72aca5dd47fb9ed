"""Multi-scale SSIM (Wang, Simoncelli, Bovik 2003) and the sample-diversity score built on it.

Per RGB channel: 11x11 Gaussian window (sigma 1.5), valid filtering, K1 = 0.01, K2 = 0.03, data range 1;
2x2 average pooling between scales; contrast-structure terms at every scale but the last, full SSIM at
the last, combined with the published weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333); negative terms
are clipped to 0 (as TensorFlow does) and channels averaged. Images too small for five scales (64 px
gives three) use the scales that fit, with the leading weights renormalised to sum to 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_sr.errors import ConfigError

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW, SIGMA, K1, K2 = 11, 1.5, 0.01, 0.03


def _window(c: int, device, dtype) -> tuple[Tensor, Tensor]:
    """The separable Gaussian window as a vertical and a horizontal depthwise kernel."""
    ax = torch.arange(WINDOW, dtype=torch.float64) - WINDOW // 2
    g = torch.exp(-(ax**2) / (2 * SIGMA**2))
    g = (g / g.sum()).to(device, dtype)
    return g.reshape(1, 1, WINDOW, 1).expand(c, 1, WINDOW, 1), g.reshape(1, 1, 1, WINDOW).expand(c, 1, 1, WINDOW)


def max_scales(size: int) -> int:
    """How many of the 5 scales fit: the coarsest scale must still hold an 11x11 window."""
    n = 0
    while n < len(WEIGHTS) and size // (2**n) >= WINDOW:
        n += 1
    return n


def _ssim_cs(x: Tensor, y: Tensor, data_range: float) -> tuple[Tensor, Tensor]:
    """Per image and channel: mean SSIM and mean contrast-structure term, (B, C) each."""
    c = x.shape[1]
    wv, wh = _window(c, x.device, x.dtype)
    f = lambda t: F.conv2d(F.conv2d(t, wv, groups=c), wh, groups=c)  # noqa: E731
    mx, my = f(x), f(y)
    sxx, syy, sxy = f(x * x) - mx * mx, f(y * y) - my * my, f(x * y) - mx * my
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    return (lum * cs).mean((2, 3)), cs.mean((2, 3))


def ms_ssim(x: Tensor, y: Tensor, *, scales: int | None = None, data_range: float = 1.0) -> Tensor:
    """MS-SSIM of image pairs (B, C, H, W) in [0, data_range] -> (B,) float64."""
    if x.shape != y.shape or x.dim() != 4:
        raise ConfigError(f"MS-SSIM needs two image batches of one shape (B, C, H, W), got {tuple(x.shape)} "
                          f"and {tuple(y.shape)}")
    fit = max_scales(min(x.shape[-2:]))
    n = fit if scales is None else int(scales)
    if n < 1 or n > fit:
        raise ConfigError(f"MS-SSIM: {min(x.shape[-2:])} px images allow 1..{fit} scales"
                          f"{'' if fit else ' (they are smaller than the 11x11 window)'}, got {n}")
    w = torch.tensor(WEIGHTS[:n], dtype=torch.float64)
    w = (w / w.sum()).to(x.device)
    x, y = x.double(), y.double()
    terms = []
    for i in range(n):
        ssim, cs = _ssim_cs(x, y, data_range)
        terms.append(ssim if i == n - 1 else cs)
        if i < n - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    t = torch.stack(terms, -1).clamp_min(0.0)  # (B, C, n)
    return (t**w).prod(-1).mean(1)


def msssim_batch(res: int) -> int:
    """Pairs per MS-SSIM batch: fewer for larger images, which keeps the float64 depthwise convs in cache.

    Measured on 2 CPU cores: 256 px pairs take 1.4 s each in batches of 16 and 0.24 s one at a time;
    64 px pairs 33 ms in batches of 64 and 16 ms in batches of 16. The result does not depend on it.
    """
    return max(1, min(64, (16 * 64 * 64) // max(1, res * res)))


def msssim_diversity(images: Tensor, *, pairs: int = 1000, batch: int | None = None,
                     generator: torch.Generator | None = None) -> float:
    """Mean MS-SSIM over random pairs of distinct images of one set: lower = more diverse (mode collapse -> 1)."""
    n = images.shape[0]
    if n < 2:
        raise ConfigError(f"MS-SSIM diversity needs at least 2 images, got {n}")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    i = torch.randint(0, n, (pairs,), generator=gen)
    j = (i + torch.randint(1, n, (pairs,), generator=gen)) % n
    total = 0.0
    batch = batch or msssim_batch(min(images.shape[-2:]))
    for s in range(0, pairs, batch):
        a, b = images[i[s : s + batch]], images[j[s : s + batch]]
        total += float(ms_ssim(a, b).sum())
    return total / pairs
