"""Shared fixtures: the real datasets beside the checkout, small generated images, quiet torch threads."""

from __future__ import annotations

import os
from pathlib import Path

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
