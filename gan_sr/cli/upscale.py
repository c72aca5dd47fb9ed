"""`gansr upscale`: upscale files and folders with any SR model, tiled."""

import click

from gan_sr.cli.common import examples, not_built


@click.command(epilog=examples("gansr upscale art/ -o out/ --model esrgan --scale 4 --tile 256"))
def upscale():
    """Upscale images with a model from the zoo (tiled, seamless, alpha kept)."""
    not_built("gansr upscale", "issue 5")
