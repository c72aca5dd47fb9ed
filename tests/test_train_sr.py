"""The SR trainer end to end on tiny models and a tiny synthetic dataset: runs, logs, resume, divergence, interpolation."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from gan_sr.cli import main
from gan_sr.data.synth import make_split_dirs
from gan_sr.errors import CheckpointError, ConfigError, TrainingDiverged, WeightsMissingError
from gan_sr.io.checkpoints import load_checkpoint, save_checkpoint
from gan_sr.config import load_config, merge
from gan_sr.sr.interpolate import interpolate_checkpoints
from gan_sr.train.sr import SRTrainer
from gan_sr.train.sr_config import build_config, recipe

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "experiments" / "configs"

TINY_ESPCN = {"model": {"overrides": {"widths": [8, 4]}}, "data": {"hr_size": 16, "lr_size": 0, "batch": 2},
              "train": {"steps": 4}, "eval": {"every": 2, "max_images": 2},
              "log": {"every": 1, "checkpoint_every": 2, "samples": 2}}
VGG_CONVS = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128)]  # up to conv2_2: all the tests need


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_split_dirs(tmp_path_factory.mktemp("data") / "set", {"train": 4, "val": 2}, size=32, seed=0)


@pytest.fixture(scope="module")
def vgg(tmp_path_factory) -> Path:
    """A VGG19 weights file holding torchvision's keys/shapes for features 0..7 (random values)."""
    g = torch.Generator().manual_seed(0)
    state = {}
    for idx, c_in, c in VGG_CONVS:
        state[f"features.{idx}.weight"] = torch.randn(c, c_in, 3, 3, generator=g) * (2 / (9 * c_in)) ** 0.5
        state[f"features.{idx}.bias"] = torch.zeros(c)
    path = tmp_path_factory.mktemp("vgg") / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    return path


@pytest.fixture()
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_gan_args(run: Path, data: Path, vgg: Path, steps: int = 6) -> list[str]:
    """CLI args of a tiny ESRGAN GAN-stage run: RRDB, VGG discriminator, perceptual, RaGAN, EMA, BN."""
    cfg = run.parent / f"{run.name}.toml"
    cfg.write_text(
        '[model]\noverrides = {num_blocks = 1, nf = 8, gc = 4}\n'
        '[data]\nhr_size = 16\nbatch = 2\n'
        '[train]\nmilestones = [3]\n'
        '[loss.perceptual]\nlayer = "conv2_2"\n'
        '[loss.adversarial]\noverrides = {nf = 4}\n'
        '[eval]\nevery = 3\nmax_images = 1\n'
        '[log]\nevery = 1\ncheckpoint_every = 2\nsamples = 1\n'
    )
    return ["sr", "train", "--model", "esrgan", "--stage", "gan", "--scale", "2", "--data", str(data),
            "--config", str(cfg), "--steps", str(steps), "--run-dir", str(run), "--vgg-weights", str(vgg),
            "--quiet"]


