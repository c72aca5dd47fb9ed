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

Also here: `preserved_rng()` (validation/sampling without moving the training RNG), `wrap_ddp` /
`allreduce_gradients` (DDP wrapper, or averaging a net's gradients by hand, e.g. a discriminator),
`broadcast_state`, `barrier`, `shutdown_distributed`,
`RunDir.load_last()`, `EMA.module` (the averaged copy, for evaluation).

Everything stored in a checkpoint (RNG states, data position, schedule, EMA) is tensors, ints, floats,
strings, lists and dicts, so `load_checkpoint(weights_only=True)` restores it, and a resumed run
continues bit-identically to an uninterrupted one (data order and augmentations do not depend on when
the DataLoader was created: every sample's augmentation is seeded from (seed, epoch, position)).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as tdist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from gan_sr.errors import CheckpointError, ConfigError, TrainingDiverged

# ---------------------------------------------------------------------------------------------- run folder


def config_diff(old: dict, new: dict) -> list[str]:
    """Dotted keys whose values differ between two nested config dicts (sorted), compared as JSON would."""
    a, b = json.loads(json.dumps(old, default=str)), json.loads(json.dumps(new, default=str))

    def flat(d: dict, prefix: str = "") -> dict:
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) and v else {f"{prefix}{k}": v})
        return out

    fa, fb = flat(a), flat(b)
    return sorted(k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k))


class RunDir:
    """One training run on disk: config.json, last.pt, best.pt, tb/ (TensorBoard), samples/."""

    def __init__(self, path: str | os.PathLike, *, main: bool = True) -> None:
        self.path = Path(path)
        self.main = main

    config_file = property(lambda self: self.path / "config.json")
    last = property(lambda self: self.path / "last.pt")
    previous = property(lambda self: self.path / "previous.pt")  # the checkpoint before last.pt
    best = property(lambda self: self.path / "best.pt")
    tb = property(lambda self: self.path / "tb")
    samples = property(lambda self: self.path / "samples")

    @classmethod
    def create(cls, path: str | os.PathLike, config: dict, *, main: bool = True) -> RunDir:
        """A fresh run; refuses a folder that already holds a run (resume it or pick another --run-dir).

        Only rank 0 (main) checks and writes; other ranks should wait at a barrier after this call.
        """
        run = cls(path, main=main)
        run.ensure_fresh()
        if main:
            run.path.mkdir(parents=True, exist_ok=True)
            run.tb.mkdir(exist_ok=True)
            run.samples.mkdir(exist_ok=True)
            run.write_config(config)
        return run

    def ensure_fresh(self) -> None:
        """ConfigError if this folder already holds a run (checked on rank 0 only)."""
        if self.main and (self.has_checkpoint() or self.config_file.exists()):
            raise ConfigError(
                f"run folder {self.path} already holds a run; resume it with --resume {self.path} "
                "or choose another --run-dir"
            )

    @classmethod
    def open(cls, path: str | os.PathLike, *, main: bool = True) -> RunDir:
        """An existing run to resume: needs config.json and last.pt."""
        run = cls(path, main=main)
        if not run.path.is_dir():
            raise CheckpointError(f"--resume {run.path}: no such run folder")
        if not run.config_file.is_file():
            raise CheckpointError(f"--resume {run.path}: config.json is missing, so there is nothing to resume")
        if not run.has_checkpoint():
            raise CheckpointError(f"--resume {run.path}: last.pt is missing, so there is nothing to resume")
        return run

    def has_checkpoint(self) -> bool:
        """last.pt, or previous.pt when a kill came between keeping it and writing the new last.pt."""
        return self.last.is_file() or self.previous.is_file()

    def continues(self, record: dict, *, ignore: tuple[str, ...] = ()) -> bool:
        """True when this folder holds a run of `record` (its config.json content; dotted keys in `ignore`,
        such as the run length, may differ), so that the command that made it, given again, continues it.
        ConfigError naming the first keys that differ when it holds another run; False when it holds none
        (a run stopped before its first checkpoint is cleared and starts anew)."""
        if not self.config_file.is_file():
            return False
        diffs = [k for k in config_diff(self.read_config(), record) if k not in ignore]
        if diffs:
            raise ConfigError(f"--run-dir {self.path} holds a run of another configuration (differs in "
                              f"{', '.join(diffs[:3])}); resume it with --resume {self.path} or choose another --run-dir")
        if not self.has_checkpoint():
            if self.main:
                self.config_file.unlink()
            return False
        return True

    def read_config(self) -> dict:
        try:
            return json.loads(self.config_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{self.config_file}: cannot read the run's config ({exc})") from exc

    def write_config(self, config: dict) -> None:
        if not self.main:
            return
        tmp = self.config_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(config, indent=2, sort_keys=True, default=str) + "\n")
        os.replace(tmp, self.config_file)

    def save(self, payload: dict, *, best: bool = False) -> None:
        """Write last.pt (and best.pt) atomically, keeping the one before as previous.pt; a no-op off rank 0."""
        if not self.main:
            return
        from gan_sr.io.checkpoints import save_checkpoint

        if self.last.is_file():
            os.replace(self.last, self.previous)
        save_checkpoint(self.last, payload)
        if best:
            save_checkpoint(self.best, payload)

    def load_last(self, map_location: str | torch.device = "cpu") -> dict:
        """last.pt; if it is missing or damaged, previous.pt with a warning (that run repeats a few steps)."""
        from gan_sr.io.checkpoints import load_checkpoint

        try:
            return load_checkpoint(self.last, map_location=map_location)
        except CheckpointError as exc:
            if not self.previous.is_file():
                raise
            if self.main:
                print(f"Warning: {exc}; resuming from the checkpoint before it, {self.previous}", file=sys.stderr)
            return load_checkpoint(self.previous, map_location=map_location)


