"""Model cost in multiply-accumulates (MACs), counted from the layers a forward pass actually runs.

Only `nn.Conv2d` and `nn.Linear` are counted (bias additions, activations, normalisation, pixel
shuffles and resampling are not): that is the convention of the SR papers' cost figures. Models
without such layers (bicubic, classic Anime4K) therefore report 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call

from gan_sr.errors import ConfigError


def _full_shape(lr_shape: Sequence[int]) -> tuple[int, int, int, int]:
    shape = tuple(int(s) for s in lr_shape)
    if len(shape) == 2:
        shape = (1, 3) + shape
    elif len(shape) == 3:
        shape = (1,) + shape
    if len(shape) != 4 or min(shape) < 1:
        raise ConfigError(f"lr_shape must be (h, w), (C, h, w) or (B, C, h, w) with positive sizes, got {lr_shape!r}")
    return shape  # type: ignore[return-value]


def _count(model: nn.Module, x: torch.Tensor, tensors: dict[str, torch.Tensor] | None = None) -> int:
    """MACs of model(x); with `tensors`, the forward uses them in place of the model's own (functional_call)."""
    total = 0

    def conv_hook(m: nn.Conv2d, _inp, out):
        nonlocal total
        kh, kw = m.kernel_size
        total += out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, _inp, out):
        nonlocal total
        total += out.numel() * m.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if tensors is None:
                model(x)
            else:
                functional_call(model, tensors, (x,), strict=False)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total


def count_macs(model: nn.Module, lr_shape: Sequence[int]) -> int:
    """MACs of one forward pass of `model` on an input of `lr_shape` ((h, w), (C, h, w) or (B, C, h, w)).

    Runs on the meta device (shapes only, no arithmetic) when the model allows, else a real pass on zeros.
    """
    shape = _full_shape(lr_shape)
    named = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    meta = {k: torch.empty_like(v, device="meta") for k, v in named.items()}
    try:
        return _count(model, torch.empty(shape, device="meta"), meta)
    except (RuntimeError, NotImplementedError, TypeError, ValueError):
        pass
    p = next(iter(named.values()), None)
    device = p.device if p is not None else torch.device("cpu")
    return _count(model, torch.zeros(shape, device=device))
