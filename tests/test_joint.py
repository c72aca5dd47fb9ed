"""The progressive stack and `gansr joint-train` / `joint-export` on tiny nets (16 px G0, ESPCN x2 -> 32 px):
fade-in math, latents shared with the GAN sampler, inits, freezing G0, what is logged and saved, exact
resume, two DDP ranks, and the errors a user can hit."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from gan_sr.config import load_config
from gan_sr.cli import main
from gan_sr.data.synth import make_split_dirs
from gan_sr.degrade import imresize
from gan_sr.errors import CheckpointError, TrainingDiverged
from gan_sr.gan.networks import Generator, gan_config, to_gan, to_unit
from gan_sr.gan.stack import Stack
from gan_sr.io.checkpoints import load_checkpoint, save_checkpoint
from gan_sr.sr.registry import build_model
from gan_sr.train import gan as G
from gan_sr.train import joint as J
from gan_sr.train.loop import DistEnv, RunDir

TINY_NET = {"channel_base": 64, "channel_max": 32, "z_dim": 16, "w_dim": 16}
TINY_GAN = """
[model]
res = 16
overrides = {channel_base = 64, channel_max = 32, z_dim = 16, w_dim = 16}
[data]
batch = 8
[log]
tick_kimg = 0.016
snapshot_kimg = 0.032
grid = 4
"""
TINY = """
[model]
res = 16
scale = 2
g0_overrides = {channel_base = 64, channel_max = 32, z_dim = 16, w_dim = 16}
sr = "espcn"
[data]
batch = 8
[train]
kimg = 0.064
fade_kimg = 0.032
[log]
tick_kimg = 0.016
snapshot_kimg = 0.032
grid = 4
[aug]
ramp_kimg = 0.2
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_split_dirs(tmp_path_factory.mktemp("joint") / "data", {"train": 12, "val": 2, "test": 4}, size=32,
                           seed=3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    p = tmp_path_factory.mktemp("cfg") / "tiny.toml"
    p.write_text(TINY)
    return p


@pytest.fixture(scope="module")
def gan_ckpt(data, tmp_path_factory):
    """A `gansr gan train` last.pt at 16 px (it holds D and the ADA state too)."""
    folder = tmp_path_factory.mktemp("gan")
    (folder / "gan.toml").write_text(TINY_GAN)
    cfg = G.build_config(folder / "gan.toml", data=str(data), kimg=0.032, aug="fixed:0.25")
    G.train_gan(cfg, run_dir=folder / "run", quiet=True)
    return folder / "run" / "last.pt"


@pytest.fixture(scope="module")
def sr_ckpt(tmp_path_factory):
    """An ESPCN x2 checkpoint in the trainer's format, with EMA weights that differ from the raw ones."""
    torch.manual_seed(5)
    raw, ema = build_model("espcn", 2, "cpu"), build_model("espcn", 2, "cpu")
    path = tmp_path_factory.mktemp("sr") / "espcn_x2.pt"
    save_checkpoint(path, {"kind": "sr", "model": raw.registry_entry, "state_dict": raw.state_dict(),
                           "ema": ema.state_dict(), "step": 123,
                           "meta": {"stage": "mse", "wall_s": 4.5, "init": None}})
    return path


@pytest.fixture(scope="module")
def trained(data, tiny, gan_ckpt, sr_ckpt, tmp_path_factory):
    """One CLI run from both inits, with the consistency term and SWD on."""
    run = tmp_path_factory.mktemp("run") / "joint"
    r = CliRunner().invoke(main, ["joint-train", "--data", str(data), "--config", str(tiny), "--g0", str(gan_ckpt),
                                  "--sr-ckpt", str(sr_ckpt), "--consistency", "1", "--swd-images", "4",
                                  "--run-dir", str(run), "--quiet"])
    assert r.exit_code == 0, r.output
    return run


def _tiny_stack(alpha: float) -> Stack:
    torch.manual_seed(0)
    g0 = Generator(**gan_config(16, "cpu", **TINY_NET)).eval()
    sr = build_model("espcn", 2, "cpu")
    for p in sr.parameters():  # a visible S: the freshly initialised last layer is almost zero
        p.data.normal_(0, 0.2)
    return Stack(g0, sr, alpha).eval()


def test_stack_fades_from_bicubic_to_the_sr_stage():
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(1))
    stack = _tiny_stack(0.0)
    with torch.no_grad():
        lo, hi = stack(z)
        assert torch.equal(lo, stack.g0(z)) and lo.shape == (3, 3, 16, 16) and hi.shape == (3, 3, 32, 32)
        bicubic = imresize(lo, 2)
        s_out = to_gan(stack.sr(to_unit(lo)))
        assert torch.equal(hi, bicubic)  # alpha 0: exactly G0 followed by the bicubic baseline
        stack.set_alpha(1.0)
        torch.testing.assert_close(stack(z)[1], s_out, rtol=0, atol=1e-6)
        stack.set_alpha(0.25)
        torch.testing.assert_close(stack(z)[1], 0.75 * bicubic + 0.25 * s_out, rtol=0, atol=1e-6)
    assert (s_out - bicubic).abs().max() > 0.1  # the two branches differ, so the blend is tested
    assert "alpha" in stack.state_dict() and float(stack.state_dict()["alpha"]) == 0.25
    assert (stack.z_dim, stack.res_lo, stack.scale, stack.res_hi) == (16, 16, 2, 32)


