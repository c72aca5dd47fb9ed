"""Cached tensors (resize matrices, SSIM windows) must stay usable by autograd after an inference-mode caller."""

import torch

from gan_sr.degrade import downscale, imresize


def test_resize_matrices_cached_under_inference_mode_still_backpropagate():
    x = torch.rand(1, 3, 24, 40)
    with torch.inference_mode():
        imresize(x, 2)  # first call caches the matrices for these sizes
        downscale(imresize(x, 2), 2)
    y = torch.rand(1, 3, 24, 40, requires_grad=True)
    out = downscale(imresize(y, 2), 2)
    out.sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()
