"""Discriminators of the SR GANs. All take an RGB batch in [0, 1] and return raw logits.

- `SRGANDiscriminator` (Ledig et al. 2017, Figure 4): eight 3x3 convs 64 -> 512 with strides
  1, 2, 1, 2, ..., BN after all but the first, LeakyReLU 0.2, dense 1024, LeakyReLU, dense 1.
  The paper's crops are 96 px; `input_size` sets the dense layer for other crops.
- `VGGStyleDiscriminator` (ESRGAN's "VGG-128", as in its reference code): pairs of (3x3 stride 1,
  4x4 stride 2) convs, widths 64, 128, 256, 512, 512, BN after all but the first conv, LeakyReLU 0.2,
  down to 4x4, then dense 100, LeakyReLU, dense 1.
- `UNetDiscriminatorSN` (Real-ESRGAN, Wang et al. 2021): a U-Net with spectral normalisation that
  gives a realness logit per pixel, (B, 1, H, W).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from gan_sr.errors import ConfigError


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


def _check_input(name: str, x: Tensor, size: int | None, multiple: int) -> None:
    h, w = x.shape[-2:]
    if size is not None and (h, w) != (size, size):
        raise ConfigError(f"{name} was built for {size}x{size} crops (option input_size) but got {h}x{w}; "
                          f"build it with input_size={h} or feed {size} px crops")
    if h % multiple or w % multiple:
        raise ConfigError(f"{name} needs image sides divisible by {multiple}, got {h}x{w}")


class SRGANDiscriminator(nn.Module):
    """The SRGAN paper's discriminator for `input_size` x `input_size` crops (96 in the paper)."""

    def __init__(self, input_size: int = 96, nf: int = 64) -> None:
        super().__init__()
        if input_size < 16 or input_size % 16:
            raise ConfigError(f"option input_size must be a multiple of 16 for the SRGAN discriminator, "
                              f"got {input_size}")
        self.input_size = int(input_size)
        widths = [nf, nf, 2 * nf, 2 * nf, 4 * nf, 4 * nf, 8 * nf, 8 * nf]
        layers: list[nn.Module] = []
        c_in = 3
        for i, c in enumerate(widths):
            stride = 2 if i % 2 else 1
            layers.append(nn.Conv2d(c_in, c, 3, stride=stride, padding=1))
            if i > 0:
                layers.append(nn.BatchNorm2d(c))
            layers.append(_lrelu())
            c_in = c
        self.features = nn.Sequential(*layers)
        side = self.input_size // 16
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c_in * side * side, 1024), _lrelu(), nn.Linear(1024, 1))

    def forward(self, x: Tensor) -> Tensor:
        _check_input("the SRGAN discriminator", x, self.input_size, 16)
        return self.classifier(self.features(x))


class VGGStyleDiscriminator(nn.Module):
    """ESRGAN's VGG-style discriminator; `input_size` = 4 * 2^k (128 in the paper)."""

    def __init__(self, input_size: int = 128, nf: int = 64) -> None:
        super().__init__()
        stages = (input_size // 4).bit_length() - 1
        if input_size < 8 or 4 << stages != input_size:
            raise ConfigError(f"option input_size must be 4 * 2^k (e.g. 64, 128, 256) for the VGG discriminator, "
                              f"got {input_size}")
        self.input_size = int(input_size)
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(stages):
            c = nf * min(2 ** i, 8)
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=i == 0)]
            layers += [nn.BatchNorm2d(c)] if i > 0 else []
            layers += [_lrelu(), nn.Conv2d(c, c, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c), _lrelu()]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c_in * 4 * 4, 100), _lrelu(), nn.Linear(100, 1))

    def forward(self, x: Tensor) -> Tensor:
        _check_input("the VGG-style discriminator", x, self.input_size, 1)
        return self.classifier(self.features(x))


class UNetDiscriminatorSN(nn.Module):
    """Real-ESRGAN's U-Net discriminator with spectral norm: per-pixel logits (B, 1, H, W)."""

    def __init__(self, nf: int = 64, skip_connection: bool = True) -> None:
        super().__init__()
        self.skip_connection = skip_connection
        sn = spectral_norm
        self.conv0 = nn.Conv2d(3, nf, 3, padding=1)
        self.conv1 = sn(nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False))
        self.conv2 = sn(nn.Conv2d(nf * 2, nf * 4, 4, 2, 1, bias=False))
        self.conv3 = sn(nn.Conv2d(nf * 4, nf * 8, 4, 2, 1, bias=False))
        self.conv4 = sn(nn.Conv2d(nf * 8, nf * 4, 3, 1, 1, bias=False))
        self.conv5 = sn(nn.Conv2d(nf * 4, nf * 2, 3, 1, 1, bias=False))
        self.conv6 = sn(nn.Conv2d(nf * 2, nf, 3, 1, 1, bias=False))
        self.conv7 = sn(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv8 = sn(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(nf, 1, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        _check_input("the U-Net discriminator", x, None, 8)
        x0 = _act(self.conv0(x))
        x1 = _act(self.conv1(x0))
        x2 = _act(self.conv2(x1))
        x3 = _act(self.conv3(x2))
        x4 = _act(self.conv4(_up2(x3)))
        x4 = x4 + x2 if self.skip_connection else x4
        x5 = _act(self.conv5(_up2(x4)))
        x5 = x5 + x1 if self.skip_connection else x5
        x6 = _act(self.conv6(_up2(x5)))
        x6 = x6 + x0 if self.skip_connection else x6
        return self.conv9(_act(self.conv8(_act(self.conv7(x6)))))


def _act(t: Tensor) -> Tensor:
    return F.leaky_relu(t, 0.2)


def _up2(t: Tensor) -> Tensor:
    return F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)

DISCRIMINATORS = {"srgan": SRGANDiscriminator, "vgg": VGGStyleDiscriminator, "unet": UNetDiscriminatorSN}


def build_discriminator(kind: str, **kwargs) -> nn.Module:
    """A discriminator by kind ('srgan', 'vgg', 'unet'); ConfigError for unknown kinds or options."""
    cls = DISCRIMINATORS.get(kind)
    if cls is None:
        raise ConfigError(f"unknown discriminator kind {kind!r}; known kinds: {', '.join(DISCRIMINATORS)}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad option for the {kind!r} discriminator: {exc}") from None
