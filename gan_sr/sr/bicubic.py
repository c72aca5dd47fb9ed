"""Bicubic upscaling: the baseline every SR table starts from, and the chroma path of Y-only models.

The resampler is `gan_sr.degrade.imresize` (MATLAB-compatible, the same kernel that makes the LR
images), so "bicubic" here means the number the literature reports. Y-only models (SRCNN and ESPCN
as published) run the BT.601 luma through the network and upscale Cb and Cr with this module.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gan_sr.errors import ConfigError

# ITU-R BT.601 as MATLAB's rgb2ycbcr, on the [0, 1] scale: ycbcr = OFFSET + RGB_TO_YCBCR @ rgb.
_RGB_TO_YCBCR = torch.tensor(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]], dtype=torch.float64
) / 255.0
_OFFSET = torch.tensor([16.0, 128.0, 128.0], dtype=torch.float64) / 255.0
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)


def _mix(x: Tensor, matrix: Tensor) -> Tensor:
    m = matrix.to(device=x.device, dtype=x.dtype)
    return torch.einsum("ij,...jhw->...ihw", m, x)


def rgb_to_ycbcr(x: Tensor) -> Tensor:
    """RGB (..., 3, H, W) in [0, 1] to YCbCr (BT.601, MATLAB rgb2ycbcr) on the [0, 1] scale."""
    return _mix(x, _RGB_TO_YCBCR) + _OFFSET.to(device=x.device, dtype=x.dtype).view(3, 1, 1)


def ycbcr_to_rgb(x: Tensor) -> Tensor:
    """Inverse of `rgb_to_ycbcr` (exact up to rounding; no clamping)."""
    return _mix(x - _OFFSET.to(device=x.device, dtype=x.dtype).view(3, 1, 1), _YCBCR_TO_RGB)


def bicubic_upscale(x: Tensor, scale: int) -> Tensor:
    """MATLAB-compatible bicubic upscaling of (..., C, H, W) by an integer factor."""
    from gan_sr.degrade import imresize

    return imresize(x, scale)


def check_scale(scale: int, allowed: tuple[int, ...] | None = None) -> int:
    """The scale as an int >= 2 (and in `allowed` when given); ConfigError naming --scale otherwise."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 2:
        raise ConfigError(f"--scale must be an integer >= 2, got {scale!r}")
    if allowed is not None and scale not in allowed:
        raise ConfigError(f"--scale {scale} is not supported here; choose one of {', '.join(map(str, allowed))}")
    return scale


RESIDUALS = ("none", "bicubic")
"""Global residual options of the learnable models: "bicubic" adds the MATLAB-bicubic upsample of the input
to the network's output (VDSR; Real-ESRGAN's SRVGGNetCompact adds a nearest upsample), so a fresh net with
a near-zero last layer starts at the bicubic baseline and learns only the missing detail."""


def check_residual(residual: str) -> str:
    """'none' or 'bicubic'; ConfigError otherwise."""
    r = str(residual).lower()
    if r not in RESIDUALS:
        raise ConfigError(f"option residual must be one of {', '.join(RESIDUALS)}, got {residual!r}")
    return r


def check_channels(channels: str) -> str:
    """'y' (luma through the network, chroma by bicubic) or 'rgb'; ConfigError otherwise."""
    c = str(channels).lower()
    if c not in ("y", "rgb"):
        raise ConfigError(f"option channels must be 'y' or 'rgb', got {channels!r}")
    return c


def luma(lr: Tensor) -> Tensor:
    """The Y channel (B, 1, h, w) of an RGB batch, [0, 1] scale."""
    return rgb_to_ycbcr(lr)[..., :1, :, :]


def merge_luma(y_sr: Tensor, lr: Tensor, scale: int) -> Tensor:
    """RGB from a super-resolved Y and the bicubic-upscaled Cb, Cr of `lr`."""
    cbcr = bicubic_upscale(rgb_to_ycbcr(lr)[..., 1:, :, :], scale)
    return ycbcr_to_rgb(torch.cat([y_sr.to(cbcr.dtype), cbcr], dim=-3))


class Bicubic(nn.Module):
    """The bicubic baseline as an SR model: no parameters, nothing to train."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = check_scale(scale)

    def forward(self, lr: Tensor) -> Tensor:
        return bicubic_upscale(lr, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"
