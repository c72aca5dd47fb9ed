"""Shared fixtures: the real datasets beside the checkout, small generated images, quiet torch threads,
and a launcher for two-process (torchrun-style) DDP tests."""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
from pathlib import Path
from typing import Callable

import pytest
import torch

SHARED = Path(os.environ.get("GANSR_SHARED", Path(__file__).resolve().parents[1].parent / "shared")) / "datasets"

torch.set_num_threads(1)  # tiny tensors: a second thread only adds contention (and subprocess tests run beside)


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """../shared/datasets (or $GANSR_SHARED/datasets); tests that need it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED}")
    return SHARED


@pytest.fixture()
def rng() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_rank(rank: int, port: int, target: Callable, args: tuple) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    target(rank, *args)


def _launch_two_ranks(target: Callable, *args, timeout: float = 180.0) -> list[int | None]:
    """Run target(rank, *args) in two forked processes set up as torchrun sets up its workers (RANK,
    WORLD_SIZE, MASTER_*); returns their exit codes. Forked children inherit the imported torch, so no
    10 s start-up per rank; a rank still alive after `timeout` is killed (its code is then None)."""
    ctx = mp.get_context("fork")
    port = _free_port()
    procs = [ctx.Process(target=_as_rank, args=(r, port, target, args)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=timeout)
    codes = [p.exitcode for p in procs]
    for p in procs:
        if p.is_alive():
            p.kill()
    return codes


@pytest.fixture()
def two_ranks() -> Callable[..., list[int | None]]:
    """`two_ranks(target, *args)` runs target(rank, *args) as two torchrun-style gloo ranks; returns exit codes."""
    if not torch.distributed.is_gloo_available():
        pytest.skip("needs torch.distributed with gloo")
    return _launch_two_ranks
