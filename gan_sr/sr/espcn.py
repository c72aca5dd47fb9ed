"""ESPCN (Shi et al.: "Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel
Convolutional Neural Network", CVPR 2016).

All convolutions run at LR resolution: 5x5 -> 64, tanh; 3x3 -> 32, tanh; 3x3 -> C*r*r; the
periodic shuffle (PixelShuffle r) builds the HR image. The paper works on Y (Cb, Cr bicubic).
"Same" zero padding keeps sizes. The paper gives no init; this follows the common public
re-implementation (yjn870/ESPCN-pytorch): N(0, 2 / (k*k*out)) for the hidden layers, N(0, 0.001^2)
for the last, zero biases. Option residual="bicubic" (not in the paper; the CPU recipes use it): the
network predicts the difference to the bicubic upsample, so it starts at the baseline.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gan_sr.colour import rgb_to_ycbcr, ycbcr_to_rgb
from gan_sr.sr.bicubic import bicubic_upscale
from gan_sr.sr.checks import check_channels, check_residual, check_scale


class ESPCN(nn.Module):
    """ESPCN on Y (paper) or RGB; `widths` are the two hidden layer sizes (64, 32)."""

    def __init__(self, scale: int, *, channels: str = "y", widths: tuple[int, int] = (64, 32),
                 residual: str = "none") -> None:
        super().__init__()
        self.scale = check_scale(scale)
        self.channels = check_channels(channels)
        self.residual = check_residual(residual)
        n1, n2 = (int(w) for w in widths)
        c = 1 if self.channels == "y" else 3
        self.body = nn.Sequential(
            nn.Conv2d(c, n1, 5, padding=2), nn.Tanh(),
            nn.Conv2d(n1, n2, 3, padding=1), nn.Tanh(),
        )
        self.to_subpixels = nn.Conv2d(n2, c * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)
        for conv in (self.body[0], self.body[2]):
            nn.init.normal_(conv.weight, std=math.sqrt(2.0 / (conv.out_channels * conv.weight[0, 0].numel())))
            nn.init.zeros_(conv.bias)
        nn.init.normal_(self.to_subpixels.weight, std=1e-3)
        nn.init.zeros_(self.to_subpixels.bias)

    def net(self, x: Tensor) -> Tensor:
        """LR (Y or RGB) to HR (Y or RGB) through the three layers and the shuffle."""
        return self.shuffle(self.to_subpixels(self.body(x)))

    def forward(self, lr: Tensor) -> Tensor:
        if self.channels == "rgb":
            out = self.net(lr)
            return out + bicubic_upscale(lr, self.scale) if self.residual == "bicubic" else out
        # Bicubic and the YCbCr transform are both affine with weights summing to one, so they commute.
        ycc = rgb_to_ycbcr(lr)
        up = bicubic_upscale(ycc, self.scale)
        y = self.net(ycc[:, :1]).to(up.dtype)
        if self.residual == "bicubic":
            y = y + up[:, :1]
        return ycbcr_to_rgb(torch.cat([y, up[:, 1:]], dim=1))

    def extra_repr(self) -> str:
        return f"scale={self.scale}, channels={self.channels!r}, residual={self.residual!r}"
