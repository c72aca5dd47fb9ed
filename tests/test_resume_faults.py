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
STEPS = {"sr": 120, "gan": 80, "joint": 60}  # optimizer steps of each run (one checkpoint per step)
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
import os, signal, sys, threading, time
t0 = time.time()
import torch
from pathlib import Path
from gan_sr.cli import main
from gan_sr.train import joint as J
from gan_sr.train.loop import RunDir

kind, run, cfg, data, mode, delay = *sys.argv[1:4], Path(sys.argv[4]), sys.argv[5], float(sys.argv[6])
run, cfg = Path(run), Path(cfg)
began = threading.Event()
save = RunDir.save
def saved(self, *args, **kwargs):  # the moment this attempt's first checkpoint is on disk
    save(self, *args, **kwargs)
    if not began.is_set():
        print(f"first-checkpoint {time.time() - t0}", flush=True)
        began.set()
RunDir.save = saved
def watchdog():  # SIGKILL from inside: no polling race, whatever the start-up or a step took
    if mode == "train":
        began.wait()
        time.sleep(delay)
    else:  # "start": `delay` s after start, or at the first checkpoint if that comes sooner (a warm start-up
        began.wait(max(0.0, delay - (time.time() - t0)))  # can be far quicker than the measured cold one)
    os.kill(os.getpid(), signal.SIGKILL)
if mode != "none":
    threading.Thread(target=watchdog, daemon=True).start()

torch.set_num_threads(1)
if kind == "sr":
    main(["sr", "train", "--config", str(cfg), "--scale", "2", "--data", str(data), "--run-dir", str(run),
          "--steps", "120", "--quiet"], standalone_mode=False)
elif kind == "gan":
    main(["gan", "train", "--config", str(cfg), "--data", str(data), "--kimg", "0.32", "--run-dir", str(run),
          "--quiet"], standalone_mode=False)
else:  # joint-train has no same-command continuation: resume when there is a checkpoint, else start
    rd = RunDir(run)
    if rd.has_checkpoint():
        J.train_joint(resume=run, kimg=0.24, quiet=True)
    else:
        if rd.config_file.exists():
            rd.config_file.unlink()
        J.train_joint(J.build_config(cfg, data=str(data), kimg=0.24), run_dir=run, quiet=True)
"""


def _attempt(kind: str, run: Path, cfg: Path, data: Path, kill: tuple[str, float] | None) -> tuple[int | None, float, float]:
    """One attempt in a fresh interpreter (a fork of the test process can inherit a held lock and hang). The
    child SIGKILLs itself: `kill` is ("start", s), s seconds after it started (while importing, reading the
    checkpoint or building the models) or at its first checkpoint if that is sooner, or ("train", s), s seconds after it wrote its first checkpoint, so such a
    kill lands mid-training whatever the start-up took; None lets it finish (up to 300 s). Returns (exit code,
    seconds, seconds until its first checkpoint was written; inf if none was)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    mode, delay = kill if kill is not None else ("none", 0.0)
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, str(run), str(cfg), str(data), mode, str(delay)],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=300)
    first = [float(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("first-checkpoint ")]
    return proc.returncode, time.time() - t0, first[0] if first else float("inf")


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
    step_s = (whole_s - first_s) / STEPS[kind]
    rng = random.Random(kind)
    kills = 0
    for _ in range(KILLS):  # killed in start-up, forward passes, optimizer steps or checkpoint writes alike
        kill = ("start", rng.uniform(0, first_s)) if rng.random() < 0.25 else ("train", rng.uniform(0, step_s))
        code, _, _ = _attempt(kind, tmp_path / "broken", cfg, data, kill)
        kills += code == -signal.SIGKILL
        _readable(tmp_path / "broken")
    for _ in range(5):  # then let it finish
        if _attempt(kind, tmp_path / "broken", cfg, data, None)[0] == 0:
            break
    # A "train" attempt advances the run by about two steps at most, so with STEPS well above 2 * KILLS none
    # of the attempts can have finished the run.
    assert kills == KILLS, f"only {kills} of {KILLS} attempts were killed before they finished"
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
