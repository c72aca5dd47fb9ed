"""Degradations that make LR from HR: MATLAB-compatible bicubic `imresize`, `modcrop`, `downscale`.

The SR literature makes its LR images with MATLAB's `imresize(..., 'bicubic')` (antialiased when
shrinking); PIL, OpenCV and torch bicubic differ from it by 0.1 dB and more, so published numbers are
only reproducible with this resampler (see REFERENCE.md section 1).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_sr.errors import ConfigError

KERNEL_WIDTH = 4.0
_WINDOW = 32  # input pixels per dense block of the banded resize matrix


def cubic(x: Tensor) -> Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's 'bicubic'); support [-2, 2]."""
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


@functools.lru_cache(maxsize=256)
def contributions(in_len: int, out_len: int, scale: float, antialias: bool = True) -> tuple[Tensor, Tensor]:
    """Source indices (out_len, P), int64, mirrored into [0, in_len), and their weights (float64).

    Output pixel x (1-based) samples the input at u = x/scale + 0.5(1 - 1/scale); when shrinking with
    antialiasing the kernel is stretched to width 4/scale (weights scale*cubic(scale*d)). Each row of
    weights sums to 1; indices past the border are reflected symmetrically (edge pixel repeated).
    """
    widen = scale < 1 and antialias
    width = KERNEL_WIDTH / scale if widen else KERNEL_WIDTH
    x = torch.arange(1, out_len + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = torch.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    dist = u[:, None] - idx
    w = scale * cubic(scale * dist) if widen else cubic(dist)
    w = w / w.sum(dim=1, keepdim=True)
    keep = (w != 0).any(dim=0)
    first, last = int(keep.nonzero().min()), int(keep.nonzero().max())
    idx, w = idx[:, first : last + 1], w[:, first : last + 1]
    mirror = torch.cat([torch.arange(in_len), torch.arange(in_len - 1, -1, -1)])
    idx = mirror[(idx.long() - 1) % (2 * in_len)]
    return idx.contiguous(), w.contiguous()


@functools.lru_cache(maxsize=64)
def _banded(in_len: int, out_len: int, scale: float, antialias: bool, window: int) -> tuple:
    """The resize along one axis as dense blocks: ((out_start, out_end, in_start, matrix), ...).

    Each block of outputs reads a short contiguous span of the input (about `window` pixels), so a
    small dense matmul per block does the work of the banded (out_len x in_len) matrix.
    """
    idx, w = contributions(in_len, out_len, scale, antialias)
    per_block = max(8, round(window * scale))
    blocks = []
    for o0 in range(0, out_len, per_block):
        o1 = min(out_len, o0 + per_block)
        bi = idx[o0:o1]
        lo, hi = int(bi.min()), int(bi.max()) + 1
        m = torch.zeros(o1 - o0, hi - lo, dtype=torch.float64)
        m.scatter_add_(1, bi - lo, w[o0:o1])
        blocks.append((o0, o1, lo, m))
    return tuple(blocks)


@functools.lru_cache(maxsize=64)
def _banded_on(in_len: int, out_len: int, scale: float, antialias: bool, device: torch.device, dtype: torch.dtype):
    """`_banded` with its matrices already on the device and in the dtype of the data."""
    blocks = _banded(in_len, out_len, scale, antialias, _WINDOW)
    return tuple((lo, m.to(device=device, dtype=dtype)) for _, _, lo, m in blocks)


def _resize_axis(x: Tensor, axis: int, out_len: int, scale: float, antialias: bool) -> Tensor:
    """Resize x along axis -2 (rows) or -1 (columns)."""
    in_len = x.shape[axis]
    if out_len == in_len and scale == 1:
        return x
    parts = []
    for lo, m in _banded_on(in_len, out_len, scale, antialias, x.device, x.dtype):
        span = x.narrow(axis, lo, m.shape[1])
        parts.append(torch.matmul(m, span) if axis == -2 else torch.matmul(span, m.T))
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=axis)


def _pair(v, name: str) -> tuple:
    if isinstance(v, Sequence) and not isinstance(v, str):
        if len(v) != 2:
            raise ConfigError(f"{name} must be one number or a pair (height, width), got {v!r}")
        return tuple(v)
    return (v, v)


