"""SRResNet, the generator of SRGAN (Ledig et al.: "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network", CVPR 2017, Figure 4).

9x9 conv -> 64, PReLU; 16 residual blocks (3x3 conv, BN, PReLU, 3x3 conv, BN, + input); 3x3 conv,
BN, + the head's output (long skip); per x2: 3x3 conv -> 256, PixelShuffle 2, PReLU; 9x9 conv -> 3.
Trained with MSE it is "SRResNet"; with VGG54 + adversarial loss it is "SRGAN".
The paper defines x4 (two x2 stages). Other scales here: x2 one stage, x8 three, x3 one x3 stage
(conv -> 64*9, PixelShuffle 3), as BasicSR's MSRResNet does. PReLU is one shared slope per layer
(PyTorch's default).

The paper gives no init. He-normal everywhere (the first version) starts with an output of std ~1.6
and a sub-pixel checkerboard, and 200 MSE steps did not undo it (drawn-art test PSNR 18.64 dB, bicubic
29.75; see tests/test_srgan_regression.py). So the net starts smooth and near the identity path:
He-normal convs with zero biases; each residual block's last BN and the body's closing BN start with
gamma = 0 (Goyal et al. 2017), so blocks are identities; the sub-pixel convs use ICNR (Aitken et al.
2017: the r*r filters of one output channel start equal, i.e. nearest-neighbour upsampling, no
checkerboard); the last conv is scaled by 0.1. Option residual="bicubic" (not in the paper; the CPU
recipes use it) adds the bicubic upsample of the input to the output, with the last conv scaled by
0.01 instead, so the net starts at the baseline.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gan_sr.errors import ConfigError
from gan_sr.sr.bicubic import bicubic_upscale
from gan_sr.sr.checks import check_residual, check_scale


def upsampling_stages(scale: int) -> list[int]:
    """The factors of the upsampling stages: x2 stages for powers of two, one x3 stage for 3."""
    if scale == 3:
        return [3]
    if scale >= 2 and scale & (scale - 1) == 0:
        return [2] * (scale.bit_length() - 1)
    raise ConfigError(f"--scale {scale} is not supported by this upsampler; use 2, 3, 4 or 8")


@torch.no_grad()
def icnr_(weight: Tensor, r: int) -> Tensor:
    """ICNR init of a conv feeding PixelShuffle(r): He-normal filters, each repeated for its r*r sub-pixels."""
    out_ch = weight.shape[0]
    if out_ch % (r * r):
        raise ValueError(f"ICNR needs output channels divisible by {r * r}, got {out_ch}")
    sub = torch.empty(out_ch // (r * r), *weight.shape[1:], dtype=weight.dtype, device=weight.device)
    nn.init.kaiming_normal_(sub, nonlinearity="relu")
    return weight.copy_(sub.repeat_interleave(r * r, dim=0))


class ResidualBlock(nn.Module):
    """conv-BN-PReLU-conv-BN plus the identity."""

    def __init__(self, nf: int, batch_norm: bool = True) -> None:
        super().__init__()
        norm = (lambda: nn.BatchNorm2d(nf)) if batch_norm else nn.Identity
        self.body = nn.Sequential(
            nn.Conv2d(nf, nf, 3, padding=1), norm(), nn.PReLU(),
            nn.Conv2d(nf, nf, 3, padding=1), norm(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """The SRGAN generator: `num_blocks` residual blocks of width `nf`, sub-pixel upsampling."""

    def __init__(self, scale: int, *, num_blocks: int = 16, nf: int = 64, batch_norm: bool = True,
                 residual: str = "none") -> None:
        super().__init__()
        self.scale = check_scale(scale)
        self.residual = check_residual(residual)
        norm = nn.BatchNorm2d(nf) if batch_norm else nn.Identity()
        self.head = nn.Sequential(nn.Conv2d(3, nf, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(*(ResidualBlock(nf, batch_norm) for _ in range(int(num_blocks))))
        self.body_out = nn.Sequential(nn.Conv2d(nf, nf, 3, padding=1), norm)
        self.upsample = nn.Sequential(*(
            nn.Sequential(nn.Conv2d(nf, nf * r * r, 3, padding=1), nn.PixelShuffle(r), nn.PReLU())
            for r in upsampling_stages(self.scale)
        ))
        self.tail = nn.Conv2d(nf, 3, 9, padding=4)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """The init described in the module docstring: smooth, identity-like start."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        last_norms = [block.body[4] for block in self.body] + [self.body_out[1]]
        for norm in last_norms:
            if isinstance(norm, nn.BatchNorm2d):
                nn.init.zeros_(norm.weight)
        for stage, r in zip(self.upsample, upsampling_stages(self.scale)):
            icnr_(stage[0].weight, r)
        self.tail.weight.mul_(0.01 if self.residual == "bicubic" else 0.1)

    def forward(self, lr: Tensor) -> Tensor:
        feat = self.head(lr)
        feat = feat + self.body_out(self.body(feat))
        out = self.tail(self.upsample(feat))
        return out + bicubic_upscale(lr, self.scale) if self.residual == "bicubic" else out

    def extra_repr(self) -> str:
        return f"scale={self.scale}, residual={self.residual!r}"
