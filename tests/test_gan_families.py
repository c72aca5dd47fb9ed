"""The DCGAN-class generator family beside StyleGAN2-lite: same interface, trains, resumes exactly, samples."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from gan_sr.cli import main
from gan_sr.data.synth import make_split_dirs
from gan_sr.errors import ConfigError
from gan_sr.gan.dcgan import DCGenerator
from gan_sr.gan.networks import Discriminator, build_gan, gan_config
from gan_sr.io.checkpoints import load_checkpoint
from gan_sr.train import gan as T

TINY = """
[model]
res = 16
overrides = {arch = "dcgan", channel_base = 64, channel_max = 32, z_dim = 16}
[data]
batch = 8
mirror = true
[log]
tick_kimg = 0.016
snapshot_kimg = 0.032
grid = 8
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_split_dirs(tmp_path_factory.mktemp("gan") / "data", {"train": 12, "val": 2}, size=16, seed=3)


@pytest.fixture()
def tiny(tmp_path):
    p = tmp_path / "tiny.toml"
    p.write_text(TINY)
    return p


def test_dcgan_builds_with_the_generator_interface():
    cfg = gan_config(64, "cpu", arch="dcgan", channel_base=1024, channel_max=128)
    g, d = build_gan(cfg)
    assert isinstance(g, DCGenerator) and isinstance(d, Discriminator)
    z = torch.randn(3, cfg["z_dim"])
    x = g(z)
    assert x.shape == (3, 3, 64, 64) and torch.isfinite(x).all()
    assert torch.allclose(g.synthesis(g.mapping_w(z)), x)
    assert g(z, truncation=0.0).std(0).max() < 1e-6  # truncation 0: every latent goes to the mean
    assert "arch" not in gan_config(64, "cpu")  # configs stored before the option existed stay equal
    with pytest.raises(ConfigError, match="arch='biggan'"):
        gan_config(64, "cpu", arch="biggan")


def test_dcgan_trains_resumes_exactly_and_samples(data, tiny, tmp_path):
    straight = T.build_config(tiny, data=str(data), kimg=0.064)
    T.train_gan(straight, run_dir=tmp_path / "straight", quiet=True)
    T.train_gan(T.build_config(tiny, data=str(data), kimg=0.032), run_dir=tmp_path / "split", quiet=True)
    T.train_gan(resume=tmp_path / "split", kimg=0.064, quiet=True)
    a, b = load_checkpoint(tmp_path / "straight" / "last.pt"), load_checkpoint(tmp_path / "split" / "last.pt")
    assert a["model"]["name"] == "dcgan"
    for key in ("state_dict", "ema", "discriminator"):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name}"
    g = T.load_generator(tmp_path / "straight" / "last.pt")
    assert isinstance(g, DCGenerator)
    res = CliRunner().invoke(main, ["gan", "sample", "--ckpt", str(tmp_path / "straight" / "last.pt"), "--n", "4",
                                    "--out", str(tmp_path / "samples")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "samples").glob("*.png"))) >= 4


def test_the_same_gan_command_continues_its_run(data, tiny, tmp_path):
    run = tmp_path / "run"
    args = ["gan", "train", "--data", str(data), "--config", str(tiny), "--run-dir", str(run), "--quiet"]
    assert CliRunner().invoke(main, [*args, "--kimg", "0.032"], catch_exceptions=False).exit_code == 0
    assert load_checkpoint(run / "last.pt")["meta"]["nimg"] == 32
    assert CliRunner().invoke(main, [*args, "--kimg", "0.064"], catch_exceptions=False).exit_code == 0
    assert load_checkpoint(run / "last.pt")["meta"]["nimg"] == 64
    other = CliRunner().invoke(main, [*args, "--kimg", "0.064", "--lr", "0.01"])
    assert other.exit_code == 2 and "another configuration" in other.output and "train.lr_d" in other.output


def test_a_dcgan_generator_starts_the_joint_stack(data, tiny, tmp_path):
    from gan_sr.train import joint as J

    T.train_gan(T.build_config(tiny, data=str(data), kimg=0.016), run_dir=tmp_path / "g", quiet=True)
    cfg = J.build_config(None, data=str(data), g0=str(tmp_path / "g" / "last.pt"), res=16, sr="espcn", scale=2, kimg=0.032,
                         batch=8, fade_kimg=0.016, snapshot_kimg=0.016)
    J.train_joint(cfg, run_dir=tmp_path / "j", quiet=True)
    stack = J.load_stack(tmp_path / "j" / "last.pt")
    assert isinstance(stack.g0, DCGenerator)
    lo, hi = J.generate_stack(stack, 2, seed=0)
    assert lo.shape == (2, 3, 16, 16) and hi.shape == (2, 3, 32, 32)
