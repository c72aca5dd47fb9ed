"""`gansr posthoc`: sample the GAN, then upscale its samples with one or more SR methods."""

from __future__ import annotations

import math
import os

import click

from gan_sr.cli.common import ModelsHelp, examples


def _finite(ctx, param, value):
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


def sr_option(default):
    return click.option(
        "--sr", "methods", multiple=True, default=default, show_default=True, cls=ModelsHelp,
        metavar="NAME|all|LABEL=CKPT",
        help="SR method(s): {models} (shipped checkpoints), all, or "
             "LABEL=CKPT for a trained checkpoint. Repeat or give a comma list.")


PAIRS_OPTION = click.option(
    "--pairs", type=int, default=1000, show_default=True,
    help="Random image pairs for MS-SSIM diversity (as `gansr gan eval`); fewer is faster at 256 px.")


def inception_weights(path):
    """--inception, else $GANSR_INCEPTION, else None (FID/KID skipped)."""
    from gan_sr.metrics.fid import ENV_VAR

    return path or os.environ.get(ENV_VAR) or None


@click.command(epilog=examples(
    "gansr posthoc --sr esrgan",
    "gansr posthoc --sr all --scale 2 --n 64 --ref data/anime --split test --out out/posthoc_x2",
    "gansr posthoc --sr espcn,espcn-ft=runs/espcn_ft/best.pt --gan runs/gan/last.pt --scale 4",
))
@sr_option(("esrgan",))
@click.option("--gan", type=click.Path(dir_okay=False),
              help="GAN checkpoint (default: the shipped checkpoints/gan_heads_64.pt, character heads).")
@click.option("--scale", type=int, default=4, show_default=True, help="Upscaling factor.")
@click.option("--n", type=int, default=64, show_default=True, help="Number of GAN samples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Latent seed (same samples for every method).")
@click.option("--out", type=click.Path(file_okay=False), default="out/posthoc", show_default=True,
              help="Output folder.")
@click.option("--ref", type=click.Path(),
              help="Real images at the output resolution (a built dataset or a folder) to score against.")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test", show_default=True,
              help="Split of a built --ref dataset.")
@click.option("--inception", type=click.Path(dir_okay=False),
              help="FID Inception weights for FID/KID (else $GANSR_INCEPTION; skipped without).")
@click.option("--truncation", type=float, default=1.0, show_default=True, callback=_finite,
              help="Truncation psi (1 = none).")
@PAIRS_OPTION
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar or summary.")
def posthoc(methods, gan, scale, n, seed, out, ref, split, inception, truncation, pairs, device, quiet):
    """Upscale GAN samples after the fact with one or all SR methods; grid, report, scores with --ref."""
    from gan_sr.pipelines.posthoc import run_posthoc

    res = run_posthoc(list(methods), gan=gan, scale=scale, n=n, seed=seed, out=out, ref=ref, split=split,
                      inception=inception_weights(inception), device=device, truncation=truncation, quiet=quiet,
                      pairs=pairs)
    if quiet:
        return
    for row in res["rows"]:
        score = f", SWD {row['swd_mean']:.2f}" if "swd_mean" in row else ""
        timing = f", {row['total_s']:.3f} s/sample" if "total_s" in row else ""
        click.echo(f"{row['method']}{score}{timing}")
    click.echo(f"Wrote {res['n']} samples ({res['res_lo']} -> {res['res_hi']} px) per method, grid.png and "
               f"report.md to {out}")
