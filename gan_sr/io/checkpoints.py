"""The one checkpoint format: a plain dict saved atomically with torch.save and loaded with weights_only=True.

A checkpoint holds only tensors, numbers, strings, lists, tuples and dicts, so loading never runs code from
the file. Saving goes through a temp file in the same folder and os.replace, so a crash or a kill mid-save
leaves either the old file or the new one at the path, never half of one.
"""

from __future__ import annotations

import collections
import math
import os
import pickle
import stat
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

import torch

from gan_sr.errors import CheckpointError
from gan_sr.io.atomic import TEMP_SUFFIX, atomic_write, temp_prefix

PathLike = Union[str, os.PathLike]

FORMAT = "gansr"
VERSION = 1
"""The newest checkpoint format version this code writes and reads."""

_STALE_TEMP_SECONDS = 15 * 60

_ALLOWED_LEAVES = (
    torch.Tensor, bool, int, float, complex, str, bytes, type(None), torch.dtype, torch.device, torch.Size
)


def _check_payload(value: Any, where: str) -> None:
    """Refuse at save time what weights_only loading would refuse later (numpy arrays, custom objects)."""
    if isinstance(value, _ALLOWED_LEAVES):
        return
    if type(value) in (dict, collections.OrderedDict):  # not subclasses: weights_only refuses a defaultdict
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool, type(None), tuple)):
                raise TypeError(f"{where}: key {key!r} of type {type(key).__name__} cannot go in a checkpoint")
            _check_payload(item, f"{where}[{key!r}]")
        return
    if type(value) in (list, tuple):
        for i, item in enumerate(value):
            _check_payload(item, f"{where}[{i}]")
        return
    raise TypeError(
        f"{where}: a {type(value).__module__}.{type(value).__qualname__} cannot go in a checkpoint "
        "(only tensors, numbers, strings, lists, tuples and dicts load with weights_only=True); convert it first"
    )


def _remove_stale_temps(path: Path) -> None:
    """Delete temp files of earlier saves to `path` that were killed mid-write (older than 15 minutes)."""
    prefix, now = temp_prefix(path), time.time()
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(prefix) and entry.name.endswith(TEMP_SUFFIX):
            try:
                if now - entry.stat(follow_symlinks=False).st_mtime > _STALE_TEMP_SECONDS:
                    os.unlink(entry.path)
            except OSError:
                pass


def save_checkpoint(path: PathLike, payload: Mapping[str, Any]) -> None:
    """Save `payload` plus {"format": "gansr", "version": 1} to `path` atomically (temp file, fsync, rename)."""
    path = Path(path)
    if not isinstance(payload, Mapping):
        raise TypeError(f"{path}: a checkpoint payload must be a dict, got {type(payload).__name__}")
    data = {**payload, "format": FORMAT, "version": VERSION}
    _check_payload(data, "payload")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory; give a file name such as {path / 'last.pt'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot create folder {path.parent} ({e.strerror or e})") from None
    try:
        atomic_write(path, lambda f: torch.save(data, f))
    except (OSError, RuntimeError) as e:  # torch's zip writer reports I/O trouble as RuntimeError
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e).split("\n")[0][:200]
        raise CheckpointError(f"{path}: saving failed ({reason}); the previous file is untouched") from None
    _remove_stale_temps(path)


def _describe_keys(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f", ... ({len(keys)} keys)" if len(keys) > limit else "")


