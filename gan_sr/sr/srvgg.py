"""SRVGGNetCompact (Wang et al.: "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic
Data", ICCVW 2021; the compact net of its realesr-animevideov3 and realesr-general models).

A plain VGG-style stack at LR resolution: 3x3 conv 3 -> nf, activation, then `num_conv` x (3x3 conv nf -> nf,
activation), a 3x3 conv to 3 * scale^2, PixelShuffle(scale), plus the nearest-neighbour upsample of the input
(a global residual). Activation PReLU with one slope per channel (the released models), or leaky ReLU 0.1 /
ReLU. Parameter names follow BasicSR's `body.N`, so its released weights load unchanged.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from gan_sr.errors import ConfigError
from gan_sr.sr.checks import check_scale

ACTS = ("prelu", "leakyrelu", "relu")


def _act(kind: str, nf: int) -> nn.Module:
    if kind == "prelu":
        return nn.PReLU(num_parameters=nf)
    return nn.LeakyReLU(0.1, inplace=True) if kind == "leakyrelu" else nn.ReLU(inplace=True)


class SRVGGNetCompact(nn.Module):
    """The compact Real-ESRGAN net: `num_conv` 3x3 convs of width `nf` at LR size, sub-pixel output."""

    def __init__(self, scale: int, *, nf: int = 64, num_conv: int = 16, act: str = "prelu") -> None:
        super().__init__()
        self.scale = check_scale(scale)
        if act not in ACTS:
            raise ConfigError(f"option act must be one of {', '.join(ACTS)}, got {act!r}")
        layers: list[nn.Module] = [nn.Conv2d(3, nf, 3, padding=1), _act(act, nf)]
        for _ in range(int(num_conv)):
            layers += [nn.Conv2d(nf, nf, 3, padding=1), _act(act, nf)]
        layers.append(nn.Conv2d(nf, 3 * scale * scale, 3, padding=1))
        self.body = nn.ModuleList(layers)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, lr: Tensor) -> Tensor:
        x = lr
        for layer in self.body:
            x = layer(x)
        return self.shuffle(x) + F.interpolate(lr, scale_factor=self.scale, mode="nearest")

    def extra_repr(self) -> str:
        return f"scale={self.scale}"
