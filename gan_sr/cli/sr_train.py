"""`gansr sr train` and `gansr sr interpolate`."""

import click

from gan_sr.cli.common import examples, not_built


@click.command(epilog=examples("gansr sr train --model espcn --scale 4 --data data/anime --preset cpu"))
def train():
    """Train an SR model (resumable, TensorBoard, torchrun-ready)."""
    not_built("gansr sr train", "issue 4")


@click.command(epilog=examples("gansr sr interpolate psnr.ckpt gan.ckpt --alpha 0.8 -o interp.ckpt"))
def interpolate():
    """Network interpolation between two checkpoints of the same model."""
    not_built("gansr sr interpolate", "issue 4")
