"""`gansr sr train` and `gansr sr interpolate`."""

from __future__ import annotations

import shlex
import sys

import click

from gan_sr.cli.common import PRINT_CONFIG, ModelsHelp, echo_config, examples, refuse_with_resume
from gan_sr.errors import ConfigError

_RUN_OPTIONS = ("model", "scale", "preset", "stage", "config", "batch", "hr_size", "lr", "run_dir", "init",
                "perceptual", "bf16", "channels_last", "seed", "degradation")


@click.command(epilog=examples(
    "gansr sr train --model espcn --scale 4 --data data/anime --preset cpu",
    "gansr sr train --model esrgan --stage gan --data data/anime --init runs/esrgan_x4_psnr/best.pt --vgg-weights vgg19-dcbb9e9d.pth",
    "gansr sr train --resume runs/espcn_x4_mse --steps 5000",
    "gansr sr train --model rrdb --scale 4 --data data/anime --run-dir runs/rrdb_x4   # same command again: resumes",
    "gansr sr train --model espcn --scale 2 --data data/anime --degradation mixed --init checkpoints/espcn_x2.pt",
    "torchrun --nproc_per_node 2 -m gan_sr sr train --model srgan --data data/anime",
    "gansr sr train --model rrdb --scale 2 --lr 5e-4 --print-config > rrdb_x2.toml   # edit, then --config rrdb_x2.toml",
))
@click.option("--model", cls=ModelsHelp, help="Model to train: {learnable}.")
@click.option("--scale", type=int, help="Upscaling factor (default 4).")
@click.option("--data", type=click.Path(file_okay=False), help="Built dataset folder with train/ and val/.")
@click.option("--preset", type=click.Choice(["cpu", "paper"]), help="Recipe and model size (default cpu).")
@click.option("--stage", cls=ModelsHelp, help="Training stage: {stages}; the first of a model's is its default.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML config merged over the recipe (built-in recipes: gan_sr/recipes/; examples: "
                   "experiments/configs/).")
@click.option("--steps", type=int, help="Total training steps (also extends a resumed run).")
@click.option("--batch", type=int, help="Batch size per process.")
@click.option("--hr-size", type=int, help="HR crop side in pixels (a multiple of the scale).")
@click.option("--lr", type=float, help="Generator learning rate.")
@click.option("--resume", type=click.Path(file_okay=False), help="Run folder to continue from its last.pt.")
@click.option("--run-dir", type=click.Path(file_okay=False),
              help="Where the run goes (default runs/MODEL_xSCALE_STAGE).")
@click.option("--init", type=click.Path(dir_okay=False),
              help="Start the generator from this checkpoint's weights (a GAN stage, or a fine-tune).")
@click.option("--degradation", metavar="bicubic|area|mixed",
              help="How LR is made from HR: MATLAB bicubic (default), box average, or mixed = random blur, "
                   "bicubic, noise and JPEG (for input that is not clean bicubic, e.g. GAN samples).")
@click.option("--vgg-weights", type=click.Path(dir_okay=False),
              help="torchvision vgg19-dcbb9e9d.pth for the perceptual loss (else the torch hub cache).")
@click.option("--perceptual", metavar="LAYER|none",
              help="VGG19 layer of the perceptual loss (conv5_4, relu5_4, ...) or 'none' to drop it.")
@click.option("--bf16/--no-bf16", default=None, help="bf16 autocast for training steps (eval stays fp32).")
@click.option("--channels-last/--no-channels-last", default=None, help="channels_last memory format.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--seed", type=int, help="Seed for init, data order and augmentation.")
@click.option("--for-minutes", type=float, help="Checkpoint and stop after this many minutes (a slice of a "
              "campaign; the same command continues).")
