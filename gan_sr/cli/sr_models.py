"""`gansr sr models`: the registry as a table."""

import click

from gan_sr.cli.common import examples, not_built


@click.command(epilog=examples("gansr sr models --scale 4 --format json"))
def models():
    """List every SR model with its presets and parameter counts."""
    not_built("gansr sr models", "issue 4")
