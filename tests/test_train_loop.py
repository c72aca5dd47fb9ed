"""Shared training machinery: RNG capture, resumable data order, EMA, schedules, guards, run folder."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from torch import nn

from gan_sr.errors import CheckpointError, ConfigError, TrainingDiverged
from gan_sr.io.checkpoints import load_checkpoint, save_checkpoint
from gan_sr.train.loop import (
    EMA,
    BatchStream,
    DistEnv,
    LRSchedule,
    NullWriter,
    Precision,
    RunDir,
    capture_rng,
    check_finite,
    open_writer,
    preserved_rng,
    restore_rng,
    seed_everything,
)


class Noisy(torch.utils.data.Dataset):
    """Item i = (i, draws from torch, numpy and random): shows which RNG state produced it."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        return torch.tensor([float(i), torch.rand(()).item(), np.random.rand(), random.random()])


def draws() -> tuple:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_rng_roundtrip_through_a_weights_only_checkpoint(tmp_path):
    seed_everything(3)
    draws()
    save_checkpoint(tmp_path / "r.pt", {"rng": capture_rng()})
    expected = draws()
    seed_everything(99)
    restore_rng(load_checkpoint(tmp_path / "r.pt")["rng"])
    assert draws() == expected


def test_preserved_rng_leaves_streams_untouched():
    seed_everything(5)
    with preserved_rng():
        draws()
    first = draws()
    seed_everything(5)
    assert draws() == first


def test_seed_everything_is_reproducible():
    seed_everything(11)
    a = draws()
    seed_everything(11)
    assert draws() == a


def take(stream, k):
    return [next(stream) for _ in range(k)]


def test_batch_stream_resumes_mid_epoch_identically():
    ds = Noisy(10)
    full = take(BatchStream(ds, 3, seed=7), 8)  # 3 batches per epoch: crosses two epoch boundaries
    part = BatchStream(ds, 3, seed=7)
    take(part, 4)
    state = part.state_dict()
    assert state == {"epoch": 1, "batch": 1, "seed": 7}
    torch.rand(5), np.random.rand(3), random.random()  # the global RNG moves on: must not matter
    resumed = BatchStream(Noisy(10), 3, seed=7)
    resumed.load_state_dict(state)
    for a, b in zip(full[4:], take(resumed, 4)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_batch_stream_same_with_worker_processes():
    base = take(BatchStream(Noisy(10), 3, seed=7), 5)
    workers = BatchStream(Noisy(10), 3, seed=7, num_workers=2)
    got = take(workers, 5)
    for a, b in zip(base, got):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert workers.state_dict() == {"epoch": 1, "batch": 2, "seed": 7}  # prefetched batches do not count


def test_batch_stream_epochs_are_permutations_and_differ():
    stream = BatchStream(Noisy(12), 4, seed=0)
    e0 = torch.cat(take(stream, 3))[:, 0]
    e1 = torch.cat(take(stream, 3))[:, 0]
    assert sorted(e0.tolist()) == list(range(12)) == sorted(e1.tolist())
    assert e0.tolist() != e1.tolist()


def test_batch_stream_augmentation_independent_of_global_rng():
    a = take(BatchStream(Noisy(6), 2, seed=1), 3)
    seed_everything(1234)
    b = take(BatchStream(Noisy(6), 2, seed=1), 3)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert len({round(v, 6) for v in torch.cat(a)[:, 1].tolist()}) == 6  # each sample its own seed


def test_batch_stream_ranks_split_the_global_batch():
    single = take(BatchStream(Noisy(16), 4, seed=2), 2)
    r0 = take(BatchStream(Noisy(16), 2, seed=2, rank=0, world_size=2), 2)
    r1 = take(BatchStream(Noisy(16), 2, seed=2, rank=1, world_size=2), 2)
    for s, a, b in zip(single, r0, r1):
        merged = torch.cat([a, b])
        assert sorted(map(tuple, merged.tolist())) == sorted(map(tuple, s.tolist()))
        assert not set(a[:, 0].tolist()) & set(b[:, 0].tolist())


def test_batch_stream_small_dataset_repeats():
    batch = next(BatchStream(Noisy(3), 8, seed=0))
    assert batch.shape == (8, 4)
    assert set(batch[:, 0].tolist()) == {0.0, 1.0, 2.0}


def test_batch_stream_errors():
    with pytest.raises(ConfigError, match="no images"):
        BatchStream(Noisy(0), 2)
    with pytest.raises(ConfigError, match="--batch"):
        BatchStream(Noisy(4), 0)


def test_ema_matches_hand_computation_and_copies_buffers():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ema = EMA(net, decay=0.9, warmup=False)
    w0 = net[0].weight.detach().clone()
    with torch.no_grad():
        net[0].weight.add_(1.0)
    net.train()(torch.randn(4, 3))  # moves BN running stats
    ema.update(net)
    torch.testing.assert_close(ema.module[0].weight, 0.9 * w0 + 0.1 * (w0 + 1.0))
    torch.testing.assert_close(ema.module[1].running_mean, net[1].running_mean, rtol=0, atol=0)
    assert not any(p.requires_grad for p in ema.module.parameters())
    other = EMA(net, decay=0.9)
    other.load_state_dict(ema.state_dict())
    torch.testing.assert_close(other.module[0].weight, ema.module[0].weight, rtol=0, atol=0)
    with pytest.raises(ConfigError, match="decay"):
        EMA(net, decay=1.0)


def test_ema_warmup_follows_the_weights_early():
    net = nn.Linear(2, 1)
    ema = EMA(net, decay=0.999)
    assert ema.decay_at(0) == pytest.approx(0.1) and ema.decay_at(10) == pytest.approx(11 / 20)
    assert ema.decay_at(100_000) == 0.999 and ema.decay_at(None) == 0.999
    w0 = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net, step=0)
    torch.testing.assert_close(ema.module.weight, 0.1 * w0 + 0.9 * (w0 + 1.0))


