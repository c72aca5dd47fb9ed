"""Classic Anime4K (bloc97, v0.9 / v1.0 RC push algorithm) and Anime4KCPP's "Anime4K09", vectorised in torch.

Idea (bloc97/Anime4K ``Preprint.md``): HR = LR_U + r. Upscale with a conventional scaler, then make lines
thinner by *pushing* pixels towards their lighter neighbours (push colour), and sharpen soft ramps by pushing
pixels towards their flatter neighbours, with a Sobel gradient standing in for the residual r (push gradient).
Every pixel carries RGB plus a scalar A: the luminance during push colour, 1 - |gradient| during push gradient.

Two variants, each rule below names the file it follows.

``"glsl"``: bloc97/Anime4K ``glsl/Anime4K_Adaptive_v0.9.glsl`` (passes ComputeLuma, ThinLines = push colour,
ComputeLuma, ComputeGradient, Refine = push gradient). ``glsl/Anime4K_Adaptive_v1.0RC.glsl`` has the same
ThinLines and ComputeGradient; its Gaussian line detection and FXAA post-pass are not part of this module.

``"cpp"``: TianZerL/Anime4KCPP ``Anime4KCore/src/CPUAnime4K09.cpp`` (float path ``*F``) and the OpenCL twin
``Anime4KCore/kernel/Anime4KCPPKernel.cl``; defaults from ``Anime4KCore/include/AC.hpp`` (``Parameters``).

Pre-upscale
    glsl: mpv's own scaler before the ``SCALED`` hook; here ``gan_sr.degrade.imresize`` (MATLAB bicubic).
    cpp: ``cv::resize`` with ``INTER_LINEAR`` when the zoom factor is exactly 2, ``INTER_CUBIC`` otherwise
    (``processRGBImage*``); here torch bilinear (align_corners=False) at x2, ``imresize`` otherwise.
    The upscaled image is clamped to [0, 1] (what an 8-bit intermediate holds).

Luminance A = L(P)
    glsl: (2R + 3G + B) / 6 (``getLum``). cpp: 0.299 R + 0.587 G + 0.114 B (``getGrayF``; the 8-bit path
    ``getGrayB`` approximates it with shifts, 0.3125/0.5625/0.125).

Neighbourhood and borders
    The 3x3 window [tl t tr / l c r / bl b br] is read with clamp-to-edge addressing: mpv samples hooked
    textures clamped to the edge (the shaders do not guard the border), ``Anime4KCPPKernel.cl`` uses
    ``CLK_ADDRESS_CLAMP_TO_EDGE``. ``CPUAnime4K09.cpp`` differs in two border details that this module does
    not copy: ``jn = j > 4 ? -4 : 0`` makes column 1 its own left neighbour, and ``getGradient*`` skips the
    outermost ring so those pixels keep A = luminance during push gradient.

The eight kernels (GLSL numbering; tested in the order 0, 4, 1, 5, 2, 6, 3, 7 by both sources)
    edge pairs: 0 light {tl, t, tr} dark {bl, b, br};   4 = 0 mirrored (light bottom row, dark top row);
                2 light {tr, r, br} dark {tl, l, bl};   6 = 2 mirrored (light left column, dark right column).
    corner pairs: 1 light {t, tr, r} dark {c, l, b};    5 light {l, bl, b} dark {c, r, t};
                  3 light {r, br, b} dark {c, l, t};    7 light {t, l, tl} dark {c, r, b}.
    The second kernel of a pair is only tested when the first did not fire (``else`` in both sources).

Firing rule (all inequalities strict)
    glsl, edge: min L(light) > L(c) and min L(light) > max L(dark); corner: min L(light) > max L(dark),
    c being one of the dark cells (``ThinLines`` and ``Refine`` in the v0.9 shader). Both read as
    min L(light) > max(L(dark) ∪ {L(c)}).
    cpp, edge: min L(light) > L(c) > max L(dark), i.e. the centre must lie strictly between the rows
    (``pushColorF``, ``pushGradientF``, and ``pushColor`` in the .cl); corner: as glsl.

Push colour (one step: P' = (1 - s_c) P_c + s_c mean(P_light), applied to RGB and L alike)
    glsl (``ThinLines``, ``getLargest``): every kernel is tested on the original window; each firing kernel
    proposes P'; the proposal with the largest L' wins, compared strictly against the best so far, starting
    from the centre itself (ties keep the earlier kernel).
    cpp (``pushColorF``, ``getLightest``): firing kernels are applied in sequence to the centre. The test
    and the blend read the running centre (``mc`` points into the output copy) but the original neighbours
    (``curLine`` points into the source), as in ``changEachPixelBGRA``.
    Defaults: glsl s_c = min(scale / 6, 1) (``#define strength``), cpp s_c = 0.3.

Gradient
    After push colour: L is recomputed, A = 1 - clamp(sqrt(Gx^2 + Gy^2), 0, 1) with the unnormalised 3x3
    Sobel pair on L (``ComputeGradient``, ``getGradientF``): a luminance step of 0.25 or more reads A = 0.

Push gradient (``Refine``, ``pushGradientF``)
    The same eight tests on A (edges dark, flat areas light), on the original window; the first kernel that
    fires sets RGB = (1 - s_g) P_c + s_g mean(P_light) and the pixel is done. Pixels on soft ramps snap to
    the flat side, which sharpens edges. Defaults: glsl s_g = min(scale / 2, 1), cpp s_g = 1.0.

Passes
    One pass = luminance, push colour, gradient, push gradient. glsl runs one pass. cpp runs ``passes = 2``
    and pushes colour only in the first ``pushColorCount = 2`` of them (and never when s_c = 0).
    The output is clamped to [0, 1].

Implementation: whole-batch tensor ops, no per-pixel loops (on CPU the same rules run as one compiled
per-pixel loop, ``anime4k_kernels.py``, tested equal). The nine cells are shifted views of a
replicate-padded tensor; the tests run on the one-channel A; a push stage then becomes one per-pixel
linear combination of the nine cells (the cpp sequence composes into one as well), applied to RGB once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_sr.colour import LUMA
from gan_sr.errors import ConfigError

VARIANTS = ("glsl", "cpp")
PRE_UPSCALERS = ("bicubic", "bilinear")
LUMA_WEIGHTS = {"glsl": (2.0 / 6.0, 3.0 / 6.0, 1.0 / 6.0), "cpp": LUMA}

TL, T, TR = (-1, -1), (-1, 0), (-1, 1)
L, C, R = (0, -1), (0, 0), (0, 1)
BL, B, BR = (1, -1), (1, 0), (1, 1)
OFFSETS = (TL, T, TR, L, C, R, BL, B, BR)


@dataclass(frozen=True)
class PushKernel:
    """One of the eight tests: ``light`` and ``dark`` are (dy, dx) offsets; the centre is implied (see rules)."""

    number: int
    light: tuple[tuple[int, int], ...]
    dark: tuple[tuple[int, int], ...]
    edge: bool


KERNELS: tuple[PushKernel, ...] = (
    PushKernel(0, (TL, T, TR), (BL, B, BR), True),
    PushKernel(4, (BL, B, BR), (TL, T, TR), True),
    PushKernel(1, (T, TR, R), (L, B), False),
    PushKernel(5, (L, BL, B), (R, T), False),
    PushKernel(2, (TR, R, BR), (TL, L, BL), True),
    PushKernel(6, (TL, L, BL), (TR, R, BR), True),
    PushKernel(3, (R, BR, B), (L, T), False),
    PushKernel(7, (T, L, TL), (R, B), False),
)
"""In test order; consecutive entries are mirror pairs. Corner ``dark`` omits the centre, which always joins it."""


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ConfigError(f"anime4k: unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")


def luminance(rgb: Tensor, variant: str = "glsl") -> Tensor:
    """The variant's luminance of RGB (B, 3, H, W) as (B, 1, H, W)."""
    _check_variant(variant)
    wr, wg, wb = LUMA_WEIGHTS[variant]
    return wr * rgb[:, 0:1] + wg * rgb[:, 1:2] + wb * rgb[:, 2:3]


