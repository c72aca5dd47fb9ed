"""`functools.lru_cache` for functions that return tensors.

The result is built with inference mode switched off: a tensor cached while some caller ran under
`torch.inference_mode()` (bench, posthoc) would otherwise be an inference tensor, which autograd refuses
when a later caller (a trainer) uses it.
"""

from __future__ import annotations

import functools
from typing import Callable, TypeVar

import torch

F = TypeVar("F", bound=Callable)


def tensor_cache(maxsize: int) -> Callable[[F], F]:
    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def build(*args, **kwargs):
            with torch.inference_mode(False):
                return fn(*args, **kwargs)

        return functools.lru_cache(maxsize=maxsize)(build)  # type: ignore[return-value]

    return wrap
