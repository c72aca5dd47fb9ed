"""`gansr posthoc`: sample the GAN, then upscale its samples with an SR method."""

import click

from gan_sr.cli.common import examples, not_built


@click.command(epilog=examples("gansr posthoc --sr esrgan", "gansr posthoc --sr all --n 64 --out out/posthoc --ref data/anime/test"))
def posthoc():
    """Upscale GAN samples after the fact with one or all SR methods."""
    not_built("gansr posthoc", "issue 7")