@pytest.mark.parametrize("alpha", [0.0, 0.4, 1.0])
def test_generate_stack_draws_the_gan_samplers_latents(alpha):
    stack = _tiny_stack(alpha)
    lo, hi = J.generate_stack(stack, 5, seed=7, batch=2)
    assert torch.equal(lo, G.generate(stack.g0, 5, seed=7, batch=2))
    assert hi.shape == (5, 3, 32, 32) and 0 <= float(hi.min()) and float(hi.max()) <= 1
    _, hi_again = J.generate_stack(stack, 5, seed=7, batch=2)
    assert torch.equal(hi, hi_again)


def test_inits_load_the_gan_and_sr_weights(data, tiny, gan_ckpt, sr_ckpt, tmp_path):
    cfg = J.build_config(tiny, data=str(data), g0=str(gan_ckpt), sr_ckpt=str(sr_ckpt))
    cfg, inits = J.resolve_inits(cfg)
    trainer = J.JointTrainer(cfg, DistEnv(), RunDir.create(tmp_path / "r", cfg), inits=inits)
    gan, sr = load_checkpoint(gan_ckpt), load_checkpoint(sr_ckpt)
    for name, w in trainer.stack.g0.state_dict().items():
        assert torch.equal(w, gan["state_dict"][name]), name
    for name, w in trainer.ema.module.g0.state_dict().items():
        assert torch.equal(w, gan["ema"][name]), name
    for name, w in trainer.critics["lo"].D.state_dict().items():
        assert torch.equal(w, gan["discriminator"][name]), name
    for name, w in trainer.stack.sr.state_dict().items():
        assert torch.equal(w, sr["ema"][name]), name
    assert any(not torch.equal(sr["ema"][k], sr["state_dict"][k]) for k in sr["ema"])
    assert trainer.critics["lo"].ada.p == gan["ada"]["p"] == 0.25 and trainer.critics["hi"].ada.p == 0.0
    assert cfg["model"]["g0_overrides"] == {k: v for k, v in gan["model"]["config"].items() if k not in ("res", "preset")}
    assert inits["g0_init"]["kimg"] == gan["meta"]["kimg"] == 0.032
    assert inits["g0_init"]["wall_s"] == gan["meta"]["wall_s"] > 0
    assert inits["sr_init"]["steps"] == 123 and inits["sr_init"]["wall_s"] == 4.5


def test_run_saves_what_resume_and_reports_need(trained, gan_ckpt):
    ck, gan = load_checkpoint(trained / "last.pt"), load_checkpoint(gan_ckpt)
    assert ck["kind"] == "joint" and ck["model"]["name"] == "stack" and ck["model"]["scale"] == 2
    assert ck["model"]["config"]["g0"] == gan["model"]["config"]
    assert ck["model"]["config"]["sr"]["name"] == "espcn" and ck["model"]["config"]["sr"]["scale"] == 2
    assert set(ck["discriminators"]) == set(ck["ada"]) == {"lo", "hi"}
    assert set(ck["optim"]) == {"g0", "sr", "d_lo", "d_hi"} and ck["optim"]["sr"]["state"]
    m = ck["meta"]
    assert m["nimg"] == 64 and m["kimg"] == 0.064 and m["wall_s"] > 0 and ck["step"] == 8
    assert m["phase"] == "joint" and m["alpha"] == 1.0 and float(ck["ema"]["alpha"]) == 1.0
    assert m["d_steps"] == {"lo": 8, "hi": 8} and m["train_images"] == 12 and m["swd"]
    assert m["g0_init"]["path"] == str(gan_ckpt) and m["g0_init"]["kimg"] == gan["meta"]["kimg"]
    assert m["sr_init"]["steps"] == 123 and m["sr_init"]["wall_s"] == 4.5
    used = J.compute_used(m)
    assert used["total_wall_s"] == pytest.approx(m["wall_s"] + gan["meta"]["wall_s"] + 4.5)
    names = sorted(p.name for p in (trained / "samples").iterdir())
    assert names == ["fakes_hi_000000032.png", "fakes_hi_000000064.png", "fakes_lo_000000032.png",
                     "fakes_lo_000000064.png"]


