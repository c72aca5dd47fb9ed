"""The training data order: an endless, resumable, rank-sharded stream of batches with per-sample seeds."""

from __future__ import annotations

import math
import random
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from gan_sr.errors import ConfigError
from gan_sr.train.rng import preserved_rng


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

