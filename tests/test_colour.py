"""gan_sr.colour: the MATLAB rgb2ycbcr numbers are BT.601, the conversions invert, and Y agrees across them."""

from __future__ import annotations

import torch

from gan_sr.colour import LUMA, RGB_TO_YCBCR, Y_WEIGHTS, rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb


def test_matlab_y_row_is_219_times_bt601_luma():
    assert Y_WEIGHTS == RGB_TO_YCBCR[0]
    for matlab, k in zip(RGB_TO_YCBCR[0], LUMA):
        assert abs(matlab - 219 * k) < 1e-12
    assert abs(sum(LUMA) - 1.0) < 1e-12


def test_ycbcr_is_bt601_and_inverts(rng):
    x = torch.rand(2, 3, 4, 5, generator=rng, dtype=torch.float64)
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    y = (16 + 65.481 * r + 128.553 * g + 24.966 * b) / 255
    ycc = rgb_to_ycbcr(x)
    assert torch.allclose(ycc[:, 0], y, atol=1e-12)
    assert torch.allclose(ycbcr_to_rgb(ycc), x, atol=1e-12)
    grey = torch.full((3, 2, 2), 0.37, dtype=torch.float64)
    assert torch.allclose(rgb_to_ycbcr(grey)[1:], torch.full((2, 2, 2), 128 / 255, dtype=torch.float64))


def test_rgb_to_y_is_the_y_of_rgb_to_ycbcr_on_0_255(rng):
    x = torch.rand(3, 6, 7, generator=rng)
    y = rgb_to_y(x)
    assert y.dtype == torch.float64 and y.shape == (1, 6, 7)
    assert rgb_to_ycbcr(x).dtype == torch.float32
    assert torch.allclose(y, rgb_to_ycbcr(x.double())[:1] * 255, atol=1e-10)
    assert rgb_to_y(torch.ones(3, 2, 2)).allclose(torch.full((1, 2, 2), 235.0, dtype=torch.float64))
