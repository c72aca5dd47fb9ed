"""`gansr data synth`: procedural anime-like drawn images for tests and the demo."""

from __future__ import annotations

import click

from gan_sr.cli.common import examples


@click.command(epilog=examples("gansr data synth --out data/synth --n 64 --seed 0",
                               "gansr data synth --out data/synth --n 200 --size 128 --force"))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder (new or empty).")
@click.option("--n", default=64, show_default=True, type=click.IntRange(min=1), help="Number of images.")
@click.option("--size", default=256, show_default=True, type=click.IntRange(min=8),
              help="Side of each square image (px).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Image i depends only on (seed, i): a smaller --n gives a prefix of a larger one.")
@click.option("--force", is_flag=True, help="Write into a non-empty folder that synth did not create.")
@click.option("--quiet", is_flag=True, help="No progress bar or summary.")
def synth(out: str, n: int, size: int, seed: int, force: bool, quiet: bool) -> None:
    """Generate procedural anime-like drawn images (deterministic from --seed) as PNGs in --out."""
    from gan_sr.data.synth import write_synth_dataset

    paths = write_synth_dataset(out, n, size, seed, force=force, progress=not quiet)
    if not quiet:
        click.echo(f"Wrote {len(paths)} images of {size}x{size} px to {out} (seed {seed}).")
