"""MS-SSIM against scikit-image (one scale) and a scipy re-derivation (several), and the diversity score."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.metrics import structural_similarity

from gan_sr.errors import ConfigError
from gan_sr.metrics.msssim import WEIGHTS, max_scales, ms_ssim, msssim_diversity



def _pair(rng, size=48):
    x = torch.rand(2, 3, size, size, generator=rng, dtype=torch.float64)
    x = torch.from_numpy(ndimage.gaussian_filter(x.numpy(), (0, 0, 1.0, 1.0)))
    y = (x + 0.1 * torch.randn(x.shape, generator=rng, dtype=torch.float64)).clamp(0, 1)
    return x, y


def test_single_scale_equals_skimage_gaussian_ssim(rng):
    x, y = _pair(rng)
    got = ms_ssim(x, y, scales=1)
    for b in range(2):
        ref = structural_similarity(x[b].numpy(), y[b].numpy(), channel_axis=0, data_range=1.0,
                                    gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        assert got[b].item() == pytest.approx(ref, abs=1e-6)


def _ref_ms_ssim(x: np.ndarray, y: np.ndarray, n: int) -> float:
    """Straight from the paper, with scipy: a Gaussian-weighted mean over the valid region per scale."""
    ax = np.arange(11) - 5
    g = np.exp(-ax**2 / 4.5)
    win = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01**2, 0.03**2
    w = np.array(WEIGHTS[:n]) / sum(WEIGHTS[:n])
    per_channel = []
    for ch in range(x.shape[0]):
        a, b, val = x[ch], y[ch], 1.0
        for s in range(n):
            f = lambda t: ndimage.correlate(t, win, mode="constant")[5:-5, 5:-5]  # noqa: E731
            ma, mb = f(a), f(b)
            va, vb, cov = f(a * a) - ma**2, f(b * b) - mb**2, f(a * b) - ma * mb
            cs = ((2 * cov + c2) / (va + vb + c2)).mean()
            term = ((2 * ma * mb + c1) / (ma**2 + mb**2 + c1) * (2 * cov + c2) / (va + vb + c2)).mean() if s == n - 1 else cs
            val *= max(term, 0.0) ** w[s]
            h, wd = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
            a = a[:h, :wd].reshape(h // 2, 2, wd // 2, 2).mean((1, 3))
            b = b[:h, :wd].reshape(h // 2, 2, wd // 2, 2).mean((1, 3))
        per_channel.append(val)
    return float(np.mean(per_channel))


def test_multi_scale_matches_reference(rng):
    x, y = _pair(rng, size=96)
    assert max_scales(96) == 4 and max_scales(64) == 3 and max_scales(176) == 5 and max_scales(8) == 0
    got = ms_ssim(x, y)
    for b in range(2):
        assert got[b].item() == pytest.approx(_ref_ms_ssim(x[b].numpy(), y[b].numpy(), 4), abs=1e-9)


def test_identity_and_ordering(rng):
    x, y = _pair(rng, size=64)
    assert torch.allclose(ms_ssim(x, x), torch.ones(2, dtype=torch.float64))
    worse = (x + 0.3 * torch.randn(x.shape, generator=rng, dtype=torch.float64)).clamp(0, 1)
    assert (ms_ssim(x, worse) < ms_ssim(x, y)).all()


def test_diversity_separates_collapsed_from_varied_sets(rng):
    base = torch.from_numpy(ndimage.gaussian_filter(torch.rand(1, 3, 32, 32, generator=rng).numpy(), (0, 0, 1, 1)))
    collapsed = (base + 0.01 * torch.randn(16, 3, 32, 32, generator=rng)).clamp(0, 1)
    varied = torch.from_numpy(ndimage.gaussian_filter(torch.rand(16, 3, 32, 32, generator=rng).numpy(), (0, 0, 1, 1)))
    d_col = msssim_diversity(collapsed, pairs=100)
    d_var = msssim_diversity(varied, pairs=100)
    assert d_col > 0.9 and d_var < 0.5 and d_var < d_col


def test_errors():
    with pytest.raises(ConfigError, match="smaller than the 11x11 window"):
        ms_ssim(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    with pytest.raises(ConfigError, match="allow 1..3 scales"):
        ms_ssim(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64), scales=5)
    with pytest.raises(ConfigError, match="one shape"):
        ms_ssim(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 32, 32))
    with pytest.raises(ConfigError, match="at least 2 images"):
        msssim_diversity(torch.rand(1, 3, 32, 32))
