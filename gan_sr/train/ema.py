"""The exponential moving average of a model's weights, with the short-run warm-up."""

from __future__ import annotations

import copy

import torch
from torch import nn

from gan_sr.errors import ConfigError
from gan_sr.train.distributed import unwrap


class EMA:
    """Exponential moving average of a model's weights: ema = d * ema + (1 - d) * w; buffers copied.

    With `warmup`, d = min(decay, (1 + step) / (10 + step)) for the update after `step` updates, so that
    a short run's average is not dominated by the initial weights (0.999^2000 is still 13 %).
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, *, warmup: bool = True) -> None:
        if not 0.0 <= decay < 1.0:
            raise ConfigError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay, self.warmup = decay, warmup
        self.module = copy.deepcopy(unwrap(model)).eval().requires_grad_(False)

    def decay_at(self, step: int | None) -> float:
        if step is None or not self.warmup:
            return self.decay
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int | None = None) -> None:
        """Fold in the model's current weights; `step` = updates done before this one (for the warm-up)."""
        src = unwrap(model)
        d = self.decay_at(step)
        for e, p in zip(self.module.parameters(), src.parameters()):
            e.lerp_(p.detach().to(e.dtype), 1.0 - d)
        for e, b in zip(self.module.buffers(), src.buffers()):
            e.copy_(b)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)