def test_print_config_of_a_run_is_its_config(trained):
    import json
    from gan_sr.config import tomllib

    r = CliRunner().invoke(main, ["joint-train", "--resume", str(trained), "--print-config"])
    assert r.exit_code == 0, r.output
    assert tomllib.loads(r.output) == json.loads((trained / "config.json").read_text())


def test_tensorboard_has_both_discriminators_and_the_fade(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(trained / "tb"))
    ea.Reload()
    scalars, images = set(ea.Tags()["scalars"]), set(ea.Tags()["images"])
    assert {"Loss/loss_g", "Loss/g_lo", "Loss/g_hi", "Loss/consistency", "Loss/loss_d_lo", "Loss/loss_d_hi",
            "Loss/r1_lo", "Loss/r1_hi", "ADA/p_lo", "ADA/p_hi", "ADA/r_t_lo", "ADA/r_t_hi", "D_lo/real_mean",
            "D_lo/fake_mean", "D_hi/real_mean", "D_hi/fake_mean", "Progress/alpha", "Metrics/swd_mean",
            "LR/g0", "LR/sr"} <= scalars
    assert {"samples/fixed_lo", "samples/fixed_hi"} <= images
    hp = EventAccumulator(str(trained / "tb" / "hparams"))
    hp.Reload()
    assert {"hparam/kimg", "hparam/alpha", "hparam/swd_mean"} <= set(hp.Tags()["scalars"])
    # batch 8, fade over 32 images: the last step of each 16-image tick started at alpha 0.25, 0.75, 1, 1
    assert [(e.step, e.value) for e in ea.Scalars("Progress/alpha")] == [(16, 0.25), (32, 0.75), (48, 1.0), (64, 1.0)]


