"""`gansr gan ...`: train, sample and evaluate the ADA limited-data GAN."""

from __future__ import annotations

import math
from pathlib import Path

import click

from gan_sr.cli.common import (FORMAT_OPTION, PRINT_CONFIG, GansrGroup, echo_config, echo_table, examples,
                              refuse_with_resume)
from gan_sr.errors import ConfigError


def _finite(ctx, param, value):
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


@click.group(cls=GansrGroup, epilog=examples("gansr gan train --data data/anime --res 64",
                                              "gansr gan sample --ckpt runs/gan/last.pt --n 64 --out samples"))
def gan() -> None:
    """Limited-data GAN with adaptive discriminator augmentation."""


@gan.command(epilog=examples(
    "gansr gan train --data data/anime --res 64 --loss ns --aug ada --kimg 200",
    "gansr gan train --data data/anime --res 64 --aug fixed:0.3 --run-dir runs/gan_fixed",
    "gansr gan train --resume runs/gan --kimg 400",
    "gansr gan train --data data/heads/64 --res 64 --kimg 500 --run-dir runs/heads64   # again: continues",
    "torchrun --nproc_per_node 2 -m gan_sr gan train --data data/anime --preset gpu --device cuda",
    "gansr gan train --config experiments/configs/gan_heads64_cpu.toml --data data/heads/64 --print-config",
))
@click.option("--data", type=click.Path(file_okay=False), help="Built dataset (uses train/) or a folder of images.")
@click.option("--res", type=int, help="Resolution, a power of two (default 64).")
@click.option("--loss", type=click.Choice(["ns", "wgan-gp", "wgan", "lsgan", "hinge"]),
              help="Adversarial loss (default ns: non-saturating + lazy R1).")
@click.option("--aug", metavar="ada|fixed:P|none", help="Discriminator augmentation (default ada).")
@click.option("--kimg", type=float, help="Length in thousands of real images shown to D (also extends a resumed run).")
@click.option("--resume", type=click.Path(file_okay=False), help="Run folder to continue from its last.pt.")
@click.option("--run-dir", type=click.Path(file_okay=False), help="Where a new run goes (default runs/gan_RES_LOSS_AUG).")
@click.option("--preset", type=click.Choice(["cpu", "gpu"]), help="Network size and batch (default cpu).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML config merged over the preset (built-in presets: gan_sr/recipes/gan_*.toml; examples: "
                   "experiments/configs/gan_*.toml).")
