"""SRCNN (Dong, Loy, He, Tang: "Image Super-Resolution Using Deep Convolutional Networks", TPAMI 2015).

Bicubic-upscale first, then three convolutions: patch extraction f1 x f1 -> n1, ReLU; non-linear
mapping f2 x f2 -> n2, ReLU; reconstruction f3 x f3 -> C. The paper's base net is 9-1-5 with
n1 = 64, n2 = 32 on the Y channel (Cb, Cr stay bicubic); 9-5-5 is its better, slower variant.
Differences from the paper, so that output size equals input size: zero "same" padding instead of
valid convolutions. Init "paper": weights N(0, 0.001^2), biases 0 - tuned for the paper's ~1e8
backpropagations, it spends the first thousands of Adam steps below bicubic. Init "he": He-normal
for the two ReLU layers (reconstruction still N(0, 0.001^2)), which passes bicubic within a few
hundred steps (experiments/results/photo_repro/results.md). Option residual="bicubic" (VDSR's global
residual, not in SRCNN): the three convolutions predict the difference to their bicubic input.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gan_sr.colour import rgb_to_ycbcr, ycbcr_to_rgb
from gan_sr.errors import ConfigError
from gan_sr.sr.bicubic import bicubic_upscale
from gan_sr.sr.checks import check_channels, check_residual, check_scale


INITS = ("paper", "he")


class SRCNN(nn.Module):
    """SRCNN f1-f2-f3 with widths n1, n2; channels 'y' (paper) or 'rgb'; init 'paper' or 'he'."""

    def __init__(self, scale: int, *, channels: str = "y", kernels: tuple[int, int, int] = (9, 1, 5),
                 widths: tuple[int, int] = (64, 32), init: str = "paper", residual: str = "none") -> None:
        super().__init__()
        self.scale = check_scale(scale)
        self.channels = check_channels(channels)
        self.residual = check_residual(residual)
        f1, f2, f3 = _odd_kernels(kernels)
        n1, n2 = (int(w) for w in widths)
        c = 1 if self.channels == "y" else 3
        self.extract = nn.Conv2d(c, n1, f1, padding=f1 // 2)
        self.map = nn.Conv2d(n1, n2, f2, padding=f2 // 2)
        self.reconstruct = nn.Conv2d(n2, c, f3, padding=f3 // 2)
        self.relu = nn.ReLU(inplace=True)
        if init not in INITS:
            raise ConfigError(f"option init must be one of {', '.join(INITS)}, got {init!r}")
        for conv in (self.extract, self.map, self.reconstruct):
            if init == "he" and conv is not self.reconstruct:
                nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            else:
                nn.init.normal_(conv.weight, std=1e-3)
            nn.init.zeros_(conv.bias)

    def net(self, x: Tensor) -> Tensor:
        """The three convolutions on an already upscaled image (Y or RGB), plus it with the global residual."""
        out = self.reconstruct(self.relu(self.map(self.relu(self.extract(x)))))
        return out + x if self.residual == "bicubic" else out

    def forward(self, lr: Tensor) -> Tensor:
        if self.channels == "rgb":
            return self.net(bicubic_upscale(lr, self.scale))
        # Bicubic and the YCbCr transform are both affine with weights summing to one, so they commute.
        up = bicubic_upscale(rgb_to_ycbcr(lr), self.scale)
        y = self.net(up[:, :1])
        return ycbcr_to_rgb(torch.cat([y.to(up.dtype), up[:, 1:]], dim=1))

    def extra_repr(self) -> str:
        return f"scale={self.scale}, channels={self.channels!r}, residual={self.residual!r}"


def _odd_kernels(kernels) -> tuple[int, int, int]:
    try:
        ks = tuple(int(k) for k in kernels)
    except (TypeError, ValueError):
        ks = ()
    if len(ks) != 3 or any(k < 1 or k % 2 == 0 for k in ks):
        raise ConfigError(f"option kernels must be three odd sizes such as (9, 1, 5), got {kernels!r}")
    return ks
