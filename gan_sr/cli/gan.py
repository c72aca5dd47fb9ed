"""`gansr gan ...`: train, sample and evaluate the ADA limited-data GAN."""

import click

from gan_sr.cli.common import GansrGroup, examples, not_built


@click.group(cls=GansrGroup, epilog=examples("gansr gan train --data data/anime --res 64", "gansr gan sample --ckpt run/last.ckpt --n 64 --out samples"))
def gan() -> None:
    """Limited-data GAN with adaptive discriminator augmentation."""


@gan.command(epilog=examples("gansr gan train --data data/anime --res 64 --loss ns --aug ada --kimg 200"))
def train():
    """Train the GAN (ADA, resumable, TensorBoard, torchrun-ready)."""
    not_built("gansr gan train", "issue 6")


@gan.command(epilog=examples("gansr gan sample --ckpt run/last.ckpt --n 64 --out samples --seed 0"))
def sample():
    """Write samples and a grid from a GAN checkpoint."""
    not_built("gansr gan sample", "issue 6")


@gan.command(name="eval", epilog=examples("gansr gan eval --ckpt run/last.ckpt --ref data/anime/test"))
def eval_():
    """Score a generator against real images (SWD, MS-SSIM diversity; FID/KID with local weights)."""
    not_built("gansr gan eval", "issue 6")