def cli(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


# ------------------------------------------------------------------------------------------- configs


def test_paper_recipes_follow_the_papers():
    esr = recipe("esrgan", "psnr", "paper")
    assert (esr["train"]["lr"], esr["train"]["step_size"], esr["train"]["gamma"]) == (2e-4, 200_000, 0.5)
    assert esr["loss"]["pixel"]["kind"] == "l1" and esr["data"]["hr_size"] == 128
    gan = recipe("esrgan", "gan", "paper")["loss"]
    assert gan["perceptual"]["layer"] == "conv5_4" and gan["adversarial"]["kind"] == "ragan"
    assert (gan["perceptual"]["weight"], gan["adversarial"]["weight"], gan["pixel"]["weight"]) == (1.0, 5e-3, 1e-2)
    sg = recipe("srgan", "gan", "paper")
    assert sg["loss"]["perceptual"]["layer"] == "relu5_4" and sg["loss"]["adversarial"]["weight"] == 1e-3
    assert sg["train"]["milestones"] == [100_000] and sg["train"]["gamma"] == 0.1 and sg["train"]["steps"] == 200_000
    assert recipe("srgan", "mse", "paper")["data"]["hr_size"] == 96


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="--model bicubic: no training recipe"):
        recipe("bicubic")
    with pytest.raises(ConfigError, match="--stage gan: espcn has stages mse"):
        recipe("espcn", "gan")
    bad = tmp_path / "bad.toml"
    bad.write_text('[train]\nlearning_rate = 1\n')
    with pytest.raises(ConfigError, match="unknown key train.learning_rate"):
        build_config("espcn", config_file=bad)
    bad.write_text('[train\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        build_config("espcn", config_file=bad)
    with pytest.raises(ConfigError, match="hr_size = 30 must be a positive multiple of the scale 4"):
        build_config("espcn", overrides={"data": {"hr_size": 30}})
    with pytest.raises(ConfigError, match="train.lr must be > 0"):
        build_config("espcn", overrides={"train": {"lr": 0.0}})
    with pytest.raises(ConfigError, match="at least one of"):
        build_config("espcn", overrides={"loss": {"pixel": {"weight": 0.0}}})


# ----------------------------------------------------------------------------------------------- runs


def test_short_run_writes_logs_checkpoints_and_card(tmp_path, data):
    run = tmp_path / "run"
    cfg = tmp_path / "tiny.toml"
    cfg.write_text('[model]\noverrides = {widths = [8, 4]}\n[data]\nhr_size = 16\nbatch = 2\n'
                   '[eval]\nevery = 2\nmax_images = 2\n[log]\nevery = 1\ncheckpoint_every = 2\nsamples = 2\n')
    res = cli(["sr", "train", "--model", "espcn", "--scale", "2", "--data", str(data), "--config", str(cfg),
               "--steps", "4", "--run-dir", str(run)])
    assert res.exit_code == 0, res.output
    assert f"TensorBoard logs: {run / 'tb'}" in res.output and "best val PSNR" in res.output
    events = list((run / "tb").rglob("events.out.tfevents.*"))
    assert events
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb")).Reload()
    tags = acc.Tags()
    assert {"loss/pixel", "lr/g", "val/psnr", "val/ssim"} <= set(tags["scalars"])
    assert [e.step for e in acc.Scalars("val/psnr")] == [2, 4]
    assert "samples/lr_sr_hr" in tags["images"]
    assert list((run / "samples").glob("step_*.png"))
    ck = load_checkpoint(run / "last.pt")
    assert ck["kind"] == "sr" and ck["step"] == 4
    assert ck["model"] == {"name": "espcn", "scale": 2, "preset": "cpu", "config": {"channels": "y", "widths": [8, 4]}}
    assert set(ck["ema"]) == set(ck["state_dict"]) and ck["optim"]["g"]["state"]
    assert ck["meta"]["data"] == str(data) and "psnr" in ck["meta"]["val"] and ck["meta"]["wall_s"] > 0
    assert {"torch", "numpy", "python", "data"} <= set(ck["rng"])
    best = load_checkpoint(run / "best.pt")
    assert best["meta"]["val"]["psnr"] == best["meta"]["best_psnr"] >= ck["meta"]["val"]["psnr"]
    from gan_sr.sr.registry import load_model

    net = load_model(run / "best.pt")  # what `gansr upscale` and the benchmarks do with it
    assert all(torch.equal(t, best["ema"][k]) for k, t in net.state_dict().items())
    card = (run / "best.md").read_text()
    assert "espcn" in card and "best val PSNR" in card
    import json

    assert json.loads((run / "config.json").read_text())["config"]["train"]["steps"] == 4
    # the same folder with another config is refused (the same command would continue it); resuming with
    # run-changing options too
    res = CliRunner().invoke(main, ["sr", "train", "--model", "espcn", "--data", str(data), "--run-dir", str(run)])
    assert res.exit_code == 2 and "holds a run of another configuration" in res.output
    res = CliRunner().invoke(main, ["sr", "train", "--resume", str(run), "--batch", "8"])
    assert res.exit_code == 2 and "drop --batch" in res.output
    # --print-config on a run prints its saved config (with the new length) and trains nothing
    from gan_sr.config import tomllib

    res = cli(["sr", "train", "--resume", str(run), "--steps", "6", "--print-config"])
    saved = json.loads((run / "config.json").read_text())["config"]
    assert tomllib.loads(res.output) == merge(saved, {"train": {"steps": 6}}) and load_checkpoint(run / "last.pt")["step"] == 4
    # resuming with more steps continues from step 4
    res = cli(["sr", "train", "--resume", str(run), "--steps", "6", "--quiet"])
    assert res.exit_code == 0 and load_checkpoint(run / "last.pt")["step"] == 6


def test_validation_matches_independent_psnr(tmp_path, data):
    """The logged val PSNR equals psnr() of the EMA model on the val images computed here."""
    from gan_sr.data.datasets import PairedDataset
    from gan_sr.io.images import quantize
    from gan_sr.metrics.psnr_ssim import psnr
    from gan_sr.sr.registry import build_model

    cfg = build_config("espcn", scale=2, overrides=TINY_ESPCN)
    trainer = SRTrainer(cfg, data=data, run_dir=tmp_path / "r", quiet=True)
    result = trainer.fit()
    net = build_model("espcn", 2, "cpu", widths=[8, 4]).eval()
    net.load_state_dict(load_checkpoint(tmp_path / "r" / "last.pt")["ema"])
    val = PairedDataset(data, 2, split="val", augment=False)
    with torch.no_grad():
        ps = [float(psnr(quantize(net(lr[None]).clamp(0, 1)), hr[None], crop=2)) for lr, hr in val]
    assert result.val["psnr"] == pytest.approx(sum(ps) / len(ps), abs=1e-6)


def _run_until_killed(args: list[str], marker: Path) -> None:
    """Child process: train through the CLI; at step 5 (the step-4 checkpoint is on disk) signal and hang."""

    def hang_at_5(self, logs):
        if self.step == 5:
            marker.write_text("x")
            time.sleep(600)

    SRTrainer.on_step_end = hang_at_5
    main(args, standalone_mode=False)


def test_resume_after_sigkill_is_bit_identical(tmp_path, data, vgg, one_thread):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    assert cli(tiny_gan_args(whole, data, vgg)).exit_code == 0

    marker = tmp_path / "at_step_5"
    proc = mp.get_context("fork").Process(target=_run_until_killed, args=(tiny_gan_args(broken, data, vgg), marker))
    proc.start()  # a forked child inherits the imported torch, so it starts in well under a second
    deadline = time.time() + 120
    while not marker.exists():
        assert proc.is_alive(), f"child exited early with {proc.exitcode}"
        assert time.time() < deadline, "child never reached step 5"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert proc.exitcode == -signal.SIGKILL
    assert load_checkpoint(broken / "last.pt")["step"] == 4  # killed after the step-4 checkpoint

    assert cli(["sr", "train", "--resume", str(broken), "--quiet"]).exit_code == 0
    a, b = load_checkpoint(whole / "last.pt"), load_checkpoint(broken / "last.pt")
    assert a["step"] == b["step"] == 6
    for key in ("state_dict", "ema"):
        for name, t in a[key].items():
            assert torch.equal(t, b[key][name]), f"{key}.{name} differs after resume"
    for name, t in a["discriminator"]["state_dict"].items():
        assert torch.equal(t, b["discriminator"]["state_dict"][name]), f"D {name} differs after resume"
    for k, st in a["optim"]["d"]["state"].items():
        assert torch.equal(st["exp_avg"], b["optim"]["d"]["state"][k]["exp_avg"])
    assert a["sched"] == b["sched"] and a["rng"]["data"] == b["rng"]["data"]
    assert a["meta"]["best_psnr"] == b["meta"]["best_psnr"]


def test_gan_stage_init_from_psnr_stage(tmp_path, data, vgg):
    over = {"model": {"overrides": {"num_blocks": 1, "nf": 8, "gc": 4}}, "data": {"hr_size": 16, "batch": 2},
            "train": {"steps": 2}, "eval": {"every": 2, "max_images": 1}, "log": {"checkpoint_every": 2}}
    psnr_run = SRTrainer(build_config("esrgan", scale=2, stage="psnr", overrides=over), data=data,
                         run_dir=tmp_path / "psnr", quiet=True)
    psnr_run.fit()
    ck = load_checkpoint(tmp_path / "psnr" / "best.pt")
    gan_over = merge(over, {"loss": {"perceptual": {"layer": "conv1_2"}, "adversarial": {"overrides": {"nf": 4}}}})
    gan = SRTrainer(build_config("esrgan", scale=2, stage="gan", overrides=gan_over), data=data,
                    run_dir=tmp_path / "gan", init=tmp_path / "psnr" / "best.pt", vgg_weights=vgg, quiet=True)
    for name, t in gan.g.state_dict().items():
        assert torch.equal(t, ck["ema"][name])
    assert gan.d is not None and gan.d.input_size == 16
    with pytest.raises(CheckpointError, match="--init .*holds sr model esrgan x2, this run trains sr model srgan"):
        SRTrainer(build_config("srgan", scale=2, overrides={"data": {"hr_size": 16}}), data=data,
                  run_dir=tmp_path / "x", init=tmp_path / "psnr" / "best.pt", quiet=True)


def test_missing_vgg_weights_fail_clearly_unless_disabled(tmp_path, data, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    args = ["sr", "train", "--model", "esrgan", "--stage", "gan", "--scale", "2", "--data", str(data),
            "--hr-size", "16", "--batch", "2", "--steps", "1", "--quiet"]
    res = CliRunner().invoke(main, args + ["--run-dir", str(tmp_path / "a")])
    assert res.exit_code == 2
    assert "VGG19 weights for the perceptual loss not found" in res.output and "--vgg-weights" in res.output
    res = CliRunner().invoke(main, args + ["--run-dir", str(tmp_path / "b"), "--vgg-weights", str(tmp_path / "no.pth")])
    assert res.exit_code == 2 and "no.pth: no such file" in res.output
    res = cli(args + ["--run-dir", str(tmp_path / "e"), "--perceptual", "none"])
    assert res.exit_code == 0 and load_checkpoint(tmp_path / "e" / "last.pt")["meta"]["config"]["loss"]["perceptual"]["weight"] == 0
    res = CliRunner().invoke(main, args + ["--run-dir", str(tmp_path / "f"), "--perceptual", "conv6_1"])
    assert res.exit_code == 2 and "'conv6_1' (--perceptual) is not a VGG19 layer" in res.output
    with pytest.raises(WeightsMissingError):
        SRTrainer(build_config("srgan", scale=2, stage="gan", overrides={"data": {"hr_size": 16}}), data=data,
                  run_dir=tmp_path / "c", quiet=True)
    over = {"model": {"overrides": {"num_blocks": 1, "nf": 8, "gc": 4}},
            "loss": {"perceptual": {"weight": 0.0}, "adversarial": {"overrides": {"nf": 4}}}}
    t = SRTrainer(build_config("esrgan", scale=2, stage="gan", overrides=merge(over, {"data": {"hr_size": 16}})),
                  data=data, run_dir=tmp_path / "d", quiet=True)
    assert t.percep is None and t.d is not None


class NaNAt(SRTrainer):
    """Injects a NaN into the pixel loss at one step (once)."""

    nan_step = 3
    fired = False

    def generator_losses(self, lr, hr):
        sr, losses, fake = super().generator_losses(lr, hr)
        if self.step + 1 == self.nan_step and not self.fired:
            type(self).fired = True
            losses["pixel"] = losses["pixel"] * float("nan")
        return sr, losses, fake


def test_nan_loss_raises_training_diverged(tmp_path, data):
    NaNAt.fired = False
    cfg = build_config("espcn", scale=2, overrides=merge(TINY_ESPCN, {"train": {"steps": 5}}))
    with pytest.raises(TrainingDiverged, match=r"step 3: loss pixel=nan"):
        NaNAt(cfg, data=data, run_dir=tmp_path / "r", quiet=True).fit()
    assert load_checkpoint(tmp_path / "r" / "last.pt")["step"] == 2  # nothing after the good step-2 state


def test_nan_with_rollback_resumes_at_half_lr(tmp_path, data):
    NaNAt.fired = False
    cfg = build_config("espcn", scale=2, overrides=merge(TINY_ESPCN, {"train": {"steps": 5, "rollback": 1}}))
    t = NaNAt(cfg, data=data, run_dir=tmp_path / "r", quiet=True)
    res = t.fit()
    assert res.step == 5 and NaNAt.fired
    assert t.sched_g.base_lrs[0] == pytest.approx(cfg["train"]["lr"] / 2)


def test_huge_lr_diverges_with_a_clear_cli_error(tmp_path, data):
    res = CliRunner().invoke(main, ["sr", "train", "--model", "espcn", "--scale", "2", "--data", str(data),
                                    "--hr-size", "16", "--batch", "2", "--steps", "20", "--lr", "1e38",
                                    "--run-dir", str(tmp_path / "r"), "--quiet"])
    assert res.exit_code == 2
    assert "Error: step" in res.output and "is not finite" in res.output


# -------------------------------------------------------------------------------------- interpolation


def _ckpt(path: Path, seed: int, *, scale: int = 4, ema: bool = True) -> dict:
    g = torch.Generator().manual_seed(seed)
    sd = {"w": torch.randn(3, 3, generator=g), "n": torch.tensor(seed)}
    payload = {"kind": "sr", "model": {"name": "espcn", "scale": scale, "preset": "cpu", "config": {}},
               "state_dict": {k: v * 0 for k, v in sd.items()}, "ema": sd if ema else None, "step": 1}
    save_checkpoint(path, payload)
    return sd


def test_interpolate_endpoints_and_midpoint(tmp_path):
    a, b = _ckpt(tmp_path / "a.pt", 1), _ckpt(tmp_path / "b.pt", 2)
    for alpha, want in ((0.0, a["w"]), (1.0, b["w"]), (0.25, 0.75 * a["w"] + 0.25 * b["w"])):
        out = tmp_path / f"c{alpha}.pt"
        res = cli(["sr", "interpolate", str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "--alpha", str(alpha),
                   "-o", str(out)])
        assert res.exit_code == 0 and "Wrote" in res.output
        got = load_checkpoint(out)
        if alpha in (0.0, 1.0):
            assert torch.equal(got["state_dict"]["w"], want)
        else:
            torch.testing.assert_close(got["state_dict"]["w"], want)
        assert got["model"]["name"] == "espcn" and got["meta"]["interpolated"]["alpha"] == alpha


def test_interpolate_keeps_the_gan_stage_provenance_not_its_scores(tmp_path):
    _ckpt(tmp_path / "a.pt", 1)
    _ckpt(tmp_path / "b.pt", 2)
    b = load_checkpoint(tmp_path / "b.pt")
    b["meta"] = {"command": "gansr sr train --stage gan", "stage": "gan", "val": {"psnr": 30.0}, "bench": {}}
    b["step"] = 7
    save_checkpoint(tmp_path / "b.pt", dict(b))
    got = load_checkpoint(interpolate_checkpoints(tmp_path / "a.pt", tmp_path / "b.pt", 0.3, tmp_path / "c.pt"))
    assert got["meta"]["command"] == "gansr sr train --stage gan" and got["meta"]["stage"] == "gan"
    assert "val" not in got["meta"] and "bench" not in got["meta"] and got["step"] == 7
    assert got["meta"]["interpolated"] == {"a": str(tmp_path / "a.pt"), "b": str(tmp_path / "b.pt"), "alpha": 0.3,
                                           "a_step": 1, "b_step": 7}


def test_interpolate_refuses_mismatches(tmp_path):
    _ckpt(tmp_path / "a.pt", 1)
    _ckpt(tmp_path / "b.pt", 2, scale=2)
    with pytest.raises(CheckpointError, match="model scale differs"):
        interpolate_checkpoints(tmp_path / "a.pt", tmp_path / "b.pt", 0.5, tmp_path / "c.pt")
    res = CliRunner().invoke(main, ["sr", "interpolate", str(tmp_path / "a.pt"), str(tmp_path / "b.pt"),
                                    "--alpha", "0.5", "-o", str(tmp_path / "c.pt")])
    assert res.exit_code == 2 and "Error: cannot interpolate" in res.output
    with pytest.raises(ConfigError, match="--alpha 1.5"):
        interpolate_checkpoints(tmp_path / "a.pt", tmp_path / "a.pt", 1.5, tmp_path / "c.pt")
    with pytest.raises(ConfigError, match="would overwrite"):
        interpolate_checkpoints(tmp_path / "a.pt", tmp_path / "a.pt", 0.5, tmp_path / "a.pt")


@pytest.mark.parametrize("path", sorted((CONFIGS / "overrides").glob("*.toml")), ids=lambda p: p.name)
def test_override_configs_merge_over_their_recipe(path):
    name = path.stem.split("_")[0]
    cfg = build_config(name, stage="gan", preset="cpu", config_file=path)
    file_cfg = load_config(path)
    assert cfg["loss"]["pixel"] == {**recipe(name, "gan", "cpu")["loss"]["pixel"], **file_cfg["loss"]["pixel"]}
    assert cfg["loss"]["perceptual"]["weight"] == 0.0
