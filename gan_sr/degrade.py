"""Degradations that make LR from HR: MATLAB-compatible bicubic `imresize`, `modcrop`, `downscale`, and
`degrade_mixed` (random blur, bicubic, noise and JPEG, for SR networks that will meet non-bicubic input).

The SR literature makes its LR images with MATLAB's `imresize(..., 'bicubic')` (antialiased when
shrinking); PIL, OpenCV and torch bicubic differ from it by 0.1 dB and more, so published numbers are
only reproducible with this resampler (see REFERENCE.md section 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_sr.errors import ConfigError
from gan_sr.tensor_cache import tensor_cache

KERNEL_WIDTH = 4.0
_WINDOW = 32  # input pixels per dense block of the banded resize matrix


def cubic(x: Tensor) -> Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's 'bicubic'); support [-2, 2]."""
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


@tensor_cache(maxsize=256)
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


@tensor_cache(maxsize=64)
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


@tensor_cache(maxsize=64)
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


# ---------------------------------------------------------- "mixed": blur, bicubic, noise, JPEG (Real-ESRGAN)

P_ISOTROPIC = 0.5
"""Share of the blurs that are isotropic; the rest are anisotropic with a random orientation."""
P_GREY_NOISE = 0.4
"""Share of the noise draws that add one field to all channels (Real-ESRGAN's gray_noise_prob)."""
BLUR_RADIUS_SIGMAS = 4.0
"""Kernel half-width in standard deviations: the truncated tails change the variance by about 0.1 %."""


def gaussian_kernel(sigma_x: float, sigma_y: float, theta: float = 0.0) -> Tensor:
    """A normalised (2r+1, 2r+1) float64 Gaussian with covariance R diag(sx^2, sy^2) R^T, r = ceil(4 max sigma).

    R rotates by theta from the column axis (x) towards the row axis (y); indices are [row, column].
    """
    if not (sigma_x > 0 and sigma_y > 0):
        raise ConfigError(f"blur sigmas must be > 0, got {sigma_x!r} and {sigma_y!r}")
    r = max(1, math.ceil(BLUR_RADIUS_SIGMAS * max(sigma_x, sigma_y)))
    c, s = math.cos(theta), math.sin(theta)
    rot = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    cov = rot @ torch.diag(torch.tensor([sigma_x**2, sigma_y**2], dtype=torch.float64)) @ rot.T
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    pts = torch.stack([xx, yy], dim=-1)
    k = torch.exp(-0.5 * torch.einsum("...i,ij,...j->...", pts, torch.linalg.inv(cov), pts))
    return k / k.sum()


def blur(x: Tensor, kernel: Tensor) -> Tensor:
    """Filter every channel of (..., C, H, W) with a centrally symmetric odd kernel; borders mirrored.

    Mirroring leaves out the edge pixel (OpenCV's BORDER_REFLECT_101, as BasicSR's filter2D); images
    smaller than the kernel radius repeat the edge instead.
    """
    r = kernel.shape[-1] // 2
    h, w = x.shape[-2], x.shape[-1]
    flat = x.reshape(-1, 1, h, w)
    flat = F.pad(flat, (r, r, r, r), mode="reflect" if r < min(h, w) else "replicate")
    k = kernel.to(device=x.device, dtype=x.dtype)[None, None]
    return F.conv2d(flat, k).reshape(x.shape)


