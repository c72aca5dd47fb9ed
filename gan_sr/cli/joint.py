"""`gansr joint-train` and `gansr joint-export`: a base generator and an SR stage trained as one progressive stack."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from gan_sr.cli.common import PRINT_CONFIG, echo_config, examples, refuse_with_resume
from gan_sr.errors import ConfigError


@click.command(name="joint-train", epilog=examples(
    "gansr joint-train --data data/anime --config experiments/configs/joint_cpu.toml --run-dir runs/joint_espcn_x2",
    "gansr joint-train --data data/heads/128 --sr espcn --scale 2 --g0 checkpoints/gan_heads_64.pt "
    "--sr-ckpt checkpoints/espcn_x2.pt --kimg 20 --fade-kimg 5",
    "gansr joint-train --data data/anime --g0 runs/gan_cpu64/last.pt --sr-ckpt checkpoints/espcn_x2.pt --freeze-g0",
    "gansr joint-train --resume runs/joint_espcn_x2 --kimg 60",
    "torchrun --nproc_per_node 2 -m gan_sr joint-train --data data/anime --preset gpu --device cuda",
    "gansr joint-train --data data/anime --sr espcn --scale 2 --fade-kimg 5 --print-config > joint.toml",
))
@click.option("--data", type=click.Path(file_okay=False), help="Built dataset (uses train/) or a folder of images.")
@click.option("--sr", help="SR stage: a learnable registry model (espcn, srcnn, srgan, esrgan; default espcn).")
@click.option("--scale", type=int, help="Upscaling factor of the SR stage, 2 or 4 (default 2).")
@click.option("--res", type=int, help="G0's resolution (default 64; taken from --g0 when given).")
@click.option("--g0", type=click.Path(dir_okay=False), help="Start G0 (and D_lo) from a GAN checkpoint.")
@click.option("--sr-ckpt", type=click.Path(dir_okay=False),
              help="Start S from an SR checkpoint (a run's best.pt or checkpoints/NAME_xS.pt; EMA weights).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML config merged over the preset (built-in presets: gan_sr/recipes/joint_*.toml; examples: "
                   "experiments/configs/joint_*.toml).")
@click.option("--kimg", type=float,
              help="Length in thousands of real images shown to the Ds (also extends a resumed run).")
@click.option("--base-kimg", type=float, help="G0 + D_lo alone first, when there is no --g0.")
@click.option("--fade-kimg", type=float, help="Fade the SR stage in (alpha 0 -> 1) over N kimg.")
@click.option("--consistency", type=float, help="Weight of |downscale(hi) - lo|_1 in G's loss (0 = off).")
@click.option("--freeze-g0", is_flag=True, default=None,
              help="Keep G0 as loaded and train only S (fine-tunes S on the GAN's own outputs).")
@click.option("--loss", type=click.Choice(["ns", "wgan-gp", "wgan", "lsgan", "hinge"]),
              help="Adversarial loss for both Ds (default ns: non-saturating + lazy R1).")
@click.option("--aug", metavar="ada|fixed:P|none", help="Augmentation for both Ds, each with its own p (default ada).")
@click.option("--preset", type=click.Choice(["cpu", "gpu"]), help="Network sizes and batch (default cpu).")
@click.option("--batch", type=int, help="Global batch size (split over torchrun ranks).")
@click.option("--snapshot-kimg", type=float, help="Checkpoint and sample grids every N kimg.")
@click.option("--swd-images", type=int, help="Log SWD of hi against N training images at every snapshot (0 = off).")
@click.option("--run-dir", type=click.Path(file_okay=False), help="Where a new run goes (default runs/joint_SR_xSCALE).")
@click.option("--resume", type=click.Path(file_okay=False), help="Run folder to continue from its last.pt.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), help="Device (default cpu).")
@click.option("--seed", type=int, help="Seed for init, latents, data order and augmentation.")
@click.option("--quiet", is_flag=True, help="No progress bar or messages.")
@PRINT_CONFIG
def joint_train(data, sr, scale, res, g0, sr_ckpt, config_file, kimg, base_kimg, fade_kimg, consistency, freeze_g0,
                loss, aug, preset, batch, snapshot_kimg, swd_images, run_dir, resume, device, seed, quiet, print_config):
    """Train G0 and an SR stage jointly as one generator (ProGAN-style fade-in, a D at each resolution)."""
    from gan_sr.config import JointConfig
    from gan_sr.train.joint import build_config, resumed_config, train_joint

    if resume:
        fixed = {"--data": data, "--sr": sr, "--scale": scale, "--res": res, "--g0": g0, "--sr-ckpt": sr_ckpt,
                 "--config": config_file, "--base-kimg": base_kimg, "--fade-kimg": fade_kimg,
                 "--consistency": consistency, "--freeze-g0": freeze_g0, "--loss": loss, "--aug": aug,
                 "--preset": preset, "--batch": batch, "--run-dir": run_dir, "--device": device, "--seed": seed}
        refuse_with_resume(fixed, "--kimg, --quiet and --print-config")
        if print_config:
            return echo_config(resumed_config(resume, kimg), JointConfig, "gansr joint-train")
        summary = train_joint(resume=resume, kimg=kimg, quiet=quiet)
    else:
        if not data and not config_file and not print_config:
            raise ConfigError("--data is required for a new run (a `gansr data build` output or a folder of images)")
        cfg = build_config(config_file, preset=preset, data=data, sr=sr, scale=scale, res=res, g0=g0,
                           sr_ckpt=sr_ckpt, kimg=kimg, base_kimg=base_kimg, fade_kimg=fade_kimg,
                           consistency=consistency, freeze_g0=freeze_g0, loss=loss, aug=aug, batch=batch,
                           snapshot_kimg=snapshot_kimg, swd_images=swd_images, device=device, seed=seed)
        if print_config:
            return echo_config(cfg, JointConfig, "gansr joint-train")
        m = cfg["model"]
        run_dir = run_dir or f"runs/joint_{m['sr']}_x{m['scale']}"
        if not quiet:
            click.echo(f"Training the stack G0 {m['res']} px + {m['sr']} x{m['scale']} ({cfg['train']['loss']}, "
                       f"aug {cfg['aug']['mode']}) for {cfg['train']['kimg']:g} kimg in {run_dir}")
            click.echo(f"TensorBoard: tensorboard --logdir {Path(run_dir) / 'tb'}")
        summary = train_joint(cfg, run_dir=run_dir, quiet=quiet)
    if not quiet:
        click.echo(f"Done: {summary['kimg']:g} kimg in {summary['wall_s']:.0f} s, phase {summary.get('phase')}, "
                   f"alpha {summary.get('alpha', float('nan')):.2f}, p lo/hi {summary.get('p_lo', float('nan')):.3f}/"
                   f"{summary.get('p_hi', float('nan')):.3f} -> {Path(summary['run']) / 'last.pt'}")


@click.command(name="joint-export", epilog=examples(
    "gansr joint-export --ckpt runs/joint_espcn_x2/last.pt --out checkpoints/joint_espcn_x2.pt"))
@click.option("--ckpt", type=click.Path(dir_okay=False), required=True, help="A joint run's last.pt.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Slim checkpoint to write (+ .md card).")
def joint_export(ckpt, out):
    """Ship the EMA stack of a joint run as a small checkpoint with a model card."""
    from gan_sr.train.joint import export_stack

    res = export_stack(ckpt, out, command="gansr " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    click.echo(f"Wrote {res['checkpoint']} and {res['card']}")
