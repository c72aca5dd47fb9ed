"""One process or a torchrun process group: where this rank sits, DDP wrapping, and what ranks share."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch
import torch.distributed as tdist
from torch import nn

from gan_sr.errors import ConfigError


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


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper, or the model itself."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def past_deadline(deadline: float, dist: DistEnv) -> bool:
    """Whether time.time() is past `deadline` by rank 0's clock, so that every rank stops at the same step."""
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
