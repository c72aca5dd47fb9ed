"""ITU-R BT.601 colour as MATLAB's rgb2ycbcr: the Y channel that the SR literature trains on and scores.

The one home of these numbers, so that PSNR/SSIM on Y, the Y-only models (SRCNN, ESPCN), grayscale PNG writes
and Anime4KCPP's luminance cannot drift apart. Images are RGB in [0, 1], (..., 3, H, W).
"""

from __future__ import annotations

import torch
from torch import Tensor

LUMA = (0.299, 0.587, 0.114)
"""BT.601 luma weights of R, G, B: the full-range gray level (grayscale PNG writes, Anime4KCPP ``getGrayF``)."""

RGB_TO_YCBCR = ((65.481, 128.553, 24.966), (-37.797, -74.203, 112.0), (112.0, -93.786, -18.214))
"""MATLAB rgb2ycbcr's matrix, as MATLAB writes it: RGB in [0, 1] to YCbCr on 0..255 (added to YCBCR_OFFSET)."""

YCBCR_OFFSET = (16.0, 128.0, 128.0)

Y_WEIGHTS = RGB_TO_YCBCR[0]
"""The Y row, 219 * LUMA: Y = 16 + Y_WEIGHTS . RGB lies in [16, 235]."""

_MATRIX = torch.tensor(RGB_TO_YCBCR, dtype=torch.float64) / 255.0
_OFFSET = torch.tensor(YCBCR_OFFSET, dtype=torch.float64) / 255.0
_INVERSE = torch.linalg.inv(_MATRIX)


def _mix(x: Tensor, matrix: Tensor) -> Tensor:
    m = matrix.to(device=x.device, dtype=x.dtype)
    return torch.einsum("ij,...jhw->...ihw", m, x)


def rgb_to_ycbcr(x: Tensor) -> Tensor:
    """RGB (..., 3, H, W) in [0, 1] to YCbCr (BT.601, MATLAB rgb2ycbcr) on the [0, 1] scale, in x's dtype."""
    return _mix(x, _MATRIX) + _OFFSET.to(device=x.device, dtype=x.dtype).view(3, 1, 1)


def ycbcr_to_rgb(x: Tensor) -> Tensor:
    """Inverse of `rgb_to_ycbcr` (exact up to rounding; no clamping)."""
    return _mix(x - _OFFSET.to(device=x.device, dtype=x.dtype).view(3, 1, 1), _INVERSE)


def rgb_to_y(x: Tensor) -> Tensor:
    """BT.601 Y of RGB in [0, 1]: (..., 3, H, W) -> (..., 1, H, W) float64 on the 0..255 scale, unrounded."""
    w = torch.tensor(Y_WEIGHTS, dtype=torch.float64, device=x.device).view(3, 1, 1)
    return (x.to(torch.float64) * w).sum(dim=-3, keepdim=True) + 16.0