@click.option("--quiet", is_flag=True, help="No progress bar or messages.")
@PRINT_CONFIG
def train(model, scale, data, preset, stage, config_file, steps, batch, hr_size, lr, resume, run_dir, init,
          degradation, vgg_weights, perceptual, bf16, channels_last, device, seed, for_minutes, quiet, print_config):
    """Train an SR model (resumable, TensorBoard, torchrun-ready)."""
    from gan_sr.config import SRConfig
    from gan_sr.train.sr import SRTrainer
    from gan_sr.train.sr_config import build_config, resumed_config

    command = "gansr " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    given = {k: v for k, v in locals().items() if k in _RUN_OPTIONS or k == "config_file"}
    if resume:
        refuse_with_resume({"--" + k.replace("_file", "").replace("_", "-"): v for k, v in given.items()},
                           "--steps, --data, --vgg-weights, --device, --for-minutes, --quiet, --print-config")
        if print_config:
            return echo_config(resumed_config(resume, steps), SRConfig, "gansr sr train")
        trainer = SRTrainer(None, data=data, resume=resume, vgg_weights=vgg_weights, device=device,
                            quiet=quiet, command=command, steps=steps, for_minutes=for_minutes)
    else:
        if not data and not print_config:
            raise ConfigError("--data is required for a new run (a folder with train/ and val/)")
        over: dict = {}
        if steps is not None:
            over.setdefault("train", {})["steps"] = steps
        if lr is not None:
            over.setdefault("train", {})["lr"] = lr
        if seed is not None:
            over.setdefault("train", {})["seed"] = seed
        if batch is not None:
            over.setdefault("data", {})["batch"] = batch
        if hr_size is not None:
            over.setdefault("data", {}).update(hr_size=hr_size, lr_size=0)
        if degradation is not None:
            over.setdefault("data", {})["degradation"] = degradation
        if perceptual is not None:
            over["loss"] = {"perceptual": {"weight": 0.0} if perceptual == "none" else {"layer": perceptual}}
        prec = {k: v for k, v in (("bf16", bf16), ("channels_last", channels_last)) if v is not None}
        if prec:
            over["precision"] = prec
        cfg = build_config(model or "", scale=scale, preset=preset, stage=stage, config_file=config_file,
                           overrides=over)
        if perceptual not in (None, "none") and cfg["loss"]["perceptual"]["weight"] <= 0:
            raise ConfigError(f"--perceptual {perceptual}: this recipe has no perceptual loss (weight 0); "
                              "set loss.perceptual.weight in --config")
        if print_config:
            return echo_config(cfg, SRConfig, "gansr sr train")
        if run_dir and _same_run(run_dir, cfg, data, init):
            trainer = SRTrainer(None, data=data, resume=run_dir, vgg_weights=vgg_weights, device=device,
                                quiet=quiet, command=command, steps=cfg["train"]["steps"], for_minutes=for_minutes)
        else:
            trainer = SRTrainer(cfg, data=data, run_dir=run_dir, init=init, vgg_weights=vgg_weights, device=device,
                                quiet=quiet, command=command, for_minutes=for_minutes)
    if trainer.dist.is_main and not quiet:
        m = trainer.cfg["model"]
        click.echo(f"Training {m['name']} x{m['scale']} ({m['stage']} stage, preset {m['preset']}) "
                   f"from step {trainer.step} to {trainer.cfg['train']['steps']} in {trainer.run.path}")
        click.echo(f"TensorBoard logs: {trainer.run.tb}  (view with: tensorboard --logdir {trainer.run.tb})")
    result = trainer.fit()
    if trainer.dist.is_main and not quiet:
        val = ", ".join(f"{k} {v:.4f}" for k, v in result.val.items())
        click.echo(f"Done at step {result.step} in {result.wall_s:.0f} s; last val {val}; "
                   f"best val PSNR {result.best_psnr:.4f} dB -> {trainer.run.best}")


def _same_run(run_dir: str, cfg: dict, data: str, init: str | None) -> bool:
    """True when RUN_DIR holds a run of this very config (train.steps aside), data and init: the same
    command given again continues it (ConfigError when it holds another run)."""
    from pathlib import Path

    from gan_sr.train.loop import RunDir

    run = RunDir(run_dir)
    if run.config_file.is_file():  # the run folder records data as given: compare it resolved
        saved = run.read_config()
        if Path(saved.get("data", "")).resolve() == Path(data).resolve():
            data = saved.get("data", data)
    record = {"config": cfg, "data": str(data), "init": str(init) if init else None}
    return run.continues(record, ignore=("config.train.steps", "command", "vgg_weights"))


@click.command(epilog=examples("gansr sr interpolate psnr.ckpt gan.ckpt --alpha 0.8 -o interp.ckpt"))
@click.argument("a", type=click.Path(dir_okay=False))
@click.argument("b", type=click.Path(dir_okay=False))
@click.option("--alpha", type=float, required=True, help="Weight of B: theta = (1 - alpha) A + alpha B.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), required=True, help="Output checkpoint.")
def interpolate(a, b, alpha, out):
    """Network interpolation between two checkpoints of the same model (ESRGAN's PSNR/GAN trade-off)."""
    from gan_sr.sr.interpolate import interpolate_checkpoints

    path = interpolate_checkpoints(a, b, alpha, out)
    click.echo(f"Wrote {path} = {1 - alpha:g} * {a} + {alpha:g} * {b}")
