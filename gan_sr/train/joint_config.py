"""The joint trainer's config: `JointConfig` defaults, the presets, flags, checks, and the init checkpoints it
reads (their architectures go into the config, their weights and compute to the trainer)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from gan_sr.config import JointConfig, check, defaults, load_config, merge
from gan_sr.errors import CheckpointError, ConfigError
from gan_sr.gan.augment import parse_aug
from gan_sr.gan.networks import ARCHS, gan_config
from gan_sr.losses import adversarial as adv
from gan_sr.sr import registry
from gan_sr.train.adversarial import check_config
from gan_sr.train.gan import LOSSES
from gan_sr.train.loop import RunDir
from gan_sr.train.recipes import presets, read_recipe

MODEL_NAME = "stack"
PHASES = ("base", "fade", "joint")

DEFAULTS: dict[str, Any] = defaults(JointConfig)

_LOSS_TRAIN = {
    "wgan": {"train": {"lr_g": 1e-4, "lr_d": 1e-4, "betas": [0.0, 0.9], "n_critic": 5, "r1_gamma": 0.0,
                       "drift": 1e-3}},
}

_FLAG_SECTIONS = {
    "res": "model", "scale": "model", "sr": "model", "batch": "data", "workers": "data",
    "kimg": "train", "base_kimg": "train", "fade_kimg": "train", "consistency": "train", "freeze_g0": "train",
    "lo_weight": "train", "seed": "train", "device": "train", "snapshot_kimg": "log", "tick_kimg": "log",
    "swd_images": "log", "bf16": "precision",
}


def recipe(preset: str = "cpu", loss: str = "ns") -> dict:
    """Defaults for a hardware preset (gan_sr/recipes/joint_{preset}.toml) and a loss (wgan picks its own optimiser
    settings and critic steps)."""
    if preset not in presets("joint"):
        raise ConfigError(f"--preset {preset}: unknown; choose {', '.join(presets('joint'))}")
    kind = adv.canonical_kind(loss)
    if kind not in LOSSES:
        raise ConfigError(f"--loss {loss}: the joint trainer supports {', '.join(LOSSES)} (wgan-gp = wgan)")
    cfg = merge(merge(DEFAULTS, read_recipe(f"joint_{preset}", JointConfig)), _LOSS_TRAIN.get(kind, {}))
    cfg["train"]["loss"] = kind
    return cfg


def build_config(file: str | Path | dict | None = None, *, preset: str | None = None, **flags: Any) -> dict:
    """recipe(preset, loss) <- TOML file <- flags (data, res, scale, sr, g0, sr_ckpt, kimg, fade_kimg, aug, ...).

    The init checkpoints are read and checked here, and their architectures written into the config.
    """
    if isinstance(file, (str, Path)):
        over = load_config(file, JointConfig)
    else:
        over = check(copy.deepcopy(file or {}), JointConfig)
    loss = flags.pop("loss", None) or over.get("train", {}).get("loss", "ns")
    cfg = merge(recipe(preset or "cpu", loss), over)
    cfg["train"]["loss"] = adv.canonical_kind(loss)
    for key, value in flags.items():
        if value is None:
            continue
        if key == "aug":
            cfg["aug"]["mode"], cfg["aug"]["p"] = parse_aug(value)
        elif key == "data":
            cfg["data"]["path"] = str(value)
        elif key == "g0":
            cfg["init"]["g0"] = str(value)
        elif key == "sr_ckpt":
            cfg["init"]["sr"] = str(value)
        elif key in _FLAG_SECTIONS:
            cfg[_FLAG_SECTIONS[key]][key] = value
        else:
            raise ConfigError(f"unknown joint training option {key!r}")
    return resolve_inits(validate(cfg))[0]  # a bad --g0 / --sr-ckpt fails here, before anything starts


def validate(cfg: dict, source: str = "config") -> dict:
    """Check keys and types (JointConfig), names and ranges (the init checkpoints are read later, by
    `resolve_inits`); returns cfg."""
    check(cfg, JointConfig, source)
    m, t = cfg["model"], cfg["train"]
    gan_config(m["res"], m["g0_preset"], **m["g0_overrides"])
    scale = m["scale"]
    if isinstance(scale, bool) or not isinstance(scale, int) or scale not in (2, 4):
        raise ConfigError(f"--scale {scale!r}: the stack upscales G0's samples by 2 or 4")
    gan_config(m["res"] * scale, m["g0_preset"], **m["g0_overrides"])  # D_hi must exist at res * scale
    spec = registry.get_spec(m["sr"])
    if not spec.learnable:
        learnable = ", ".join(s.name for s in registry.list_models() if s.learnable)
        raise ConfigError(f"--sr {spec.name}: has no weights to train, so it cannot be a stage of the stack; "
                          f"choose one of {learnable}")
    registry.model_entry(spec.name, scale, m["sr_preset"], **m["sr_overrides"])
    m["sr"] = spec.name
    check_config(cfg, LOSSES, "joint")
    for key in ("base_kimg", "fade_kimg", "lo_weight", "consistency", "lr_sr"):
        if not float(t[key]) >= 0:
            raise ConfigError(f"train.{key} {t[key]}: must be zero or positive")
    if t["freeze_g0"] and not cfg["init"]["g0"] and not float(t["base_kimg"]) > 0:
        raise ConfigError("--freeze-g0 needs a trained G0 to freeze: pass --g0 CKPT (a `gansr gan train` last.pt) "
                          "or set train.base_kimg > 0")
    return cfg


def _read_checkpoint(path: str, option: str) -> dict:
    from gan_sr.io.checkpoints import load_checkpoint

    try:
        return load_checkpoint(path)
    except CheckpointError as exc:
        raise CheckpointError(f"{option} {exc}") from None


def resolve_inits(cfg: dict) -> tuple[dict, dict]:
    """Read init.g0 / init.sr: their architectures go into cfg, their weights and compute into the returned dict.

    With init.g0, G0's config (res, preset, widths) comes from that checkpoint; with init.sr, S's preset
    and options come from the SR checkpoint, whose name and scale must match model.sr and model.scale.
    """
    cfg = copy.deepcopy(cfg)
    m = cfg["model"]
    inits: dict[str, Any] = {"g0": None, "sr": None, "g0_init": None, "sr_init": None}
    if cfg["init"]["g0"]:
        path = cfg["init"]["g0"]
        ck = _read_checkpoint(path, "--g0")
        model = ck.get("model") if isinstance(ck.get("model"), dict) else {}
        if ck.get("kind") != "gan" or model.get("name") not in ARCHS:
            raise CheckpointError(f"--g0 {path}: a {ck.get('kind')!r} checkpoint of {model.get('name')!r}, not a GAN "
                                  f"generator; pass a `gansr gan train` last.pt or a `gansr gan export` file")
        netcfg = dict(model["config"])
        if netcfg["res"] != m["res"]:
            raise ConfigError(f"--g0 {path} holds a {netcfg['res']} px generator but model.res is {m['res']}; "
                              f"pass --res {netcfg['res']}")
        m["g0_preset"] = netcfg["preset"]
        m["g0_overrides"] = {k: v for k, v in netcfg.items() if k not in ("res", "preset")}
        meta = ck.get("meta") or {}
        disc = ck.get("discriminator")
        inits["g0"] = {"state_dict": ck.weights(prefer_ema=False), "ema": ck.weights(),
                       "discriminator": disc if isinstance(disc, dict) and disc else None,
                       "p": (ck.get("ada") or {}).get("p", meta.get("p"))}
        inits["g0_init"] = {"path": str(path), "kimg": meta.get("kimg"), "nimg": meta.get("nimg"),
                            "wall_s": meta.get("wall_s"), "discriminator": inits["g0"]["discriminator"] is not None}
    if cfg["init"]["sr"]:
        path = cfg["init"]["sr"]
        ck = _read_checkpoint(path, "--sr-ckpt")
        entry = ck.get("model") if isinstance(ck.get("model"), dict) else {}
        if ck.get("kind") != "sr":
            raise CheckpointError(f"--sr-ckpt {path}: a {ck.get('kind')!r} checkpoint of {entry.get('name')!r}, not an "
                                  f"SR model; pass a `gansr sr train` best.pt or a shipped checkpoints/NAME_xS.pt")
        if entry.get("scale") != m["scale"]:
            raise ConfigError(f"--sr-ckpt {path} holds a x{entry.get('scale')} {entry.get('name')} model but --scale "
                              f"is {m['scale']}; pass --scale {entry.get('scale')} or a x{m['scale']} checkpoint")
        if entry.get("name") != m["sr"]:
            raise ConfigError(f"--sr-ckpt {path} holds {entry.get('name')} but --sr is {m['sr']}; "
                              f"pass --sr {entry.get('name')}")
        sr = registry.load_model(Path(path), m["scale"])  # builds it and loads the EMA weights
        m["sr_preset"], m["sr_overrides"] = sr.registry_entry["preset"], dict(sr.registry_entry["config"])
        meta = ck.get("meta") or {}
        inits["sr"] = sr.state_dict()
        inits["sr_init"] = {"path": str(path), "name": entry["name"], "scale": entry["scale"],
                            "steps": ck.get("step"), "wall_s": meta.get("wall_s"), "stage": meta.get("stage"),
                            "init": meta.get("init")}
    return validate(_plain(cfg)), inits


def _plain(cfg: dict) -> dict:
    """The config as config.json will give it back (tuples as lists), so a resumed run builds the same models."""
    return json.loads(json.dumps(cfg))


def r1_gammas(cfg: dict) -> dict[str, float]:
    """R1 weight per discriminator: the configured one, or 0.0002 * res^2 / batch at each D's resolution."""
    g, batch, res = float(cfg["train"]["r1_gamma"]), int(cfg["data"]["batch"]), int(cfg["model"]["res"])
    if g >= 0:
        return {"lo": g, "hi": g}
    return {"lo": 0.0002 * res**2 / batch, "hi": 0.0002 * (res * cfg["model"]["scale"]) ** 2 / batch}


def compute_used(meta: dict) -> dict:
    """The compute behind a joint checkpoint: its own kimg/wall and its inits' (None where a file did not record it)."""
    g0, sr = meta.get("g0_init") or {}, meta.get("sr_init") or {}
    parts = [meta.get("wall_s"), g0.get("wall_s") if g0 else 0.0, sr.get("wall_s") if sr else 0.0]
    return {"joint_kimg": meta.get("kimg"), "joint_wall_s": meta.get("wall_s"),
            "g0_kimg": g0.get("kimg") if g0 else 0.0, "g0_wall_s": g0.get("wall_s") if g0 else 0.0,
            "sr_steps": sr.get("steps") if sr else 0, "sr_wall_s": sr.get("wall_s") if sr else 0.0,
            "total_wall_s": None if any(p is None for p in parts) else float(sum(parts))}


def resumed_config(run_dir: str | Path, kimg: float | None = None) -> dict:
    """The validated config of the joint run in `run_dir` (its config.json), run to `kimg` when given."""
    run = RunDir.open(run_dir)
    cfg = validate(merge(DEFAULTS, run.read_config()), str(run.config_file))
    if kimg is not None:
        cfg["train"]["kimg"] = float(kimg)
        validate(cfg)
    return cfg
