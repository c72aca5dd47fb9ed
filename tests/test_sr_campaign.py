"""What the long CPU campaigns rely on: the global bicubic residual, warm-up/cosine schedules, early stop when the
val curve is flat, time-sliced runs, and the same command continuing a run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from gan_sr.cli import main
from gan_sr.data.synth import make_split_dirs
from gan_sr.errors import ConfigError
from gan_sr.io.checkpoints import load_checkpoint
from gan_sr.sr.bicubic import bicubic_upscale, luma
from gan_sr.sr.registry import build_model, get_spec, load_model
from gan_sr.train.loop import LRSchedule
from gan_sr.train.sr import SRTrainer
from gan_sr.train.sr_config import build_config

TINY = {
    "srcnn": {"widths": [8, 4]}, "espcn": {"widths": [8, 4]}, "srresnet": {"num_blocks": 1, "nf": 8},
    "rrdb": {"num_blocks": 1, "nf": 8, "gc": 4},
}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_split_dirs(tmp_path_factory.mktemp("data") / "set", {"train": 4, "val": 2}, size=32, seed=0)


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("scale", [2, 4])
def test_residual_model_starts_at_bicubic_and_learns_only_the_difference(name, scale):
    torch.manual_seed(0)
    lr = torch.rand(2, 3, 12, 12)
    net = build_model(name, scale, "cpu", residual="bicubic", **TINY[name]).eval()
    with torch.no_grad():
        up = bicubic_upscale(lr, scale)
        out = net(lr)
        assert out.shape == up.shape
        assert (out - up).abs().max() < 0.05  # near-zero last layer: the fresh net is bicubic
        plain = build_model(name, scale, "cpu", **TINY[name]).eval()
        plain.load_state_dict(net.state_dict())
        # With the skip on, the output is the plain network's output plus the upsample (on Y for Y-only models,
        # whose chroma stays bicubic either way).
        if getattr(net, "channels", "rgb") == "y":
            assert torch.allclose(luma(net(lr)), luma(plain(lr)) + luma(up), atol=1e-5)
        else:
            assert torch.allclose(net(lr), plain(lr) + up, atol=1e-5)


def test_residual_option_is_checked_and_recorded():
    with pytest.raises(ConfigError, match="residual must be one of none, bicubic"):
        build_model("espcn", 4, "cpu", residual="nearest-ish")
    net = build_model("rrdb", 4, "cpu", residual="bicubic")
    assert net.registry_entry["config"]["residual"] == "bicubic"
    # The presets themselves carry no residual, so checkpoints saved before the option existed build as they were.
    for name in ("srcnn", "espcn", "srgan", "esrgan", "srresnet", "rrdb"):
        assert "residual" not in get_spec(name).options("cpu")


def test_shipped_checkpoints_still_load_without_the_option():
    ck = Path(__file__).resolve().parents[1] / "checkpoints" / "espcn_x4.pt"
    if not ck.exists():
        pytest.skip("no shipped espcn_x4.pt")
    net = load_model(ck)
    assert getattr(net, "residual", "none") in ("none", "bicubic")


def _lrs(kind: str, n: int, **kw) -> list[float]:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = LRSchedule(opt, kind, **kw)
    out = [sched.lr()]
    for _ in range(n):
        sched.step()
        out.append(sched.lr())
    return out


def test_warmup_ramps_then_hands_over_to_the_schedule():
    lrs = _lrs("step", 12, step_size=8, gamma=0.5, warmup=4)
    assert lrs[:5] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])
    assert lrs[8] == pytest.approx(0.5)


def test_cosine_goes_from_base_to_min_lr_over_total_steps():
    lrs = _lrs("cosine", 12, total=10, min_lr=0.1)
    assert lrs[0] == pytest.approx(1.0)
    assert lrs[5] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lrs[10] == pytest.approx(0.1) and lrs[12] == pytest.approx(0.1)
    with pytest.raises(ConfigError, match="cosine"):
        _lrs("cosine", 1)


def test_schedule_state_round_trips_with_warmup():
    p = torch.nn.Parameter(torch.zeros(1))
    a = LRSchedule(torch.optim.SGD([p], lr=1.0), "plateau", warmup=5, patience=0, gamma=0.5)
    for _ in range(3):
        a.step()
    a.observe(1.0)
    a.observe(0.5)
    b = LRSchedule(torch.optim.SGD([p], lr=1.0), "plateau", warmup=5, patience=0, gamma=0.5)
    b.load_state_dict(a.state_dict())
    assert b.lr() == pytest.approx(a.lr())


def _tiny_cfg(**train):
    return build_config("espcn", scale=2, overrides={
        "model": {"overrides": {"widths": [8, 4], "residual": "bicubic"}},
        "data": {"hr_size": 16, "batch": 2}, "train": {"steps": 40, **train},
        "eval": {"every": 2, "max_images": 1}, "log": {"every": 1, "checkpoint_every": 100, "samples": 1},
    })


def test_early_stop_ends_the_run_when_val_psnr_stops_improving(tmp_path, data, monkeypatch):
    monkeypatch.setattr(SRTrainer, "validate", lambda self, writer=None: {"psnr": 20.0, "ssim": 0.5})
    result = SRTrainer(_tiny_cfg(early_stop=3), data=data, run_dir=tmp_path / "run", quiet=True).fit()
    # best at the first validation (step 2), then three flat ones (4, 6, 8): stopped at step 8
    assert result.step == 8
    ck = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ck["step"] == 8 and ck["meta"]["evals_since_best"] == 3
    again = SRTrainer(None, data=data, resume=tmp_path / "run", quiet=True).fit()
    assert again.step == 8  # a flat run stays stopped when its campaign comes round again


def test_tiny_gains_count_as_flat_under_min_delta_but_still_update_best(tmp_path, data, monkeypatch):
    vals = iter([20.0 + 0.001 * i for i in range(100)])  # an EMA creeping up by 0.001 dB per validation
    monkeypatch.setattr(SRTrainer, "validate", lambda self, writer=None: {"psnr": next(vals), "ssim": 0.5})
    result = SRTrainer(_tiny_cfg(early_stop=3, min_delta=0.01), data=data, run_dir=tmp_path / "run",
                       quiet=True).fit()
    assert result.step == 8  # as flat as a constant curve: stopped after three sub-threshold validations
    ck = load_checkpoint(tmp_path / "run" / "best.pt")
    assert ck["step"] == 8 and ck["meta"]["best_psnr"] == pytest.approx(20.003)  # best.pt follows every gain
    assert ck["meta"]["stall_ref"] == pytest.approx(20.0)


def test_plateau_min_delta_drops_the_rate_on_sub_threshold_gains():
    p = torch.nn.Parameter(torch.zeros(1))
    s = LRSchedule(torch.optim.SGD([p], lr=1.0), "plateau", patience=1, gamma=0.5, min_delta=0.01)
    for metric in (30.0, 30.005, 30.009):
        s.observe(metric)
    assert s.lr() == pytest.approx(0.5)
    s.observe(30.05)  # a real gain resets the count
    s.observe(30.055)
    assert s.lr() == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="min_delta"):
        LRSchedule(torch.optim.SGD([p], lr=1.0), "plateau", min_delta=-1.0)


def test_time_slice_checkpoints_and_the_same_command_continues(tmp_path, data):
    run = tmp_path / "run"
    cfg_file = tmp_path / "tiny.toml"
    cfg_file.write_text(
        '[model]\nname = "espcn"\noverrides = {widths = [8, 4], residual = "bicubic"}\n'
        '[data]\nhr_size = 16\nbatch = 2\n[eval]\nevery = 3\nmax_images = 1\n'
        '[log]\nevery = 2\ncheckpoint_every = 100\nsamples = 1\n'
    )
    args = ["sr", "train", "--config", str(cfg_file), "--scale", "2", "--data", str(data), "--run-dir", str(run),
            "--steps", "6", "--quiet"]
    first = CliRunner().invoke(main, [*args, "--for-minutes", "0"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert load_checkpoint(run / "last.pt")["step"] == 2  # the slice ended at the first log boundary
    second = CliRunner().invoke(main, args, catch_exceptions=False)  # the same command: continues to 6
    assert second.exit_code == 0, second.output
    assert load_checkpoint(run / "last.pt")["step"] == 6
    other = CliRunner().invoke(main, [*args, "--lr", "0.5"])
    assert other.exit_code == 2 and "another configuration" in other.output and "train.lr" in other.output


def test_time_sliced_run_ends_bit_identical_to_an_uninterrupted_one(tmp_path, data):
    cfg = _tiny_cfg()
    cfg["train"]["steps"] = 6
    whole = SRTrainer(cfg, data=data, run_dir=tmp_path / "whole", quiet=True)
    whole.fit()
    part = SRTrainer(cfg, data=data, run_dir=tmp_path / "part", quiet=True, for_minutes=0.0)
    part.fit()
    assert load_checkpoint(tmp_path / "part" / "last.pt")["step"] == 1
    SRTrainer(None, data=data, resume=tmp_path / "part", quiet=True).fit()
    a, b = load_checkpoint(tmp_path / "whole" / "last.pt"), load_checkpoint(tmp_path / "part" / "last.pt")
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k


def test_psnr_stage_names_train_and_feed_the_gan_stage(tmp_path, data):
    cfg = build_config("rrdb", scale=2, overrides={
        "model": {"overrides": {**TINY["rrdb"], "residual": "bicubic"}}, "data": {"hr_size": 16, "batch": 2},
        "train": {"steps": 2}, "eval": {"every": 2, "max_images": 1}, "log": {"every": 1, "checkpoint_every": 2},
    })
    SRTrainer(cfg, data=data, run_dir=tmp_path / "rrdb", quiet=True).fit()
    gan = build_config("esrgan", scale=2, stage="gan", overrides={
        "model": {"overrides": {**TINY["rrdb"], "residual": "bicubic"}}, "data": {"hr_size": 16, "batch": 2},
        "train": {"steps": 1}, "loss": {"perceptual": {"weight": 0.0}, "adversarial": {"overrides": {"nf": 4}}},
        "eval": {"every": 1, "max_images": 1}, "log": {"every": 1, "checkpoint_every": 1},
    })
    trainer = SRTrainer(gan, data=data, run_dir=tmp_path / "gan", init=tmp_path / "rrdb" / "best.pt", quiet=True)
    src = load_checkpoint(tmp_path / "rrdb" / "best.pt")["ema"]
    assert all(torch.equal(v, trainer.g.state_dict()[k]) for k, v in src.items())


def test_a_scale_the_model_lacks_is_refused_before_any_file_is_looked_for():
    with pytest.raises(ConfigError, match="--scale 0 is not available for espcn; scales: 2, 3, 4"):
        load_model("espcn", 0)
