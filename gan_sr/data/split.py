"""Train/val/test assignment by source image, from a hash of the source's bytes.

Each source lands in one split decided by sha256(seed, source sha256) alone, so no source contributes to two
splits, the result does not depend on the order or the set of other sources (adding sources never moves
old ones), and renaming a file keeps its split.
"""

from __future__ import annotations

import hashlib
import math

from gan_sr.errors import ConfigError

SPLITS: tuple[str, ...] = ("train", "val", "test")
DEFAULT_SPLIT = (0.8, 0.1, 0.1)


def parse_split(text: str | tuple[float, ...] | list[float]) -> tuple[float, float, float]:
    """'0.8,0.1,0.1' -> (0.8, 0.1, 0.1); three non-negative fractions summing to 1 (ConfigError otherwise)."""
    if isinstance(text, str):
        parts = [p.strip() for p in text.split(",")]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise ConfigError(f"--split {text!r}: expected three numbers like 0.8,0.1,0.1") from None
    else:
        values = [float(v) for v in text]
    if len(values) != 3:
        raise ConfigError(f"--split {text!r}: expected three fractions (train,val,test), got {len(values)}")
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise ConfigError(f"--split {text!r}: fractions must be finite and non-negative")
    if abs(sum(values) - 1.0) > 1e-6:
        raise ConfigError(f"--split {text!r}: fractions must sum to 1, they sum to {sum(values):g}")
    return values[0], values[1], values[2]


def split_unit(source_sha256: str, seed: int = 0) -> float:
    """A number in [0, 1) that depends only on the source's content hash and the seed."""
    digest = hashlib.sha256(f"gansr-split:{int(seed)}:{source_sha256}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_split(source_sha256: str, fractions: tuple[float, float, float] = DEFAULT_SPLIT, seed: int = 0) -> str:
    """'train', 'val' or 'test' for a source, by where split_unit falls among the cumulative fractions."""
    u = split_unit(source_sha256, seed)
    edge = 0.0
    for name, fraction in zip(SPLITS, fractions):
        edge += fraction
        if u < edge:
            return name
    return next(name for name, fraction in zip(reversed(SPLITS), reversed(fractions)) if fraction > 0)
