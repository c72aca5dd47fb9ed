"""The SR model registry: lookup, presets, options, discriminators, loading checkpoints, and the CLI table."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

import gan_sr
from gan_sr.cli import main
from gan_sr.errors import CheckpointError, ConfigError
from gan_sr.io.checkpoints import save_checkpoint
from gan_sr.sr import registry
from gan_sr.sr.bicubic import Bicubic
from gan_sr.sr.discriminators import SRGANDiscriminator, UNetDiscriminatorSN, VGGStyleDiscriminator
from gan_sr.sr.espcn import ESPCN
from model_checks import same_model_output

NAMES = ["bicubic", "anime4k", "srcnn", "espcn", "srresnet", "srgan", "rrdb", "esrgan"]


def test_the_architecture_names_are_registered():
    assert [s.name for s in registry.list_models(shipped_only=True)] == NAMES
    assert [s.name for s in registry.list_models()] == NAMES + ["srvgg"]  # read from community weights only
    for spec in registry.list_models():
        assert spec.scales == (2, 3, 4) and spec.summary and spec.paper
        assert spec.learnable == (spec.name not in ("bicubic", "anime4k"))
        for preset in spec.presets.values():
            assert preset.get("follows"), f"{spec.name}: every preset says what it follows"
    for name in ("srcnn", "espcn", "srgan", "esrgan"):
        assert {"paper", "cpu"} <= set(registry.get_spec(name).presets)
    assert set(registry.get_spec("anime4k").presets) == {"glsl", "cpp"}


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ConfigError, match="unknown SR model 'edsr'; known models: bicubic, anime4k, srcnn"):
        registry.get_spec("edsr")
    with pytest.raises(ConfigError, match="known models: bicubic"):
        registry.build_model("edsr", 4)
    with pytest.raises(ConfigError, match="known models: bicubic"):
        registry.load_model("edsr", 4)


def test_build_model_rejects_bad_scale_preset_and_options():
    with pytest.raises(ConfigError, match="--scale 5 is not available for espcn; scales: 2, 3, 4"):
        registry.build_model("espcn", 5)
    with pytest.raises(ConfigError, match="has no preset 'huge'; presets: paper, cpu"):
        registry.build_model("espcn", 4, "huge")
    with pytest.raises(ConfigError, match="unknown option\\(s\\) depth for model esrgan; options: num_blocks, nf, gc"):
        registry.build_model("esrgan", 4, depth=3)
    with pytest.raises(ConfigError, match="channels must be 'y' or 'rgb'"):
        registry.build_model("srcnn", 2, channels="lab")


def test_presets_and_overrides_shape_the_model():
    paper = registry.build_model("srcnn", 2)
    slow = registry.build_model("srcnn", 2, "paper-955")
    assert paper.map.kernel_size == (1, 1) and slow.map.kernel_size == (5, 5)
    rgb = registry.build_model("espcn", 3, "cpu", channels="rgb")
    assert isinstance(rgb, ESPCN) and rgb.channels == "rgb"
    assert rgb.registry_entry == {"name": "espcn", "scale": 3, "preset": "cpu",
                                  "config": {"channels": "rgb", "widths": (64, 32)}}
    assert registry.model_entry("espcn", 3, "cpu", channels="rgb") == rgb.registry_entry
    small = registry.build_model("esrgan", 4, "cpu")
    assert registry.count_params(small) < registry.count_params(registry.build_model("srgan", 4))
    a4k = registry.build_model("anime4k", 2)  # no "paper" preset: the default (glsl) is used
    assert a4k.registry_entry["preset"] == "glsl"


def test_register_refuses_a_taken_name():
    spec = registry.get_spec("bicubic")
    registry.register(spec)  # the same spec again is harmless
    clone = registry.ModelSpec("bicubic", "x", "x", Bicubic, {"paper": {}}, (2,), False)
    with pytest.raises(ConfigError, match="already registered"):
        registry.register(clone)
    bad = registry.ModelSpec("nobody", "x", "x", Bicubic, {"fast": {}}, (2,), False)
    with pytest.raises(ConfigError, match="default preset 'paper' is not among its presets"):
        registry.register(bad)


def test_discriminators_per_model_and_preset():
    assert registry.build_discriminator("srcnn") is None
    assert registry.build_discriminator("bicubic") is None
    with pytest.raises(ConfigError, match="not trained with a discriminator"):
        registry.build_discriminator("espcn", nf=8)
    d = registry.build_discriminator("srgan")
    assert isinstance(d, SRGANDiscriminator) and d.input_size == 96
    assert registry.build_discriminator("srgan", "cpu").input_size == 128
    assert registry.build_discriminator("srgan", input_size=128).input_size == 128
    assert isinstance(registry.build_discriminator("esrgan"), VGGStyleDiscriminator)
    unet = registry.build_discriminator("esrgan", kind="unet")  # Real-ESRGAN's option; input_size dropped
    assert isinstance(unet, UNetDiscriminatorSN)
    with pytest.raises(ConfigError, match="unknown discriminator kind 'patch'; known kinds: srgan, vgg, unet"):
        registry.build_discriminator("esrgan", kind="patch")
    with pytest.raises(ConfigError, match="bad option for the 'unet' discriminator"):
        registry.build_discriminator("esrgan", kind="unet", depth=3)
    with pytest.raises(ConfigError, match="has no preset 'big'"):
        registry.build_discriminator("esrgan", "big")


def test_count_params_counts_shared_tensors_once():
    conv = torch.nn.Conv2d(2, 3, 3)
    assert registry.count_params(torch.nn.Sequential(conv, conv)) == 2 * 3 * 9 + 3
    assert registry.count_params(Bicubic(2)) == 0


def _randomised(model: torch.nn.Module, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=g) if v.is_floating_point() else v for k, v in model.state_dict().items()}


def _payload(model: torch.nn.Module, **extra) -> dict:
    return {"kind": "sr", "model": model.registry_entry, "state_dict": model.state_dict(), "step": 10, **extra}


def test_load_model_round_trip_prefers_ema(tmp_path, rng):
    model = registry.build_model("espcn", 3, "cpu", channels="rgb")
    ema = _randomised(model, 1)
    path = tmp_path / "run" / "best.pt"
    save_checkpoint(path, _payload(model, ema=ema))
    loaded = registry.load_model(path)
    assert not loaded.training and isinstance(loaded, ESPCN) and loaded.channels == "rgb" and loaded.scale == 3
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, ema[k])
    reference = ESPCN(3, channels="rgb").eval()
    reference.load_state_dict(ema)
    x = torch.rand(1, 3, 6, 5, generator=rng)
    with torch.no_grad():
        assert same_model_output(loaded(x), reference(x))
    assert isinstance(gan_sr.load_model(str(path), 3), ESPCN)


def test_load_model_uses_state_dict_without_ema_and_keeps_bn_buffers(tmp_path):
    model = registry.build_model("srgan", 2, "cpu")
    model.train()
    with torch.no_grad():
        model(torch.rand(2, 3, 8, 8))  # moves the BN running statistics away from their init
    prefixed = {f"module.{k}": v for k, v in model.state_dict().items()}  # as saved from DDP
    save_checkpoint(tmp_path / "g.pt", {**_payload(model), "state_dict": prefixed, "ema": None})
    loaded = registry.load_model(tmp_path / "g.pt", 2)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)


def test_load_model_checkpoint_errors(tmp_path):
    model = registry.build_model("espcn", 4)
    good = tmp_path / "espcn.pt"
    save_checkpoint(good, _payload(model))
    with pytest.raises(CheckpointError, match="holds a x4 espcn model, but --scale 2 was asked for"):
        registry.load_model(good, 2)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        registry.load_model(tmp_path / "missing.pt")
    save_checkpoint(tmp_path / "gan.pt", {"kind": "gan", "state_dict": {}})
    with pytest.raises(CheckpointError, match="gan.pt: not an SR model checkpoint \\(kind 'gan'"):
        registry.load_model(tmp_path / "gan.pt")
    wrong = {**_payload(model), "state_dict": registry.build_model("espcn", 2).state_dict()}
    save_checkpoint(tmp_path / "wrong.pt", wrong)
    with pytest.raises(CheckpointError, match="wrong.pt: weights do not fit espcn x4"):
        registry.load_model(tmp_path / "wrong.pt")
    entry = {**model.registry_entry, "config": {"depth": 3}}
    save_checkpoint(tmp_path / "odd.pt", {**_payload(model), "model": entry})
    with pytest.raises(CheckpointError, match="odd.pt: its model entry does not build: unknown option"):
        registry.load_model(tmp_path / "odd.pt")
    with pytest.raises(ConfigError, match="--device 'gpu0' is not a device"):
        registry.load_model(good, device="gpu0")


def test_load_model_by_name(tmp_path, monkeypatch):
    bic = registry.load_model("bicubic", 2)
    assert isinstance(bic, Bicubic) and not bic.training and bic.scale == 2
    with pytest.raises(ConfigError, match="model espcn needs a scale"):
        registry.load_model("espcn")
    monkeypatch.setenv("GANSR_CHECKPOINTS", str(tmp_path))
    assert registry.checkpoints_dir() == tmp_path
    with pytest.raises(CheckpointError, match=r"no shipped checkpoint .*espcn_x4.pt for espcn x4\. Train one with "
                                              r"`gansr sr train --model espcn --scale 4"):
        registry.load_model("espcn", 4)
    model = registry.build_model("espcn", 4)
    weights = _randomised(model, 3)
    save_checkpoint(tmp_path / "espcn_x4.pt", {**_payload(model), "state_dict": weights})
    shipped = registry.load_model("ESPCN", 4)
    assert torch.equal(shipped.to_subpixels.weight, weights["to_subpixels.weight"])


def test_default_checkpoints_dir_is_the_repo_folder(monkeypatch):
    monkeypatch.delenv("GANSR_CHECKPOINTS", raising=False)
    assert registry.checkpoints_dir().name == "checkpoints"
    assert (registry.checkpoints_dir().parent / "gan_sr" / "sr" / "registry.py").is_file()


def test_public_api_is_lazy_and_the_same_functions():
    assert gan_sr.load_model is registry.load_model and gan_sr.build_model is registry.build_model
    assert gan_sr.__version__
    with pytest.raises(AttributeError):
        gan_sr.no_such_thing  # noqa: B018


def test_cli_lists_every_model_and_preset():
    runner = CliRunner()
    res = runner.invoke(main, ["sr", "models", "--scale", "4", "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert all(set(r) == {"name", "preset", "scale", "params"} for r in rows)
    got = {(r["name"], r["preset"]): r["params"] for r in rows}
    assert got[("esrgan", "paper")] == 16_697_987 and got[("srcnn", "paper")] == 8129
    assert got[("bicubic", "paper")] == 0 and ("anime4k", "cpp") in got
    assert len(rows) == sum(len(s.presets) for s in registry.list_models())
    md = runner.invoke(main, ["sr", "models", "--scale", "2"])
    assert md.exit_code == 0 and md.output.startswith("| name | preset | scale | params | follows |")
    assert "Dong et al." in md.output
    bad = runner.invoke(main, ["sr", "models", "--scale", "5"])
    assert bad.exit_code == 2 and "Error: --scale 5 is not available" in bad.output
    assert "Examples:" in runner.invoke(main, ["sr", "models", "--help"]).output