def _pad(x: Tensor) -> Tensor:
    return F.pad(x, (1, 1, 1, 1), mode="replicate")


def _windows(padded: Tensor) -> dict[tuple[int, int], Tensor]:
    """The nine clamp-to-edge shifted views, keyed by (dy, dx), of a replicate-padded (B, C, H+2, W+2)."""
    h, w = padded.shape[-2] - 2, padded.shape[-1] - 2
    return {(dy, dx): padded[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in OFFSETS}


def _min3(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    return torch.minimum(torch.minimum(a, b), c)


def _max_of(values: list[Tensor]) -> Tensor:
    out = values[0]
    for v in values[1:]:
        out = torch.maximum(out, v)
    return out


def _fires(kernel: PushKernel, a: dict[tuple[int, int], Tensor], centre: Tensor, variant: str) -> Tensor:
    """Where ``kernel`` fires, given the neighbours' A values and the centre's A value (see module doc)."""
    min_light = _min3(*(a[o] for o in kernel.light))
    max_dark = _max_of([a[o] for o in kernel.dark])
    if kernel.edge and variant == "cpp":
        return (min_light > centre) & (centre > max_dark)
    return min_light > torch.maximum(max_dark, centre)


def _blend(rgb: Tensor, keep: Tensor, weights: dict[tuple[int, int], Tensor]) -> Tensor:
    """keep * P + sum over offsets o of weights[o] * P_o, with (B, 1, H, W) per-pixel coefficients.

    Every push step is (1 - s) P_c + s mean(P_light) for one kernel per pixel, so a whole push stage is a
    per-pixel linear combination of the nine cells; the RGB planes are touched once per offset.
    """
    win = _windows(_pad(rgb))
    out = rgb * keep
    for o, w in weights.items():
        out = out.addcmul_(w, win[o])
    return out


def _add_choice(weights: dict, choice: Tensor, amount: float, dtype: torch.dtype, kernels: range = range(8)) -> None:
    """weights[o] += amount where ``KERNELS[choice]`` has o among its light cells (choices within ``kernels``)."""
    for k in kernels:
        hit = (choice == k).to(dtype) * amount
        for o in KERNELS[k].light:
            weights[o] = weights[o] + hit if o in weights else hit


def fired_kernels(a: Tensor, variant: str = "glsl") -> Tensor:
    """(B, 8, H, W) bool: which kernels fire on A (B, 1, H, W), in ``KERNELS`` order, each pair's else applied.

    The centre is the original one (glsl push colour, and push gradient in both variants).
    """
    _check_variant(variant)
    win = _windows(_pad(a))
    out = []
    for first, second in zip(KERNELS[0::2], KERNELS[1::2]):
        f1 = _fires(first, win, a, variant)
        out += [f1, _fires(second, win, a, variant) & ~f1]
    return torch.cat(out, dim=1)


def _pair_choice(i: int, win: dict, centre: Tensor, variant: str) -> tuple[Tensor, Tensor]:
    """Index into ``KERNELS`` of the kernel of pair i that fires (-1: neither), and the first one's mask."""
    first, second = KERNELS[2 * i], KERNELS[2 * i + 1]
    f1 = _fires(first, win, centre, variant)
    f2 = _fires(second, win, centre, variant) & ~f1
    return torch.where(f1, 2 * i, torch.where(f2, 2 * i + 1, -1)), f1


def _pair_sum(i: int, win: dict, f1: Tensor) -> Tensor:
    """Light sum of A of pair i's first kernel where ``f1``, of its second kernel elsewhere."""
    (a, b, c), (d, e, f) = ([win[o] for o in KERNELS[k].light] for k in (2 * i, 2 * i + 1))
    return torch.where(f1, a + b + c, d + e + f)


def push_color(rgb: Tensor, strength: float, variant: str = "glsl") -> Tensor:
    """Push colour (line thinning) on RGB (B, 3, H, W); glsl keeps the lightest proposal, cpp applies all in turn."""
    _check_variant(variant)
    lum = luminance(rgb, variant)
    win = _windows(_pad(lum))
    keep = 1.0 - strength
    weights: dict[tuple[int, int], Tensor] = {}
    if variant == "glsl":
        # The proposal with the largest L' = (1 - s) L_c + s mean(L_light) has the largest light sum.
        best_sum, best = 3.0 * lum, torch.full_like(lum, -1, dtype=torch.long)
        for i in range(4):
            choice, f1 = _pair_choice(i, win, lum, variant)
            light_sum = _pair_sum(i, win, f1)
            better = (choice >= 0) & (light_sum > best_sum)
            best_sum = torch.where(better, light_sum, best_sum)
            best = torch.where(better, choice, best)
        _add_choice(weights, best, strength / 3.0, rgb.dtype)
        return _blend(rgb, 1.0 - strength * (best >= 0).to(rgb.dtype), weights)
    centre, own = lum, torch.ones_like(lum)
    for i in range(4):
        choice, f1 = _pair_choice(i, win, centre, variant)
        fired = choice >= 0
        centre = torch.where(fired, keep * centre + (strength / 3.0) * _pair_sum(i, win, f1), centre)
        step = 1.0 - strength * fired.to(rgb.dtype)
        own = own * step
        weights = {o: w * step for o, w in weights.items()}
        _add_choice(weights, choice, strength / 3.0, rgb.dtype, kernels=range(2 * i, 2 * i + 2))
    return _blend(rgb, own, weights)


_SOBEL = torch.tensor(
    [
        [[[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]],
        [[[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]],
    ]
)


def compute_gradient(rgb: Tensor, variant: str = "glsl") -> Tensor:
    """A = 1 - clamp(|Sobel(L)|, 0, 1) as (B, 1, H, W): 1 on flat areas, 0 on strong edges."""
    g = F.conv2d(_pad(luminance(rgb, variant)), _SOBEL.to(device=rgb.device, dtype=rgb.dtype))
    return 1.0 - torch.sqrt(g[:, 0:1] ** 2 + g[:, 1:2] ** 2).clamp(0.0, 1.0)


def push_gradient(rgb: Tensor, a: Tensor, strength: float, variant: str = "glsl") -> Tensor:
    """Push gradient (refine) on RGB (B, 3, H, W) steered by A (B, 1, H, W): the first firing kernel wins."""
    _check_variant(variant)
    win = _windows(_pad(a))
    first = torch.full_like(a, -1, dtype=torch.long)
    for i in range(4):
        choice, _ = _pair_choice(i, win, a, variant)
        first = torch.where(first < 0, choice, first)
    weights: dict[tuple[int, int], Tensor] = {}
    _add_choice(weights, first, strength / 3.0, rgb.dtype)
    return _blend(rgb, 1.0 - strength * (first >= 0).to(rgb.dtype), weights)


def pre_upscale(lr: Tensor, scale: int, method: str) -> Tensor:
    """Conventional upscale by ``scale``: MATLAB bicubic (``gan_sr.degrade.imresize``) or torch bilinear."""
    h, w = lr.shape[-2:]
    if method == "bilinear":
        return F.interpolate(lr, size=(h * scale, w * scale), mode="bilinear", align_corners=False)
    if method == "bicubic":
        from gan_sr.degrade import imresize

        return imresize(lr, size=(h * scale, w * scale))
    raise ConfigError(f"anime4k: unknown pre-upscaler {method!r}; choose one of {', '.join(PRE_UPSCALERS)}")


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"anime4k: {name} must be an integer >= {minimum}, got {value!r}")
    return value


def _check_strength(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"anime4k: {name} must be a number in [0, 1], got {value!r}")
    return float(value)


class Anime4K(nn.Module):
    """Classic Anime4K upscaler, no learned weights. ``forward(lr)`` maps (B, 3, h, w) to (B, 3, h*s, w*s).

    ``None`` for an option means the variant's default: glsl 1 pass, push colour in 1, bicubic,
    s_c = min(scale/6, 1), s_g = min(scale/2, 1); cpp 2 passes, push colour in 2, bilinear at x2 and bicubic
    otherwise, s_c = 0.3, s_g = 1.0.
    """

    def __init__(
        self,
        scale: int,
        variant: str = "glsl",
        pre: str | None = None,
        passes: int | None = None,
        strength_color: float | None = None,
        strength_gradient: float | None = None,
        push_color_count: int | None = None,
    ) -> None:
        super().__init__()
        self.scale = _check_int("scale", scale, 1)
        _check_variant(variant)
        self.variant = variant
        cpp = variant == "cpp"
        if pre is None:
            pre = "bilinear" if cpp and scale == 2 else "bicubic"
        if pre not in PRE_UPSCALERS:
            raise ConfigError(f"anime4k: unknown pre-upscaler {pre!r}; choose one of {', '.join(PRE_UPSCALERS)}")
        self.pre = pre
        self.passes = _check_int("passes", (2 if cpp else 1) if passes is None else passes, 1)
        self.push_color_count = _check_int(
            "push_color_count", (2 if cpp else 1) if push_color_count is None else push_color_count, 0
        )
        if strength_color is None:
            strength_color = 0.3 if cpp else min(scale / 6.0, 1.0)
        if strength_gradient is None:
            strength_gradient = 1.0 if cpp else min(scale / 2.0, 1.0)
        self.strength_color = _check_strength("strength_color", strength_color)
        self.strength_gradient = _check_strength("strength_gradient", strength_gradient)

    def extra_repr(self) -> str:
        return (
            f"scale={self.scale}, variant={self.variant!r}, pre={self.pre!r}, passes={self.passes}, "
            f"push_color_count={self.push_color_count}, strength_color={self.strength_color:g}, "
            f"strength_gradient={self.strength_gradient:g}"
        )

    def refine(self, x: Tensor, backend: str = "auto") -> Tensor:
        """The push passes alone, on an already upscaled RGB batch (B, 3, H, W).

        ``backend="auto"``: a float32 CPU batch that needs no gradient takes the compiled loop
        (``anime4k_kernels``, the same rules to float32 rounding at a fraction of the time), anything else the
        tensor code below (``"torch"``); ``"compiled"`` forces the loop.
        """
        if backend not in ("auto", "torch", "compiled"):
            raise ConfigError(f"anime4k: unknown backend {backend!r}; choose auto, torch or compiled")
        if backend == "compiled" or (backend == "auto" and self._compiled_ok(x)):
            return self._refine_compiled(x)
        for i in range(self.passes):
            if self.strength_color > 0 and i < self.push_color_count:
                x = push_color(x, self.strength_color, self.variant)
            x = push_gradient(x, compute_gradient(x, self.variant), self.strength_gradient, self.variant)
        return x.clamp(0.0, 1.0)

    def _compiled_ok(self, x: Tensor) -> bool:
        return x.device.type == "cpu" and x.dtype == torch.float32 and not (x.requires_grad and torch.is_grad_enabled())

    def _refine_compiled(self, x: Tensor, prescale: int = 1) -> Tensor:
        import numba

        from gan_sr.sr import anime4k_kernels

        numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
        out = anime4k_kernels.refine(x.detach().contiguous().numpy(), self.variant, self.passes,
                                     self.push_color_count, self.strength_color, self.strength_gradient, prescale)
        return torch.from_numpy(out)

    def forward(self, lr: Tensor) -> Tensor:
        if lr.ndim != 4 or lr.shape[1] != 3:
            raise ConfigError(f"anime4k: input must be an RGB batch (B, 3, h, w), got shape {tuple(lr.shape)}")
        if not lr.is_floating_point():
            raise ConfigError(f"anime4k: input must be a float tensor in [0, 1], got {lr.dtype}")
        if self.pre == "bilinear" and self.scale == 2 and self._compiled_ok(lr):
            return self._refine_compiled(lr, prescale=2)  # upscale fused into the compiled loop (exact weights at x2)
        return self.refine(pre_upscale(lr, self.scale, self.pre).clamp(0.0, 1.0))
