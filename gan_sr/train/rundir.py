"""One training run on disk: config.json, last.pt (with previous.pt behind it), best.pt, tb/, samples/."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from gan_sr.errors import CheckpointError, ConfigError


def config_diff(old: dict, new: dict) -> list[str]:
    """Dotted keys whose values differ between two nested config dicts (sorted), compared as JSON would."""
    a, b = json.loads(json.dumps(old, default=str)), json.loads(json.dumps(new, default=str))

    def flat(d: dict, prefix: str = "") -> dict:
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) and v else {f"{prefix}{k}": v})
        return out

    fa, fb = flat(a), flat(b)
    return sorted(k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k))


class RunDir:
    """One training run on disk: config.json, last.pt, best.pt, tb/ (TensorBoard), samples/."""

    def __init__(self, path: str | os.PathLike, *, main: bool = True) -> None:
        self.path = Path(path)
        self.main = main

    config_file = property(lambda self: self.path / "config.json")
    last = property(lambda self: self.path / "last.pt")
    previous = property(lambda self: self.path / "previous.pt")  # the checkpoint before last.pt
    best = property(lambda self: self.path / "best.pt")
    tb = property(lambda self: self.path / "tb")
    samples = property(lambda self: self.path / "samples")

    @classmethod
    def create(cls, path: str | os.PathLike, config: dict, *, main: bool = True) -> RunDir:
        """A fresh run; refuses a folder that already holds a run (resume it or pick another --run-dir).

        Only rank 0 (main) checks and writes; other ranks should wait at a barrier after this call.
        """
        run = cls(path, main=main)
        run.ensure_fresh()
        if main:
            run.path.mkdir(parents=True, exist_ok=True)
            run.tb.mkdir(exist_ok=True)
            run.samples.mkdir(exist_ok=True)
            run.write_config(config)
        return run

    def ensure_fresh(self) -> None:
        """ConfigError if this folder already holds a run (checked on rank 0 only)."""
        if self.main and (self.has_checkpoint() or self.config_file.exists()):
            raise ConfigError(
                f"run folder {self.path} already holds a run; resume it with --resume {self.path} "
                "or choose another --run-dir"
            )

    @classmethod
    def open(cls, path: str | os.PathLike, *, main: bool = True) -> RunDir:
        """An existing run to resume: needs config.json and last.pt."""
        run = cls(path, main=main)
        if not run.path.is_dir():
            raise CheckpointError(f"--resume {run.path}: no such run folder")
        if not run.config_file.is_file():
            raise CheckpointError(f"--resume {run.path}: config.json is missing, so there is nothing to resume")
        if not run.has_checkpoint():
            raise CheckpointError(f"--resume {run.path}: last.pt is missing, so there is nothing to resume")
        return run

    def has_checkpoint(self) -> bool:
        """last.pt, or previous.pt when a kill came between keeping it and writing the new last.pt."""
        return self.last.is_file() or self.previous.is_file()

    def continues(self, record: dict, *, ignore: tuple[str, ...] = ()) -> bool:
        """True when this folder holds a run of `record` (its config.json content; dotted keys in `ignore`,
        such as the run length, may differ), so that the command that made it, given again, continues it.
        ConfigError naming the first keys that differ when it holds another run; False when it holds none
        (a run stopped before its first checkpoint is cleared and starts anew)."""
        if not self.config_file.is_file():
            return False
        diffs = [k for k in config_diff(self.read_config(), record) if k not in ignore]
        if diffs:
            raise ConfigError(f"--run-dir {self.path} holds a run of another configuration (differs in "
                              f"{', '.join(diffs[:3])}); resume it with --resume {self.path} "
                              "or choose another --run-dir")
        if not self.has_checkpoint():
            if self.main:
                self.config_file.unlink()
            return False
        return True

    def read_config(self) -> dict:
        try:
            return json.loads(self.config_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{self.config_file}: cannot read the run's config ({exc})") from exc

    def write_config(self, config: dict) -> None:
        if not self.main:
            return
        tmp = self.config_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(config, indent=2, sort_keys=True, default=str) + "\n")
        os.replace(tmp, self.config_file)

    def save(self, payload: dict, *, best: bool = False) -> None:
        """Write last.pt (and best.pt) atomically, keeping the one before as previous.pt; a no-op off rank 0."""
        if not self.main:
            return
        from gan_sr.io.checkpoints import save_checkpoint

        if self.last.is_file():
            os.replace(self.last, self.previous)
        save_checkpoint(self.last, payload)
        if best:
            save_checkpoint(self.best, payload)

    def load_last(self, map_location: str | torch.device = "cpu") -> dict:
        """last.pt; if it is missing or damaged, previous.pt with a warning (that run repeats a few steps)."""
        from gan_sr.io.checkpoints import load_checkpoint

        try:
            return load_checkpoint(self.last, map_location=map_location)
        except CheckpointError as exc:
            if not self.previous.is_file():
                raise
            if self.main:
                print(f"Warning: {exc}; resuming from the checkpoint before it, {self.previous}", file=sys.stderr)
            return load_checkpoint(self.previous, map_location=map_location)