def test_load_stack_and_export(trained, gan_ckpt, tmp_path):
    stack = J.load_stack(trained / "last.pt")
    ck = load_checkpoint(trained / "last.pt")
    assert not stack.training and float(stack.alpha) == 1.0
    for name, w in stack.state_dict().items():
        assert torch.equal(w, ck["ema"][name]), name
    out = tmp_path / "ship" / "joint_x2.pt"
    r = CliRunner().invoke(main, ["joint-export", "--ckpt", str(trained / "last.pt"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    slim = load_checkpoint(out)
    assert "optim" not in slim and "discriminators" not in slim and "config" not in slim["meta"]
    assert slim["meta"]["g0_init"] == ck["meta"]["g0_init"] and slim["meta"]["sr_init"] == ck["meta"]["sr_init"]
    a, b = J.generate_stack(stack, 4, seed=3), J.generate_stack(J.load_stack(out), 4, seed=3)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    card = out.with_suffix(".md").read_text()
    assert "G0 init" in card and str(gan_ckpt) in card and "total compute" in card
    with pytest.raises(CheckpointError, match="not a joint stack"):
        J.load_stack(gan_ckpt)
    r = CliRunner().invoke(main, ["gan", "sample", "--ckpt", str(out), "--n", "3", "--seed", "3",
                                  "--out", str(tmp_path / "s")])
    assert r.exit_code == 0, r.output
    from gan_sr.io.images import read_image

    first = read_image(tmp_path / "s" / "sample_00000.png").rgb
    assert first.shape == (3, 32, 32) and (first - a[1][0]).abs().max() <= 0.5 / 255 + 1e-6
    r = CliRunner().invoke(main, ["gan", "sample", "--ckpt", str(out), "--out", str(tmp_path / "i"), "--interpolate"])
    assert r.exit_code == 2 and "--interpolate: not available for a joint stack" in r.output
    r = CliRunner().invoke(main, ["joint-export", "--ckpt", str(trained / "last.pt"), "--out", str(trained / "last.pt")])
    assert r.exit_code == 2 and "would overwrite" in r.output


@pytest.mark.parametrize("fade_kimg", [0.0, 0.016])  # with a fade, the first step (alpha 0) has nothing to train
def test_freeze_g0_trains_only_the_sr_stage(data, tiny, gan_ckpt, sr_ckpt, tmp_path, fade_kimg):
    cfg = J.build_config(tiny, data=str(data), g0=str(gan_ckpt), sr_ckpt=str(sr_ckpt), freeze_g0=True, kimg=0.032,
                         fade_kimg=fade_kimg)
    J.train_joint(cfg, run_dir=tmp_path / "frozen", quiet=True)
    ck, gan, sr = (load_checkpoint(p) for p in (tmp_path / "frozen" / "last.pt", gan_ckpt, sr_ckpt))
    for key in ("state_dict", "ema"):  # G0 starts from the GAN's EMA and stays there, w_avg included
        for name, w in gan["ema"].items():
            assert torch.equal(ck[key][f"g0.{name}"], w), f"{key}: g0.{name}"
    for name, w in gan["discriminator"].items():
        assert torch.equal(ck["discriminators"]["lo"][name], w), name  # D_lo is idle
    assert ck["meta"]["d_steps"] == {"lo": 0, "hi": 4}
    assert any(not torch.equal(ck["state_dict"][f"sr.{k}"], w) for k, w in sr["ema"].items())


def test_resume_is_bit_identical_across_the_fade(data, tiny, tmp_path):
    over = {"batch": 4, "base_kimg": 0.004, "fade_kimg": 0.012, "snapshot_kimg": 0.012}  # 1 base, 3 fade, 2 joint
    cfg = J.build_config(tiny, data=str(data), kimg=0.024, **over)
    J.train_joint(cfg, run_dir=tmp_path / "straight", quiet=True)
    J.train_joint(J.build_config(tiny, data=str(data), kimg=0.012, **over), run_dir=tmp_path / "split", quiet=True)
    mid = load_checkpoint(tmp_path / "split" / "last.pt")
    assert mid["meta"]["phase"] == "fade" and mid["meta"]["nimg"] == 12 and 0 < mid["meta"]["alpha"] < 1
    J.train_joint(resume=tmp_path / "split", kimg=0.024, quiet=True)
    a, b = load_checkpoint(tmp_path / "straight" / "last.pt"), load_checkpoint(tmp_path / "split" / "last.pt")
    for key in ("state_dict", "ema"):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name}"
    for d in ("lo", "hi"):
        for name in a["discriminators"][d]:
            assert torch.equal(a["discriminators"][d][name], b["discriminators"][d][name]), f"D_{d}.{name}"
    for opt in ("g0", "sr", "d_lo", "d_hi"):
        for i, st in a["optim"][opt]["state"].items():
            assert torch.equal(st["exp_avg_sq"], b["optim"][opt]["state"][i]["exp_avg_sq"]), opt
    assert a["ada"] == b["ada"] and a["data"] == b["data"] and a["step"] == b["step"] == 6
    assert a["meta"]["d_steps"] == b["meta"]["d_steps"] == {"lo": 6, "hi": 5}  # the base step has no D_hi
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])


def test_wgan_gp_without_a_fade(data, tiny, tmp_path):
    cfg = J.build_config(tiny, data=str(data), loss="wgan-gp", kimg=0.02, fade_kimg=0.0, batch=4)
    out = J.train_joint(cfg, run_dir=tmp_path / "wgan", quiet=True)
    assert cfg["train"]["n_critic"] == 5 and cfg["train"]["betas"] == [0.0, 0.9]
    assert out["steps"] == 1 and out["phase"] == "joint" and "gp_lo" in out and "gp_hi" in out
    ck = load_checkpoint(tmp_path / "wgan" / "last.pt")
    assert all(torch.isfinite(v).all() for v in ck["state_dict"].values())


def test_a_nan_loss_stops_the_run(data, tiny, tmp_path, monkeypatch):
    real_g_loss = J.adv.g_loss
    monkeypatch.setattr(J.adv, "g_loss", lambda kind, fake, real=None: real_g_loss(kind, fake, real) * float("nan"))
    with pytest.raises(TrainingDiverged, match="step 1: loss .*loss_g=nan"):
        J.train_joint(J.build_config(tiny, data=str(data), batch=4), run_dir=tmp_path / "nan", quiet=True)


def _rank(rank: int, args: list[str], out: str) -> None:
    fit = J.JointTrainer.fit

    def fit_and_dump(self):
        res = fit(self)
        torch.save({"stack": self.stack.state_dict(), "ema": self.ema.state_dict(),
                    **{f"d_{k}": c.D.state_dict() for k, c in self.critics.items()},
                    "ada": {k: c.ada.state_dict() for k, c in self.critics.items()}, "nimg": self.nimg},
                   f"{out}/rank{rank}.pt")
        return res

    J.JointTrainer.fit = fit_and_dump
    main(args, standalone_mode=False)