# ----------------------------------------------------------------------------------------------------- RNG


def seed_everything(seed: int) -> None:
    """Seed python `random`, numpy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng() -> dict:
    """The state of every global RNG, as weights_only-safe types."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
    }
    return state


def restore_rng(state: dict) -> None:
    """Put back what capture_rng() returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block (validation, sampling) without disturbing the training RNG streams."""
    state = capture_rng()
    try:
        yield
    finally:
        restore_rng(state)


# ---------------------------------------------------------------------------------------------- data order


class _SeededItems(Dataset):
    """Wraps a dataset so that item (index, seed) is produced under seeded global RNGs (then restored)."""

    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]):
        index, seed = key
        with preserved_rng():
            random.seed(seed)
            np.random.seed(seed % 2**32)
            torch.manual_seed(seed)
            return self.base[index]


class _Batches:
    """Endless batches of (index, seed) for one rank, from (epoch, batch) on; a DataLoader batch_sampler."""

    def __init__(self, stream: BatchStream, epoch: int, batch: int) -> None:
        self.stream, self.epoch, self.batch = stream, epoch, batch

    def __iter__(self):
        epoch, start, size = self.epoch, self.batch, self.stream.batch_size
        while True:
            keys = self.stream._epoch_keys(epoch)
            for b in range(start, len(keys) // size):
                yield keys[b * size : (b + 1) * size]
            epoch, start = epoch + 1, 0


class BatchStream:
    """An endless, resumable stream of training batches, sharded across DDP ranks.

    Each epoch is a permutation drawn from (seed, epoch); a dataset smaller than one global batch is
    repeated. Every sample gets its own augmentation seed, so the batches do not depend on worker count
    or on when the stream was (re)started. Plays the role of DistributedSampler, but can resume mid-epoch.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        n = len(dataset)  # type: ignore[arg-type]
        if n == 0:
            raise ConfigError("the training split has no images")
        if batch_size < 1:
            raise ConfigError(f"--batch must be at least 1, got {batch_size}")
        self.dataset = _SeededItems(dataset)
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.epoch, self.batch = 0, 0
        self._it: Iterator | None = None
        self._per_epoch = len(self._epoch_keys(0)) // batch_size

    def batches_per_epoch(self) -> int:
        return self._per_epoch

    def _epoch_keys(self, epoch: int) -> list[tuple[int, int]]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        per_step = self.batch_size * self.world_size
        repeats = max(1, math.ceil(per_step / self.n))
        order = torch.cat([torch.randperm(self.n, generator=g) for _ in range(repeats)])
        seeds = torch.randint(0, 2**62, (len(order),), generator=g)
        usable = len(order) // per_step * per_step
        keys = list(zip(order[:usable].tolist(), seeds[:usable].tolist()))
        return keys[self.rank :: self.world_size]

    def _start(self) -> None:
        loader = DataLoader(
            self.dataset,
            batch_sampler=_Batches(self, self.epoch, self.batch),
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            generator=torch.Generator().manual_seed(self.seed),  # keep DataLoader off the global RNG
        )
        self._it = iter(loader)

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self):
        """The next batch; the position advances only for batches handed out (prefetched ones do not count)."""
        if self._it is None:
            self._start()
        item = next(self._it)  # type: ignore[arg-type]
        self.batch += 1
        if self.batch == self._per_epoch:
            self.epoch, self.batch = self.epoch + 1, 0
        return item

    def state_dict(self) -> dict:
        """Position of the next batch: {"epoch", "batch", "seed"}."""
        return {"epoch": self.epoch, "batch": self.batch, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.batch, self.seed = int(state["epoch"]), int(state["batch"]), int(state["seed"])
        self._it = None


# ----------------------------------------------------------------------------------------------------- EMA


class EMA:
    """Exponential moving average of a model's weights: ema = d * ema + (1 - d) * w; buffers copied.

    With `warmup`, d = min(decay, (1 + step) / (10 + step)) for the update after `step` updates, so that
    a short run's average is not dominated by the initial weights (0.999^2000 is still 13 %).
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, *, warmup: bool = True) -> None:
        if not 0.0 <= decay < 1.0:
            raise ConfigError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay, self.warmup = decay, warmup
        self.module = copy.deepcopy(_unwrap(model)).eval().requires_grad_(False)

    def decay_at(self, step: int | None) -> float:
        if step is None or not self.warmup:
            return self.decay
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int | None = None) -> None:
        """Fold in the model's current weights; `step` = updates done before this one (for the warm-up)."""
        src = _unwrap(model)
        d = self.decay_at(step)
        for e, p in zip(self.module.parameters(), src.parameters()):
            e.lerp_(p.detach().to(e.dtype), 1.0 - d)
        for e, b in zip(self.module.buffers(), src.buffers()):
            e.copy_(b)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


