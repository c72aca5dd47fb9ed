"""The built-in recipes: TOML files shipped in gan_sr/recipes/ (the one place they live), each with its
provenance in its comments. SR recipes are `{model}_{stage}_{preset}.toml`, the GAN and joint presets
`gan_{preset}.toml` and `joint_{preset}.toml`; each is a partial config merged over its schema's defaults."""

from __future__ import annotations

from pathlib import Path

from gan_sr.config import load_config

RECIPE_DIR = Path(__file__).resolve().parents[1] / "recipes"


def recipe_path(name: str) -> Path:
    """The file of recipe `name` (without .toml), whether it exists or not."""
    return RECIPE_DIR / f"{name}.toml"


def recipe_names() -> list[str]:
    """Every shipped recipe, sorted."""
    return sorted(p.stem for p in RECIPE_DIR.glob("*.toml"))


def read_recipe(name: str, schema: type) -> dict | None:
    """Recipe `name` with its keys and types checked against `schema` (ConfigError naming the file), or None
    when no such file ships."""
    path = recipe_path(name)
    return load_config(path, schema, what="recipe") if path.is_file() else None


def presets(trainer: str) -> list[str]:
    """The presets of the GAN or joint trainer: the `{trainer}_{preset}.toml` files."""
    return [n.split("_", 1)[1] for n in recipe_names() if n.startswith(f"{trainer}_") and n.count("_") == 1]
