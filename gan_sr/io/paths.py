"""Where outputs may go: never inside an input folder, never onto an input."""

from __future__ import annotations

import glob as globlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from gan_sr.errors import ConfigError


def glob_root(text: str) -> Path:
    """The folder before the first wildcard of a glob pattern."""
    fixed = []
    for part in Path(text).parts:
        if globlib.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def check_output_outside(sources: Sequence[str | os.PathLike], out: str | os.PathLike,
                         files: Iterable[Path] = (), *, option: str = "--out") -> None:
    """ConfigError if `out` lies inside a source folder (or a glob's fixed root), or a source file inside `out`.

    An output inside an input is picked up as input by the next recursive run, and can overwrite it.
    """
    out_real = Path(os.path.realpath(out))
    for s in sources:
        text = os.fspath(s)
        if Path(text).is_dir():
            root = Path(text)
        elif globlib.has_magic(text):
            root = glob_root(text)
        else:
            continue
        root_real = Path(os.path.realpath(root))
        if out_real == root_real or root_real in out_real.parents:
            raise ConfigError(f"{option} {out}: lies inside the input {text}; choose an output folder outside the inputs")
    for f in files:
        if out_real in Path(os.path.realpath(f)).parents:
            raise ConfigError(f"input {f}: lies inside the output folder {option} {out}; inputs are never outputs")
