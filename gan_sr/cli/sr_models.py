"""`gansr sr models`: the registry as a table."""

from __future__ import annotations

import click

from gan_sr.cli.common import FORMAT_OPTION, echo_table, examples


@click.command(epilog=examples("gansr sr models", "gansr sr models --scale 4 --format json"))
@click.option("--scale", type=int, default=4, show_default=True, help="Upscaling factor the parameter counts are for.")
@FORMAT_OPTION
def models(scale: int, fmt: str) -> None:
    """List every SR model with its presets and parameter counts."""
    from gan_sr.sr.registry import model_rows

    rows = model_rows(scale)
    if fmt != "md":
        rows = [{k: r[k] for k in ("name", "preset", "scale", "params")} for r in rows]
    echo_table(rows, fmt)
