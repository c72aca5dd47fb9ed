"""`gansr metrics`: PSNR/SSIM between two folders under the literature's protocol."""

import click

from gan_sr.cli.common import examples, not_built


@click.command(epilog=examples("gansr metrics Set5/HR out/Set5_x4 --scale 4 --y --format md"))
def metrics():
    """PSNR and SSIM of SR_DIR against HR_DIR, paired by file name."""
    not_built("gansr metrics", "issue 2")
