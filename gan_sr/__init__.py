"""gansr: super-resolution and limited-data GANs for small sets of anime-style images."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["__version__", "build_model", "load_model"]

if TYPE_CHECKING:
    from gan_sr.sr.registry import build_model, load_model


def __getattr__(name: str):
    """Lazy public API: `gan_sr.load_model` / `gan_sr.build_model` import torch only when first used."""
    if name in ("build_model", "load_model"):
        from gan_sr.sr import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'gan_sr' has no attribute {name!r}")
