"""The progressive stack of issue 7: a base generator G0 followed by an SR stage S, one generator end to end.

    lo = G0(z)                                            (StyleGAN2-lite, gan_sr/gan/networks.py, in [-1, 1])
    hi = (1 - alpha) * bicubic_up(lo) + alpha * S(lo)     (ProGAN's fade-in of a new high-resolution stage)

Karras et al. 2018 ("Progressive growing of GANs") fade a new block in by blending it with the upsampled
output of the old one while alpha goes 0 -> 1. Here the new block is any SR model of the registry. S works
on images in [0, 1], so lo enters it through `to_unit` (clamped, as a saved sample would be) and its output
returns through `to_gan`. bicubic_up is MATLAB bicubic (gan_sr.degrade), the `bicubic` baseline of
`gansr posthoc`: at alpha = 0 the stack is exactly G0 followed by that baseline, and S is not run.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gan_sr.degrade import imresize
from gan_sr.gan.networks import Generator, build_generator, to_gan, to_unit
from gan_sr.sr.registry import build_model


class Stack(nn.Module):
    """G0 (a GAN generator of either family) followed by an SR stage S; `alpha` is a 0-dim buffer, saved with them."""

    def __init__(self, g0: Generator, sr: nn.Module, alpha: float = 1.0):
        super().__init__()
        self.g0, self.sr = g0, sr
        self.register_buffer("alpha", torch.tensor(float(alpha)))
        self.z_dim, self.res_lo, self.scale = g0.z_dim, g0.res, int(sr.scale)
        self.res_hi = self.res_lo * self.scale

    def set_alpha(self, alpha: float) -> None:
        """Move the fade-in (0 = bicubic only, 1 = S only)."""
        self.alpha.fill_(float(alpha))

    def forward(self, z: Tensor, truncation: float = 1.0) -> tuple[Tensor, Tensor]:
        """(lo, hi), both in about [-1, 1]: G0's sample and its upscaled version."""
        lo = self.g0(z, truncation)
        up = imresize(lo, self.scale)
        a = float(self.alpha)
        if a == 0.0:
            return lo, up
        return lo, (1.0 - a) * up + a * to_gan(self.sr(to_unit(lo)))


def build_stack(config: dict, alpha: float = 1.0) -> Stack:
    """A fresh stack from a joint checkpoint's model config:
    {"g0": G0's netcfg, "sr": {"name", "scale", "preset", "overrides"}}."""
    sr = config["sr"]
    s_stage = build_model(sr["name"], int(sr["scale"]), sr["preset"], **sr["overrides"])
    return Stack(build_generator(config["g0"]), s_stage, alpha)
