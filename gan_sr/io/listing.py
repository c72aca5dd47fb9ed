"""Which files are images: files, folders and glob patterns expanded into a sorted list of image paths.

Kept apart from the decoders in gan_sr.io.images (which re-exports `list_images` and `IMAGE_SUFFIXES`): listing
only looks at names and folders, never at pixels.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from gan_sr.errors import ImageError

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"})


def _is_glob(s: str) -> bool:
    return any(ch in s for ch in "*?[")


def _walk(root: Path, recursive: bool) -> list[Path]:
    """Image files under `root`, following symlinks but never entering a directory twice (loop-safe)."""
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except PermissionError:
            raise ImageError(f"{folder}: permission denied while listing images") from None
        except OSError as e:
            raise ImageError(f"{folder}: cannot list ({e.strerror or e})") from None
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=True):
                    subdirs.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=True) and Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                    found.append(Path(entry.path))
            except OSError:
                continue
        if recursive:
            stack.extend(reversed(subdirs))
    return found


def list_images(sources: str | os.PathLike | Iterable[str | os.PathLike], *, recursive: bool = True) -> list[Path]:
    """Expand files, folders and glob patterns into a sorted list of image paths, each file once.

    Folders are scanned for IMAGE_SUFFIXES (case-insensitive, hidden entries skipped, recursively unless
    `recursive=False`); explicit files are kept as given. A missing source or an empty glob raises ImageError.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    out: list[Path] = []
    seen: set[str] = set()

    def add(p: Path) -> None:
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            out.append(p)

    for source in sources:
        text = os.fspath(source)
        try:
            _expand(text, recursive, add)
        except PermissionError:
            raise ImageError(f"{text}: permission denied") from None
    return sorted(out)


def _expand(text: str, recursive: bool, add: Callable[[Path], None]) -> None:
    """Feed the image files that one source names to `add`."""
    p = Path(text)
    if p.is_file():
        add(p)
    elif p.is_dir():
        for f in _walk(p, recursive):
            add(f)
    elif _is_glob(text):
        matches = sorted(glob.glob(text, recursive=True))
        images: list[Path] = []
        for m in matches:
            mp = Path(m)
            if mp.is_dir():
                images.extend(_walk(mp, recursive))
            elif mp.is_file() and mp.suffix.lower() in IMAGE_SUFFIXES:
                images.append(mp)
        if not images:
            raise ImageError(f"{text}: the pattern matches no image files")
        for f in images:
            add(f)
    elif p.exists() or p.is_symlink():
        raise ImageError(f"{text}: not a regular file or folder (a broken link or a special file)")
    else:
        raise ImageError(f"{text}: no such file or folder")
