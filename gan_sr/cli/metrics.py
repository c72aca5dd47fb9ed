"""`gansr metrics`: PSNR/SSIM between two folders under the literature's protocol."""

from __future__ import annotations

import math
import sys

import click

from gan_sr.cli.common import FORMAT_OPTION, echo_table, examples


@click.command(
    epilog=examples(
        "gansr metrics Set5/HR out/Set5_x4 --scale 4",
        "gansr metrics Set14/HR out/Set14_x4 --scale 4 --rgb --format json",
    )
)
@click.argument("hr_dir", type=click.Path(file_okay=True, dir_okay=True, path_type=str))
@click.argument("sr_dir", type=click.Path(file_okay=True, dir_okay=True, path_type=str))
@click.option("--scale", type=click.IntRange(min=1), required=True,
              help="Upscaling factor; also the border (px) shaved from every edge before scoring.")
@click.option("--y/--rgb", "y", default=True, show_default=True,
              help="Score the BT.601 Y channel (papers) or RGB (BasicSR/mmagic model zoos).")
@FORMAT_OPTION
@click.option("--quiet", is_flag=True, help="No progress bar.")
def metrics(hr_dir: str, sr_dir: str, scale: int, y: bool, fmt: str, quiet: bool) -> None:
    """PSNR and SSIM of SR_DIR against HR_DIR, paired by file name.

    An SR file pairs with the HR file of the same stem (any extension), or with the HR stem it extends
    by "_<tag>" (baby_x4.png -> baby.png). HR is cropped to SR's size when it is larger by less than
    the scale (modcrop). Y is MATLAB's rgb2ycbcr; grayscale HR images are scored on their gray level.
    SSIM: 11x11 Gaussian window, sigma 1.5. Prints one row per image and the mean.
    """
    from gan_sr.metrics.psnr_ssim import mean_row, score_folders

    rows = score_folders(hr_dir, sr_dir, scale, y=y, progress=not quiet and sys.stderr.isatty())
    rows.append(mean_row(rows))
    if fmt == "json":
        rows = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
                for r in rows]
    echo_table(rows, fmt)
