"""The one registry of SR models: names, presets, builders, and loading trained or shipped weights.

One file on purpose: adding a model is one `register(...)` at its end, beside the spec, presets and loading rules
it must meet, so the table of every model reads in one place.

A preset is a dict of builder options plus two reserved keys: "follows" (the paper or model it
reproduces, and why it is sized so) and "discriminator" (the GAN discriminator's kind and options,
for models trained adversarially). Every built model carries `registry_entry`, the
{"name", "scale", "preset", "config"} dict that a checkpoint stores under "model".
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from gan_sr.devices import parse_device
from gan_sr.errors import CheckpointError, ConfigError
from gan_sr.sr import discriminators
from gan_sr.sr.bicubic import Bicubic
from gan_sr.sr.complexity import count_macs
from gan_sr.sr.espcn import ESPCN
from gan_sr.sr.rrdbnet import RRDBNet
from gan_sr.sr.srcnn import SRCNN
from gan_sr.sr.srresnet import SRResNet
from gan_sr.sr.srvgg import SRVGGNetCompact

__all__ = [
    "ModelSpec", "register", "get_spec", "list_models", "build_model", "build_discriminator", "load_model",
    "count_params", "count_macs", "model_entry", "model_rows", "checkpoints_dir",
]

RESERVED_KEYS = ("follows", "discriminator")


@dataclass(frozen=True)
class ModelSpec:
    """One SR method: `builder(scale, **options)` makes it; `presets` name ready-made option sets."""

    name: str
    summary: str
    paper: str
    builder: Callable[..., nn.Module]
    presets: dict[str, dict]
    scales: tuple[int, ...]
    learnable: bool
    default_preset: str = "paper"
    shipped: bool = True
    """False for architectures gansr reads from community weights but does not train or ship (not in "all")."""
    stages: tuple[str, ...] = ()
    """`gansr sr train` stages, the first the default (a "gan" stage starts from the one before, --init);
    () for a model gansr does not train. Registration order is the order of bench tables and grids."""

    def options(self, preset: str) -> dict[str, Any]:
        """The builder options of `preset` (reserved keys removed); ConfigError for unknown presets."""
        if preset not in self.presets:
            raise ConfigError(f"model {self.name!r} has no preset {preset!r}; presets: {', '.join(self.presets)}")
        return {k: v for k, v in self.presets[preset].items() if k not in RESERVED_KEYS}


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> None:
    """Add a model to the registry; ConfigError when the name is taken or the spec is inconsistent."""
    if spec.name in _REGISTRY and _REGISTRY[spec.name] is not spec:
        raise ConfigError(f"an SR model named {spec.name!r} is already registered")
    if spec.default_preset not in spec.presets:
        raise ConfigError(f"model {spec.name!r}: default preset {spec.default_preset!r} is not among its presets")
    _REGISTRY[spec.name] = spec


def get_spec(name: str) -> ModelSpec:
    """The spec registered under `name`; ConfigError listing the known names."""
    spec = _REGISTRY.get(str(name).lower())
    if spec is None:
        raise ConfigError(f"unknown SR model {name!r}; known models: {', '.join(_REGISTRY)}")
    return spec


def list_models(*, shipped_only: bool = False) -> list[ModelSpec]:
    """Every registered model in registration order (`shipped_only`: those "all" means in bench and posthoc)."""
    return [s for s in _REGISTRY.values() if s.shipped or not shipped_only]


def model_names(*, learnable: bool | None = None) -> list[str]:
    """Names of the shipped-kind models ("all" in bench and posthoc), optionally only (non-)learnable ones."""
    return [s.name for s in list_models(shipped_only=True) if learnable is None or s.learnable == learnable]


def training_stages() -> dict[str, tuple[str, ...]]:
    """{model: its `gansr sr train` stages} for every trainable model, in registration order."""
    return {s.name: s.stages for s in _REGISTRY.values() if s.stages}


def _preset_name(spec: ModelSpec, preset: str | None) -> str:
    """None, or "paper" for a model without one (anime4k), means the model's default preset."""
    if preset is None or (preset == "paper" and "paper" not in spec.presets):
        return spec.default_preset
    return preset