def read_torch_file(path: PathLike, *, map_location: Any = "cpu", verify: bool = True) -> Any:
    """What a PyTorch file holds, loaded with torch.load(weights_only=True): never runs code from the file.

    `verify` checks the CRC32 of every record first, so flipped bytes inside tensor data are caught instead of
    loading as garbage weights. CheckpointError for missing, empty, truncated, corrupt and unsafe (arbitrary
    pickled objects) files. The gansr checkpoint reader and the community-weights reader both start here.
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot access ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file")
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(f"{path}: not a regular file (a pipe, socket or device)")
    if st.st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes); the save that made it did not finish")
    corrupt = f"{path}: truncated or corrupt checkpoint, or not a PyTorch file"
    if verify and zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
            raise CheckpointError(f"{corrupt} ({e})") from None
        if bad is not None:
            raise CheckpointError(f"{corrupt} (checksum mismatch in record {bad!r})")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only load failed" in str(e).lower():
            raise CheckpointError(
                f"{path}: it holds pickled Python objects beyond tensors and plain containers, and was not "
                "loaded for safety (loading it could run arbitrary code)"
            ) from None
        raise CheckpointError(f"{corrupt} ({e})") from None
    except PermissionError:
        raise CheckpointError(f"{path}: permission denied") from None
    except MemoryError:
        raise CheckpointError(f"{path}: out of memory while loading") from None
    except Exception as e:  # torch reports damaged files as RuntimeError, KeyError, EOFError, ...
        first = str(e).split(". ")[0][:200] or type(e).__name__
        raise CheckpointError(f"{corrupt} ({first})") from None

    return data


class Checkpoint(dict):
    """A loaded gansr checkpoint: the payload (kind, model, state_dict, ema, optimisers, rng, data, meta) as a
    dict, the file it came from, and the two questions every reader asks of it."""

    path: Path

    def require(self, *keys: str, kind: str | tuple[str, ...] | None = None) -> "Checkpoint":
        """Itself, or CheckpointError when it is not of `kind` or lacks any of `keys`."""
        kinds = (kind,) if isinstance(kind, str) else kind
        if kinds is not None and self.get("kind") not in kinds:
            raise CheckpointError(f"{self.path}: a {self.get('kind')!r} checkpoint, not {' or '.join(map(repr, kinds))}")
        missing = [k for k in keys if self.get(k) is None]
        if missing:
            raise CheckpointError(f"{self.path}: incomplete checkpoint (no {', '.join(missing)})")
        return self

    def weights(self, prefer_ema: bool = True) -> dict[str, torch.Tensor]:
        """The model's state_dict: the EMA weights over the raw ones when there are any (buffers an EMA does not
        track come from the raw weights), wrapper prefixes (DDP's module., torch.compile's _orig_mod.) removed."""
        state, ema = self.get("state_dict") or {}, (self.get("ema") or {}) if prefer_ema else {}
        if not isinstance(state, dict) or not isinstance(ema, dict):
            raise CheckpointError(f"{self.path}: 'state_dict' / 'ema' must be dicts of tensors")
        out = {}
        for k, v in {**state, **{k: v for k, v in ema.items() if torch.is_tensor(v)}}.items():
            for prefix in ("module.", "_orig_mod."):
                k = k[len(prefix):] if k.startswith(prefix) else k
            out[k] = v
        return out


def load_checkpoint(path: PathLike, *, map_location: Any = "cpu", verify: bool = True) -> Checkpoint:
    """Load a gansr checkpoint safely (`read_torch_file`); CheckpointError also for foreign (no
    "format": "gansr") and too-new files."""
    path = Path(path)
    return check_gansr(read_torch_file(path, map_location=map_location, verify=verify), path)


def check_gansr(data: Any, path: PathLike) -> Checkpoint:
    """`data` (what a file held) as a gansr checkpoint; CheckpointError for foreign and too-new contents."""
    path = Path(path)
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: not a gansr checkpoint (it holds a {type(data).__name__}, not a dict)")
    if data.get("format") != FORMAT:
        keys = [str(k) for k in data]
        if data and all(isinstance(v, torch.Tensor) for v in data.values()):
            raise CheckpointError(
                f"{path}: not a gansr checkpoint but a raw state_dict of {len(keys)} tensors "
                f"(keys {_describe_keys(keys)}); gansr checkpoints carry \"format\": \"gansr\" and model info"
            )
        raise CheckpointError(
            f"{path}: not a gansr checkpoint (no \"format\": \"gansr\"; keys found: {_describe_keys(keys) or 'none'})"
        )
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{path}: corrupt gansr checkpoint (format version {version!r} is not a positive int)")
    if version > VERSION:
        raise CheckpointError(
            f"{path}: written by a newer gansr (checkpoint format version {version}; this version reads up "
            f"to {VERSION}); upgrade gansr to load it"
        )
    ck = Checkpoint(data)
    ck.path = path
    return ck


def checkpoint_size_mb(path: PathLike) -> float:
    """Size of the file at `path` in MiB."""
    path = Path(path)
    try:
        return path.stat().st_size / 2**20
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isfinite(value) and abs(value) >= 1e-3:
            text = f"{value:.4f}".rstrip("0").rstrip(".")
        else:
            text = f"{value:.3g}"
    elif isinstance(value, Mapping):
        text = ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        text = ", ".join(_cell(v) for v in value)
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def git_commit(*, dirty: bool = False) -> str:
    """The checked-out commit of this code (short hash; with `dirty`, "-dirty" for uncommitted changes), for the
    records that results and model cards carry; "unknown" outside a git checkout."""
    import subprocess

    cmd = ["git", "describe", "--always", "--dirty", "--abbrev=7"] if dirty else ["git", "rev-parse", "--short", "HEAD"]
    try:
        return subprocess.run(cmd, cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_model_card(ckpt_path: PathLike, card: Mapping[str, Any]) -> Path:
    """Write `<checkpoint stem>.md` beside the checkpoint: a title, a table of the card's fields, then notes.

    `card["title"]` (optional) sets the heading, `card["notes"]` (optional) becomes free text under "Notes";
    every other key is a table row in the order given.
    """
    ckpt_path = Path(ckpt_path)
    out = ckpt_path.with_suffix(".md")
    title = str(card.get("title") or f"Model card: {ckpt_path.stem}")
    lines = [f"# {title}", "", f"Checkpoint: `{ckpt_path.name}`", ""]
    rows = [(k, v) for k, v in card.items() if k not in ("title", "notes")]
    if rows:
        lines += ["| Field | Value |", "|---|---|"]
        lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in rows]
        lines.append("")
    notes = card.get("notes")
    if notes:
        lines += ["## Notes", "", str(notes).strip(), ""]
    text = "\n".join(lines)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, lambda f: f.write(text), text=True)
    except OSError as e:
        raise CheckpointError(f"{out}: cannot write the model card ({e.strerror or e})") from None
    return out