def lrs(kind, n, **kw):
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    s = LRSchedule(opt, kind, **kw)
    out = []
    for _ in range(n):
        out.append(s.lr())
        s.step()
    return out, s


def test_schedules():
    assert lrs("constant", 3)[0] == [1.0, 1.0, 1.0]
    assert lrs("step", 5, step_size=2, gamma=0.5)[0] == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert lrs("multistep", 6, milestones=[1, 4], gamma=0.1)[0] == pytest.approx([1, 0.1, 0.1, 0.1, 0.01, 0.01])
    _, s = lrs("plateau", 1, gamma=0.1, patience=1, min_lr=0.05)
    for metric in (30.0, 29.0, 29.0, 28.0, 28.0):
        s.observe(metric)
    assert s.lr() == pytest.approx(0.05)  # 1 -> 0.1 -> 0.01, floored at min_lr


def test_schedule_state_roundtrip(tmp_path):
    _, s = lrs("step", 5, step_size=2, gamma=0.5)
    save_checkpoint(tmp_path / "s.pt", {"sched": s.state_dict()})
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    t = LRSchedule(opt, "step", step_size=2, gamma=0.5)
    t.load_state_dict(load_checkpoint(tmp_path / "s.pt")["sched"])
    assert t.lr() == s.lr() == 0.25
    with pytest.raises(ConfigError, match="cosine"):
        LRSchedule(opt, "cosine")
    with pytest.raises(ConfigError, match="step_size"):
        LRSchedule(opt, "step")


def test_check_finite_names_step_and_loss():
    check_finite(3, {"pixel": torch.tensor(0.5), "adv": 1.0})
    with pytest.raises(TrainingDiverged, match=r"step 7: loss perceptual=nan"):
        check_finite(7, {"pixel": torch.tensor(0.5), "perceptual": torch.tensor(float("nan"))})
    with pytest.raises(TrainingDiverged, match=r"step 2: loss d=inf"):
        check_finite(2, {"d": math.inf}, DistEnv())


def test_run_dir_lifecycle(tmp_path):
    with pytest.raises(CheckpointError, match="no such run folder"):
        RunDir.open(tmp_path / "none")
    run = RunDir.create(tmp_path / "run", {"lr": 0.1})
    assert run.tb.is_dir() and run.samples.is_dir() and run.read_config() == {"lr": 0.1}
    with pytest.raises(CheckpointError, match="last.pt is missing"):
        RunDir.open(run.path)
    run.save({"kind": "sr", "step": 1})
    run.save({"kind": "sr", "step": 2}, best=True)
    run.save({"kind": "sr", "step": 3})
    assert load_checkpoint(run.best)["step"] == 2 and run.load_last()["step"] == 3
    with pytest.raises(ConfigError, match="--resume"):
        RunDir.create(run.path, {})
    assert RunDir.open(run.path).last == run.last
    RunDir(tmp_path / "other", main=False).save({"step": 1})
    assert not (tmp_path / "other").exists()  # only rank 0 writes


def test_precision_switches():
    conv = nn.Conv2d(3, 4, 3)
    p = Precision("cpu", bf16=True, channels_last=True)
    net, x = p.model(conv), p.batch(torch.rand(1, 3, 8, 8))
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert net.weight.is_contiguous(memory_format=torch.channels_last)
    with p.autocast():
        assert net(x).dtype == torch.bfloat16
        with p.fp32():
            assert net(x).dtype == torch.float32
    with Precision("cpu").autocast():
        assert net(x).dtype == torch.float32


def test_writer(tmp_path):
    run = RunDir.create(tmp_path / "run", {})
    w = open_writer(run)
    w.add_scalar("loss/x", 1.0, 1)
    w.close()
    assert list(run.tb.glob("events.out.tfevents.*"))
    assert isinstance(open_writer(run, enabled=False), NullWriter)
