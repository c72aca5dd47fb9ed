"""The one reading of a --device value: "auto", or anything torch.device takes, checked before any work starts."""

from __future__ import annotations

import torch

from gan_sr.errors import ConfigError


def parse_device(device: str | torch.device, *, types: tuple[str, ...] | None = None) -> torch.device:
    """"auto" -> cuda when available, else cpu; otherwise torch.device(device). ConfigError when torch does not
    know it, when it is CUDA and no CUDA device is available, or when its type is not one of `types`."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"--device {device!r} is not a device torch knows (auto, cpu, cuda, cuda:0, mps)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA device is available here; use --device cpu")
    if types is not None and dev.type not in types:
        raise ConfigError(f"--device {device}: this command runs on {' or '.join(types)}")
    return dev
