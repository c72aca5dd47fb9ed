"""Machinery every trainer shares: run folder, RNG, data order, EMA, precision, divergence guard, DDP, logging.

A trainer (SR, GAN, joint) is written against this small API:

    dist = init_distributed("cpu")                    # torchrun env -> gloo/NCCL process group, else 1 process
    run = RunDir.create(path, config, main=dist.is_main)   # or RunDir.open(path) to resume
    seed_everything(seed)                             # the same on every rank: models start identical
    stream = BatchStream(dataset, batch, seed=seed, rank=dist.rank, world_size=dist.world_size)
    ema = EMA(model, decay=0.999)
    prec = Precision(dist.device, bf16=False, channels_last=False)
    sched = LRSchedule(optimizer, "step", step_size=..., gamma=0.5)
    writer = open_writer(run, enabled=dist.is_main)   # no-op writer on other ranks
    bar = progress_bar(steps, desc="train", initial=step, enabled=dist.is_main and not quiet)   # gan_sr.progress
    for step in ...:
        lr, hr = (prec.batch(t) for t in next(stream))
        with prec.autocast(): loss = ...
        check_finite(step, {"pixel": loss}, dist)     # TrainingDiverged, the same on every rank
        loss.backward(); allreduce_gradients(model, dist)   # or train wrap_ddp(model, dist)
        opt.step(); sched.step(); ema.update(model, step)
        run.save({... "rng": capture_rng(), "data": stream.state_dict(), ...})   # rank 0 only, atomic

Also from here: `preserved_rng()` (validation/sampling without moving the training RNG), `wrap_ddp` /
`allreduce_gradients` (DDP wrapper, or averaging a net's gradients by hand, e.g. a discriminator),
`broadcast_state`, `barrier`, `shutdown_distributed`,
`RunDir.load_last()`, `EMA.module` (the averaged copy, for evaluation).

Everything stored in a checkpoint (RNG states, data position, schedule, EMA) is tensors, ints, floats,
strings, lists and dicts, so `load_checkpoint(weights_only=True)` restores it, and a resumed run
continues bit-identically to an uninterrupted one (data order and augmentations do not depend on when
the DataLoader was created: every sample's augmentation is seeded from (seed, epoch, position)).

Split by what each part holds: `rundir` (run folder, config.json, last/previous/best.pt), `rng` (seeding, capture,
restore), `batches` (`BatchStream`), `ema` (`EMA`), `optim` (`build_optimizer`, `LRSchedule`), `distributed`
(`DistEnv`, DDP, broadcasts, `past_deadline`); this module holds precision, the divergence guard and logging,
and every public name of the parts is importable from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as tdist
from torch import Tensor, nn

from gan_sr.errors import TrainingDiverged
from gan_sr.train.batches import BatchStream
from gan_sr.train.distributed import (
    DistEnv,
    allreduce_gradients,
    barrier,
    broadcast_floats,
    broadcast_state,
    init_distributed,
    past_deadline,
    shutdown_distributed,
    unwrap,
    wrap_ddp,
)
from gan_sr.train.ema import EMA
from gan_sr.train.optim import LRSchedule, build_optimizer
from gan_sr.train.rng import capture_rng, preserved_rng, restore_rng, seed_everything
from gan_sr.train.rundir import RunDir, config_diff


# ----------------------------------------------------------------------------------------------- precision


@dataclass
class Precision:
    """bf16 autocast and channels_last for training steps; evaluation always runs in fp32 (`fp32()`)."""

    device: torch.device
    bf16: bool = False
    channels_last: bool = False

    def __post_init__(self) -> None:
        self.device = torch.device(self.device)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def fp32(self):
        return torch.autocast(self.device.type, enabled=False)

    def model(self, module: nn.Module) -> nn.Module:
        module = module.to(self.device)
        return module.to(memory_format=torch.channels_last) if self.channels_last else module

    def batch(self, x: Tensor) -> Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x


# -------------------------------------------------------------------------------------------- divergence


def check_finite(step: int, losses: dict[str, Tensor | float], dist: DistEnv | None = None) -> None:
    """Raise TrainingDiverged naming the step and the loss when any loss is NaN/Inf (agreed across ranks)."""
    vals = {n: float(v.detach()) if torch.is_tensor(v) else float(v) for n, v in losses.items()}
    bad = [n for n, v in vals.items() if not math.isfinite(v)]
    if dist is not None and dist.enabled:
        flag = torch.tensor([1.0 if bad else 0.0], device=dist.device)
        tdist.all_reduce(flag)
        if flag.item() > 0 and not bad:
            bad = ["(on another rank)"]
    if bad:
        values = ", ".join(f"{n}={vals.get(n, math.nan)}" for n in bad)
        raise TrainingDiverged(
            f"step {step}: loss {values} is not finite; training stopped. Lower the learning rate "
            "(--lr, or train.lr in --config), try --no-bf16, set train.rollback to retry from the last checkpoint "
            "with half the learning rate, or resume from last.pt."
        )


# ------------------------------------------------------------------------------------------------ logging


class NullWriter:
    """Stands in for SummaryWriter off rank 0: accepts every call, writes nothing."""

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


def open_writer(run: RunDir, *, enabled: bool = True) -> Any:
    """A TensorBoard SummaryWriter on run/tb (rank 0), else a NullWriter."""
    if not enabled or not run.main:
        return NullWriter()
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(run.tb))


def flat_hparams(cfg: dict, prefix: str = "") -> dict:
    """A nested config as TensorBoard hparams: dotted keys, values as numbers, strings or bools."""
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat_hparams(v, key + "."))
        elif isinstance(v, (int, float, str, bool)):
            out[key] = v
        else:
            out[key] = str(v)
    return out