unwrap = _unwrap


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


# ------------------------------------------------------------------------------------------- LR schedule


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


# --------------------------------------------------------------------------------------------------- DDP


@dataclass
class DistEnv:
    """Where this process sits: rank, world size, its device; `enabled` when a process group is up."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    enabled: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str = "cpu") -> DistEnv:
    """Join the torchrun process group when WORLD_SIZE > 1 (gloo on CPU, NCCL on CUDA); else one process."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available; use --device cpu")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv(device=torch.device(device))
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    if not tdist.is_initialized():
        tdist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistEnv(rank=rank, world_size=world, local_rank=local, device=dev, enabled=True)


def barrier(dist: DistEnv) -> None:
    if dist.enabled:
        tdist.barrier()


def shutdown_distributed(dist: DistEnv) -> None:
    if dist.enabled and tdist.is_initialized():
        tdist.destroy_process_group()


def wrap_ddp(model: nn.Module, dist: DistEnv) -> nn.Module:
    """DistributedDataParallel around `model` when a process group is up, else the model itself."""
    if not dist.enabled:
        return model
    ids = [dist.device.index] if dist.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def allreduce_gradients(model: nn.Module, dist: DistEnv) -> None:
    """Average gradients over ranks by hand (for a net not wrapped in DDP, e.g. a discriminator)."""
    if not dist.enabled:
        return
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    tdist.all_reduce(flat)
    flat /= dist.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_state(model: nn.Module, dist: DistEnv) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not dist.enabled:
        return
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            tdist.broadcast(t.data, src=0)


# ------------------------------------------------------------------------------------------------ logging


def past_deadline(deadline: float, dist: DistEnv) -> bool:
    """Whether time.time() is past `deadline` by rank 0's clock, so that every rank stops at the same step."""
    import time

    stop = torch.tensor([float(time.time() >= deadline)], dtype=torch.float64, device=dist.device)
    if dist.enabled:
        tdist.broadcast(stop, src=0)
    return bool(stop.item())


def broadcast_floats(values: dict[str, float], dist: DistEnv, keys: tuple[str, ...] = ("psnr", "ssim")) -> dict:
    """Rank 0's numbers under `keys` on every rank (only rank 0 validates)."""
    if not dist.enabled:
        return values
    t = torch.tensor([float(values.get(k, 0.0)) for k in keys], dtype=torch.float64, device=dist.device)
    tdist.broadcast(t, src=0)
    return dict(zip(keys, t.tolist()))


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
