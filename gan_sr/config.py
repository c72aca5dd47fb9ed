"""The config rules every trainer shares: a run is a nested dict of TOML tables whose keys, types and defaults are
the dataclasses below (one schema per trainer), merged as preset recipe < config file < command-line flags.

One file on purpose: the schemas and the rules that read them (`check`, `merge`, `to_toml`) change together, and
every trainer and `--print-config` takes both from here."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from gan_sr.errors import ConfigError


REPLACED = ("overrides", "lr_mult")  # tables that are a whole set of changes: a later layer replaces them

Table = dict[str, Any]  # a free-form table (a builder's keyword options): keys and values are not checked


def _list(*values):
    return field(default_factory=lambda: list(values))


def _table():
    return field(default_factory=dict)


# ------------------------------------------------------------------------------------------ schemas


@dataclass
class Precision:
    """[precision] of every trainer: bf16 autocast for the training passes, channels_last memory format."""
    bf16: bool = False
    channels_last: bool = False


@dataclass
class SRModel:
    """[model]: the registry model, its scale, size preset, training stage and builder options."""
    name: str = ""
    scale: int = 4
    preset: str = "cpu"
    stage: str = ""
    overrides: Table = _table()


@dataclass
class SRData:
    """[data]: HR crop side (or LR side times the scale when lr_size > 0), batch per process, LR degradation."""
    hr_size: int = 96
    lr_size: int = 0
    batch: int = 16
    degradation: str = "bicubic"
    workers: int = 0


@dataclass
class SRTrain:
    """[train]: optimiser, learning-rate schedule, EMA, run length and the guards (rollback, early stop)."""
    steps: int = 1000
    optimizer: str = "adam"
    lr: float = 1e-4
    betas: list[float] = _list(0.9, 0.999)
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_mult: dict[str, float] = _table()  # parameter-name prefix -> learning-rate factor
    schedule: str = "constant"
    step_size: int = 0
    milestones: list[int] = _list()
    gamma: float = 0.5
    patience: int = 10
    min_delta: float = 0.0  # dB a val PSNR must gain over the best to count for "plateau" and early_stop
    min_lr: float = 0.0
    ema_decay: float = 0.999
    grad_clip: float = 0.0
    seed: int = 0
    rollback: int = 0
    warmup: int = 0
    early_stop: int = 0


@dataclass
class PixelLoss:
    kind: str = "l1"
    weight: float = 1.0


@dataclass
class PerceptualLoss:
    layer: str = "conv5_4"
    criterion: str = "l1"
    weight: float = 0.0


@dataclass
class AdversarialLoss:
    """[loss.adversarial]: the objective, its weight, and the discriminator with its own Adam."""
    kind: str = "ragan"
    weight: float = 0.0
    discriminator: str = "esrgan"
    preset: str = "paper"
    overrides: Table = _table()
    lr: float = 1e-4
    betas: list[float] = _list(0.9, 0.999)


@dataclass
class SRLoss:
    """[loss.*]: a term is on when its weight > 0."""
    pixel: PixelLoss = field(default_factory=PixelLoss)
    perceptual: PerceptualLoss = field(default_factory=PerceptualLoss)
    adversarial: AdversarialLoss = field(default_factory=AdversarialLoss)


@dataclass
class SREval:
    every: int = 500
    max_images: int = 0  # 0: every val image


@dataclass
class SRLog:
    every: int = 20
    checkpoint_every: int = 500
    samples: int = 4


@dataclass
class SRConfig:
    """`gansr sr train`: one learnable SR model, one stage."""
    model: SRModel = field(default_factory=SRModel)
    data: SRData = field(default_factory=SRData)
    train: SRTrain = field(default_factory=SRTrain)
    loss: SRLoss = field(default_factory=SRLoss)
    eval: SREval = field(default_factory=SREval)
    log: SRLog = field(default_factory=SRLog)
    precision: Precision = field(default_factory=Precision)


@dataclass
class GanModel:
    res: int = 64
    preset: str = "cpu"
    overrides: Table = _table()


@dataclass
class GanData:
    """[data] of the adversarial trainers: images (a built dataset or a folder), global batch, x-flips."""
    path: str = ""
    batch: int = 32
    workers: int = 0
    mirror: bool = False


@dataclass
class GanTrain:
    """[train]: loss, Adam of G and D, R1 (negative gamma: 0.0002 res^2 / batch) or WGAN-GP, EMA half-life."""
    kimg: float = 200.0
    loss: str = "ns"
    lr_g: float = 0.0025
    lr_d: float = 0.0025
    betas: list[float] = _list(0.0, 0.99)
    r1_gamma: float = -1.0
    r1_interval: int = 16
    gp_lambda: float = 10.0
    drift: float = 0.0
    n_critic: int = 1
    ema_kimg: float = 2.0
    ema_rampup: float = 0.05
    truncation: float = 1.0
    seed: int = 0
    device: str = "cpu"


@dataclass
class Aug:
    """[aug]: ADA (p adapted towards the r_t target every `interval` steps), a fixed p, or none."""
    mode: str = "ada"
    p: float = 0.0
    target: float = 0.6
    interval: int = 4
    ramp_kimg: float = 500.0


@dataclass
class GanLog:
    tick_kimg: float = 1.0
    snapshot_kimg: float = 10.0
    grid: int = 32
    swd_images: int = 0


@dataclass
class GanConfig:
    """`gansr gan train`: StyleGAN2-lite (or DCGAN-class) G and D with ADA."""
    model: GanModel = field(default_factory=GanModel)
    data: GanData = field(default_factory=GanData)
    train: GanTrain = field(default_factory=GanTrain)
    aug: Aug = field(default_factory=Aug)
    log: GanLog = field(default_factory=GanLog)
    precision: Precision = field(default_factory=Precision)


@dataclass
class JointModel:
    """[model]: G0 at res, the SR stage S (a registry model) at scale; overrides go to their builders."""
    res: int = 64
    scale: int = 2
    g0_preset: str = "cpu"
    g0_overrides: Table = _table()
    sr: str = "espcn"
    sr_preset: str = "cpu"
    sr_overrides: Table = _table()


@dataclass
class JointInit:
    """[init]: checkpoints G0 (a GAN run) and S (an SR model) start from; empty: fresh weights."""
    g0: str = ""
    sr: str = ""


@dataclass
class JointData(GanData):
    batch: int = 16


@dataclass
class JointTrain(GanTrain):
    """[train]: GanTrain's keys plus the phases (base, fade), S's learning rate and the G-loss weights."""
    kimg: float = 100.0
    base_kimg: float = 0.0
    fade_kimg: float = 20.0
    lr_sr: float = 2e-4
    lo_weight: float = 1.0
    consistency: float = 0.0
    consistency_detach: bool = True
    freeze_g0: bool = False


@dataclass
class JointAug(Aug):
    ramp_kimg: float = 100.0


@dataclass
class JointLog(GanLog):
    grid: int = 16


@dataclass
class JointConfig:
    """`gansr joint-train`: G0 and an SR stage trained as one progressive stack."""
    model: JointModel = field(default_factory=JointModel)
    init: JointInit = field(default_factory=JointInit)
    data: JointData = field(default_factory=JointData)
    train: JointTrain = field(default_factory=JointTrain)
    aug: JointAug = field(default_factory=JointAug)
    log: JointLog = field(default_factory=JointLog)
    precision: Precision = field(default_factory=Precision)


def defaults(schema: type) -> dict:
    """A schema's defaults as the nested dict the trainers read (the DEFAULTS of a trainer)."""
    return dataclasses.asdict(schema())


