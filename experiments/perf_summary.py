"""experiments/results/perf_summary.json: the one machine-readable performance summary (issue 15). Each
benchmark merges its own keys with `update(...)`; a key records the commit and thread count it was measured
at, so a figure and its provenance travel together. `python experiments/perf_summary.py` prints it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATH = ROOT / "experiments" / "results" / "perf_summary.json"


def commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except OSError:
        return "unknown"


def update(values: dict, *, threads: int, script: str) -> dict:
    """Merge `values` (top-level keys; dict values merge one level down, so per-model tables accumulate) into
    the summary, with the commit, thread count and script under `provenance[key]`. Written atomically."""
    data = json.loads(PATH.read_text()) if PATH.exists() else {}
    prov = data.setdefault("provenance", {})
    stamp = {"commit": commit(), "threads": threads, "script": script}
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
        prov[key] = stamp
    data["commit"], data["threads"] = stamp["commit"], threads
    PATH.parent.mkdir(parents=True, exist_ok=True)
    tmp = PATH.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, PATH)
    return data


if __name__ == "__main__":
    sys.stdout.write(PATH.read_text() if PATH.exists() else "{}\n")
