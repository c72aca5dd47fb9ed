"""`gansr upscale`: upscale files and folders with any SR model, tiled."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gan_sr.cli.common import ModelsHelp, examples


@click.command(epilog=examples(
    "gansr upscale art/ -o out/ --model esrgan --scale 4 --tile 256",
    "gansr upscale sprite.png -o out/ --model espcn --scale 2 --ckpt runs/espcn/best.pt --tile 0",
    "gansr upscale frames/ -o out/ --model ~/models/RealESRGAN_x4plus_anime_6B.pth   # community weights",
    "gansr upscale frames/ -o out/ --model espcn --skip-existing   # continue an interrupted batch",
))
@click.argument("inputs", nargs=-1, required=True, metavar="IN...")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: OUT/<stem>_x<scale>.png (sub-folders of folder inputs are mirrored).")
@click.option("--model", "model_name", cls=ModelsHelp,
              help="Model name ({models}; see `gansr sr models`; learned models load checkpoints/<name>_x<scale>.pt) or a "
                   "weights file: a gansr checkpoint, or community ESRGAN / Real-ESRGAN / SRVGGNetCompact weights "
                   "(.pth, .safetensors; architecture and scale detected).")
@click.option("--scale", type=int, help="Upscaling factor [default: a weights file's own scale, else 4].")
@click.option("--ckpt", type=click.Path(dir_okay=False), help="Checkpoint to load instead of the shipped one.")
@click.option("--tile", type=click.IntRange(min=0), default=256, show_default=True,
              help="LR tile size; 0 = the whole image at once.")
@click.option("--tile-pad", type=click.IntRange(min=0), default=16, show_default=True,
              help="LR context around each tile; its inner half is a feathered blend band.")
@click.option("--fp32", is_flag=True, help="Force fp32 on CUDA (default there: fp16 autocast, fp32 retry on NaN/black tiles).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N, ...")
@click.option("--skip-existing", is_flag=True,
              help="Leave outputs that already exist (continue an interrupted batch; outputs are written atomically).")
@click.option("--quiet", is_flag=True, help="No progress bars or summary line.")
def upscale(inputs, out_dir, model_name, scale, ckpt, tile, tile_pad, fp32, device, skip_existing, quiet) -> None:
    """Upscale images with a model from the zoo (tiled, seamless, alpha kept).

    IN... are image files, folders (recursive) or glob patterns. Alpha is upscaled separately with
    bicubic; grayscale and 16-bit images stay so. Unreadable files are reported and skipped; the exit
    code is then 1.
    """
    import torch

    from gan_sr.devices import parse_device
    from gan_sr.errors import ConfigError
    from gan_sr.pipelines.upscale import upscale_files
    from gan_sr.sr.registry import get_spec, load_model

    if tile and tile <= tile_pad:
        raise ConfigError(f"--tile {tile} must be larger than --tile-pad {tile_pad} (or 0 for no tiling)")
    parent = Path(out_dir).resolve().parent
    if not parent.is_dir():
        raise ConfigError(f"-o {out_dir}: its parent folder {parent} does not exist (a typo?); create it first")
    dev = parse_device(device)
    if model_name is None and ckpt is None:
        raise ConfigError("give --model NAME (a shipped or non-learned model) or --ckpt PATH")
    if model_name is not None and ckpt is None and Path(model_name).suffix and Path(model_name).exists():
        model_name, ckpt = None, model_name  # --model PATH: a weights file
    if model_name is not None:
        name = get_spec(model_name).name
        if scale is None and ckpt is None:
            scale = 4
    model = load_model(ckpt if ckpt is not None else model_name, scale, device=dev)
    loaded = getattr(model, "registry_entry", {}).get("name")
    if ckpt is not None and model_name is not None and loaded != name:
        raise ConfigError(f"--ckpt {ckpt} holds a {loaded} model, not the --model {model_name} asked for")
    dtype = torch.float32 if fp32 else None
    report = upscale_files(inputs, out_dir, model, tile=tile, tile_pad=tile_pad, device=dev, dtype=dtype,
                           progress=not quiet and sys.stderr.isatty(), skip_existing=skip_existing)
    for path, reason in report.failed:
        click.echo(f"failed: {path}: {reason}", err=True)
    if not quiet or not report.ok:
        click.echo(report.summary(out_dir), err=not report.ok)
    if not report.ok:
        sys.exit(1)
