"""A DCGAN-class generator: the small, fast family the limited-data GAN is measured against StyleGAN2-lite.

Radford et al. 2016 (DCGAN) as PGGAN (Karras et al. 2018) trains it: z -> 4x4 features by one linear
layer, then per resolution nearest x2 upsampling and two 3x3 convolutions, each followed by leaky ReLU and
pixel norm (PGGAN's replacement for batch norm, which an EMA copy of G would not track); a 1x1 toRGB at the
end. Equalised learning rate as in the StyleGAN2-lite networks, so both families train with one optimiser
setting. There is no mapping network and no modulation: w is z (pixel-normed), and truncation scales it
towards the mean latent 0. The discriminator is the same residual D as StyleGAN2-lite's, so a comparison of
the two families changes the generator only. Plain convolutions at batch 32 cost far less on a CPU than
per-image modulated ones, which buys wider layers at 64 and 128 px.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_sr.gan.networks import EqConv2d, EqLinear, channels


def _pixel_norm(x: Tensor) -> Tensor:
    return x * torch.rsqrt(x.square().mean(1, keepdim=True) + 1e-8)


class DCGenerator(nn.Module):
    """z (B, z_dim) -> image (B, 3, res, res) in about [-1, 1]; the same interface as networks.Generator."""

    def __init__(self, res: int, z_dim: int, channel_base: int, channel_max: int, **_ignored):
        super().__init__()
        cfg = {"channel_base": channel_base, "channel_max": channel_max}
        self.res, self.z_dim, self.w_dim = res, z_dim, z_dim
        self.register_buffer("w_avg", torch.zeros(z_dim))  # the mean latent, for truncation (stays 0)
        c4 = channels(4, cfg)
        self.fc = EqLinear(z_dim, c4 * 16, act=True)
        self.conv4 = EqConv2d(c4, c4, 3)
        self.blocks = nn.ModuleList()
        r = 8
        while r <= res:
            cin, cout = channels(r // 2, cfg), channels(r, cfg)
            self.blocks.append(nn.Sequential(EqConv2d(cin, cout, 3), EqConv2d(cout, cout, 3)))
            r *= 2
        self.to_rgb = EqConv2d(channels(res, cfg), 3, 1, act=False)

    def mapping_w(self, z: Tensor, truncation: float = 1.0) -> Tensor:
        w = _pixel_norm(z)
        return w * truncation if truncation != 1.0 else w

    def synthesis(self, w: Tensor) -> Tensor:
        x = _pixel_norm(self.fc(w).reshape(w.shape[0], -1, 4, 4))
        x = _pixel_norm(self.conv4(x))
        for blk in self.blocks:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = _pixel_norm(blk[1](_pixel_norm(blk[0](x))))
        return self.to_rgb(x)

    def forward(self, z: Tensor, truncation: float = 1.0) -> Tensor:
        return self.synthesis(self.mapping_w(z, truncation))
