"""Bicubic upscaling: the baseline every SR table starts from, and the chroma path of Y-only models.

The resampler is `gan_sr.degrade.imresize` (MATLAB-compatible, the same kernel that makes the LR
images), so "bicubic" here means the number the literature reports. Y-only models (SRCNN and ESPCN
as published) run the BT.601 luma (`gan_sr.colour`) through the network and upscale Cb and Cr with this module.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gan_sr.colour import rgb_to_ycbcr, ycbcr_to_rgb
from gan_sr.sr.checks import check_scale


def bicubic_upscale(x: Tensor, scale: int) -> Tensor:
    """MATLAB-compatible bicubic upscaling of (..., C, H, W) by an integer factor."""
    from gan_sr.degrade import imresize

    return imresize(x, scale)


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
