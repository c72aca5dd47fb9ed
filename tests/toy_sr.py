"""A toy SR model, the whole of what adding one takes: this file and one registry entry (`SPEC`).

Nearest-neighbour upsampling plus a learned 3x3 correction, so it is trainable, shippable and scored like
any other model while staying tiny."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from gan_sr.sr.registry import ModelSpec


class ToySR(nn.Module):
    """x -> nearest(x) + conv(nearest(x)), RGB in [0, 1]."""

    def __init__(self, scale: int, width: int = 4):
        super().__init__()
        self.scale = scale
        self.body = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 3, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        up = F.interpolate(x, scale_factor=self.scale, mode="nearest")
        return up + self.body(up)


SPEC = ModelSpec(
    name="toy",
    summary="nearest upsampling + a learned 3x3 correction (a test of the registry)",
    paper="none: gansr's registry test",
    builder=ToySR,
    presets={"paper": {"follows": "itself", "width": 4}, "cpu": {"follows": "the same", "width": 4}},
    scales=(2, 4),
    learnable=True,
    stages=("mse",),
)
