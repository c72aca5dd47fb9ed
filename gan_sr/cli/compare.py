"""`gansr compare`: post-hoc SR arms vs jointly trained stacks, scored alike, with each arm's compute."""

from __future__ import annotations

import click

from gan_sr.cli.common import examples
from gan_sr.cli.posthoc import PAIRS_OPTION, inception_weights, sr_option


@click.command(epilog=examples(
    "gansr compare --joint runs/joint/last.pt --sr all --scale 2 --ref data/anime --split test --n 64",
    "gansr compare --gan runs/gan/last.pt --joint runs/joint_a/last.pt --joint runs/joint_b/last.pt "
    "--sr bicubic,espcn --scale 2 --ref data/anime --out out/compare",
    "gansr compare --sr bicubic,rrdb --joint runs/joint/last.pt --native runs/gan/heads128/last.pt --scale 2 "
    "--ref data/heads/128 --split val   # the three arms of the research question",
))
@click.option("--gan", type=click.Path(dir_okay=False),
              help="GAN checkpoint of the post-hoc arms (default: the shipped checkpoints/gan_heads_64.pt, character heads).")
@click.option("--joint", multiple=True, type=click.Path(dir_okay=False),
              help="A `gansr joint-train` checkpoint (repeatable): one arm each.")
@click.option("--native", multiple=True, type=click.Path(dir_okay=False),
              help="A GAN checkpoint trained at the output resolution (repeatable): one arm each.")
@sr_option(("all",))
@click.option("--scale", type=int, default=2, show_default=True, help="Upscaling factor of the post-hoc arms.")
@click.option("--ref", type=click.Path(),
              help="Real images at the output resolution: a built dataset (then --split) or a folder. Required.")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test", show_default=True,
              help="Reference split; the 'real' row scores a disjoint split (val for test) against it.")
@click.option("--n", type=int, default=64, show_default=True, help="Samples per arm (same latents in every arm).")
@click.option("--seed", type=int, default=0, show_default=True, help="Latent seed.")
@click.option("--out", type=click.Path(file_okay=False), default="out/compare", show_default=True,
              help="Output folder.")
@click.option("--inception", type=click.Path(dir_okay=False),
              help="FID Inception weights for FID/KID (else $GANSR_INCEPTION; skipped without).")
@PAIRS_OPTION
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar or summary.")
def compare(gan, joint, native, methods, scale, ref, split, n, seed, out, inception, pairs, device, quiet):
    """Compare post-hoc SR of GAN samples with joint stacks: SWD, diversity, speed and compute per arm."""
    from gan_sr.pipelines.compare import run_compare

    res = run_compare(gan=gan, joint=list(joint), native=list(native), methods=list(methods), scale=scale, n=n, seed=seed, ref=ref,
                      split=split, out=out, inception=inception_weights(inception), device=device, quiet=quiet,
                      pairs=pairs)
    if quiet:
        return
    for row in res["rows"]:
        wall = row.get("total_wall_s")
        compute = f", {wall:.0f} s training" if isinstance(wall, float) else ""
        click.echo(f"{row['arm']}: SWD {row['swd_mean']:.2f}{compute}")
    click.echo(f"Wrote report.md, report.json, index.html and grid.png to {out}")
