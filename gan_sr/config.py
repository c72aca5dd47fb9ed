"""The config rules every trainer shares: a run is a nested dict of TOML tables over a trainer's DEFAULTS,
merged as preset recipe < config file < command-line flags, every key checked against DEFAULTS."""

from __future__ import annotations

import copy
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from gan_sr.errors import ConfigError


REPLACED = ("overrides", "lr_mult")  # tables that are a whole set of changes: a later layer replaces them


def merge(base: dict, over: dict) -> dict:
    """Deep merge: dicts merge key by key (but REPLACED tables are replaced), anything else in `over` replaces
    `base`."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        deep = isinstance(v, dict) and isinstance(out.get(k), dict) and k not in REPLACED
        out[k] = merge(out[k], v) if deep else copy.deepcopy(v)
    return out


def load_config(path: str | Path) -> dict:
    """A TOML run config (partial is fine: it is merged over a recipe); ConfigError naming the file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"--config {path}: is a folder, not a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path}: not valid TOML ({exc})") from None


def check_keys(cfg: dict, ref: dict, where: str = "") -> None:
    """Every key of `cfg` must be in `ref`; tables recurse, except those `ref` declares empty (free-form
    tables such as a model's overrides)."""
    for k, v in cfg.items():
        if k not in ref:
            raise ConfigError(f"config: unknown key {where}{k} (known: {', '.join(sorted(ref))})")
        if isinstance(ref[k], dict) and ref[k]:
            if not isinstance(v, dict):
                raise ConfigError(f"config: {where}{k} must be a table")
            check_keys(v, ref[k], f"{where}{k}.")
