"""Atomic file writes: a temp file in the target's folder, fsync, chmod to the umask default, os.replace.

A crash or kill mid-write leaves either the old file or the new one at the path, never half of one.
Callers turn the OSError this raises into their own GansrError with a message naming the file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".tmp"


def _read_umask() -> int:
    """The process umask (read once at import, while no other thread can be creating files)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _read_umask()


def temp_prefix(path: Path) -> str:
    """Name prefix of the temp files of writes to `path` (hidden, so folder scans skip them)."""
    return f".{path.name}."


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (the rename) to disk; silently skipped where the filesystem cannot."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def make_temp(path: Path) -> tuple[int, str]:
    """An open temp file beside `path` (fd, name); OSError when the folder is missing or not writable."""
    return tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=TEMP_SUFFIX)


def atomic_write(path: Path, write_fn: Callable[[IO[Any]], None], *, text: bool = False) -> None:
    """Create `path` by calling `write_fn(f)` on a temp file beside it, fsync it, then rename it into place.

    The folder must exist. On any failure the temp file is removed, the old file at `path` is untouched,
    and the exception propagates unchanged. The new file gets the permissions open() would give (0o666 & ~umask).
    """
    fd, tmp = make_temp(path)
    try:
        with os.fdopen(fd, "w" if text else "wb", **({"encoding": "utf-8"} if text else {})) as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~UMASK)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)
