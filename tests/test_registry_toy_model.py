"""Adding an SR model takes one file (tests/toy_sr.py) and one registry entry: it then appears in every
command that lists, trains, benchmarks or applies models, with no edit to the CLI or the pipelines."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from toy_sr import SPEC, ToySR

from gan_sr.cli import main
from gan_sr.data.synth import make_split_dirs
from gan_sr.gan.networks import Generator, gan_config
from gan_sr.io.checkpoints import save_checkpoint
from gan_sr.pipelines import posthoc as P
from gan_sr.sr import registry


@pytest.fixture()
def toy(monkeypatch, tmp_path):
    """The toy registered (for this test only), and a shipped-checkpoints folder with a toy_x2.pt and a GAN."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register(SPEC)
    ship = tmp_path / "ship"
    torch.manual_seed(0)
    model = registry.build_model("toy", 2, "cpu")
    save_checkpoint(ship / "toy_x2.pt", {"kind": "sr", "model": model.registry_entry, "state_dict": model.state_dict(),
                                         "ema": None, "step": 1, "meta": {"wall_s": 1.0, "init": None}})
    cfg = gan_config(16, "cpu", channel_base=64, channel_max=32, z_dim=16, w_dim=16)
    g = Generator(**cfg)
    save_checkpoint(ship / P.DEFAULT_GAN, {"kind": "gan", "model": {"name": "stylegan2-lite", "scale": 1,
                                                                    "preset": "cpu", "config": cfg},
                                           "state_dict": g.state_dict(), "ema": g.state_dict(), "step": 0,
                                           "meta": {}})
    monkeypatch.setenv("GANSR_CHECKPOINTS", str(ship))
    return ship


def run(*args: str) -> str:
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def test_the_toy_appears_in_every_help_and_listing(toy):
    for command in (["upscale"], ["sr", "bench"], ["sr", "export"], ["posthoc"]):
        assert "esrgan, toy" in " ".join(run(*command, "--help").split()), command
    train = " ".join(run("sr", "train", "--help").split())
    assert "Model to train: srcnn, espcn, srresnet, srgan, rrdb, esrgan, toy." in train and "toy)" in train
    assert "toy" in run("sr", "models")


def test_the_toy_upscales_benches_and_post_processes_gan_samples(toy, tmp_path):
    data = make_split_dirs(tmp_path / "data", {"test": 2}, size=32, seed=2)
    img = next((data / "test").iterdir())
    run("upscale", img, "-o", tmp_path / "up", "--model", "toy", "--scale", "2", "--quiet")
    assert len(list((tmp_path / "up").iterdir())) == 1

    run("sr", "bench", "--models", "all", "--data", data / "test", "--scale", "2", "--out", tmp_path / "bench",
        "--quiet")
    results = json.loads(next((tmp_path / "bench").rglob("results.json")).read_text())
    methods = {m["name"]: m for m in results["methods"]}
    assert methods["toy"]["status"] == "ok" and methods["srcnn"]["status"] == "skipped"
    assert list(methods)[-1] == "toy"  # registration order: after the built-in models

    run("posthoc", "--sr", "bicubic,toy", "--n", "2", "--scale", "2", "--out", tmp_path / "post", "--quiet")
    rows = json.loads((tmp_path / "post" / "report.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["bicubic", "toy"]
    assert len(list((tmp_path / "post" / "toy").iterdir())) == 2


def test_the_toy_trains_with_the_generic_recipe(toy, tmp_path):
    data = make_split_dirs(tmp_path / "data", {"train": 4, "val": 2}, size=32, seed=3)
    run("sr", "train", "--model", "toy", "--scale", "2", "--data", data, "--steps", "3", "--hr-size", "16",
        "--batch", "2", "--run-dir", tmp_path / "run", "--quiet")
    assert isinstance(registry.load_model(tmp_path / "run" / "last.pt", 2), ToySR)
