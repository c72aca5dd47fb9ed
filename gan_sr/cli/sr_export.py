"""`gansr sr export`: ONNX export."""

from __future__ import annotations

import click

from gan_sr.cli.common import ModelsHelp, examples


def _size(text: str) -> tuple[int, int]:
    from gan_sr.errors import ConfigError

    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size {text!r}: give HxW such as 64x64") from None
    if h < 8 or w < 8:
        raise ConfigError(f"--size {text!r}: height and width must be at least 8")
    return h, w


@click.command(epilog=examples(
    "gansr sr export --model esrgan --scale 4 --onnx esrgan_x4.onnx",
    "gansr sr export --model espcn --scale 2 --ckpt runs/espcn/best.pt --onnx espcn.onnx --static --size 270x480",
))
@click.option("--model", "model_name", cls=ModelsHelp,
              help="Model name ({models}); learned ones load the shipped checkpoint.")
@click.option("--scale", type=int, default=4, show_default=True, help="Upscaling factor.")
@click.option("--ckpt", type=click.Path(dir_okay=False), help="Checkpoint to export instead of the shipped one.")
@click.option("--onnx", "onnx_path", required=True, type=click.Path(dir_okay=False), help="Output .onnx file.")
@click.option("--opset", type=int, default=17, show_default=True, help="ONNX opset version.")
@click.option("--size", "size_text", default="64x64", show_default=True, help="LR size HxW traced at export.")
@click.option("--static", is_flag=True, help="Fixed input size (--size) instead of dynamic height/width.")
def export(model_name, scale, ckpt, onnx_path, opset, size_text, static) -> None:
    """Export a model to ONNX with dynamic height and width.

    Needs the `onnx` package; with onnxruntime installed the file is run on an input of another size
    and compared with torch (max abs diff printed).
    """
    from gan_sr.errors import ConfigError
    from gan_sr.pipelines.export import export_onnx
    from gan_sr.sr.registry import get_spec, load_model

    if model_name is None and ckpt is None:
        raise ConfigError("give --model NAME or --ckpt PATH")
    if model_name is not None:
        get_spec(model_name)
    model = load_model(ckpt if ckpt is not None else model_name, scale)
    result = export_onnx(model, onnx_path, opset=opset, size=_size(size_text), dynamic=not static)
    shape = "dynamic batch/height/width" if result.dynamic else f"fixed {result.size[0]}x{result.size[1]}"
    click.echo(f"wrote {result.path} (opset {opset}, {shape})")
    if result.max_abs_diff is None:
        click.echo("onnxruntime not installed: output not checked (pip install onnxruntime)")
    else:
        h, w = result.check_size
        click.echo(f"onnxruntime vs torch on a {h}x{w} input: max abs diff {result.max_abs_diff:.3g}")
