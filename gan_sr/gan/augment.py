"""Adaptive discriminator augmentation (Karras et al. 2020): the differentiable "bgc" pipeline and the p controller.

Every image D sees (reals, fakes in the D step and in the G step) goes through `AugmentPipe`; each
transform is applied per image with probability p. Geometric transforms are composed into one 3x3
matrix per image and applied with a single bilinear `grid_sample` (reflection padding), so the pipe is
differentiable w.r.t. its input; colour transforms are one 4x4 matrix per image. Simplification against
the paper: sampling happens at the native resolution (no 2x supersampling with a wavelet filter).
Integer transforms (flip, 90-degree rotations, integer translation) land on pixel centres, so alone
they move pixels exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_sr.errors import ConfigError

_LUMA = torch.tensor([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3.0)


def _eye(b: int, n: int, device) -> Tensor:
    return torch.eye(n, device=device).expand(b, n, n).clone()


def _scale2d(sx: Tensor, sy: Tensor) -> Tensor:
    m = _eye(sx.shape[0], 3, sx.device)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _translate2d(tx: Tensor, ty: Tensor) -> Tensor:
    m = _eye(tx.shape[0], 3, tx.device)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def _rotate2d(theta: Tensor) -> Tensor:
    m = _eye(theta.shape[0], 3, theta.device)
    c, s = torch.cos(theta), torch.sin(theta)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def _translate3d(t: Tensor) -> Tensor:
    m = _eye(t.shape[0], 4, t.device)
    m[:, :3, 3] = t[:, None]
    return m


def _scale3d(s: Tensor) -> Tensor:
    m = _eye(s.shape[0], 4, s.device)
    m[:, 0, 0] = m[:, 1, 1] = m[:, 2, 2] = s
    return m


def _rotate3d(v: Tensor, theta: Tensor) -> Tensor:
    """Rotation by theta about the unit axis v (Rodrigues), as 4x4 homogeneous matrices."""
    vx, vy, vz = v[0], v[1], v[2]
    c, s = torch.cos(theta), torch.sin(theta)
    cc = 1 - c
    m = _eye(theta.shape[0], 4, theta.device)
    m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s
    m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s
    m[:, 2, 0], m[:, 2, 1], m[:, 2, 2] = vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c
    return m


@dataclass
class BGCStrengths:
    """Per-transform probability multipliers and magnitudes of the "bgc" pipeline (paper defaults)."""

    xflip: float = 1.0
    rotate90: float = 1.0
    xint: float = 1.0
    scale: float = 1.0
    rotate: float = 1.0
    aniso: float = 1.0
    xfrac: float = 1.0
    brightness: float = 1.0
    contrast: float = 1.0
    lumaflip: float = 1.0
    hue: float = 1.0
    saturation: float = 1.0
    xint_max: float = 0.125
    scale_std: float = 0.2       # log2 units: lognormal with sigma 0.2 ln 2
    rotate_max: float = 1.0      # fraction of pi
    aniso_std: float = 0.2
    xfrac_std: float = 0.125
    brightness_std: float = 0.2
    contrast_std: float = 0.5
    hue_max: float = 1.0
    saturation_std: float = 1.0


class AugmentPipe(nn.Module):
    """x (B, C, H, W) in [-1, 1] -> the same batch, each image augmented with probability `p` per transform."""

    def __init__(self, p: float = 0.0, strengths: BGCStrengths | None = None):
        super().__init__()
        self.p = float(p)
        self.s = strengths or BGCStrengths()

    def _mask(self, b: int, mult: float, value: Tensor, neutral: float, gen, device) -> Tensor:
        keep = torch.rand(b, generator=gen, device=device) < self.p * mult
        return torch.where(keep, value, torch.full_like(value, neutral))

    def sample_params(self, b: int, h: int, w: int, device=None, generator: torch.Generator | None = None
                      ) -> tuple[Tensor, Tensor]:
        """Random per-image matrices: G (B, 3, 3) output->input pixel coords (centred), C (B, 4, 4) colour."""
        s, g, dev = self.s, generator, device
        rand = lambda: torch.rand(b, generator=g, device=dev)  # noqa: E731
        randn = lambda: torch.randn(b, generator=g, device=dev)  # noqa: E731
        G = _eye(b, 3, dev)
        if s.xflip > 0:
            i = self._mask(b, s.xflip, torch.floor(rand() * 2), 0.0, g, dev)
            G = G @ _scale2d(1 - 2 * i, torch.ones_like(i))
        if s.rotate90 > 0:
            i = self._mask(b, s.rotate90, torch.floor(rand() * 4), 0.0, g, dev)
            G = G @ _rotate2d(-math.pi / 2 * i)
        if s.xint > 0:
            t = torch.stack([rand() * 2 - 1, rand() * 2 - 1], 1) * s.xint_max
            keep = (rand() < self.p * s.xint)[:, None]
            t = torch.where(keep, t, torch.zeros_like(t))
            G = G @ _translate2d(torch.round(t[:, 0] * w), torch.round(t[:, 1] * h))
        if s.scale > 0:
            k = self._mask(b, s.scale, torch.exp2(randn() * s.scale_std), 1.0, g, dev)
            G = G @ _scale2d(k, k)
        p_rot = 1 - math.sqrt(max(0.0, 1 - min(1.0, self.p * s.rotate)))  # two rotations: P(any) = p
        if s.rotate > 0:
            theta = (rand() * 2 - 1) * math.pi * s.rotate_max
            theta = torch.where(rand() < p_rot, theta, torch.zeros_like(theta))
            G = G @ _rotate2d(-theta)
        if s.aniso > 0:
            k = self._mask(b, s.aniso, torch.exp2(randn() * s.aniso_std), 1.0, g, dev)
            G = G @ _scale2d(k, 1 / k)
        if s.rotate > 0:
            theta = (rand() * 2 - 1) * math.pi * s.rotate_max
            theta = torch.where(rand() < p_rot, theta, torch.zeros_like(theta))
            G = G @ _rotate2d(-theta)
        if s.xfrac > 0:
            t = torch.stack([randn(), randn()], 1) * s.xfrac_std
            keep = (rand() < self.p * s.xfrac)[:, None]
            t = torch.where(keep, t, torch.zeros_like(t))
            G = G @ _translate2d(t[:, 0] * w, t[:, 1] * h)

        C = _eye(b, 4, dev)
        v = _LUMA.to(dev)
        vv = torch.outer(v, v)
        if s.brightness > 0:
            C = _translate3d(self._mask(b, s.brightness, randn() * s.brightness_std, 0.0, g, dev)) @ C
        if s.contrast > 0:
            C = _scale3d(self._mask(b, s.contrast, torch.exp2(randn() * s.contrast_std), 1.0, g, dev)) @ C
        if s.lumaflip > 0:
            i = self._mask(b, s.lumaflip, torch.floor(rand() * 2), 0.0, g, dev)
            C = (torch.eye(4, device=dev) - 2 * vv * i[:, None, None]) @ C
        if s.hue > 0:
            theta = self._mask(b, s.hue, (rand() * 2 - 1) * math.pi * s.hue_max, 0.0, g, dev)
            C = _rotate3d(v, theta) @ C
        if s.saturation > 0:
            k = self._mask(b, s.saturation, torch.exp2(randn() * s.saturation_std), 1.0, g, dev)
            C = (vv + (torch.eye(4, device=dev) - vv) * k[:, None, None]) @ C
        return G, C

    @staticmethod
    def apply(x: Tensor, G: Tensor, C: Tensor) -> Tensor:
        """Apply sampled matrices: one grid_sample for geometry (skipped when all identity), then colour."""
        b, c, h, w = x.shape
        eye3 = torch.eye(3, device=G.device, dtype=G.dtype)
        eye4 = torch.eye(4, device=C.device, dtype=C.dtype)
        if not torch.equal(G, eye3.expand_as(G)):
            # Centred pixel coords = normalised coords * (W/2, H/2) for align_corners=False.
            S = torch.diag(torch.tensor([w / 2, h / 2, 1.0], device=G.device, dtype=G.dtype))
            S_inv = torch.diag(torch.tensor([2 / w, 2 / h, 1.0], device=G.device, dtype=G.dtype))
            theta = (S_inv @ G @ S)[:, :2, :].to(x.dtype)
            grid = F.affine_grid(theta, [b, c, h, w], align_corners=False)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        if not torch.equal(C, eye4.expand_as(C)):
            if c != 3:
                raise ValueError(f"colour augmentation needs RGB input, got {c} channels")
            C = C.to(x.dtype)
            x = torch.einsum("bij,bjhw->bihw", C[:, :3, :3], x) + C[:, :3, 3, None, None]
        return x

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.p <= 0:
            return x
        b, _, h, w = x.shape
        G, C = self.sample_params(b, h, w, x.device, generator)
        return self.apply(x, G, C)


def parse_aug(spec: str) -> tuple[str, float]:
    """'ada' | 'fixed:P' | 'none' -> (mode, initial p); ConfigError naming --aug otherwise."""
    spec = str(spec).strip().lower()
    if spec in ("ada", "none"):
        return spec, 0.0
    if spec.startswith("fixed:"):
        try:
            p = float(spec.split(":", 1)[1])
        except ValueError:
            p = -1.0
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"--aug {spec}: fixed:P needs a probability P between 0 and 1 (e.g. fixed:0.3)")
        return "fixed", p
    raise ConfigError(f"--aug {spec!r}: use 'ada', 'fixed:P' (0 <= P <= 1) or 'none'")


class AdaController:
    """Adaptive p: accumulate sign(D(real_aug)) and, every `interval` minibatches, move p towards r_t = target.

    p += sign(r_t - target) * images / (ramp_kimg * 1000), clamped to [0, 1]; images = reals seen since
    the last update (batch x interval), so p can move by 1 per `ramp_kimg` kimg. In 'fixed' and 'none'
    modes p stays put, r_t is still measured (for the log). All state is in `state_dict()`.
    """

    def __init__(self, mode: str = "ada", p: float = 0.0, *, target: float = 0.6, interval: int = 4,
                 ramp_kimg: float = 500.0):
        if mode not in ("ada", "fixed", "none"):
            raise ConfigError(f"augmentation mode {mode!r} is unknown; use ada, fixed or none")
        if interval < 1 or ramp_kimg <= 0:
            raise ConfigError("ADA needs interval >= 1 and ramp_kimg > 0")
        self.mode, self.p, self.target, self.interval, self.ramp_kimg = mode, float(p), target, interval, ramp_kimg
        self.sign_sum, self.sign_count, self.images, self.batches = 0.0, 0, 0, 0
        self.r_t = float("nan")

    def accumulate(self, signs: Tensor, images: int) -> None:
        """Add one minibatch's signs of D's scores on augmented reals; `images` reals were used."""
        self.sign_sum += float(signs.sum())
        self.sign_count += int(signs.numel())
        self.images += int(images)
        self.batches += 1

    def due(self) -> bool:
        return self.batches >= self.interval

    def update(self, totals: tuple[float, int, int] | None = None) -> float:
        """Compute r_t and adjust p; `totals` (sum, count, images) replaces the local ones (summed over ranks)."""
        sign_sum, count, images = totals if totals is not None else (self.sign_sum, self.sign_count, self.images)
        if count > 0:
            self.r_t = sign_sum / count
            if self.mode == "ada":
                step = math.copysign(1.0, self.r_t - self.target) if self.r_t != self.target else 0.0
                self.p = min(1.0, max(0.0, self.p + step * images / (self.ramp_kimg * 1000.0)))
        self.sign_sum, self.sign_count, self.images, self.batches = 0.0, 0, 0, 0
        return self.r_t

    def state_dict(self) -> dict:
        return {"mode": self.mode, "p": self.p, "target": self.target, "interval": self.interval,
                "ramp_kimg": self.ramp_kimg, "sign_sum": self.sign_sum, "sign_count": self.sign_count,
                "images": self.images, "batches": self.batches, "r_t": self.r_t}

    def load_state_dict(self, state: dict) -> None:
        self.mode, self.p = str(state["mode"]), float(state["p"])
        self.target, self.interval, self.ramp_kimg = float(state["target"]), int(state["interval"]), float(state["ramp_kimg"])
        self.sign_sum, self.sign_count = float(state["sign_sum"]), int(state["sign_count"])
        self.images, self.batches, self.r_t = int(state["images"]), int(state["batches"]), float(state["r_t"])
