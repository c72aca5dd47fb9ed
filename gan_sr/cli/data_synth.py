"""`gansr data synth`: procedural anime-like drawn images for tests and the demo."""

import click

from gan_sr.cli.common import examples, not_built


@click.command(epilog=examples("gansr data synth --out data/synth --n 64 --seed 0"))
@click.option("--out", required=True, type=click.Path(), help="Output directory.")
@click.option("--n", default=64, show_default=True, help="Number of images.")
def synth(out, n):
    """Generate procedural anime-like drawn images (deterministic from --seed)."""
    not_built("gansr data synth", "issue 3")
