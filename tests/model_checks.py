"""Comparing a loaded model with a reference built by hand."""

from __future__ import annotations

import torch


def same_model_output(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Outputs of the same weights on the same input. load_model runs CPU models channels_last (oneDNN's NHWC
    kernels), whose accumulation order differs from NCHW, so equal means equal to fp32 rounding."""
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-4)