def jpeg(x: Tensor, quality: int) -> Tensor:
    """Round (3, H, W) in [0, 1] to 8 bits, encode it as a JPEG in memory (Pillow, 4:2:0) and decode it."""
    import io

    import numpy as np
    from PIL import Image as PILImage

    from gan_sr.io.images import quantize

    if not 1 <= int(quality) <= 100:
        raise ConfigError(f"JPEG quality must be in 1..100, got {quality!r}")
    arr = quantize(x.detach().cpu(), 8).mul_(255.0).round_().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    buf = io.BytesIO()
    PILImage.fromarray(arr, "RGB").save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with PILImage.open(buf) as im:
        out = np.array(im.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(out).permute(2, 0, 1).to(device=x.device, dtype=x.dtype).div_(255.0)


def _range(v, name: str, lo: float, hi: float) -> tuple[float, float]:
    """A (min, max) pair within [lo, hi]; ConfigError naming the argument otherwise."""
    try:
        a, b = (float(t) for t in v)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a (min, max) pair, got {v!r}") from None
    if not (lo <= a <= b <= hi):
        raise ConfigError(f"{name} = {v!r} must satisfy {lo:g} <= min <= max <= {hi:g}")
    return a, b


def _check_mixed(blur_sigma, noise_sigma, jpeg_quality, probs: dict[str, float]) -> tuple:
    bs = _range(blur_sigma, "blur_sigma", 0.0, math.inf)
    if bs[0] <= 0:
        raise ConfigError(f"blur_sigma = {blur_sigma!r}: sigmas must be > 0 (use p_blur=0 for no blur)")
    ns = _range(noise_sigma, "noise_sigma", 0.0, 1.0)
    jq = _range(jpeg_quality, "jpeg_quality", 1, 100)
    if jq != (int(jq[0]), int(jq[1])):
        raise ConfigError(f"jpeg_quality = {jpeg_quality!r} must be whole numbers in 1..100")
    for name, p in probs.items():
        if not 0.0 <= float(p) <= 1.0:
            raise ConfigError(f"{name} must be a probability in [0, 1], got {p!r}")
    return bs, ns, (int(jq[0]), int(jq[1]))


def degrade_mixed(
    hr: Tensor,
    scale: int,
    *,
    generator: torch.Generator,
    blur_sigma: tuple[float, float] = (0.2, 2.0),
    noise_sigma: tuple[float, float] = (0.0, 10 / 255),
    jpeg_quality: tuple[int, int] = (40, 95),
    p_blur: float = 0.7,
    p_noise: float = 0.5,
    p_jpeg: float = 0.5,
) -> Tensor:
    """LR from (3, H, W) or (B, 3, H, W) HR in [0, 1] by a random classical degradation, 8-bit like a saved file.

    The first-order model of Real-ESRGAN (Wang et al., ICCVW 2021, sec. 3.1), with MATLAB bicubic as its
    only resize so that it reduces to the bicubic pairs when every probability is 0:
      1. blur, with probability p_blur: Gaussian on the HR, isotropic (sigma ~ U(blur_sigma)) or, half the
         time, anisotropic (two sigmas ~ U(blur_sigma), angle ~ U[0, pi));
      2. shrink by `scale` with MATLAB bicubic (`downscale`);
      3. noise, with probability p_noise: additive Gaussian, sigma ~ U(noise_sigma), independent per
         channel or (P_GREY_NOISE of the time) one field shared by all channels;
      4. JPEG, with probability p_jpeg: re-encode at an integer quality ~ U{jpeg_quality} (Pillow);
      5. clamp to [0, 1] and round to 8 bits.
    Every random number comes from `generator` (the images of a batch draw in turn), so a seed fixes the LR.
    """
    bs, ns, jq = _check_mixed(blur_sigma, noise_sigma, jpeg_quality,
                              {"p_blur": p_blur, "p_noise": p_noise, "p_jpeg": p_jpeg})
    if not isinstance(generator, torch.Generator):
        raise TypeError("degrade_mixed needs a torch.Generator as `generator`")
    if not torch.is_tensor(hr) or not hr.is_floating_point() or hr.dim() not in (3, 4) or hr.shape[-3] != 3:
        got = tuple(hr.shape) if torch.is_tensor(hr) else type(hr).__name__
        raise ConfigError(f"degrade_mixed needs float RGB images (3, H, W) or (B, 3, H, W), got {got}")
    from gan_sr.io.images import quantize

    if hr.dim() == 4:
        if len(hr) == 0:
            return quantize(downscale(hr, scale).clamp(0.0, 1.0), 8)
        return torch.stack([degrade_mixed(x, scale, generator=generator, blur_sigma=bs, noise_sigma=ns,
                                          jpeg_quality=jq, p_blur=p_blur, p_noise=p_noise, p_jpeg=p_jpeg)
                            for x in hr])

    u = torch.rand(10, generator=generator, dtype=torch.float64).tolist()

    def between(lo: float, hi: float, t: float) -> float:
        return lo + (hi - lo) * t

    x = hr
    if u[0] < p_blur:
        sx = between(*bs, u[2])
        sy = sx if u[1] < P_ISOTROPIC else between(*bs, u[3])
        x = blur(x, gaussian_kernel(sx, sy, math.pi * u[4]))
    x = downscale(x, scale, "bicubic")
    if u[5] < p_noise:
        sigma = between(*ns, u[7])
        shape = (1, *x.shape[-2:]) if u[6] < P_GREY_NOISE else tuple(x.shape)
        noise = torch.randn(shape, generator=generator, dtype=torch.float32)
        x = x + sigma * noise.to(device=x.device, dtype=x.dtype)
    if u[8] < p_jpeg:
        x = jpeg(x, min(jq[1], jq[0] + int(u[9] * (jq[1] - jq[0] + 1))))
    return quantize(x.clamp(0.0, 1.0), 8)
