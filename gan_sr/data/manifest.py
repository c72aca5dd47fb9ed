"""The build manifest (manifest.jsonl): one block of lines per finished source, appended with fsync, so that a
reader keeps the complete blocks and an interrupted build resumes after the last one."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from gan_sr.errors import ConfigError


def read_manifest(path: Path, *, repair: bool = False) -> list[dict]:
    """Complete source blocks of a manifest. With `repair`, an unfinished last block is cut off the file."""
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    records: list[dict] = []
    starts: list[int] = []
    pos = 0
    for lineno, line in enumerate(data[:end].split(b"\n")[:-1], 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise ConfigError(f"{path}: line {lineno} is not JSON; rebuild with --force") from None
        starts.append(pos)
        pos += len(line) + 1
    # blocks are contiguous lines of one source; only the last can be incomplete
    keep = len(records)
    if records:
        last_source = records[-1]["source"]
        first = keep
        while first > 0 and records[first - 1]["source"] == last_source:
            first -= 1
        if keep - first != records[-1].get("source_lines", keep - first):
            keep = first
    cut = starts[keep] if keep < len(records) else end
    if repair and cut < len(data):
        with open(path, "r+b") as f:
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())
    return records[:keep]


class ManifestWriter:
    """Appends one source's lines at a time, each block in a single write followed by fsync."""

    def __init__(self, path: Path | None) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if path else None

    def append(self, lines: list[dict]) -> None:
        if self.fd is None:
            return
        for line in lines:
            line["source_lines"] = len(lines)
        data = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def manifest_record(**kw: object) -> dict:
    base = {"id": None, "source": None, "source_sha256": None, "box": None, "patch_hash": None, "split": None,
            "status": None, "duplicate_of": None}
    base.update(kw)
    return base


def source_record_id(source: str) -> str:
    return "file-" + hashlib.sha256(source.encode()).hexdigest()[:16]
