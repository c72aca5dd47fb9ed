"""RRDBNet, the generator of ESRGAN (Wang et al.: "ESRGAN: Enhanced Super-Resolution Generative
Adversarial Networks", ECCV Workshops 2018, Figure 4).

Residual Dense Block: 5 3x3 convs with growth `gc` (each sees the block input and every earlier
output), LeakyReLU 0.2 after the first four, out = x + 0.2 * conv5. RRDB: 3 RDBs, x + 0.2 * out.
Network: conv -> nf; 23 RRDBs; conv; + the first conv's output (global skip); per x2: nearest
upsampling, conv, LeakyReLU; conv, LeakyReLU; conv -> 3. Trained with L1 it is "RRDB" (the PSNR
model), with perceptual + RaGAN loss "ESRGAN"; with 6 blocks it is Real-ESRGAN's anime model.
The paper defines x4; x2 here is one nearest x2 stage and x3 one nearest x3 stage (BasicSR instead
pixel-unshuffles the input for x2). Parameter names follow BasicSR, so its x4 weights load.
Init as the reference code: He normal scaled by 0.1 inside the dense blocks, zero biases. Option
residual="bicubic" (not in the paper; the CPU recipes use it) adds the bicubic upsample of the input
to the output, with the last conv scaled by 0.01, so the net starts at the baseline. Option unshuffle=2
is BasicSR's x2 layout (pixel-unshuffle the input by 2, then the x4 body): community x2 weights load with it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_sr.errors import ConfigError
from gan_sr.sr.bicubic import bicubic_upscale
from gan_sr.sr.checks import check_residual, check_scale
from gan_sr.sr.srresnet import upsampling_stages


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs; residual scaled by 0.2."""

    def __init__(self, nf: int = 64, gc: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, padding=1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, padding=1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, padding=1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, padding=1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4, self.conv5):
            nn.init.kaiming_normal_(conv.weight)
            conv.weight.data.mul_(0.1)
            nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            feats.append(self.lrelu(conv(torch.cat(feats, 1))))
        return x + 0.2 * self.conv5(torch.cat(feats, 1))


class RRDB(nn.Module):
    """Residual-in-Residual Dense Block: three RDBs, residual scaled by 0.2."""

    def __init__(self, nf: int = 64, gc: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(nf, gc)
        self.rdb2 = ResidualDenseBlock(nf, gc)
        self.rdb3 = ResidualDenseBlock(nf, gc)

    def forward(self, x: Tensor) -> Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """The ESRGAN generator: `num_blocks` RRDBs of width `nf` and growth `gc`, nearest upsampling."""

    def __init__(self, scale: int, *, num_blocks: int = 23, nf: int = 64, gc: int = 32,
                 residual: str = "none", unshuffle: int = 1) -> None:
        super().__init__()
        self.scale = check_scale(scale)
        self.residual = check_residual(residual)
        self.unshuffle = int(unshuffle)
        if self.unshuffle not in (1, 2):
            raise ConfigError(f"option unshuffle must be 1 or 2, got {unshuffle!r}")
        self.stages = upsampling_stages(self.scale * self.unshuffle)
        self.conv_first = nn.Conv2d(3 * self.unshuffle**2, nf, 3, padding=1)
        self.body = nn.Sequential(*(RRDB(nf, gc) for _ in range(int(num_blocks))))
        self.conv_body = nn.Conv2d(nf, nf, 3, padding=1)
        for i, _ in enumerate(self.stages, start=1):
            setattr(self, f"conv_up{i}", nn.Conv2d(nf, nf, 3, padding=1))
        self.conv_hr = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv_last = nn.Conv2d(nf, 3, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        if self.residual == "bicubic":
            with torch.no_grad():
                self.conv_last.weight.mul_(0.01)
                self.conv_last.bias.zero_()

    def forward(self, lr: Tensor) -> Tensor:
        feat = self.conv_first(F.pixel_unshuffle(lr, self.unshuffle) if self.unshuffle > 1 else lr)
        feat = feat + self.conv_body(self.body(feat))
        for i, r in enumerate(self.stages, start=1):
            feat = self.lrelu(getattr(self, f"conv_up{i}")(F.interpolate(feat, scale_factor=r, mode="nearest")))
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))
        return out + bicubic_upscale(lr, self.scale) if self.residual == "bicubic" else out

    def extra_repr(self) -> str:
        return f"scale={self.scale}, residual={self.residual!r}"
