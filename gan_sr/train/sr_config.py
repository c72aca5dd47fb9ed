"""The SR trainer's config: `SRConfig` (gan_sr.config) defaults, the built-in recipes (gan_sr/recipes/), the
checks of names, kinds and ranges, and the one merge rule recipe < --config file < command-line flags.

[model] name/scale/preset/stage/overrides, [data] hr_size|lr_size/batch/degradation/workers, [train] optimiser,
lr, schedule, EMA, seed, [loss.pixel|perceptual|adversarial] (a loss is on when its weight > 0), [eval], [log],
[precision].
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gan_sr.config import SRConfig, check, defaults, load_config, merge
from gan_sr.errors import ConfigError
from gan_sr.sr.registry import get_spec, training_stages
from gan_sr.train.recipes import read_recipe

DEFAULTS: dict[str, Any] = defaults(SRConfig)
PRESETS = ("paper", "cpu")


def recipe(model: str, stage: str | None = None, preset: str = "cpu") -> dict:
    """The full config for `model`'s `stage` (default: its first) with the `paper` or `cpu` recipe
    (gan_sr/recipes/{model}_{stage}_{preset}.toml; a model without one starts from DEFAULTS)."""
    if model not in training_stages():
        raise ConfigError(f"--model {model}: no training recipe; trainable models are {', '.join(training_stages())}")
    stage = stage or training_stages()[model][0]
    if stage not in training_stages()[model]:
        raise ConfigError(f"--stage {stage}: {model} has stages {', '.join(training_stages()[model])}")
    if preset not in PRESETS:
        raise ConfigError(f"--preset {preset}: use paper or cpu")
    table = read_recipe(f"{model}_{stage}_{preset}", SRConfig)
    if table is None and stage == "gan":
        raise ConfigError(f"{model} has no built-in {preset} recipe for its gan stage; give one with --config")
    cfg = merge(DEFAULTS, table or {})
    cfg["model"].update(name=model, stage=stage, preset=preset)
    return validate(cfg)


def validate(cfg: dict, source: str = "config") -> dict:
    """Check keys and types (SRConfig), names, kinds and ranges; ConfigError naming the key. Returns cfg."""
    from gan_sr.train.loop import LRSchedule

    check(cfg, SRConfig, source)
    m, d, t, loss = cfg["model"], cfg["data"], cfg["train"], cfg["loss"]
    if m["name"] not in training_stages():
        raise ConfigError(f"model.name = {m['name']!r}: trainable models are {', '.join(training_stages())}")
    if m["stage"] not in training_stages()[m["name"]]:
        raise ConfigError(f"model.stage = {m['stage']!r}: {m['name']} has stages {', '.join(training_stages()[m['name']])}")
    scales = get_spec(m["name"]).scales
    if int(m["scale"]) not in scales:
        raise ConfigError(f"--scale {m['scale']} is not available for {m['name']}; scales: "
                          f"{', '.join(map(str, scales))}")
    for key, lo in (("batch", 1), ("workers", 0)):
        if int(d[key]) < lo:
            raise ConfigError(f"data.{key} must be >= {lo}, got {d[key]}")
    from gan_sr.data.datasets import DEGRADATIONS

    if d["degradation"] not in DEGRADATIONS:
        raise ConfigError(f"data.degradation = {d['degradation']!r} (--degradation): choose {', '.join(DEGRADATIONS)}")
    if hr_size(cfg) < int(m["scale"]) or hr_size(cfg) % int(m["scale"]):
        raise ConfigError(f"data.hr_size = {hr_size(cfg)} must be a positive multiple of the scale {m['scale']}")
    if int(t["steps"]) < 1:
        raise ConfigError(f"train.steps must be >= 1, got {t['steps']}")
    for key in ("warmup", "early_stop"):
        if int(t[key]) < 0:
            raise ConfigError(f"train.{key} must be >= 0, got {t[key]}")
    if not float(t["lr"]) > 0:
        raise ConfigError(f"train.lr must be > 0, got {t['lr']}")
    if t["optimizer"] not in ("adam", "sgd"):
        raise ConfigError(f"train.optimizer = {t['optimizer']!r}: use adam or sgd")
    if t["schedule"] not in LRSchedule.KINDS:
        raise ConfigError(f"train.schedule = {t['schedule']!r}: use one of {', '.join(LRSchedule.KINDS)}")
    if loss["pixel"]["kind"] not in ("l1", "mse"):
        raise ConfigError(f"loss.pixel.kind = {loss['pixel']['kind']!r}: use l1 or mse")
    if loss["perceptual"]["criterion"] not in ("l1", "mse"):
        raise ConfigError(f"loss.perceptual.criterion = {loss['perceptual']['criterion']!r}: use l1 or mse")
    if float(loss["perceptual"]["weight"]) > 0:
        from gan_sr.losses.perceptual import LAYER_NAMES

        if loss["perceptual"]["layer"] not in LAYER_NAMES:
            raise ConfigError(f"loss.perceptual.layer = {loss['perceptual']['layer']!r} (--perceptual) is not a VGG19 "
                              "layer; use e.g. conv5_4 (before ReLU, ESRGAN) or relu5_4 (after, SRGAN), or none")
    weights = [float(loss[k]["weight"]) for k in ("pixel", "perceptual", "adversarial")]
    if any(w < 0 for w in weights) or not any(w > 0 for w in weights):
        raise ConfigError("loss weights must be >= 0 and at least one of loss.pixel/perceptual/adversarial > 0")
    if float(loss["adversarial"]["weight"]) > 0:
        from gan_sr.losses.adversarial import canonical_kind

        canonical_kind(loss["adversarial"]["kind"])
    if int(cfg["eval"]["every"]) < 1 or int(cfg["log"]["checkpoint_every"]) < 1 or int(cfg["log"]["every"]) < 1:
        raise ConfigError("eval.every, log.every and log.checkpoint_every must be >= 1")
    return cfg


def hr_size(cfg: dict) -> int:
    """HR crop side: data.lr_size * scale when lr_size is set, else data.hr_size."""
    lr = int(cfg["data"].get("lr_size") or 0)
    return lr * int(cfg["model"]["scale"]) if lr else int(cfg["data"]["hr_size"])


def build_config(
    model: str,
    *,
    scale: int | None = None,
    preset: str | None = None,
    stage: str | None = None,
    config_file: str | Path | None = None,
    overrides: dict | None = None,
) -> dict:
    """recipe(model, stage, preset), then the TOML file, then `overrides` (CLI options), validated. Model, stage,
    preset and scale come from the arguments, else from the file's [model], else the defaults."""
    file_cfg = load_config(config_file, SRConfig) if config_file else {}
    fm = file_cfg.get("model", {})
    model = model or fm.get("name", "")
    if not model:
        raise ConfigError("--model is required (or model.name in --config)")
    stage = stage or fm.get("stage") or None
    preset = preset or fm.get("preset") or "cpu"
    cfg = recipe(model, stage, preset)
    cfg = merge(cfg, file_cfg)
    cfg["model"].update(name=model, preset=preset, stage=cfg["model"]["stage"] if not stage else stage)
    cfg["model"]["scale"] = int(scale if scale is not None else fm.get("scale", DEFAULTS["model"]["scale"]))
    cfg = merge(cfg, overrides or {})
    return validate(cfg)




def resumed_config(run_dir: str | Path, steps: int | None = None) -> dict:
    """The validated config of the run in `run_dir` (its config.json), with train.steps set to `steps` when given."""
    from gan_sr.train.loop import RunDir

    run = RunDir.open(run_dir)
    cfg = validate(run.read_config()["config"], str(run.config_file))
    if steps is not None:
        cfg["train"]["steps"] = int(steps)
    return validate(cfg, str(run.config_file))
