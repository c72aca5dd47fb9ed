"""The one progress bar: tqdm (rate, ETA) on a TTY, silent off one or when disabled (--quiet, other ranks)."""

from __future__ import annotations

import sys


def progress_bar(total: float, *, desc: str, unit: str = "it", initial: float = 0, enabled: bool = True):
    """A tqdm bar over `total` units; a disabled tqdm (update/close/set_postfix do nothing) off a TTY."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True,
                disable=not enabled or not sys.stderr.isatty())
