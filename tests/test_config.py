"""The typed config (gan_sr.config): schemas are the defaults, every shipped recipe and experiment config loads and
type-checks, wrong types fail naming key and file, and --print-config prints TOML that reads back as the same config."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from gan_sr.cli import main
from gan_sr.config import GanConfig, JointConfig, SRConfig, check, defaults, load_config, merge, to_toml
from gan_sr.errors import ConfigError
from gan_sr.sr.registry import training_stages
from gan_sr.train import gan, joint, sr_config
from gan_sr.train.recipes import RECIPE_DIR, presets, recipe_names, recipe_path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "experiments" / "configs"
SCHEMAS = {"sr": SRConfig, "gan": GanConfig, "joint": JointConfig}
SR_RECIPES = [n for n in recipe_names() if n.count("_") == 2]


def _schema_of(name: str) -> type:
    return SCHEMAS.get(name.split("_")[0], SRConfig)


def test_defaults_are_the_schemas():
    assert sr_config.DEFAULTS == defaults(SRConfig)
    assert gan.DEFAULTS == defaults(GanConfig) and joint.DEFAULTS == defaults(JointConfig)
    for schema in SCHEMAS.values():  # every leaf has a type the checker and the TOML writer handle
        assert check(defaults(schema), schema) == defaults(schema)


@pytest.mark.parametrize("name", recipe_names())
def test_every_recipe_loads_checks_and_says_where_it_comes_from(name):
    path = recipe_path(name)
    assert path.read_text().startswith("# "), f"{path.name} has no provenance comment at the top"
    raw = load_config(path, _schema_of(name), what="recipe")
    if name in SR_RECIPES:
        model, stage, preset = name.split("_")
        assert raw["model"]["name"] == model and raw["model"]["stage"] == stage and raw["model"]["preset"] == preset
        assert sr_config.recipe(model, stage, preset) == sr_config.validate(merge(sr_config.DEFAULTS, raw))
    else:
        trainer, preset = name.split("_")
        assert preset in presets(trainer)


def test_every_registered_stage_has_both_recipes_and_nothing_else_ships():
    expected = {f"{m}_{s}_{p}" for m, stages in training_stages().items() for s in stages for p in sr_config.PRESETS}
    assert set(SR_RECIPES) == expected
    assert presets("gan") == presets("joint") == ["cpu", "gpu"]
    assert {p.suffix for p in RECIPE_DIR.iterdir()} == {".toml"}
    assert not [p for p in CONFIGS.rglob("*.toml") if p.stem in SR_RECIPES], "a recipe is duplicated in experiments"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'gan_sr\s*=\s*\[[^\]]*"recipes/\*\.toml"', pyproject), "recipes are not package data"


def test_recipes_match_the_papers_and_the_campaign():
    esr = sr_config.recipe("esrgan", "psnr", "paper")
    assert (esr["train"]["lr"], esr["train"]["step_size"], esr["train"]["schedule"]) == (2e-4, 200_000, "step")
    cpu = sr_config.recipe("espcn", "mse", "cpu")
    assert cpu["model"]["overrides"] == {"residual": "bicubic"} and cpu["train"]["early_stop"] == 16
    assert sr_config.recipe("srresnet", "mse", "cpu") == merge(sr_config.recipe("srgan", "mse", "cpu"),
                                                               {"model": {"name": "srresnet"}})
    assert gan.recipe(64, "gpu", "wgan-gp")["train"]["n_critic"] == 5 and gan.recipe(64, "gpu")["data"]["batch"] == 64
    assert joint.recipe("gpu")["model"]["sr_preset"] == "paper"


def _check_experiment(path: Path) -> None:
    raw = load_config(path)
    if path.name.startswith("joint"):
        joint.validate(merge(joint.recipe(), load_config(path, JointConfig)))
    elif "res" in raw.get("model", {}):
        gan.build_config(path)
    else:
        name = raw.get("model", {}).get("name") or path.stem.split("_")[0]
        stage = "gan" if "_gan_" in path.stem else None
        sr_config.build_config(name, scale=4, stage=stage, config_file=path)


@pytest.mark.parametrize("path", sorted(CONFIGS.rglob("*.toml")), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_experiment_config_type_checks(path):
    _check_experiment(path)


def test_a_wrong_type_names_the_key_and_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[train]\nlr = "fast"\n')
    with pytest.raises(ConfigError, match=rf"--config {re.escape(str(bad))}: train.lr = 'fast' must be a number"):
        sr_config.build_config("espcn", config_file=bad)
    bad.write_text("[train]\nkimg = true\n")
    with pytest.raises(ConfigError, match=r"bad.toml: train.kimg = True must be a number"):
        gan.build_config(bad)
    bad.write_text('[model]\nscale = 2.0\n')
    with pytest.raises(ConfigError, match=r"bad.toml: model.scale = 2.0 must be an integer"):
        joint.build_config(bad)
    bad.write_text("[train]\nmilestones = [100, 'x']\n")
    with pytest.raises(ConfigError, match=r"train.milestones\[1\] = 'x' must be an integer"):
        sr_config.build_config("espcn", config_file=bad)
    bad.write_text("[precision]\nbf16 = 1\n")
    with pytest.raises(ConfigError, match="precision.bf16 = 1 must be true or false"):
        sr_config.build_config("espcn", config_file=bad)
    bad.write_text("loss = 3\n")
    with pytest.raises(ConfigError, match="bad.toml: loss must be a table"):
        sr_config.build_config("espcn", config_file=bad)
    r = CliRunner().invoke(main, ["gan", "train", "--config", str(bad), "--print-config"])
    assert r.exit_code == 2 and "unknown key loss" in r.output and str(bad) in r.output


def test_ints_widen_to_floats_and_free_tables_stay_free():
    cfg = check({"train": {"lr": 1, "lr_mult": {"reconstruct": 1}, "betas": (0, 1)},
                 "model": {"overrides": {"widths": [8, 4], "anything": "goes"}}}, SRConfig)
    assert cfg["train"] == {"lr": 1.0, "lr_mult": {"reconstruct": 1.0}, "betas": [0.0, 1.0]}
    assert isinstance(cfg["train"]["lr"], float) and cfg["model"]["overrides"]["anything"] == "goes"


@pytest.mark.parametrize("schema", list(SCHEMAS.values()), ids=lambda s: s.__name__)
def test_toml_writer_round_trips(schema):
    cfg = merge(defaults(schema), {"model": {next(k for k, v in defaults(schema)["model"].items()
                                                  if isinstance(v, dict)): {"a b": [1, 2.5], "s": 'q"\\\n', "t": True,
                                                                             "n": {"x": 1e-5}}}})
    text = to_toml(cfg, schema, "two\nlines")
    assert text.startswith("# two\n# lines\n")
    assert tomllib.loads(text) == cfg
    sections = [m.group(1).split(".")[0] for m in re.finditer(r"^\[([\w.]+)\]$", text, re.M)]
    assert list(dict.fromkeys(sections)) == [f.name for f in dataclasses.fields(schema)]  # in schema order


def _cli(args: list[str]) -> str:
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    return r.output


@pytest.mark.parametrize("args, schema", [
    (["sr", "train", "--model", "esrgan", "--stage", "gan", "--scale", "2", "--lr", "3e-4", "--perceptual", "none",
      "--config", str(CONFIGS / "overrides" / "esrgan_gan_cpu_nopercep.toml")], SRConfig),
    (["sr", "train", "--model", "srcnn", "--preset", "paper", "--scale", "3", "--hr-size", "33"], SRConfig),
    (["gan", "train", "--config", str(CONFIGS / "gan_heads64_cpu.toml"), "--data", "data/heads/64", "--aug",
      "fixed:0.25", "--loss", "wgan-gp", "--kimg", "12"], GanConfig),
    (["joint-train", "--data", "data/anime", "--sr", "srcnn", "--scale", "4", "--fade-kimg", "5", "--preset", "gpu",
      "--consistency", "0.5"], JointConfig),
], ids=["sr-gan-stage", "sr-paper", "gan", "joint"])
def test_print_config_prints_toml_that_reads_back_the_same(args, schema, tmp_path):
    text = _cli([*args, "--print-config"])
    printed = tomllib.loads(text)
    assert check(printed, schema) == printed
    again = tmp_path / "printed.toml"
    again.write_text(text)
    command = args[:2] if args[0] != "joint-train" else args[:1]
    assert _cli([*command, "--config", str(again), "--print-config"]) == text
    if schema is SRConfig:
        assert printed == sr_config.build_config("", config_file=again)
    elif schema is GanConfig:
        assert printed == gan.build_config(again) and printed["aug"]["p"] == 0.25
    else:
        assert printed == joint.build_config(again) and printed["model"]["sr"] == "srcnn"


def test_print_config_trains_nothing(tmp_path):
    run = tmp_path / "run"
    _cli(["sr", "train", "--model", "espcn", "--data", str(tmp_path / "absent"), "--run-dir", str(run),
          "--print-config"])
    _cli(["gan", "train", "--data", str(tmp_path / "absent"), "--run-dir", str(run), "--print-config"])
    assert not run.exists()