def _resolve(name: str, scale: int, preset: str | None, overrides: dict) -> tuple[ModelSpec, str, dict]:
    spec = get_spec(name)
    preset = _preset_name(spec, preset)
    if isinstance(scale, bool) or not isinstance(scale, int) or scale not in spec.scales:
        scales = ", ".join(map(str, spec.scales))
        raise ConfigError(f"--scale {scale!r} is not available for {spec.name}; scales: {scales}")
    config = {**spec.options(preset), **overrides}
    params = inspect.signature(spec.builder).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        allowed = [k for k, p in params.items() if k != "scale" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
        unknown = sorted(set(config) - set(allowed))
        if unknown:
            raise ConfigError(f"unknown option(s) {', '.join(unknown)} for model {spec.name}; "
                              f"options: {', '.join(allowed) or '(none)'}")
    return spec, preset, config


def model_entry(name: str, scale: int, preset: str | None = None, **overrides) -> dict:
    """The checkpoint's "model" entry {"name", "scale", "preset", "config"} (config fully resolved)."""
    spec, preset, config = _resolve(name, scale, preset, overrides)
    return {"name": spec.name, "scale": scale, "preset": preset, "config": config}


def build_model(name: str, scale: int, preset: str = "paper", **overrides) -> nn.Module:
    """A freshly initialised model; `overrides` replace preset options. ConfigError on bad choices.

    A model whose presets do not include "paper" (anime4k) builds its default preset when asked for "paper".
    """
    spec, preset, config = _resolve(name, scale, preset, overrides)
    model = spec.builder(scale, **config)
    model.registry_entry = {"name": spec.name, "scale": scale, "preset": preset, "config": config}
    return model


def build_discriminator(name: str, preset: str = "paper", **overrides) -> nn.Module | None:
    """The discriminator of an adversarially trained model (None for the others).

    `kind` in overrides switches the architecture (e.g. kind="unet" for Real-ESRGAN's U-Net);
    preset options that the new kind does not take are then dropped.
    """
    spec = get_spec(name)
    preset = _preset_name(spec, preset)
    spec.options(preset)
    base = spec.presets[preset].get("discriminator")
    if base is None:
        if overrides:
            raise ConfigError(f"model {spec.name} is not trained with a discriminator; remove {', '.join(overrides)}")
        return None
    base = dict(base)
    kind = overrides.pop("kind", base.pop("kind"))
    cls = discriminators.DISCRIMINATORS.get(kind)
    if cls is not None:
        accepted = inspect.signature(cls).parameters
        base = {k: v for k, v in base.items() if k in accepted}
    return discriminators.build_discriminator(kind, **{**base, **overrides})


def count_params(module: nn.Module) -> int:
    """Number of parameters (trainable or not), each shared tensor counted once."""
    return sum(p.numel() for p in module.parameters())


def model_rows(scale: int = 4) -> list[dict]:
    """One row per model and preset: name, preset, scale, params, and what the preset follows."""
    rows = []
    for spec in list_models():
        for preset, options in spec.presets.items():
            model = build_model(spec.name, scale, preset)
            rows.append({"name": spec.name, "preset": preset, "scale": scale, "params": count_params(model),
                         "follows": options.get("follows", spec.paper)})
    return rows


def checkpoints_dir() -> Path:
    """Where shipped checkpoints live: $GANSR_CHECKPOINTS, else checkpoints/ at the repository root."""
    env = os.environ.get("GANSR_CHECKPOINTS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "checkpoints"


def _looks_like_path(s: str) -> bool:
    return "/" in s or os.sep in s or Path(s).suffix.lower() in (".pt", ".pth", ".ckpt", ".safetensors") or Path(s).is_file()


def _to_device(model: nn.Module, device: torch.device) -> nn.Module:
    try:
        return model.to(device)
    except (RuntimeError, AssertionError) as exc:
        raise ConfigError(f"--device {device} is not available here: {exc}") from None



def _load_path(path: Path, scale: int | None) -> nn.Module:
    from gan_sr.io.checkpoints import FORMAT, check_gansr, read_torch_file
    from gan_sr.sr import foreign

    if path.suffix.lower() == ".safetensors":
        return _load_foreign(path, foreign.read_safetensors(path), scale)
    data = read_torch_file(path)
    if not (isinstance(data, dict) and data.get("format") == FORMAT):
        return _load_foreign(path, data, scale)
    payload = check_gansr(data, path)
    entry = payload.get("model")
    if not isinstance(entry, dict) or "name" not in entry or not isinstance(entry.get("scale"), int):
        kind = payload.get("kind")
        raise CheckpointError(f"{path}: not an SR model checkpoint "
                              f"(kind {kind!r}, no 'model' entry with name and scale)")
    if scale is not None and entry["scale"] != scale:
        raise CheckpointError(f"{path} holds a x{entry['scale']} {entry['name']} model, "
                              f"but --scale {scale} was asked for")
    config = entry.get("config") or {}
    try:
        if not isinstance(config, dict):
            raise ConfigError(f"'config' is a {type(config).__name__}, not a dict")
        model = build_model(entry["name"], entry["scale"], entry.get("preset") or "paper", **config)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: its model entry does not build: {exc}") from None
    weights = payload.weights()
    if weights or count_params(model):
        try:
            model.load_state_dict(weights, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            raise CheckpointError(f"{path}: weights do not fit {entry['name']} x{entry['scale']}: "
                                  f"{' '.join(line.strip() for line in first[:3])}") from None
    return model


def _load_foreign(path: Path, data: object, scale: int | None) -> nn.Module:
    """A community weights file (gan_sr.sr.foreign): its architecture detected, built here, weights loaded."""
    from gan_sr.sr import foreign

    name, found_scale, options, state = foreign.detect(foreign.unwrap(data, path), path)
    if scale is not None and found_scale != scale:
        raise CheckpointError(f"{path} holds a x{found_scale} {name} model, but --scale {scale} was asked for")
    model = build_model(name, found_scale, get_spec(name).default_preset, **options)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = " ".join(line.strip() for line in str(exc).strip().splitlines()[:3])
        raise CheckpointError(f"{path}: detected {name} x{found_scale} {options}, but its weights do not fit: "
                              f"{first}") from None
    model.registry_entry["source"] = str(path)
    return model


def load_init(net: nn.Module, path: str | os.PathLike, *, name: str, scale: int, preset: str) -> None:
    """Load the weights (EMA when present) of SR checkpoint `path` into `net`, a `name` x`scale` model of `preset`
    (`gansr sr train --init`): CheckpointError unless the checkpoint holds the same network at that scale."""
    from gan_sr.io.checkpoints import load_checkpoint

    ck = load_checkpoint(path)
    spec = ck.get("model") or {}
    same_net = spec.get("name") in training_stages() and get_spec(spec["name"]).builder is get_spec(name).builder
    if ck.get("kind") != "sr" or not same_net or int(spec.get("scale", -1)) != scale:
        raise CheckpointError(f"--init {path}: holds {ck.get('kind')} model {spec.get('name')} x{spec.get('scale')}, "
                              f"this run trains sr model {name} x{scale}")
    try:
        net.load_state_dict(ck.weights())
    except RuntimeError as exc:
        raise CheckpointError(f"--init {path}: weights do not fit {name} preset {preset} "
                              f"(checkpoint preset {spec.get('preset')}): {str(exc).splitlines()[0]}") from None


def load_model(name_or_path: str | os.PathLike, scale: int | None = None, *,
               device: str | torch.device = "cpu") -> nn.Module:
    """A ready model in eval mode (channels_last on the CPU): from a checkpoint path, or by registry name.

    Names of non-learnable models (bicubic, anime4k) are built; learnable names load the shipped
    checkpoints/{name}_x{scale}.pt. A checkpoint's EMA weights are used when it has them.
    """
    dev = parse_device(device)
    text = os.fspath(name_or_path)
    if not isinstance(name_or_path, os.PathLike) and text.lower() in _REGISTRY:
        spec = get_spec(text)
        if scale is None:
            raise ConfigError(f"model {spec.name} needs a scale (--scale {'/'.join(map(str, spec.scales))})")
        if isinstance(scale, bool) or not isinstance(scale, int) or scale not in spec.scales:
            raise ConfigError(f"--scale {scale!r} is not available for {spec.name}; scales: "
                              f"{', '.join(map(str, spec.scales))}")
        if not spec.learnable:
            model = build_model(spec.name, scale)
        else:
            path = checkpoints_dir() / f"{spec.name}_x{scale}.pt"
            if not path.is_file():
                raise CheckpointError(
                    f"no shipped checkpoint {path} for {spec.name} x{scale}. Train one with "
                    f"`gansr sr train --model {spec.name} --scale {scale} --data DIR` and pass its best.pt, "
                    f"put a checkpoint at that path, or set GANSR_CHECKPOINTS to a folder holding {path.name}"
                )
            model = _load_path(path, scale)
    elif isinstance(name_or_path, os.PathLike) or _looks_like_path(text):
        model = _load_path(Path(text), scale)
    else:
        raise ConfigError(f"unknown SR model {text!r} and no such checkpoint file; "
                          f"known models: {', '.join(_REGISTRY)}")
    model = _to_device(model, dev).eval()
    if dev.type == "cpu":  # oneDNN's NHWC convolutions: 1.1-1.6x the NCHW speed for every model here
        model = model.to(memory_format=torch.channels_last)  # (experiments/results/perf_inference.md)
    return model


def _anime4k(scale: int, *, variant: str = "glsl", pre: str | None = None, passes: int | None = None,
             strength_color: float | None = None, strength_gradient: float | None = None,
             push_color_count: int | None = None) -> nn.Module:
    """Classic Anime4K (imported on first use); options left at None take the variant's defaults."""
    from gan_sr.sr.anime4k import Anime4K

    return Anime4K(scale, variant=variant, pre=pre, passes=passes, strength_color=strength_color,
                   strength_gradient=strength_gradient, push_color_count=push_color_count)


_SCALES = (2, 3, 4)

register(ModelSpec(
    name="bicubic",
    summary="MATLAB-compatible bicubic upscaling, the baseline",
    paper="Keys 1981, cubic convolution a=-0.5 (MATLAB imresize)",
    builder=Bicubic,
    presets={"paper": {"follows": "MATLAB imresize bicubic with antialiasing, as the SR literature scores it"}},
    scales=_SCALES,
    learnable=False,
))

register(ModelSpec(
    name="anime4k",
    summary="classic Anime4K: pre-upscale, then push colour and gradient",
    paper="bloc97 Anime4K v0.9/v1.0 RC (GLSL); TianZerL Anime4KCPP 'Anime4K09'",
    builder=_anime4k,
    presets={
        "glsl": {"follows": "bloc97's GLSL shaders: bicubic, one pass, strengths min(s/6,1) and min(s/2,1)"},
        "cpp": {"follows": "Anime4KCPP 'Anime4K09' defaults: 2 passes, 2 colour pushes, strengths 0.3 and 1.0, "
                           "bilinear pre-upscale at x2", "variant": "cpp"},
    },
    scales=_SCALES,
    learnable=False,
    default_preset="glsl",
))

register(ModelSpec(
    name="srcnn",
    summary="bicubic, then 3 convs (9-1-5, 64/32 filters)",
    paper="Dong et al., Image SR Using Deep Convolutional Networks, TPAMI 2015",
    builder=SRCNN,
    presets={
        "paper": {"follows": "Dong et al. 2015 base net 9-1-5, n1=64 n2=32, Y channel (CbCr bicubic)",
                  "channels": "y", "kernels": (9, 1, 5), "widths": (64, 32)},
        "paper-955": {"follows": "Dong et al. 2015 9-5-5 (more accurate, ~7x the MACs), Y channel",
                      "channels": "y", "kernels": (9, 5, 5), "widths": (64, 32)},
        "cpu": {"follows": "the paper's 9-1-5 Y net unchanged: it already trains fast on 2 cores",
                "channels": "y", "kernels": (9, 1, 5), "widths": (64, 32)},
    },
    scales=_SCALES,
    learnable=True,
    stages=("mse",),
))

register(ModelSpec(
    name="espcn",
    summary="3 convs on the LR image, sub-pixel shuffle (tanh)",
    paper="Shi et al., Real-Time SR with an Efficient Sub-Pixel CNN, CVPR 2016",
    builder=ESPCN,
    presets={
        "paper": {"follows": "Shi et al. 2016: 5x5x64, 3x3x32, 3x3xr^2, tanh, Y channel",
                  "channels": "y", "widths": (64, 32)},
        "cpu": {"follows": "the paper's net unchanged: it already trains fast on 2 cores",
                "channels": "y", "widths": (64, 32)},
    },
    scales=_SCALES,
    learnable=True,
    stages=("mse",),
))

register(ModelSpec(
    name="srresnet",
    summary="SRResNet: the SRGAN generator trained with MSE only (the best-PSNR option of that family)",
    paper="Ledig et al., Photo-Realistic SISR Using a GAN, CVPR 2017 (SRResNet, MSE)",
    builder=SRResNet,
    presets={
        "paper": {"follows": "Ledig et al. 2017: 16 blocks, 64 filters, MSE", "num_blocks": 16, "nf": 64,
                  "batch_norm": True},
        "cpu": {"follows": "SRResNet at half depth and width (8 blocks, 32 filters), as srgan's cpu preset",
                "num_blocks": 8, "nf": 32, "batch_norm": True},
    },
    scales=_SCALES,
    learnable=True,
    stages=("mse",),
))

register(ModelSpec(
    name="srgan",
    summary="SRResNet generator (16 BN residual blocks, sub-pixel x2 stages); MSE stage = SRResNet",
    paper="Ledig et al., Photo-Realistic SISR Using a GAN, CVPR 2017",
    builder=SRResNet,
    presets={
        "paper": {"follows": "Ledig et al. 2017: 16 blocks, 64 filters; D for 96 px crops",
                  "num_blocks": 16, "nf": 64, "batch_norm": True,
                  "discriminator": {"kind": "srgan", "input_size": 96, "nf": 64}},
        "cpu": {"follows": "SRResNet at half depth and width (8 blocks, 32 filters, 0.25 M params) and the SRGAN D at "
                           "32 filters for 128 px crops: a batch-16 step costs ~2.4 (G) + ~2.1 (D) CPU-s, "
                           "a quarter of the paper size's (experiments/bench_models.py)",
                "num_blocks": 8, "nf": 32, "batch_norm": True,
                "discriminator": {"kind": "srgan", "input_size": 128, "nf": 32}},
    },
    scales=_SCALES,
    learnable=True,
    stages=("mse", "gan"),
))

register(ModelSpec(
    name="rrdb",
    summary="RRDBNet trained with L1 only: ESRGAN's PSNR-oriented model (the best-PSNR option of that family)",
    paper="Wang et al., ESRGAN: Enhanced SR GANs, ECCV Workshops 2018 (RRDB_PSNR)",
    builder=RRDBNet,
    presets={
        "paper": {"follows": "Wang et al. 2018: 23 RRDBs, nf 64, growth 32 (16.7 M params), L1",
                  "num_blocks": 23, "nf": 64, "gc": 32},
        "cpu": {"follows": "RRDBNet at 4 blocks, nf 32, growth 16, as esrgan's cpu preset", "num_blocks": 4,
                "nf": 32, "gc": 16},
    },
    scales=_SCALES,
    learnable=True,
    stages=("psnr",),
))

register(ModelSpec(
    name="esrgan",
    summary="RRDBNet generator (23 RRDBs, nearest-neighbour upsampling); PSNR stage = RRDB",
    paper="Wang et al., ESRGAN: Enhanced SR GANs, ECCV Workshops 2018",
    builder=RRDBNet,
    presets={
        "paper": {"follows": "Wang et al. 2018: 23 RRDBs, nf 64, growth 32 (16.7 M params); VGG-128 D",
                  "num_blocks": 23, "nf": 64, "gc": 32,
                  "discriminator": {"kind": "vgg", "input_size": 128, "nf": 64}},
        "cpu": {"follows": "RRDBNet at 4 blocks, nf 32, growth 16 (0.76 M params; Real-ESRGAN's anime model is "
                           "6/64/32 at 11 CPU-s a step) and the VGG-128 D at 32 filters: a batch-16 step costs "
                           "~3.0 (G) + ~1.5 (D) CPU-s (experiments/bench_models.py)",
                "num_blocks": 4, "nf": 32, "gc": 16,
                "discriminator": {"kind": "vgg", "input_size": 128, "nf": 32}},
    },
    scales=_SCALES,
    learnable=True,
    stages=("psnr", "gan"),
))

register(ModelSpec(
    name="srvgg",
    summary="SRVGGNetCompact: plain 3x3 convs at LR size, sub-pixel output (Real-ESRGAN's compact net)",
    paper="Wang et al., Real-ESRGAN, ICCVW 2021 (realesr-animevideov3, realesr-general-x4v3)",
    builder=SRVGGNetCompact,
    presets={"paper": {"follows": "Real-ESRGAN's released compact nets: 64 filters, PReLU; animevideov3 has 16 "
                                  "convs, general-x4v3 32", "nf": 64, "num_conv": 16, "act": "prelu"}},
    scales=(2, 3, 4),
    learnable=True,
    shipped=False,
))
