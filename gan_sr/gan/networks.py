"""StyleGAN2-lite generator and residual discriminator for the limited-data GAN (64 / 128 px).

Choices (Karras et al. 2020, "Analyzing and improving the image quality of StyleGAN", simplified):
- Equalised learning rate everywhere (weights ~ N(0, 1), scaled by He's constant at run time), not
  spectral norm: it is what ADA was tuned with, and it keeps Adam's step size uniform across layers.
- G: pixel-normed z -> small mapping MLP (lr x0.01) -> w; learned 4x4 constant; per resolution an
  upsampling modulated 3x3 conv and a second modulated conv (weight demodulation), "skip" toRGB
  outputs summed across resolutions. Left out for size: per-pixel noise, style mixing, path-length
  regularisation, FIR blur filters (bilinear up / average-pool down instead).
- D: "resnet" blocks (two 3x3 convs, 2x2 average-pool down, 1x1 skip, /sqrt 2), minibatch standard
  deviation (group 4, 1 feature) before the 4x4 epilogue, one logit per image.
- G keeps a running mean of w for truncation; the trainer keeps an EMA copy of G for sampling.
Images cross these networks in [-1, 1]; `to_gan`/`to_unit` convert at the boundary.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_sr.errors import ConfigError

PRESETS: dict[str, dict] = {
    # CPU: 4:128 ... 64:8 channels; a 64 px kimg takes ~30 s on one busy core (experiments/configs/gan_cpu64.toml).
    "cpu": {"z_dim": 128, "w_dim": 128, "mapping_layers": 2, "channel_base": 512, "channel_max": 128,
            "mbstd_group": 4},
    # One GPU: StyleGAN2-ADA's small-resolution widths (512 channels at 4..32 px), a 4-layer mapping.
    "gpu": {"z_dim": 512, "w_dim": 512, "mapping_layers": 4, "channel_base": 16384, "channel_max": 512,
            "mbstd_group": 4},
}
_KEYS = ("res", "z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max", "mbstd_group", "arch")
ARCHS = ("stylegan2-lite", "dcgan")
"""Generator families (option `arch`; absent means stylegan2-lite): this module's, and gan_sr.gan.dcgan's."""
_SQRT2 = math.sqrt(2.0)


def gan_config(res: int, preset: str = "cpu", **overrides) -> dict:
    """Network config for resolution `res` (a power of two, 8..1024) from a preset plus overrides."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown GAN preset {preset!r}; known: {', '.join(PRESETS)}")
    res = int(res)
    if res < 8 or res > 1024 or res & (res - 1):
        raise ConfigError(f"--res {res}: the GAN needs a power of two between 8 and 1024 (e.g. 64, 128)")
    unknown = sorted(set(overrides) - set(_KEYS))
    if unknown:
        raise ConfigError(f"unknown GAN network option(s) {unknown}; known: {', '.join(_KEYS[1:])}")
    cfg = {"res": res, **PRESETS[preset], **overrides, "preset": preset}
    if cfg.get("arch", ARCHS[0]) not in ARCHS:
        raise ConfigError(f"GAN network option arch={cfg['arch']!r}: choose {', '.join(ARCHS)}")
    for key in _KEYS[1:-1]:
        if int(cfg[key]) < 1:
            raise ConfigError(f"GAN network option {key}={cfg[key]} must be a positive integer")
    return cfg