def _out_len(in_len: int, scale: float) -> int:
    """MATLAB's ceil(in * scale), robust to 1/3-style rounding (321 * (1/3) must give 107)."""
    return max(1, math.ceil(in_len * scale - 1e-9))


def imresize(x: Tensor, scale=None, *, size=None, antialias: bool = True) -> Tensor:
    """MATLAB-compatible bicubic resize of (..., C, H, W) float tensors; no clamping, no rounding.

    scale: a factor or (fh, fw) pair (output size ceil(in * scale)); size: (H_out, W_out). With only
    size, the factors are H_out/H and W_out/W, as in MATLAB; with both, scale sets the kernel and the
    sampling grid and size the output extent. Like MATLAB, the axis with the smaller factor is resized
    first (rows first on a tie, which is also BasicSR's order). Computes in x's dtype: pass float64 for
    reference values.
    """
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError("imresize expects a floating-point tensor (..., C, H, W)")
    if x.dim() < 2:
        raise ValueError(f"imresize expects (..., H, W), got shape {tuple(x.shape)}")
    in_h, in_w = x.shape[-2], x.shape[-1]
    if in_h < 1 or in_w < 1:
        raise ConfigError(f"cannot resize an empty image of shape {tuple(x.shape)}")
    if scale is None and size is None:
        raise ConfigError("imresize needs a scale or a size")
    if size is not None:
        out_h, out_w = (int(s) for s in _pair(size, "size"))
        if out_h < 1 or out_w < 1:
            raise ConfigError(f"resize size must be positive, got {size!r}")
    if scale is not None:
        fh, fw = (float(s) for s in _pair(scale, "scale"))
        if not (fh > 0 and fw > 0 and math.isfinite(fh) and math.isfinite(fw)):
            raise ConfigError(f"resize scale must be a positive number, got {scale!r}")
        if size is None:
            out_h, out_w = _out_len(in_h, fh), _out_len(in_w, fw)
    else:
        fh, fw = out_h / in_h, out_w / in_w
    if fw < fh:
        x = _resize_axis(x, -1, out_w, fw, antialias)
        return _resize_axis(x, -2, out_h, fh, antialias)
    x = _resize_axis(x, -2, out_h, fh, antialias)
    return _resize_axis(x, -1, out_w, fw, antialias)


def _int_scale(scale, what: str) -> int:
    if isinstance(scale, bool) or int(scale) != scale or int(scale) < 1:
        raise ConfigError(f"{what} needs a positive integer scale, got {scale!r}")
    return int(scale)


def modcrop(x: Tensor, scale: int) -> Tensor:
    """Crop (..., H, W) to multiples of scale, keeping the top-left corner (MATLAB `modcrop`)."""
    s = _int_scale(scale, "modcrop")
    h, w = x.shape[-2], x.shape[-1]
    if h < s or w < s:
        raise ConfigError(f"image of {h}x{w} px is smaller than the scale {s}")
    return x[..., : h - h % s, : w - w % s]


def downscale(x: Tensor, scale: float, method: str = "bicubic") -> Tensor:
    """Shrink (..., C, H, W) by a factor `scale` (> 1 makes it smaller): the LR half of an SR pair.

    "bicubic": MATLAB bicubic with antialiasing, output ceil(H/scale) x ceil(W/scale);
    "area": exact box average over scale x scale blocks (integer scale, H and W multiples of it).
    """
    if method == "bicubic":
        s = float(scale)
        if not (s > 0 and math.isfinite(s)):
            raise ConfigError(f"downscale factor must be a positive number, got {scale!r}")
        h, w = x.shape[-2], x.shape[-1]
        return imresize(x, 1.0 / s, size=(_out_len(h, 1.0 / s), _out_len(w, 1.0 / s)))
    if method == "area":
        s = _int_scale(scale, "downscale(method='area')")
        h, w = x.shape[-2], x.shape[-1]
        if h % s or w % s:
            raise ConfigError(
                f"area downscale by {s} needs H and W divisible by {s}, got {h}x{w}; modcrop first"
            )
        lead = x.shape[:-2]
        y = F.avg_pool2d(x.reshape(-1, 1, h, w), kernel_size=s, stride=s)
        return y.reshape(*lead, h // s, w // s)
    raise ConfigError(f"unknown downscale method {method!r}; choose 'bicubic' or 'area'")