@click.option("--batch", type=int, help="Global batch size (split over torchrun ranks).")
@click.option("--lr", type=float, help="Learning rate of G and D.")
@click.option("--r1-gamma", type=float, help="R1 weight (default 0.0002 * res^2 / batch).")
@click.option("--snapshot-kimg", type=float, help="Checkpoint and sample grid every N kimg.")
@click.option("--swd-images", type=int, help="Log SWD against N training images at every snapshot (0 = off).")
@click.option("--workers", type=int, help="Data loader worker processes.")
@click.option("--bf16/--no-bf16", default=None, help="bf16 autocast for the training passes.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), help="Device (default cpu).")
@click.option("--seed", type=int, help="Seed for init, latents, data order and augmentation.")
@click.option("--quiet", is_flag=True, help="No progress bar or messages.")
@PRINT_CONFIG
def train(data, res, loss, aug, kimg, resume, run_dir, preset, config_file, batch, lr, r1_gamma, snapshot_kimg,
          swd_images, workers, bf16, device, seed, quiet, print_config):
    """Train the GAN (ADA, resumable, TensorBoard, torchrun-ready)."""
    from gan_sr.config import GanConfig
    from gan_sr.train.gan import build_config, resumed_config, train_gan

    if resume:
        fixed = {"--data": data, "--res": res, "--loss": loss, "--aug": aug, "--preset": preset,
                 "--config": config_file, "--batch": batch, "--lr": lr, "--r1-gamma": r1_gamma, "--seed": seed,
                 "--run-dir": run_dir, "--device": device}
        refuse_with_resume(fixed, "--kimg, --quiet and --print-config")
        if print_config:
            return echo_config(resumed_config(resume, kimg), GanConfig, "gansr gan train")
        summary = train_gan(resume=resume, kimg=kimg, quiet=quiet)
    else:
        if not data and not config_file and not print_config:
            raise ConfigError("--data is required for a new run (a `gansr data build` output or a folder of images)")
        cfg = build_config(config_file, data=data, res=res, loss=loss, aug=aug, kimg=kimg, preset=preset,
                           batch=batch, lr=lr, r1_gamma=r1_gamma, snapshot_kimg=snapshot_kimg,
                           swd_images=swd_images, workers=workers, bf16=bf16, device=device, seed=seed)
        if print_config:
            return echo_config(cfg, GanConfig, "gansr gan train")
        if run_dir is None:
            a = cfg["aug"]
            tag = a["mode"] if a["mode"] != "fixed" else f"fixed{a['p']:g}"
            run_dir = f"runs/gan_{cfg['model']['res']}_{cfg['train']['loss']}_{tag}"
        from gan_sr.train.loop import RunDir

        if RunDir(run_dir).continues(cfg, ignore=("train.kimg",)):  # the same command given again continues
            if not quiet:
                click.echo(f"Continuing the run in {run_dir} to {cfg['train']['kimg']:g} kimg")
            summary = train_gan(resume=run_dir, kimg=cfg["train"]["kimg"], quiet=quiet)
        else:
            if not quiet:
                click.echo(f"Training {cfg['model']['res']} px GAN ({cfg['train']['loss']}, aug {cfg['aug']['mode']}, "
                           f"preset {cfg['model']['preset']}) for {cfg['train']['kimg']:g} kimg in {run_dir}")
                click.echo(f"TensorBoard: tensorboard --logdir {Path(run_dir) / 'tb'}")
            summary = train_gan(cfg, run_dir=run_dir, quiet=quiet)
    if not quiet:
        click.echo(f"Done: {summary['kimg']:g} kimg in {summary['wall_s']:.0f} s "
                   f"({summary.get('sec_per_kimg', float('nan')):.1f} s/kimg last tick), p = {summary['p']:.3f}, "
                   f"r_t = {summary['r_t']:.2f} -> {Path(summary['run']) / 'last.pt'}")


@gan.command(epilog=examples("gansr gan sample --ckpt runs/gan/last.pt --n 64 --out samples --seed 0",
                             "gansr gan sample --ckpt checkpoints/gan_64.pt --n 32 --out interp --interpolate",
                             "gansr gan sample --ckpt runs/joint_espcn_x2/last.pt --n 16 --out joint_samples"))
@click.option("--ckpt", type=click.Path(dir_okay=False), required=True,
              help="GAN checkpoint (last.pt), or a joint stack's (then the samples are its high-resolution output).")
@click.option("--n", type=int, default=64, show_default=True, help="Samples (with --interpolate: frames in all).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder for the PNGs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Latent seed.")
@click.option("--interpolate", is_flag=True, help="Latent interpolations (rows of 8 frames, linear in w).")
@click.option("--truncation", type=float, default=1.0, show_default=True, callback=_finite,
              help="Truncation psi (1 = none).")
@click.option("--raw", is_flag=True, help="Use the raw generator instead of its EMA.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
def sample(ckpt, n, out, seed, interpolate, truncation, raw, device):
    """Write samples and a grid from a GAN checkpoint."""
    import torch

    from gan_sr.io.images import write_image
    from gan_sr.io.grids import make_grid
    from gan_sr.train.gan import generate, interpolation, load_generator

    if n < 1:
        raise ConfigError(f"--n {n}: must be at least 1")
    out = Path(out)
    from gan_sr.io.checkpoints import load_checkpoint

    if load_checkpoint(ckpt).get("kind") == "joint":
        _sample_stack(ckpt, n, out, seed, interpolate, truncation, raw, device)
        return
    g = load_generator(ckpt, device, ema=not raw)
    out.mkdir(parents=True, exist_ok=True)
    if interpolate:
        rows = max(1, math.ceil(n / 8))
        z = torch.randn(rows, 2, g.z_dim, generator=torch.Generator().manual_seed(seed))
        frames = interpolation(g, z.to(device), steps=8, truncation=truncation).cpu()
        for i, im in enumerate(frames):
            write_image(out / f"interp_{i // 8:03d}_{i % 8}.png", im)
        write_image(out / "interpolation.png", make_grid(frames, 8))
        click.echo(f"Wrote {len(frames)} frames ({rows} rows of 8) and interpolation.png to {out}")
        return
    images = generate(g, n, seed=seed, truncation=truncation, device=device)
    for i, im in enumerate(images):
        write_image(out / f"sample_{i:05d}.png", im)
    write_image(out / "grid.png", make_grid(images, max(1, math.ceil(math.sqrt(n)))))
    click.echo(f"Wrote {n} samples ({g.res} px) and grid.png to {out}")


def _sample_stack(ckpt, n, out, seed, interpolate, truncation, raw, device) -> None:
    """Samples of a joint stack (gan_sr.train.joint): its hi output, the same latents as a GAN's for the seed."""
    from gan_sr.io.images import write_image
    from gan_sr.io.grids import make_grid
    from gan_sr.train.joint import generate_stack, load_stack

    if interpolate or raw:
        raise ConfigError(f"{'--interpolate' if interpolate else '--raw'}: not available for a joint stack checkpoint "
                          f"({ckpt}); it samples the EMA stack only")
    stack = load_stack(ckpt, device)
    _, images = generate_stack(stack, n, seed=seed, truncation=truncation, device=device)
    out.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        write_image(out / f"sample_{i:05d}.png", im)
    write_image(out / "grid.png", make_grid(images, max(1, math.ceil(math.sqrt(n)))))
    click.echo(f"Wrote {n} samples ({stack.res_hi} px, the stack's output at alpha {float(stack.alpha):.2f}) "
               f"and grid.png to {out}")


@gan.command(name="eval", epilog=examples("gansr gan eval --ckpt runs/gan/last.pt --ref data/anime/test",
                                          "gansr gan eval --ckpt runs/gan/last.pt --ref data/anime --split val "
                                          "--inception pt_inception-2015-12-05-6726825d.pth"))
@click.option("--ckpt", type=click.Path(dir_okay=False), required=True, help="GAN checkpoint.")
@click.option("--ref", type=click.Path(file_okay=False), required=True,
              help="Real images: a folder, or a built dataset (then --split picks the folder).")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test", show_default=True)
@click.option("--n", type=int, help="Use at most N real images (and as many fakes).")
@click.option("--inception", type=click.Path(dir_okay=False),
              help="FID Inception weights (pt_inception-2015-12-05-6726825d.pth) for FID/KID; else $GANSR_INCEPTION.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--truncation", type=float, default=1.0, show_default=True, callback=_finite,
              help="Truncation psi (1 = none).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@FORMAT_OPTION
def eval_(ckpt, ref, split, n, inception, seed, truncation, device, fmt):
    """Score a generator against real images (SWD, MS-SSIM diversity; FID/KID with local weights)."""
    import os

    from gan_sr.metrics.fid import ENV_VAR
    from gan_sr.train.gan import evaluate_generator

    weights = inception or os.environ.get(ENV_VAR) or None
    row = evaluate_generator(ckpt, ref, split=split, n=n, seed=seed, inception=weights, device=device,
                             truncation=truncation)
    echo_table([row], fmt)
    if weights is None and fmt == "md":
        click.echo("(FID/KID skipped: no Inception weights; pass --inception PATH)", err=True)


@gan.command(epilog=examples("gansr gan export --ckpt runs/heads64/last.pt --out checkpoints/gan_heads_64.pt "
                             "--ref data/heads/64 --split val"))
@click.option("--ckpt", type=click.Path(dir_okay=False), required=True, help="A run's last.pt.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Slim checkpoint to write (+ .md card).")
@click.option("--ref", type=click.Path(file_okay=False), help="Real images to put an SWD score on the card.")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test", show_default=True)
def export(ckpt, out, ref, split):
    """Ship the EMA generator of a run as a small checkpoint with a model card."""
    import shlex
    import sys

    from gan_sr.train.gan import export_generator

    res = export_generator(ckpt, out, ref=ref, split=split,
                           command="gansr " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    click.echo(f"Wrote {res['checkpoint']} and {res['card']}")
