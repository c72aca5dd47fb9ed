"""gan_sr.io.checkpoints: round trips, every refused file with its message, and saves killed mid-write."""

from __future__ import annotations

import collections
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import pytest
import torch

from gan_sr.errors import CheckpointError
from gan_sr.io import checkpoints
from gan_sr.io.checkpoints import checkpoint_size_mb, load_checkpoint, save_checkpoint, write_model_card


def payload(step: int = 3) -> dict:
    g = torch.Generator().manual_seed(step)
    return {
        "kind": "sr",
        "model": {"name": "srcnn", "scale": 2, "preset": "cpu", "config": {"channels": [64, 32], "k": (9, 5, 5)}},
        "state_dict": {"conv1.weight": torch.randn(4, 3, 3, 3, generator=g), "conv1.bias": torch.zeros(4)},
        "ema": None,
        "step": step,
        "optim": {"state": {0: {"exp_avg": torch.ones(2)}}, "param_groups": [{"lr": 1e-4, "params": [0]}]},
        "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
        "meta": {"dtype": torch.float32, "loss": 0.25, "ok": True},
    }


def assert_same(a, b) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b


def test_round_trip(tmp_path):
    p = payload()
    path = tmp_path / "runs" / "x" / "last.pt"
    save_checkpoint(path, p)
    loaded = load_checkpoint(path)
    assert loaded["format"] == "gansr" and loaded["version"] == 1
    assert_same({k: v for k, v in loaded.items() if k not in ("format", "version")}, p)
    assert "format" not in p  # the caller's dict is left alone
    assert sorted(os.listdir(path.parent)) == ["last.pt"]
    assert checkpoint_size_mb(path) == pytest.approx(path.stat().st_size / 2**20)


def test_overwrite_keeps_latest(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, payload(1))
    save_checkpoint(path, payload(2))
    assert load_checkpoint(path)["step"] == 2


def test_map_location_meta(tmp_path):
    save_checkpoint(tmp_path / "a.pt", payload())
    assert load_checkpoint(tmp_path / "a.pt", map_location="meta")["state_dict"]["conv1.bias"].is_meta


def test_save_fsyncs_file_and_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else fd)
        real(fd)

    monkeypatch.setattr(checkpoints.os, "fsync", spy)
    save_checkpoint(tmp_path / "a.pt", payload())
    assert len(synced) == 2
    if isinstance(synced[1], str):
        assert synced[0].endswith(".tmp") and synced[1] == os.path.realpath(tmp_path)


def test_save_refuses_unloadable_payload(tmp_path):
    import numpy as np

    with pytest.raises(TypeError, match=r"payload\['rng'\]\['numpy'\]\[1\]: a numpy.ndarray cannot go in a checkpoint"):
        save_checkpoint(tmp_path / "a.pt", {"rng": {"numpy": ("MT19937", np.zeros(3))}})
    with pytest.raises(TypeError, match=r"payload\['optim'\]: a collections.defaultdict cannot go"):
        save_checkpoint(tmp_path / "a.pt", {"optim": collections.defaultdict(dict)})
    with pytest.raises(TypeError, match="must be a dict"):
        save_checkpoint(tmp_path / "a.pt", [1, 2])
    assert os.listdir(tmp_path) == []


def test_save_failure_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, payload(1))
    before = path.read_bytes()

    def half_write(obj, f):
        f.write(b"PK\x03\x04 partial bytes")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoints.torch, "save", half_write)
    with pytest.raises(CheckpointError, match=r"last\.pt: saving failed \(No space left on device\); the previous"):
        save_checkpoint(path, payload(2))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["last.pt"]


def test_save_into_a_directory_path(tmp_path):
    (tmp_path / "ckpt.pt").mkdir()
    with pytest.raises(CheckpointError, match=r"ckpt\.pt: is a directory"):
        save_checkpoint(tmp_path / "ckpt.pt", payload())


# ------------------------------------------------------------------------------------- refused files


