"""Run probe candidates as `gansr` subprocesses, `jobs` at a time, one thread each (shared by the probe scripts)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def gansr() -> str:
    """The `gansr` entry point of the running interpreter's environment."""
    return str(Path(sys.executable).with_name("gansr"))


def run_jobs(commands: list[list[str]], jobs: int = 1) -> None:
    """Run every command, at most `jobs` at once, at one thread each; SystemExit naming the first that fails."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    pending, active = list(commands), []
    while pending or active:
        while pending and len(active) < max(1, jobs):
            active.append(subprocess.Popen(pending.pop(0), env=env))
        time.sleep(1)
        for p in [p for p in active if p.poll() is not None]:
            active.remove(p)
            if p.returncode:
                raise SystemExit(f"candidate failed (exit {p.returncode}): {' '.join(p.args)}")