def channels(res: int, cfg: dict) -> int:
    """Feature maps at resolution `res`: channel_base / res, capped at channel_max (at least 1)."""
    return max(1, min(int(cfg["channel_max"]), int(cfg["channel_base"]) // res))


def to_gan(x: Tensor) -> Tensor:
    """[0, 1] images -> the networks' [-1, 1] range."""
    return x * 2.0 - 1.0


def to_unit(x: Tensor) -> Tensor:
    """Network output in [-1, 1] -> images in [0, 1] (clamped)."""
    return ((x + 1.0) * 0.5).clamp(0.0, 1.0)


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2) * _SQRT2


class EqLinear(nn.Module):
    """Fully connected layer with equalised learning rate and an optional lr multiplier."""

    def __init__(self, cin: int, cout: int, *, act: bool = False, lr_mul: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.full((cout,), float(bias_init) / lr_mul))
        self.scale, self.lr_mul, self.act = lr_mul / math.sqrt(cin), lr_mul, act

    def forward(self, x: Tensor) -> Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return _lrelu(x) if self.act else x


class EqConv2d(nn.Module):
    """Convolution with equalised learning rate, 'same' padding, optional 2x2 average-pool down."""

    def __init__(self, cin: int, cout: int, k: int, *, act: bool = True, bias: bool = True, down: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.scale, self.act, self.down, self.pad = 1.0 / math.sqrt(cin * k * k), act, down, k // 2

    def forward(self, x: Tensor) -> Tensor:
        x = F.conv2d(x, self.weight * self.scale, self.bias, padding=self.pad)
        if self.down:
            x = F.avg_pool2d(x, 2)
        return _lrelu(x) if self.act else x


class ModConv(nn.Module):
    """Modulated convolution: per-image input scales from w, then (optionally) demodulated outputs.

    Computed unfused (scale activations, shared conv, scale outputs), which equals the grouped-conv
    form and runs fast on CPU and in channels_last.
    """

    def __init__(self, cin: int, cout: int, k: int, w_dim: int, *, demod: bool = True, up: bool = False,
                 act: bool = True):
        super().__init__()
        self.affine = EqLinear(w_dim, cin, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale, self.demod, self.up, self.act, self.pad = 1.0 / math.sqrt(cin * k * k), demod, up, act, k // 2

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        s = self.affine(w)
        weight = self.weight * self.scale
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = F.conv2d(x * s[:, :, None, None].to(x.dtype), weight.to(x.dtype), padding=self.pad)
        if self.demod:
            d = torch.rsqrt(s.square() @ weight.square().sum((2, 3)).t() + 1e-8)
            x = x * d[:, :, None, None].to(x.dtype)
        x = x + self.bias[None, :, None, None].to(x.dtype)
        return _lrelu(x) if self.act else x


class MappingNetwork(nn.Module):
    """z -> w: pixel norm, then `layers` equalised-lr FC layers at 1/100 the learning rate."""

    def __init__(self, z_dim: int, w_dim: int, layers: int):
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.net = nn.Sequential(*[EqLinear(a, b, act=True, lr_mul=0.01) for a, b in zip(dims[:-1], dims[1:])])

    def forward(self, z: Tensor) -> Tensor:
        z = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)
        return self.net(z)


class Generator(nn.Module):
    """z (B, z_dim) -> image (B, 3, res, res) in about [-1, 1]."""

    def __init__(self, res: int, z_dim: int, w_dim: int, mapping_layers: int, channel_base: int,
                 channel_max: int, **_ignored):
        super().__init__()
        cfg = {"channel_base": channel_base, "channel_max": channel_max}
        self.res, self.z_dim, self.w_dim = res, z_dim, w_dim
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers)
        self.register_buffer("w_avg", torch.zeros(w_dim))
        c4 = channels(4, cfg)
        self.const = nn.Parameter(torch.randn(c4, 4, 4))
        self.conv4 = ModConv(c4, c4, 3, w_dim)
        self.rgb4 = ModConv(c4, 3, 1, w_dim, demod=False, act=False)
        self.blocks = nn.ModuleList()
        r = 8
        while r <= res:
            cin, cout = channels(r // 2, cfg), channels(r, cfg)
            self.blocks.append(nn.ModuleDict({
                "conv0": ModConv(cin, cout, 3, w_dim, up=True),
                "conv1": ModConv(cout, cout, 3, w_dim),
                "rgb": ModConv(cout, 3, 1, w_dim, demod=False, act=False),
            }))
            r *= 2

    def mapping_w(self, z: Tensor, truncation: float = 1.0) -> Tensor:
        """w for latents z; tracks the running mean of w while training; truncation < 1 pulls towards it."""
        w = self.mapping(z)
        if self.training:
            with torch.no_grad():
                self.w_avg.copy_(w.detach().float().mean(0).lerp(self.w_avg, 0.995))
        if truncation != 1.0:
            w = self.w_avg.to(w.dtype).lerp(w, truncation)
        return w

    def synthesis(self, w: Tensor) -> Tensor:
        x = self.const[None].expand(w.shape[0], -1, -1, -1).to(w.dtype)
        x = self.conv4(x, w)
        img = self.rgb4(x, w)
        for blk in self.blocks:
            x = blk["conv1"](blk["conv0"](x, w), w)
            img = F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False) + blk["rgb"](x, w)
        return img

    def forward(self, z: Tensor, truncation: float = 1.0) -> Tensor:
        return self.synthesis(self.mapping_w(z, truncation))


class MinibatchStd(nn.Module):
    """Appends the mean standard deviation over groups of images as one extra feature map."""

    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        g = max(d for d in range(1, min(self.group, b) + 1) if b % d == 0)
        y = x.float().reshape(g, -1, c, h, w)
        y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt().mean((1, 2, 3))
        y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w).to(x.dtype)
        return torch.cat([x, y], 1)


class DBlock(nn.Module):
    """Residual discriminator block: res -> res/2."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv0 = EqConv2d(cin, cin, 3)
        self.conv1 = EqConv2d(cin, cout, 3, down=True)
        self.skip = EqConv2d(cin, cout, 1, act=False, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        y = self.skip(F.avg_pool2d(x, 2))
        return (y + self.conv1(self.conv0(x))) / _SQRT2


class Discriminator(nn.Module):
    """Image (B, 3, res, res) in [-1, 1] -> one logit per image (B, 1)."""

    def __init__(self, res: int, channel_base: int, channel_max: int, mbstd_group: int, **_ignored):
        super().__init__()
        cfg = {"channel_base": channel_base, "channel_max": channel_max}
        self.res = res
        self.fromrgb = EqConv2d(3, channels(res, cfg), 1)
        blocks, r = [], res
        while r > 4:
            blocks.append(DBlock(channels(r, cfg), channels(r // 2, cfg)))
            r //= 2
        self.blocks = nn.Sequential(*blocks)
        c4 = channels(4, cfg)
        self.mbstd = MinibatchStd(mbstd_group)
        self.conv = EqConv2d(c4 + 1, c4, 3)
        self.fc = EqLinear(c4 * 16, c4, act=True)
        self.out = EqLinear(c4, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.fromrgb(x))
        x = self.conv(self.mbstd(x))
        return self.out(self.fc(x.flatten(1)))


def build_generator(cfg: dict) -> nn.Module:
    """The generator of a config from `gan_config` (as stored in checkpoints), of its family `arch`."""
    if cfg.get("arch", ARCHS[0]) == "dcgan":
        from gan_sr.gan.dcgan import DCGenerator

        return DCGenerator(**cfg)
    return Generator(**cfg)


def build_gan(cfg: dict) -> tuple[nn.Module, Discriminator]:
    """Generator and discriminator for a config from `gan_config`; D is the residual D for every family."""
    return build_generator(cfg), Discriminator(**cfg)