def test_missing_directory_empty(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.pt: no such checkpoint file"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="is a directory, not a checkpoint file"):
        load_checkpoint(tmp_path)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.pt: empty file \(0 bytes\)"):
        load_checkpoint(tmp_path / "empty.pt")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_pipe_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.pt")
    with pytest.raises(CheckpointError, match=r"pipe\.pt: not a regular file"):
        load_checkpoint(tmp_path / "pipe.pt")


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.99])
def test_truncated(tmp_path, keep):
    save_checkpoint(tmp_path / "full.pt", payload())
    data = (tmp_path / "full.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match=r"cut\.pt: truncated or corrupt checkpoint"):
        load_checkpoint(tmp_path / "cut.pt")


def test_flipped_bytes_inside_tensor_data(tmp_path):
    save_checkpoint(tmp_path / "a.pt", {"state_dict": {"w": torch.zeros(50_000)}})
    data = bytearray((tmp_path / "a.pt").read_bytes())
    mid = len(data) // 2
    data[mid : mid + 16] = b"\xff" * 16
    (tmp_path / "a.pt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"a\.pt: truncated or corrupt checkpoint.*checksum mismatch"):
        load_checkpoint(tmp_path / "a.pt")


def test_text_file(tmp_path):
    (tmp_path / "notes.pt").write_text("these are not weights\n")
    with pytest.raises(CheckpointError, match=r"notes\.pt: truncated or corrupt checkpoint, or not a PyTorch file"):
        load_checkpoint(tmp_path / "notes.pt")


class Evil:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def test_arbitrary_pickle_not_loaded(tmp_path):
    torch.save({"format": "gansr", "version": 1, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"evil\.pt: it holds pickled Python objects.*not loaded for safety"):
        load_checkpoint(tmp_path / "evil.pt")


def test_raw_state_dict_names_its_keys(tmp_path):
    torch.save({"body.0.weight": torch.zeros(2), "body.0.bias": torch.zeros(1)}, tmp_path / "raw.pth")
    with pytest.raises(CheckpointError, match=r"raw\.pth: not a gansr checkpoint but a raw state_dict of 2") as e:
        load_checkpoint(tmp_path / "raw.pth")
    assert "'body.0.weight', 'body.0.bias'" in str(e.value)


def test_foreign_dict_and_non_dict(tmp_path):
    torch.save({"params_ema": {"w": torch.zeros(1)}, "iter": 5}, tmp_path / "other.pth")
    expected = r"other\.pth: not a gansr checkpoint \(no \"format\": \"gansr\"; keys found: 'params_ema', 'iter'\)"
    with pytest.raises(CheckpointError, match=expected):
        load_checkpoint(tmp_path / "other.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match=r"list\.pt: not a gansr checkpoint \(it holds a list"):
        load_checkpoint(tmp_path / "list.pt")


def test_version_too_new_or_bogus(tmp_path):
    torch.save({"format": "gansr", "version": 7, "state_dict": {}}, tmp_path / "new.pt")
    expected = r"new\.pt: written by a newer gansr \(checkpoint format version 7; this version reads up to 1\); upgrade"
    with pytest.raises(CheckpointError, match=expected):
        load_checkpoint(tmp_path / "new.pt")
    torch.save({"format": "gansr", "version": "one"}, tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match=r"odd\.pt: corrupt gansr checkpoint \(format version 'one'"):
        load_checkpoint(tmp_path / "odd.pt")


# ------------------------------------------------------------------------------- killed mid-write


def _save_forever(path: str) -> None:
    torch.set_num_threads(1)  # the parent's OpenMP pool does not survive fork; stay single-threaded
    step = 0
    while True:
        step += 1
        save_checkpoint(path, {"state_dict": {"w": torch.full((3_000_000,), float(step))}, "step": step})


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(checkpoints.TEMP_SUFFIX)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
def test_kill_mid_write_never_leaves_a_broken_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    ctx = multiprocessing.get_context("fork")  # the child shares the imported torch: starts in milliseconds
    rnd = random.Random(0)
    last_step = 0
    for attempt in range(6):
        proc = ctx.Process(target=_save_forever, args=(str(path),), daemon=True)
        proc.start()
        deadline = time.monotonic() + 20
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        if attempt % 2:  # wait until a save is under way, then kill it inside the write
            while not _temps(tmp_path) and time.monotonic() < deadline:
                time.sleep(0.001)
            assert _temps(tmp_path), "no save seen in progress"
        else:
            time.sleep(rnd.uniform(0.0, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(5)
        assert proc.exitcode == -signal.SIGKILL

        ckpt = load_checkpoint(path)
        w = ckpt["state_dict"]["w"]
        assert ckpt["step"] >= 1 and torch.all(w == float(ckpt["step"]))
        last_step = ckpt["step"]
        assert [p.name for p in tmp_path.iterdir() if p.suffix == ".pt"] == ["last.pt"]
        for temp in _temps(tmp_path):  # leftovers of the killed save: hidden, not *.pt, never picked up
            assert temp.name.startswith(".last.pt.") and not temp.name.endswith(".pt")
    assert last_step >= 1


def test_stale_temps_removed_by_next_save(tmp_path, monkeypatch):
    stale = tmp_path / ".last.pt.abc123.tmp"
    stale.write_bytes(b"partial")
    fresh = tmp_path / ".last.pt.def456.tmp"
    fresh.write_bytes(b"in progress")
    other = tmp_path / ".best.pt.xyz.tmp"
    other.write_bytes(b"another target")
    old = time.time() - 3600
    for p in (stale, other):
        os.utime(p, (old, old))
    save_checkpoint(tmp_path / "last.pt", payload())
    assert not stale.exists() and fresh.exists() and other.exists()


# ------------------------------------------------------------------------------------- model cards


def test_model_card(tmp_path):
    ckpt = tmp_path / "srcnn_x2.pt"
    save_checkpoint(ckpt, payload())
    card = {
        "model": "srcnn",
        "scale": 2,
        "params": 8129,
        "psnr_set5": 36.123456,
        "lr": 1e-5,
        "datasets": ["T91", "BSD200"],
        "note|pipe": "a|b",
        "notes": "Trained on CPU for a smoke run.\nNot the paper's numbers.",
    }
    out = write_model_card(ckpt, card)
    assert out == tmp_path / "srcnn_x2.md"
    text = out.read_text()
    lines = text.splitlines()
    assert lines[0] == "# Model card: srcnn_x2"
    assert "| Field | Value |" in lines
    assert "| model | srcnn |" in lines and "| scale | 2 |" in lines and "| params | 8129 |" in lines
    assert "| psnr_set5 | 36.1235 |" in lines and "| lr | 1e-05 |" in lines
    assert "| datasets | T91, BSD200 |" in lines and "| note\\|pipe | a\\|b |" in lines
    assert text.index("## Notes") > text.index("| scale |")
    assert "Trained on CPU for a smoke run.\nNot the paper's numbers." in text
    assert not any(r.startswith("| notes") for r in lines)
    assert sorted(os.listdir(tmp_path)) == ["srcnn_x2.md", "srcnn_x2.pt"]

    titled = write_model_card(ckpt, {"title": "ESPCN x2", "scale": 2})
    assert titled.read_text().startswith("# ESPCN x2\n") and "## Notes" not in titled.read_text()


def test_checkpoint_size_missing(tmp_path):
    with pytest.raises(CheckpointError, match=r"gone\.pt: no such checkpoint file"):
        checkpoint_size_mb(tmp_path / "gone.pt")


def test_atomic_write_failure_keeps_old_file_and_mode_follows_umask(tmp_path):
    from gan_sr.io.atomic import UMASK, atomic_write

    path = tmp_path / "f.bin"
    atomic_write(path, lambda f: f.write(b"old"))
    assert path.read_bytes() == b"old" and (path.stat().st_mode & 0o777) == 0o666 & ~UMASK

    def fail(f):
        f.write(b"half")
        raise OSError(5, "Input/output error")

    with pytest.raises(OSError, match="Input/output error"):
        atomic_write(path, fail)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["f.bin"]


def test_the_reader_answers_require_and_weights(tmp_path):
    w, e = {"module.conv.weight": torch.ones(2), "bn.running_mean": torch.zeros(2)}, {"conv.weight": torch.full((2,), 3.0)}
    save_checkpoint(tmp_path / "a.pt", {"kind": "sr", "state_dict": w, "ema": e, "step": 1})
    ck = load_checkpoint(tmp_path / "a.pt")
    assert ck.require("state_dict", kind=("sr", "gan")) is ck and ck.path == tmp_path / "a.pt"
    assert set(ck.weights()) == {"conv.weight", "bn.running_mean"}  # EMA over raw, buffers kept, prefix gone
    assert torch.equal(ck.weights()["conv.weight"], e["conv.weight"])
    assert torch.equal(ck.weights(prefer_ema=False)["conv.weight"], torch.ones(2))
    with pytest.raises(CheckpointError, match=r"a\.pt: a 'sr' checkpoint, not 'gan'"):
        ck.require(kind="gan")
    with pytest.raises(CheckpointError, match=r"incomplete checkpoint \(no optim, rng\)"):
        ck.require("optim", "rng")
    save_checkpoint(tmp_path / "b.pt", ck)  # a loaded checkpoint saves back as a plain dict
    assert type(torch.load(tmp_path / "b.pt", weights_only=True)) is dict
