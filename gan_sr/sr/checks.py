"""Option checks that every SR model's constructor shares, so a bad --scale or option reads the same everywhere."""

from __future__ import annotations

from gan_sr.errors import ConfigError


def check_scale(scale: int, allowed: tuple[int, ...] | None = None) -> int:
    """The scale as an int >= 2 (and in `allowed` when given); ConfigError naming --scale otherwise."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 2:
        raise ConfigError(f"--scale must be an integer >= 2, got {scale!r}")
    if allowed is not None and scale not in allowed:
        raise ConfigError(f"--scale {scale} is not supported here; choose one of {', '.join(map(str, allowed))}")
    return scale


RESIDUALS = ("none", "bicubic")
"""Global residual options of the learnable models: "bicubic" adds the MATLAB-bicubic upsample of the input
to the network's output (VDSR; Real-ESRGAN's SRVGGNetCompact adds a nearest upsample), so a fresh net with
a near-zero last layer starts at the bicubic baseline and learns only the missing detail."""


def check_residual(residual: str) -> str:
    """'none' or 'bicubic'; ConfigError otherwise."""
    r = str(residual).lower()
    if r not in RESIDUALS:
        raise ConfigError(f"option residual must be one of {', '.join(RESIDUALS)}, got {residual!r}")
    return r


def check_channels(channels: str) -> str:
    """'y' (luma through the network, chroma by bicubic) or 'rgb'; ConfigError otherwise."""
    c = str(channels).lower()
    if c not in ("y", "rgb"):
        raise ConfigError(f"option channels must be 'y' or 'rgb', got {channels!r}")
    return c
