"""Resume under faults: `gansr sr train`, `gansr gan train` and `gansr joint-train` are SIGKILLed at 22 random
moments each (forward passes, optimizer steps and checkpoint writes alike, as a checkpoint is written at every
step), continued each time the way a campaign does it, and must end bit-identical to an uninterrupted run with
no checkpoint ever left unreadable. A damaged last.pt falls back to previous.pt with a warning."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gan_sr.cli import main
from gan_sr.data.synth import make_split_dirs
from gan_sr.io.checkpoints import load_checkpoint

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")]

KILLS = 22
SR_TOML = """
[model]
name = "espcn"
overrides = {widths = [8, 4], residual = "bicubic"}
[data]
hr_size = 16
batch = 2
[eval]
every = 10
max_images = 1
[log]
every = 1
checkpoint_every = 1
samples = 1
"""
GAN_TOML = """
[model]
res = 16
overrides = {arch = "dcgan", channel_base = 64, channel_max = 32, z_dim = 16}
[data]
batch = 4
mirror = true
[log]
tick_kimg = 0.004
snapshot_kimg = 0.004
grid = 4
[aug]
ramp_kimg = 0.1
"""
JOINT_TOML = """
[model]
res = 16
scale = 2
g0_overrides = {channel_base = 64, channel_max = 32, z_dim = 16, w_dim = 16}
sr = "espcn"
[data]
batch = 4
[train]
base_kimg = 0.008
fade_kimg = 0.016
[log]
tick_kimg = 0.004
snapshot_kimg = 0.004
grid = 4
[aug]
ramp_kimg = 0.1
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_split_dirs(tmp_path_factory.mktemp("faults") / "data", {"train": 8, "val": 2}, size=32, seed=1)


CHILD = """
import sys
import torch
from pathlib import Path
from gan_sr.cli import main
from gan_sr.train import joint as J
from gan_sr.train.loop import RunDir

torch.set_num_threads(1)
kind, run, cfg, data = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
if kind == "sr":
    main(["sr", "train", "--config", str(cfg), "--scale", "2", "--data", str(data), "--run-dir", str(run),
          "--steps", "120", "--quiet"], standalone_mode=False)
elif kind == "gan":
    main(["gan", "train", "--config", str(cfg), "--data", str(data), "--kimg", "0.16", "--run-dir", str(run),
          "--quiet"], standalone_mode=False)
else:  # joint-train has no same-command continuation: resume when there is a checkpoint, else start
    rd = RunDir(run)
    if rd.has_checkpoint():
        J.train_joint(resume=run, kimg=0.048, quiet=True)
    else:
        if rd.config_file.exists():
            rd.config_file.unlink()
        J.train_joint(J.build_config(cfg, data=str(data), kimg=0.048), run_dir=run, quiet=True)
"""


def _attempt(kind: str, run: Path, cfg: Path, data: Path, kill_after: float | None) -> tuple[int | None, float, float]:
    """One attempt in a fresh interpreter (a fork of the test process can inherit a held lock and hang):
    SIGKILLed after `kill_after` seconds, or given up to 300 s to finish. Returns (exit code, seconds, seconds
    until its first checkpoint appeared, i.e. until training had begun; inf if none did)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    had = (run / "last.pt").stat().st_mtime if (run / "last.pt").exists() else None
    proc = subprocess.Popen([sys.executable, "-c", CHILD, kind, str(run), str(cfg), str(data)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0, first = time.time(), float("inf")
    limit = t0 + (kill_after if kill_after is not None else 300)
    while proc.poll() is None and time.time() < limit:
        if first == float("inf") and (run / "last.pt").exists() and (run / "last.pt").stat().st_mtime != had:
            first = time.time() - t0
        time.sleep(0.01)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.returncode, time.time() - t0, first


def _readable(run: Path) -> None:
    for name in ("last.pt", "previous.pt", "best.pt"):
        if (run / name).exists():
            load_checkpoint(run / name)  # raises on a truncated or corrupt file


@pytest.mark.parametrize("kind", ["sr", "gan", "joint"])
def test_killed_at_random_points_the_run_ends_bit_identical(kind, data, tmp_path):
    cfg = tmp_path / f"{kind}.toml"
    cfg.write_text({"sr": SR_TOML, "gan": GAN_TOML, "joint": JOINT_TOML}[kind])
    code, whole_s, first_s = _attempt(kind, tmp_path / "whole", cfg, data, None)
    assert code == 0 and first_s < whole_s
    # Each attempt trains a small random part of the run, then is killed; the runs are long enough (120 SR steps,
    # 40 GAN steps) that start-up jitter between attempts stays well inside that part.
    window = (whole_s - first_s) / 15
    rng = random.Random(kind)
    kills = 0
    for _ in range(KILLS):  # killed in forward passes, optimizer steps or checkpoint writes alike
        code, _, _ = _attempt(kind, tmp_path / "broken", cfg, data, first_s + rng.uniform(0, window))
        kills += code == -signal.SIGKILL
        _readable(tmp_path / "broken")
    for _ in range(5):  # then let it finish
        if _attempt(kind, tmp_path / "broken", cfg, data, None)[0] == 0:
            break
    assert kills >= KILLS - 2, f"only {kills} of {KILLS} attempts were killed before they finished"
    a, b = load_checkpoint(tmp_path / "whole" / "last.pt"), load_checkpoint(tmp_path / "broken" / "last.pt")
    assert a["step"] == b["step"] > 0
    for key in ("state_dict", "ema"):
        for name, t in a[key].items():
            assert torch.equal(t, b[key][name]), f"{kind}: {key}.{name} differs after {kills} kills"
    for key in ("discriminator", "discriminators"):
        if isinstance(a.get(key), dict):
            flat = lambda d: {f"{p}.{k}": v for p, sub in d.items() if isinstance(sub, dict)  # noqa: E731
                              for k, v in sub.items() if torch.is_tensor(v)} | {k: v for k, v in d.items()
                                                                                  if torch.is_tensor(v)}
            for name, t in flat(a[key]).items():
                assert torch.equal(t, flat(b[key])[name]), f"{kind}: {key} {name} differs"


def test_a_damaged_last_checkpoint_falls_back_to_the_previous_one(data, tmp_path, capsys):
    cfg = tmp_path / "sr.toml"
    cfg.write_text(SR_TOML)
    def train(run: str, steps: int) -> None:
        main(["sr", "train", "--config", str(cfg), "--scale", "2", "--data", str(data), "--run-dir", str(tmp_path / run),
              "--steps", str(steps), "--quiet"], standalone_mode=False)

    train("r", 6)
    train("r", 8)
    whole = load_checkpoint(tmp_path / "r" / "last.pt")
    assert load_checkpoint(tmp_path / "r" / "previous.pt")["step"] == 7
    train("d", 6)
    last = tmp_path / "d" / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # a disk fault after the write
    train("d", 8)
    assert "resuming from the checkpoint before it" in capsys.readouterr().err
    resumed = load_checkpoint(last)
    for name, t in whole["state_dict"].items():
        assert torch.equal(t, resumed["state_dict"][name])
