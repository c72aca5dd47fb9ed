"""`gansr data ...`: build datasets from illustrations, make synthetic drawn images."""

import click

from gan_sr.cli.common import GansrGroup, examples, not_built
from gan_sr.cli.data_synth import synth


@click.group(cls=GansrGroup, epilog=examples("gansr data build ~/art --out data/anime", "gansr data synth --out data/synth --n 64"))
def data() -> None:
    """Build training data: patches, dedup, low-information filter, splits, manifest."""


@data.command(epilog=examples("gansr data build ~/art ~/more/*.png --out data/anime --patch 128"))
@click.argument("src", nargs=-1, required=True)
@click.option("--out", required=True, type=click.Path(), help="Output directory.")
def build(src, out):
    """Cut SRC images into patches, drop duplicates and flat patches, split by source."""
    not_built("gansr data build", "issue 3")


data.add_command(synth)
