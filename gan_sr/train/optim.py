"""The optimiser (Adam or SGD, per-prefix learning-rate multipliers) and its learning-rate schedule."""

from __future__ import annotations

import math

import torch
from torch import nn

from gan_sr.errors import ConfigError


def build_optimizer(net: nn.Module, kind: str, lr: float, *, betas=(0.9, 0.999), lr_mult: dict | None = None,
                    momentum: float = 0.9, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam or SGD over `net`; a parameter whose name starts with a key of `lr_mult` gets lr times its value."""
    groups: dict[float, list] = {}
    for name, p in net.named_parameters():
        mult = next((float(v) for k, v in (lr_mult or {}).items() if name.startswith(k)), 1.0)
        groups.setdefault(mult, []).append(p)
    params = [{"params": ps, "lr": float(lr) * mult} for mult, ps in groups.items()]
    if kind == "sgd":
        return torch.optim.SGD(params, lr=float(lr), momentum=float(momentum), weight_decay=float(weight_decay))
    return torch.optim.Adam(params, lr=float(lr), betas=tuple(float(b) for b in betas),
                            weight_decay=float(weight_decay))


class LRSchedule:
    """Learning rate as a function of the step (constant, step, multistep, cosine) or of validation (plateau).

    `warmup` steps ramp every kind linearly up from base/warmup (Goyal et al. 2017); "cosine" decays from the
    base to `min_lr` over `total` steps (Loshchilov & Hutter 2017). state_dict() is plain ints/floats,
    unlike torch's schedulers (MultiStepLR keeps a Counter).
    """

    KINDS = ("constant", "step", "multistep", "plateau", "cosine")

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        kind: str = "constant",
        *,
        step_size: int = 0,
        milestones: list[int] | tuple[int, ...] = (),
        gamma: float = 0.5,
        patience: int = 10,
        min_delta: float = 0.0,
        min_lr: float = 0.0,
        warmup: int = 0,
        total: int = 0,
    ) -> None:
        if kind not in self.KINDS:
            raise ConfigError(f"schedule '{kind}' is unknown; use one of {', '.join(self.KINDS)}")
        if kind == "step" and step_size <= 0:
            raise ConfigError("schedule 'step' needs step_size > 0")
        if kind == "cosine" and total <= 0:
            raise ConfigError("schedule 'cosine' needs the total number of steps (train.steps) > 0")
        if warmup < 0:
            raise ConfigError(f"train.warmup must be >= 0, got {warmup}")
        if min_delta < 0:
            raise ConfigError(f"train.min_delta must be >= 0, got {min_delta}")
        self.optimizer, self.kind = optimizer, kind
        self.step_size, self.milestones, self.gamma = step_size, sorted(int(m) for m in milestones), gamma
        self.patience, self.min_lr, self.warmup, self.total = patience, min_lr, int(warmup), int(total)
        self.min_delta = float(min_delta)
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.steps, self.factor, self.best, self.bad = 0, 1.0, -math.inf, 0
        if self.warmup:
            self._apply()

    def _factor(self) -> float:
        ramp = min(1.0, (self.steps + 1) / self.warmup) if self.warmup else 1.0
        if self.kind == "step":
            return ramp * self.gamma ** (self.steps // self.step_size)
        if self.kind == "multistep":
            return ramp * self.gamma ** sum(self.steps >= m for m in self.milestones)
        if self.kind == "cosine":
            return ramp * 0.5 * (1.0 + math.cos(math.pi * min(self.steps, self.total) / self.total))
        return ramp * self.factor

    def _apply(self) -> None:
        f = self._factor()
        floor = self.kind in ("plateau", "cosine")
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = max(base * f, self.min_lr) if floor and self.steps >= self.warmup else base * f

    def step(self) -> None:
        """Call after each optimizer step."""
        self.steps += 1
        self._apply()

    def observe(self, metric: float) -> None:
        """Feed a validation metric (higher is better); 'plateau' multiplies lr by gamma after `patience` misses.

        A miss is any metric not above the best by more than `min_delta`: without it, the tiny gains of an EMA
        model at a too-high rate count as progress for ever and the rate never drops.
        """
        if self.kind != "plateau":
            return
        if metric > self.best + self.min_delta:
            self.best, self.bad = metric, 0
        else:
            self.bad += 1
            if self.bad > self.patience:
                self.factor *= self.gamma
                self.bad = 0
        self._apply()

    def scale_base(self, factor: float) -> None:
        """Scale the base learning rates (used when rolling back after a divergence)."""
        self.base_lrs = [b * factor for b in self.base_lrs]
        self._apply()

    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict:
        return {"kind": self.kind, "steps": self.steps, "factor": self.factor, "best": self.best,
                "bad": self.bad, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.factor = int(state["steps"]), float(state["factor"])
        self.best, self.bad = float(state["best"]), int(state["bad"])
        self.base_lrs = [float(b) for b in state["base_lrs"]]
        self._apply()
