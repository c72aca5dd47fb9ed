"""Procedural anime-like drawn images: inked outlines, cel shading, gradients, hatching, eyes, text marks.

They feed the tests and the out-of-the-box demo, so they carry real edge content (SR on them is not
trivial). Image i depends only on (seed, i): a set of 10 is a prefix of a set of 100, and the same seed
gives byte-identical PNGs (on one platform: numpy's sin/sqrt may differ in the last bit elsewhere).
Pure numpy rasterisation; every shape is a signed distance field, so edges and strokes are
anti-aliased with a one-pixel ramp.

The drawing is `synth_scene.synth_image` (on the primitives of `raster`); this module writes image sets and the
test layout, and `synth_image` and `GENERATOR_VERSION` are importable from here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

from tqdm import tqdm

from gan_sr.data.synth_scene import GENERATOR_VERSION, synth_image, synth_size
from gan_sr.errors import ConfigError

MARKER = "synth.json"  # written into every folder this module fills; lets a re-run overwrite it
SPLITS = ("train", "val", "test")


def _name(index: int) -> str:
    return f"synth_{index:06d}.png"


def _prepare_out(out: Path, force: bool) -> None:
    """Refuse a non-empty folder this module did not fill, unless forced; never delete foreign files."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file() and not force:
        raise ConfigError(
            f"--out {out} is not empty and was not written by `gansr data synth`; "
            "choose an empty or new folder, or pass --force to write into it anyway"
        )
    out.mkdir(parents=True, exist_ok=True)


def write_synth_dataset(out: str | Path, n: int, size: int | tuple[int, int] = 256, seed: int = 0, *,
                        force: bool = False, progress: bool = False, start: int = 0) -> list[Path]:
    """Write images start..start+n-1 of the set `seed` as out/synth_NNNNNN.png; returns their paths.

    Refuses a non-empty folder it did not create unless `force`. A re-run into its own folder replaces
    the images it wrote before (stale ones from a larger earlier run are removed).
    """
    from gan_sr.io.images import write_image

    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    h, w = synth_size(size)
    out = Path(out)
    _prepare_out(out, force)
    marker = out / MARKER
    if marker.is_file():
        try:
            previous = json.loads(marker.read_text()).get("files", [])
        except (OSError, ValueError):
            previous = []
        keep = {_name(i) for i in range(start, start + n)}
        for name in previous:
            if name not in keep and Path(name).name == name and (out / name).is_file():
                (out / name).unlink()
    paths = []
    bar = tqdm(range(start, start + n), desc="synth", unit="img", disable=not progress or not sys.stderr.isatty())
    for i in bar:
        path = out / _name(i)
        write_image(path, synth_image(seed, i, (h, w)))
        paths.append(path)
    info = {"generator": "gansr.data.synth", "version": GENERATOR_VERSION, "seed": seed,
            "size": [h, w], "start": start, "n": n, "files": [p.name for p in paths]}
    marker.write_text(json.dumps(info, indent=1) + "\n")
    return paths


def make_split_dirs(out: str | Path, n_per_split: int | Mapping[str, int] = 4,
                    size: int | tuple[int, int] = 64, seed: int = 0) -> Path:
    """A tiny built-dataset layout for tests: out/{train,val,test}/*.png with distinct images per split.

    `n_per_split` is one count for all splits or a mapping such as {"train": 8, "val": 2, "test": 2}.
    """
    counts = {s: n_per_split for s in SPLITS} if isinstance(n_per_split, int) else dict(n_per_split)
    unknown = set(counts) - set(SPLITS)
    if unknown:
        raise ConfigError(f"make_split_dirs: unknown split(s) {sorted(unknown)}; use {list(SPLITS)}")
    out = Path(out)
    start = 0
    for split in SPLITS:
        n = counts.get(split, 0)
        if n > 0:
            write_synth_dataset(out / split, n, size, seed, start=start)
            start += n
    return out
