"""imresize against a slow numpy transcription of MATLAB's formulas, and the literature's bicubic rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan_sr.degrade import downscale, imresize, modcrop
from gan_sr.errors import ConfigError



def _cubic(x: float) -> float:
    a = abs(x)
    if a <= 1:
        return 1.5 * a**3 - 2.5 * a**2 + 1
    if a <= 2:
        return -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2
    return 0.0


def _mirror(j: int, n: int) -> int:
    """1-based index j folded into 1..n by half-sample symmetric reflection (edge pixel repeated)."""
    period = 2 * n
    k = (j - 1) % period
    return k + 1 if k < n else period - k


def _resize_1d_matrix(n_in: int, n_out: int, scale: float, antialias: bool) -> np.ndarray:
    """Row i holds the weights of output pixel i over the input pixels, one pixel at a time."""
    shrink = scale < 1 and antialias
    width = 4.0 / scale if shrink else 4.0
    m = np.zeros((n_out, n_in))
    for i in range(1, n_out + 1):
        u = i / scale + 0.5 * (1 - 1 / scale)
        row = {}
        for j in range(math.floor(u - width / 2), math.ceil(u + width / 2) + 1):
            d = u - j
            w = scale * _cubic(scale * d) if shrink else _cubic(d)
            row[j] = w
        total = sum(row.values())
        for j, w in row.items():
            m[i - 1, _mirror(j, n_in) - 1] += w / total
    return m


def _reference(img: np.ndarray, out_hw: tuple[int, int], scale_hw: tuple[float, float], antialias=True) -> np.ndarray:
    mh = _resize_1d_matrix(img.shape[-2], out_hw[0], scale_hw[0], antialias)
    mw = _resize_1d_matrix(img.shape[-1], out_hw[1], scale_hw[1], antialias)
    return mh @ img @ mw.T


@pytest.mark.parametrize("scale", [2, 3, 4, 8, 0.5, 1 / 3, 0.25, 1 / 8, 1.7, 0.37, 2.5])
def test_imresize_matches_slow_reference(scale, rng):
    x = torch.rand(2, 3, 13, 17, generator=rng, dtype=torch.float64)
    out = imresize(x, scale)
    oh, ow = math.ceil(13 * scale - 1e-9), math.ceil(17 * scale - 1e-9)
    assert out.shape == (2, 3, oh, ow) and out.dtype == torch.float64
    ref = _reference(x.numpy(), (oh, ow), (scale, scale))
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-12, rtol=0)


def test_imresize_size_and_scale_pairs_and_no_antialias(rng):
    x = torch.rand(3, 20, 9, generator=rng, dtype=torch.float64)
    out = imresize(x, size=(7, 30))  # shrink rows, enlarge columns: factors 7/20 and 30/9
    np.testing.assert_allclose(out.numpy(), _reference(x.numpy(), (7, 30), (7 / 20, 30 / 9)), atol=1e-12)
    out = imresize(x, (0.5, 2))
    np.testing.assert_allclose(out.numpy(), _reference(x.numpy(), (10, 18), (0.5, 2.0)), atol=1e-12)
    out = imresize(x, 0.5, antialias=False)
    np.testing.assert_allclose(out.numpy(), _reference(x.numpy(), (10, 5), (0.5, 0.5), False), atol=1e-12)


def test_imresize_large_axis_uses_many_blocks(rng):
    x = torch.rand(1, 1, 300, 7, generator=rng, dtype=torch.float64)
    for s in (4, 0.25, 1 / 3):
        out = imresize(x, s)
        ref = _reference(x.numpy(), tuple(out.shape[-2:]), (s, s))
        np.testing.assert_allclose(out.numpy(), ref, atol=1e-12)


def test_float32_close_to_float64_and_batching(rng):
    x = torch.rand(4, 3, 24, 31, generator=rng)
    out = imresize(x, 0.25)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), imresize(x.double(), 0.25), atol=2e-6, rtol=0)
    for i in range(4):
        torch.testing.assert_close(out[i], imresize(x[i], 0.25), atol=1e-6, rtol=0)
    assert imresize(x, 1).equal(x)


@pytest.mark.parametrize("scale", [2, 3, 4, 0.5, 1 / 3, 0.25, 0.3])
def test_constant_stays_constant(scale):
    x = torch.full((3, 21, 16), 0.37)
    out = imresize(x, scale)
    assert (out - 0.37).abs().max() < 1e-6


def test_odd_symmetry_and_linearity(rng):
    x = torch.rand(1, 16, 16, generator=rng, dtype=torch.float64)
    y = torch.rand(1, 16, 16, generator=rng, dtype=torch.float64)
    torch.testing.assert_close(imresize(2 * x - y, 0.5), 2 * imresize(x, 0.5) - imresize(y, 0.5))
    torch.testing.assert_close(imresize(x.flip(-1), 0.25), imresize(x, 0.25).flip(-1))


def test_imresize_errors():
    x = torch.rand(3, 8, 8)
    with pytest.raises(ConfigError, match="needs a scale or a size"):
        imresize(x)
    with pytest.raises(ConfigError, match="positive number"):
        imresize(x, -2)
    with pytest.raises(ConfigError, match="positive"):
        imresize(x, size=(0, 4))
    with pytest.raises(ConfigError, match="pair"):
        imresize(x, (1, 2, 3))
    with pytest.raises(ConfigError, match="empty image"):
        imresize(torch.rand(3, 0, 8), 2)
    with pytest.raises(TypeError, match="floating-point"):
        imresize(torch.zeros(3, 8, 8, dtype=torch.uint8), 2)


def test_modcrop_and_downscale(rng):
    x = torch.rand(2, 3, 50, 47, generator=rng)
    assert modcrop(x, 4).shape == (2, 3, 48, 44)
    assert modcrop(x, 4).equal(x[..., :48, :44])
    y = modcrop(x, 4)
    box = y.reshape(2, 3, 12, 4, 11, 4).mean(dim=(3, 5))
    torch.testing.assert_close(downscale(y, 4, method="area"), box)
    torch.testing.assert_close(downscale(y, 4), imresize(y, 0.25))
    assert downscale(torch.rand(3, 321, 30), 3).shape == (3, 107, 10)
    with pytest.raises(ConfigError, match="divisible by 4.*modcrop"):
        downscale(x, 4, method="area")
    with pytest.raises(ConfigError, match="unknown downscale method 'nearest'"):
        downscale(y, 4, method="nearest")
    with pytest.raises(ConfigError, match="positive integer scale"):
        modcrop(x, 2.5)
    with pytest.raises(ConfigError, match="smaller than the scale"):
        modcrop(torch.rand(3, 3, 9), 4)


def _published_pipelines(folder, s):
    """Mean (psnr, ssim) on Y of two bicubic pipelines: RGB (toolkit) and rounded-Y (SRCNN's MATLAB code)."""
    from gan_sr.io.images import list_images, quantize, read_image
    from gan_sr.colour import rgb_to_y
    from gan_sr.metrics.psnr_ssim import planes, psnr_planes, ssim_planes

    rgb_rows, y_rows = [], []
    for p in list_images(folder):
        hr = modcrop(read_image(p).rgb.double()[None], s)
        sr = quantize(imresize(imresize(hr, 1 / s), s))
        a, b = planes(sr), planes(hr)
        rgb_rows.append((float(psnr_planes(a, b, crop=s)[0]), float(ssim_planes(a, b, crop=s)[0])))
        y = torch.floor(rgb_to_y(hr) + 0.5)
        y_sr = torch.floor(imresize(imresize(y, 1 / s), s).clamp(0, 255) + 0.5)
        y_rows.append((float(psnr_planes(y_sr, y, crop=s)[0]), float(ssim_planes(y_sr, y, crop=s)[0])))
    return np.mean(rgb_rows, axis=0), np.mean(y_rows, axis=0)


@pytest.mark.shared
@pytest.mark.parametrize("scale,published", [(2, (33.66, 0.9299)), (4, (28.42, 0.8104))])
def test_set5_bicubic_matches_published(shared_datasets, scale, published):
    rgb, y_only = _published_pipelines(shared_datasets / "Set5", scale)
    assert abs(rgb[0] - published[0]) <= 0.03 and abs(rgb[1] - published[1]) <= 0.001, rgb
    # the rounded-Y pipeline reproduces the printed digits: within their rounding interval
    assert abs(y_only[0] - published[0]) <= 0.005 and abs(y_only[1] - published[1]) <= 0.00005, y_only