# ------------------------------------------------------------------------------------- type checks


def _fields(schema: type) -> dict[str, Any]:
    hints = typing.get_type_hints(schema)
    return {f.name: hints[f.name] for f in dataclasses.fields(schema)}


_NAMES = {bool: ("true or false", "booleans"), int: ("an integer", "integers"), float: ("a number", "numbers"),
          str: ("a string", "strings")}


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is list:
        return f"a list of {_NAMES[typing.get_args(tp)[0]][1]}"
    if typing.get_origin(tp) is dict:
        return "a table"
    return _NAMES[tp][0] if tp in _NAMES else str(tp)


def _value(value: Any, tp: Any, key: str, source: str) -> Any:
    """`value` checked against `tp` (ints widen to floats, tuples become lists); ConfigError otherwise."""
    origin = typing.get_origin(tp)
    bad = ConfigError(f"{source}: {key} = {value!r} must be {_type_name(tp)}")
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise bad
        return [_value(v, typing.get_args(tp)[0], f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        inner = typing.get_args(tp)[1]
        return {k: _value(v, inner, f"{key}.{k}", source) for k, v in value.items()}
    raise TypeError(f"schema type {tp!r} of {key} is not supported")


def check(cfg: dict, schema: type, source: str = "config", where: str = "") -> dict:
    """Keys and types of `cfg` (a whole config or one partial layer) against `schema`: ConfigError naming the key
    and `source` (a file, or "config"). Ints where numbers are expected become floats, in place; returns cfg."""
    known = _fields(schema)
    for k in list(cfg):
        if k not in known:
            raise ConfigError(f"{source}: unknown key {where}{k} (known: {', '.join(sorted(known))})")
        tp, v = known[k], cfg[k]
        if dataclasses.is_dataclass(tp):
            if not isinstance(v, dict):
                raise ConfigError(f"{source}: {where}{k} must be a table")
            check(v, tp, source, f"{where}{k}.")
        else:
            cfg[k] = _value(v, tp, f"{where}{k}", source)
    return cfg


# ------------------------------------------------------------------------------------------- layers


def merge(base: dict, over: dict) -> dict:
    """Deep merge: dicts merge key by key (but REPLACED tables are replaced), anything else in `over` replaces
    `base`."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        deep = isinstance(v, dict) and isinstance(out.get(k), dict) and k not in REPLACED
        out[k] = merge(out[k], v) if deep else copy.deepcopy(v)
    return out


def read_toml(path: str | Path, what: str = "--config") -> dict:
    """A TOML file as a dict; ConfigError naming it (as `what`) when missing or invalid."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path}: is a folder, not a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} {path}: not valid TOML ({exc})") from None


def load_config(path: str | Path, schema: type | None = None, what: str = "--config") -> dict:
    """A TOML run config (partial is fine: it is merged over a recipe), its keys and types checked against
    `schema` when given; ConfigError naming the file."""
    cfg = read_toml(path, what)
    return check(cfg, schema, f"{what} {path}") if schema is not None else cfg


# -------------------------------------------------------------------------------------------- TOML


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE_KEY.match(k) else json.dumps(k, ensure_ascii=False)


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # JSON's escapes are TOML basic-string escapes
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_scalar(x)}" for k, x in v.items()) + "}" if v else "{}"
    raise ConfigError(f"cannot write {v!r} ({type(v).__name__}) as TOML")


def to_toml(cfg: dict, schema: type, header: str = "") -> str:
    """`cfg` as TOML that reads back equal: schema tables as [sections], free-form tables inline. `header`
    becomes leading comment lines."""
    out = [f"# {line}".rstrip() for line in header.splitlines()]

    def table(d: dict, tp: type, name: str) -> None:
        fields = _fields(tp)
        sub = {k: v for k, v in d.items() if isinstance(v, dict) and dataclasses.is_dataclass(fields.get(k))}
        plain = [(k, v) for k, v in d.items() if k not in sub]
        if name and (plain or not sub):
            out.extend(["", f"[{name}]"] if out else [f"[{name}]"])
        out.extend(f"{_key(k)} = {_scalar(v)}" for k, v in plain)
        for k, v in sub.items():
            table(v, fields[k], f"{name}.{_key(k)}" if name else _key(k))

    table(cfg, schema, "")
    return "\n".join(out) + "\n"
