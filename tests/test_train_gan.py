"""The GAN trainer and `gansr gan train|sample|eval` on tiny 16 px nets: what gets logged and saved, exact
resume, every loss, augmentation on everything D sees, ADA bookkeeping, DDP on two CPU processes, errors."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from gan_sr.cli import main
from gan_sr.data.synth import make_split_dirs
from gan_sr.errors import CheckpointError, ConfigError
from gan_sr.io.checkpoints import load_checkpoint, save_checkpoint
from gan_sr.train import gan as T
from gan_sr.train.loop import DistEnv, RunDir


TINY = """
[model]
res = 16
overrides = {channel_base = 64, channel_max = 32, z_dim = 16, w_dim = 16}
[data]
batch = 8
[log]
tick_kimg = 0.016
snapshot_kimg = 0.032
grid = 8
[aug]
ramp_kimg = 0.2
"""
QUANTUM = 32 / 200  # 4 minibatches of 8 images over a 0.2 kimg ramp


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_split_dirs(tmp_path_factory.mktemp("gan") / "data", {"train": 12, "val": 2, "test": 4}, size=16, seed=3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    p = tmp_path_factory.mktemp("cfg") / "tiny.toml"
    p.write_text(TINY)
    return p


@pytest.fixture(scope="module")
def trained(data, tiny, tmp_path_factory):
    """One CLI run shared by the sampling/eval tests."""
    run = tmp_path_factory.mktemp("run") / "ada"
    res = CliRunner().invoke(main, ["gan", "train", "--data", str(data), "--config", str(tiny), "--kimg", "0.064",
                                    "--run-dir", str(run), "--quiet"])
    assert res.exit_code == 0, res.output
    return run


def test_cli_run_saves_everything_resume_needs(trained):
    ck = load_checkpoint(trained / "last.pt")
    assert ck["kind"] == "gan" and ck["model"]["name"] == T.MODEL_NAME and ck["model"]["config"]["res"] == 16
    assert ck["meta"]["nimg"] == 64 and ck["step"] == 8 and ck["meta"]["wall_s"] > 0
    for key in ("state_dict", "ema", "discriminator", "rng", "data"):
        assert ck[key]
    assert set(ck["optim"]) == {"G", "D"} and ck["optim"]["D"]["state"]
    ada = ck["ada"]
    assert ada["mode"] == "ada" and ada["batches"] == 0  # 8 D steps = two full ADA intervals
    assert ada["p"] / QUANTUM == pytest.approx(round(ada["p"] / QUANTUM), abs=1e-9)
    assert any(not torch.equal(ck["ema"][k], ck["state_dict"][k]) for k in ck["ema"])
    assert sorted(p.name for p in (trained / "samples").iterdir()) == ["fakes_000000032.png", "fakes_000000064.png"]


def test_print_config_of_a_run_is_its_config(trained):
    import json
    from gan_sr.config import tomllib

    r = CliRunner().invoke(main, ["gan", "train", "--resume", str(trained), "--kimg", "1", "--print-config"])
    assert r.exit_code == 0, r.output
    saved = json.loads((trained / "config.json").read_text())
    assert tomllib.loads(r.output) == {**saved, "train": {**saved["train"], "kimg": 1.0}}


def test_tensorboard_has_the_curves_and_grids(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(trained / "tb"))
    ea.Reload()
    scalars, images = set(ea.Tags()["scalars"]), set(ea.Tags()["images"])
    assert {"Loss/loss_d", "Loss/loss_g", "Loss/r1", "ADA/p", "ADA/r_t", "D/real_mean", "D/fake_mean",
            "Timing/sec_per_kimg", "LR/g", "LR/d"} <= scalars
    assert {"samples/fixed_latents", "samples/interpolation"} <= images
    assert [e.step for e in ea.Scalars("ADA/p")] == [16, 32, 48, 64]
    assert [e.step for e in ea.Images("samples/fixed_latents")] == [32, 64]  # pictures at snapshots only
    hp = EventAccumulator(str(trained / "tb" / "hparams"))
    hp.Reload()
    assert {"hparam/kimg", "hparam/ada_p"} <= set(hp.Tags()["scalars"])


def test_resume_is_bit_identical(data, tiny, tmp_path):
    cfg = T.build_config(tiny, data=str(data), kimg=0.064)
    T.train_gan(cfg, run_dir=tmp_path / "straight", quiet=True)
    half = T.build_config(tiny, data=str(data), kimg=0.032)
    T.train_gan(half, run_dir=tmp_path / "split", quiet=True)
    mid = load_checkpoint(tmp_path / "split" / "last.pt")
    assert mid["meta"]["nimg"] == 32
    T.train_gan(resume=tmp_path / "split", kimg=0.064, quiet=True)
    a, b = load_checkpoint(tmp_path / "straight" / "last.pt"), load_checkpoint(tmp_path / "split" / "last.pt")
    for key in ("state_dict", "ema", "discriminator"):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name}"
    for net in ("G", "D"):
        for i, st in a["optim"][net]["state"].items():
            assert torch.equal(st["exp_avg_sq"], b["optim"][net]["state"][i]["exp_avg_sq"])
    assert a["ada"] == b["ada"] and a["data"] == b["data"] and a["step"] == b["step"] == 8
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])


@pytest.mark.parametrize("loss", ["lsgan", "hinge", "wgan-gp"])
def test_every_loss_trains(loss, data, tiny, tmp_path):
    cfg = T.build_config(tiny, data=str(data), loss=loss, kimg=0.04 if loss == "wgan-gp" else 0.016)
    out = T.train_gan(cfg, run_dir=tmp_path / loss, quiet=True)
    ck = load_checkpoint(tmp_path / loss / "last.pt")
    assert all(torch.isfinite(v).all() for v in ck["state_dict"].values())
    if loss == "wgan-gp":
        assert cfg["train"]["n_critic"] == 5 and cfg["train"]["lr_g"] == 1e-4 and cfg["train"]["betas"] == [0.0, 0.9]
        assert out["steps"] == 1 and out["kimg"] == 0.04 and "gp" in out
    else:
        assert out["steps"] == 2 and "gp" not in out


def test_augmentation_reaches_every_discriminator_input(data, tiny, tmp_path):
    cfg = T.build_config(tiny, data=str(data), aug="fixed:0.5", kimg=1)
    trainer = T.GanTrainer(cfg, DistEnv(), RunDir.create(tmp_path / "r", cfg))
    produced, seen = set(), []
    pipe = trainer.critic.pipe

    class Spy(torch.nn.Module):
        p = 0.5

        def forward(self, x):
            y = pipe(x)
            produced.add(y.data_ptr())
            return y

    trainer.critic.pipe = Spy()
    trainer.D.register_forward_pre_hook(lambda m, args: seen.append(args[0].data_ptr()))
    stats = {k: [] for k in ("loss_d", "loss_g", "d_real", "d_fake", "r1", "gp")}
    trainer.d_step(stats)  # d_steps == 0: also the R1 pass
    trainer.g_step(stats)
    # real, fake, R1 real (a detached view of an augmented batch), fake in the G step
    assert len(seen) == 4 and all(i in produced for i in seen)
    assert trainer.ada.p == 0.5 and trainer.ada.mode == "fixed"


def test_fixed_and_none_modes_keep_p(data, tiny, tmp_path):
    for spec, p in (("fixed:0.3", 0.3), ("none", 0.0)):
        out = T.train_gan(T.build_config(tiny, data=str(data), aug=spec, kimg=0.032), run_dir=tmp_path / spec, quiet=True)
        assert out["p"] == p and -1.0 <= out["r_t"] <= 1.0


def test_sample_cli_writes_pngs_grid_and_interpolations(trained, tmp_path):
    from gan_sr.io.images import read_image

    r = CliRunner().invoke(main, ["gan", "sample", "--ckpt", str(trained / "last.pt"), "--n", "5",
                                  "--out", str(tmp_path / "s"), "--seed", "1"])
    assert r.exit_code == 0, r.output
    files = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert files == ["grid.png"] + [f"sample_{i:05d}.png" for i in range(5)]
    g = T.load_generator(trained / "last.pt")
    ref = T.generate(g, 5, seed=1)
    assert torch.allclose(read_image(tmp_path / "s" / "sample_00003.png").rgb, ref[3], atol=1 / 255)
    r = CliRunner().invoke(main, ["gan", "sample", "--ckpt", str(trained / "last.pt"), "--n", "9",
                                  "--out", str(tmp_path / "i"), "--interpolate"])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "i").glob("interp_*.png"))) == 16 and (tmp_path / "i" / "interpolation.png").is_file()
    z = torch.randn(2, 2, g.z_dim, generator=torch.Generator().manual_seed(0))
    strip = T.interpolation(g, z, steps=8)
    with torch.no_grad():
        ends = T.to_unit(g(z[0]))
    assert torch.allclose(strip[0], ends[0], atol=1e-5) and torch.allclose(strip[7], ends[1], atol=1e-5)


def test_export_writes_slim_checkpoint_and_card(trained, data, tmp_path):
    out = tmp_path / "ship" / "gan_16.pt"
    r = CliRunner().invoke(main, ["gan", "export", "--ckpt", str(trained / "last.pt"), "--out", str(out),
                                  "--ref", str(data)])
    assert r.exit_code == 0, r.output
    ck = load_checkpoint(out)
    assert "discriminator" not in ck and "optim" not in ck and ck["meta"]["kimg"] == 0.064
    full = T.load_generator(trained / "last.pt")
    slim = T.load_generator(out)
    assert all(torch.equal(a, b) for a, b in zip(full.state_dict().values(), slim.state_dict().values()))
    card = out.with_suffix(".md").read_text()
    assert "stylegan2-lite (16 px" in card and "SWD x1e3" in card and "0.1 kimg" in card and "R1 gamma" in card
    r = CliRunner().invoke(main, ["gan", "export", "--ckpt", str(trained / "last.pt"), "--out", str(trained / "last.pt")])
    assert r.exit_code == 2 and "would overwrite" in r.output


def test_eval_cli_swd_msssim_and_fid_plumbing(trained, data, tmp_path):
    import json

    from gan_sr.metrics.fid import FIDInceptionV3

    weights = tmp_path / "inception.pth"
    torch.save({k: v for k, v in FIDInceptionV3().state_dict().items() if "num_batches" not in k}, weights)
    r = CliRunner().invoke(main, ["gan", "eval", "--ckpt", str(trained / "last.pt"), "--ref", str(data),
                                  "--n", "2", "--inception", str(weights), "--format", "json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.output)[0]
    assert row["images"] == 2 and row["res"] == 16
    assert row["swd_16px"] == row["swd_mean"] > 0 and 0 <= row["msssim_fake"] <= 1
    assert {"fid", "kid", "kid_std", "msssim_real"} <= set(row)


def test_errors(data, tiny, trained, tmp_path):
    run = CliRunner().invoke
    r = run(main, ["gan", "train", "--resume", str(trained), "--data", str(data)])
    assert r.exit_code == 2 and "drop --data" in r.output
    r = run(main, ["gan", "train", "--data", str(data), "--aug", "sometimes"])
    assert r.exit_code == 2 and "--aug 'sometimes'" in r.output
    r = run(main, ["gan", "train", "--data", str(data), "--res", "48"])
    assert r.exit_code == 2 and "--res 48" in r.output
    r = run(main, ["gan", "train", "--res", "16"])
    assert r.exit_code == 2 and "--data is required" in r.output
    r = run(main, ["gan", "train", "--data", str(tmp_path / "nope"), "--config", str(tiny), "--run-dir", str(tmp_path / "x")])
    assert r.exit_code == 2 and "nope" in r.output and not (tmp_path / "x").exists()
    r = run(main, ["gan", "train", "--resume", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "no such run folder" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nlos = 'ns'\n")
    r = run(main, ["gan", "train", "--data", str(data), "--config", str(bad)])
    assert r.exit_code == 2 and "unknown key train.los" in r.output
    with pytest.raises(ConfigError, match="--kimg -1"):
        T.build_config(tiny, data=str(data), kimg=-1)
    sr = tmp_path / "sr.pt"
    save_checkpoint(sr, {"kind": "sr", "model": {"name": "espcn"}, "state_dict": {}})
    r = run(main, ["gan", "sample", "--ckpt", str(sr), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "not a GAN generator" in r.output
    one = tmp_path / "one"
    one.mkdir()
    (one / "a.png").write_bytes(sorted((data / "test").glob("*.png"))[0].read_bytes())
    r = run(main, ["gan", "eval", "--ckpt", str(trained / "last.pt"), "--ref", str(one)])
    assert r.exit_code == 2 and "at least 2 images" in r.output
    with pytest.raises(CheckpointError):
        T.load_generator(tmp_path / "absent.pt")


def _rank(rank: int, args: list[str], out: str) -> None:
    fit = T.GanTrainer.fit

    def fit_and_dump(self):
        res = fit(self)
        torch.save({"g": self.G.state_dict(), "d": self.D.state_dict(), "ema": self.ema.state_dict(),
                    "ada": self.ada.state_dict(), "nimg": self.nimg}, f"{out}/rank{rank}.pt")
        return res

    T.GanTrainer.fit = fit_and_dump
    main(args, standalone_mode=False)


@pytest.mark.slow
def test_two_cpu_processes_stay_in_sync(data, tiny, tmp_path, two_ranks):
    args = ["gan", "train", "--data", str(data), "--config", str(tiny), "--kimg", "0.032", "--quiet",
            "--run-dir", str(tmp_path / "ddp")]
    codes = two_ranks(_rank, args, str(tmp_path))
    assert codes == [0, 0], f"ranks exited with {codes}"
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    for key in ("g", "d", "ema"):
        for name, w in r0[key].items():
            assert torch.equal(w, r1[key][name]), f"{key}.{name} differs between ranks"
    assert r0["ada"] == r1["ada"] and r0["nimg"] == r1["nimg"] == 32  # global batch 8 = 2 ranks x 4
    ck = load_checkpoint(tmp_path / "ddp" / "last.pt")
    assert ck["meta"]["nimg"] == 32 and ck["ada"] == r0["ada"]