@pytest.mark.slow
def test_two_cpu_processes_stay_in_sync(data, tiny, tmp_path, two_ranks):
    args = ["joint-train", "--data", str(data), "--config", str(tiny), "--kimg", "0.032", "--fade-kimg", "0.016",
            "--quiet", "--run-dir", str(tmp_path / "ddp")]
    codes = two_ranks(_rank, args, str(tmp_path))
    assert codes == [0, 0], f"ranks exited with {codes}"
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    for key in ("stack", "ema", "d_lo", "d_hi"):
        for name, w in r0[key].items():
            assert torch.equal(w, r1[key][name]), f"{key}.{name} differs between ranks"
    assert r0["ada"] == r1["ada"] and r0["nimg"] == r1["nimg"] == 32  # global batch 8 = 2 ranks x 4
    ck = load_checkpoint(tmp_path / "ddp" / "last.pt")
    assert ck["meta"]["nimg"] == 32 and ck["ada"] == r0["ada"] and ck["meta"]["phase"] == "joint"


def test_errors(data, tiny, gan_ckpt, sr_ckpt, trained, tmp_path):
    def fails(args: list[str], message: str) -> None:
        r = CliRunner().invoke(main, ["joint-train", *args])
        assert r.exit_code == 2, r.output
        assert message in r.output and r.output.count("\n") == 1 and r.output.startswith("Error: "), r.output

    base = ["--data", str(data), "--config", str(tiny), "--run-dir", str(tmp_path / "never"), "--quiet"]
    fails([*base, "--sr", "nosuch"], "unknown SR model 'nosuch'")
    fails([*base, "--sr", "bicubic"], "--sr bicubic: has no weights to train")
    fails([*base, "--sr-ckpt", str(sr_ckpt), "--scale", "4"], "holds a x2 espcn model but --scale is 4")
    fails([*base, "--sr-ckpt", str(sr_ckpt), "--sr", "srcnn"], "holds espcn but --sr is srcnn")
    fails([*base, "--sr-ckpt", str(gan_ckpt)], "not an SR model")
    fails([*base, "--g0", str(sr_ckpt)], "not a GAN generator")
    fails([*base, "--g0", str(tmp_path / "absent.pt")], "absent.pt: no such checkpoint file")
    fails([*base, "--g0", str(gan_ckpt), "--res", "32"], "holds a 16 px generator but model.res is 32")
    fails([*base, "--freeze-g0"], "--freeze-g0 needs a trained G0")
    fails([*base, "--scale", "3"], "--scale 3: the stack upscales G0's samples by 2 or 4")
    fails(["--data", str(tmp_path / "absent"), "--config", str(tiny), "--quiet"], "does not exist")
    fails(["--sr", "espcn"], "--data is required")
    fails(["--resume", str(trained), "--sr", "espcn"], "drop --sr")
    fails(["--resume", str(tmp_path / "nothing")], "no such run folder")
    assert not (tmp_path / "never").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nfade = 3\n")
    fails(["--data", str(data), "--config", str(bad)], "unknown key train.fade")


def test_recipes_validate_and_take_the_shipped_sr_stages(tmp_path):
    from pathlib import Path

    from gan_sr.sr.registry import checkpoints_dir

    configs = Path(__file__).resolve().parents[1] / "experiments" / "configs"
    assert load_config(configs / "joint_cpu.toml")["init"] == {"g0": "runs/gan_cpu64/last.pt",
                                                                 "sr": "checkpoints/espcn_x2.pt"}
    shipped = {name: checkpoints_dir() / f"{name}_x2.pt" for name in ("espcn", "esrgan")}
    if not all(p.is_file() for p in shipped.values()):
        pytest.skip(f"shipped checkpoints missing in {checkpoints_dir()}")
    for name, recipe in (("espcn", "joint_cpu.toml"), ("esrgan", "joint_gpu.toml")):
        cfg = J.build_config(configs / recipe, data=str(tmp_path), g0="", sr_ckpt=str(shipped[name]))
        cfg, inits = J.resolve_inits(cfg)
        ck = load_checkpoint(shipped[name])
        assert cfg["model"]["res"] * cfg["model"]["scale"] == 128 and cfg["model"]["sr"] == name
        assert cfg["model"]["sr_preset"] == ck["model"]["preset"]
        assert inits["sr_init"]["steps"] == ck["step"] and inits["sr_init"]["wall_s"] == ck["meta"]["wall_s"]
