"""Bad input on every `gansr` command ends in one 'Error: ...' line naming the culprit, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner

from gan_sr.cli import main
from gan_sr.data.synth import make_split_dirs, write_synth_dataset
from gan_sr.gan.networks import Generator
from gan_sr.io.checkpoints import save_checkpoint

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"
GAN_CFG = dict(res=8, z_dim=8, w_dim=8, mapping_layers=1, channel_base=64, channel_max=8)


@pytest.fixture(scope="module")
def t(tmp_path_factory) -> Path:
    """A folder of tiny valid and broken inputs: images, checkpoints of each kind, raw and garbage files."""
    root = tmp_path_factory.mktemp("bad_input")
    make_split_dirs(root / "ds", 2, size=32)
    write_synth_dataset(root / "imgs", 2, 32, 0, progress=False)
    write_synth_dataset(root / "hr", 2, 32, 0, progress=False)
    for name in ("empty.png", "empty.pt"):
        (root / name).write_bytes(b"")
    for name in ("text.png", "text.pt"):
        (root / name).write_text("hello, not binary\n")
    png = next((root / "imgs").glob("*.png")).read_bytes()
    (root / "trunc.png").write_bytes(png[: len(png) // 2])
    (root / "rand.pt").write_bytes(os.urandom(4096))
    (root / "adir").mkdir()
    torch.save({"w": torch.zeros(3)}, root / "raw.pt")
    g = Generator(**GAN_CFG)
    save_checkpoint(root / "gan.pt", {"kind": "gan", "model": {"name": "stylegan2-lite", "scale": 1, "preset": "cpu",
                                                               "config": GAN_CFG},
                                      "state_dict": g.state_dict(), "ema": g.state_dict(), "step": 0, "meta": {}})
    return root


def _args(template: str, root: Path) -> list[str]:
    sr, sr2 = SHIPPED / "espcn_x4.pt", SHIPPED / "srcnn_x4.pt"
    if ("$SR" in template) and not (sr.is_file() and sr2.is_file()):
        pytest.skip("shipped SR checkpoints (checkpoints/espcn_x4.pt, srcnn_x4.pt) not present")
    text = template.replace("$SR2", str(sr2)).replace("$SR", str(sr)).replace("T/", f"{root}/")
    return text.split()


def _check(root: Path, template: str, words: tuple[str, ...], code: int | None = None) -> None:
    res = CliRunner().invoke(main, _args(template, root))
    out = res.output
    crashed = res.exception is not None and not isinstance(res.exception, SystemExit)
    assert not crashed, f"{template}: raised {res.exception!r}"
    assert "Traceback" not in out
    assert res.exit_code != 0, f"{template}: exit 0\n{out}"
    if code is not None:
        assert res.exit_code == code
    assert "Error:" in out, out
    for w in words:
        assert w.lower() in out.lower(), f"{template}: {w!r} missing from\n{out}"


# (command with T/ for the temp folder and $SR/$SR2 for shipped SR checkpoints, key words of the reason)
GOOD = [
    # data build / synth
    ("data build T/nope --out T/o1", ("nope", "no such file")),
    ("data build T/imgs --out T/imgs/sub", ("--out", "inside the input")),
    ("data build T/imgs --out T/o4 --patch 0", ("--patch 0", "at least 8")),
    ("data build T/imgs --out T/o4 --patch -5", ("--patch -5",)),
    ("data build T/imgs --out T/o5 --split 1,2", ("--split", "three fractions")),
    ("data build T/imgs --out T/o6 --background purple", ("--background", "purple")),
    ("data build T/imgs --out T/o7 --hash-size 0", ("--hash-size 0",)),
    ("data build T/imgs --out T/o8 --workers -1", ("--workers -1", "at least 1")),
    ("data build T/imgs --out T/o9 --min-info 2", ("--min-info", "between 0 and 1")),
    ("data build T/imgs --out T/o10 --stride 0", ("--stride 0", "positive")),
    ("data build T/imgs --out T/text.png", ("--out", "text.png", "not a folder")),
    ("data synth --out T/text.png --n 1 --size 8", ("--out", "is a file")),
    ("data synth --out T/s1 --n 0", ("--n", "x>=1")),
    # sr models / train / interpolate
    ("sr models --scale 0", ("--scale 0", "not available")),
    ("sr models --scale -1", ("--scale -1", "not available")),
    ("sr models --scale 5", ("--scale 5", "not available")),
    ("sr train --model nope --data T/ds --steps 1", ("--model nope", "no training recipe")),
    ("sr train --model espcn --data T/nope --steps 1", ("nope", "does not exist")),
    ("sr train --model espcn --data T/ds --steps 1", ("too small", "hr_size 64")),
    ("sr train --model espcn --scale -1 --data T/ds --steps 1", ("--scale -1", "not available")),
    ("sr train --model espcn --scale 5 --data T/ds --steps 1", ("--scale 5", "not available")),
    ("sr train --model espcn --data T/ds --steps 1 --config T/nope.toml", ("--config", "no such file")),
    ("sr train --model espcn --data T/ds --steps 1 --config T/text.png", ("--config", "not valid TOML")),
    ("sr train --model espcn --data T/ds --steps 0 --hr-size 16 --batch 1 --run-dir T/r0", ("steps", ">= 1")),
    ("sr train --model espcn --data T/ds --steps 1 --hr-size 15 --batch 1 --run-dir T/r1", ("hr_size = 15",)),
    ("sr train --model espcn --data T/ds --steps 1 --hr-size 16 --batch 0 --run-dir T/r2", ("batch", ">= 1")),
    ("sr train --model espcn --data T/ds --steps 1 --stage gan --run-dir T/r3", ("--stage gan", "mse")),
    ("sr train --model espcn --data T/ds --steps 1 --perceptual conv9_9 --run-dir T/r3", ("--perceptual",)),
    ("sr train --resume T/nope", ("--resume", "no such run folder")),
    ("sr train --resume T/adir", ("--resume", "config.json is missing")),
    ("sr train --resume T/adir --model espcn", ("--resume", "drop --model")),
    ("sr train --model srgan --stage gan --data T/ds --init T/text.pt --steps 1 --run-dir T/r4", ("text.pt", "corrupt")),
    ("sr train --model srgan --stage gan --data T/ds --init T/gan.pt --steps 1 --run-dir T/r5", ("--init", "gan.pt", "stylegan2-lite")),
    ("sr interpolate T/nope.pt T/nope2.pt --alpha 0.5 -o T/i.pt", ("nope.pt", "no such checkpoint")),
    ("sr interpolate T/adir T/adir --alpha 0.5 -o T/i.pt", ("adir", "is a directory")),
    ("sr interpolate T/empty.pt $SR --alpha 0.5 -o T/i.pt", ("empty.pt", "empty file")),
    ("sr interpolate T/text.pt $SR --alpha 0.5 -o T/i.pt", ("text.pt", "corrupt")),
    ("sr interpolate T/rand.pt $SR --alpha 0.5 -o T/i.pt", ("rand.pt",)),
    ("sr interpolate T/raw.pt $SR --alpha 0.5 -o T/i.pt", ("raw.pt", "raw state_dict")),
    ("sr interpolate $SR $SR2 --alpha 0.5 -o T/i.pt", ("cannot interpolate", "model name differs")),
    ("sr interpolate $SR T/gan.pt --alpha 0.5 -o T/i.pt", ("gan.pt", "not an SR model checkpoint")),
    ("sr interpolate $SR $SR --alpha 1.5 -o T/i.pt", ("--alpha 1.5", "[0, 1]")),
    ("sr interpolate $SR $SR --alpha -0.1 -o T/i.pt", ("--alpha -0.1", "[0, 1]")),
    ("sr interpolate $SR $SR --alpha nan -o T/i.pt", ("--alpha nan",)),
    ("sr interpolate $SR $SR --alpha 0.5 -o $SR", ("-o", "overwrite an input")),
    ("sr interpolate $SR $SR --alpha 0.5 -o T/adir", ("--out", "is a directory")),
    # sr bench / export
    ("sr bench --models nope --data T/hr --no-timing --out T/b1 --quiet", ("unknown SR model 'nope'",)),
    ("sr bench --models bicubic --data T/nope --no-timing --out T/b2 --quiet", ("--data", "nope")),
    ("sr bench --models bicubic --data T/adir --no-timing --out T/b3 --quiet", ("--data", "no image files")),
    ("sr bench --models bicubic --data T/hr --scale 0 --no-timing --out T/b4 --quiet", ("--scale", "0")),
    ("sr bench --models bicubic --data T/hr --scale 5 --no-timing --out T/b5 --quiet", ("--scale 5",)),
    ("sr bench --models bicubic --data T/hr --ckpt espcn=T/text.pt --no-timing --out T/b6 --quiet", ("text.pt", "corrupt")),
    ("sr bench --models bicubic --data T/hr --ckpt garbage --no-timing --out T/b7 --quiet", ("--ckpt", "NAME=PATH")),
    ("sr bench --models espcn --data T/hr --ckpt espcn=T/gan.pt --no-timing --out T/b8 --quiet", ("gan.pt", "stylegan2-lite")),
    ("sr bench --models bicubic --data T/hr --runs 0 --out T/b9 --quiet", ("--runs", ">= 1")),
    ("sr bench --models bicubic --data T/hr --no-timing --out T/hr/sub --quiet", ("--out", "inside the input")),
    ("sr export --onnx T/x.onnx", ("--model", "--ckpt")),
    ("sr export --model nope --onnx T/x.onnx", ("unknown SR model 'nope'",)),
    ("sr export --model bicubic --scale 5 --onnx T/x.onnx", ("--scale 5",)),
    ("sr export --ckpt T/gan.pt --onnx T/x.onnx", ("gan.pt", "stylegan2-lite")),
    ("sr export --ckpt T/raw.pt --onnx T/x.onnx", ("raw.pt", "raw state_dict")),
    ("sr export --ckpt T/text.pt --onnx T/x.onnx", ("text.pt", "corrupt")),
    ("sr export --model espcn --size 3x3 --onnx T/x.onnx", ("--size", "at least 8")),
    ("sr export --model espcn --size abc --onnx T/x.onnx", ("--size", "HxW")),
    ("sr export --model espcn --onnx T/adir", ("--onnx", "is a directory")),
    # upscale
    ("upscale T/nope.png -o T/u1 --model bicubic", ("nope.png", "no such file")),
    ("upscale T/adir -o T/u2 --model bicubic", ("adir", "no images")),
    ("upscale T/imgs -o T/u6 --model nope", ("unknown SR model 'nope'",)),
    ("upscale T/imgs -o T/u7 --model bicubic --scale 0", ("--scale 0", "not available")),
    ("upscale T/imgs -o T/u8 --model bicubic --scale -1", ("--scale -1", "not available")),
    ("upscale T/imgs -o T/u9 --model bicubic --scale 5", ("--scale 5", "not available")),
    ("upscale T/imgs -o T/u9 --model espcn --scale 5", ("--scale 5", "not available for espcn")),
    ("upscale T/imgs -o T/u10 --ckpt T/nope.pt", ("nope.pt", "no such checkpoint")),
    ("upscale T/imgs -o T/u11 --ckpt T/adir", ("--ckpt", "is a directory")),
    ("upscale T/imgs -o T/u12 --ckpt T/empty.pt", ("empty.pt", "empty file")),
    ("upscale T/imgs -o T/u13 --ckpt T/text.pt", ("text.pt", "corrupt")),
    ("upscale T/imgs -o T/u14 --ckpt T/rand.pt", ("rand.pt",)),
    ("upscale T/imgs -o T/u15 --ckpt T/raw.pt", ("raw.pt", "raw state_dict")),
    ("upscale T/imgs -o T/u16 --ckpt T/gan.pt", ("gan.pt", "stylegan2-lite")),
    ("upscale T/imgs -o T/u17 --ckpt $SR --scale 2", ("espcn_x4.pt", "--scale 2")),
    ("upscale T/imgs -o T/u18 --ckpt $SR --model srcnn", ("--ckpt", "--model srcnn")),
    ("upscale T/imgs -o T/u19", ("--model", "--ckpt")),
    ("upscale T/imgs -o T/text.png --model bicubic", ("--out", "is a file")),
    ("upscale T/imgs -o T/u20 --model bicubic --device nope", ("--device 'nope'",)),
    # metrics
    ("metrics T/nope T/hr --scale 4", ("HR_DIR", "does not exist")),
    ("metrics T/hr T/nope --scale 4", ("SR_DIR", "does not exist")),
    ("metrics T/hr T/adir --scale 4", ("SR_DIR", "no image files")),
    ("metrics T/adir T/hr --scale 4", ("HR_DIR", "no image files")),
    ("metrics T/hr T/hr --scale 0", ("--scale",)),
    ("metrics T/hr T/hr --scale 100", ("100 px", "at least 1x1")),
    ("metrics T/empty.png T/hr --scale 2", ("empty.png", "not a folder")),
    ("metrics T/text.png T/text.png --scale 2", ("text.png", "not a folder")),
    # gan train / sample / eval / export
    ("gan train", ("--data", "required")),
    ("gan train --data T/nope", ("nope", "does not exist")),
    ("gan train --data T/ds --res 12 --run-dir T/g1", ("--res 12", "power of two")),
    ("gan train --data T/ds --aug bogus --run-dir T/g2", ("--aug 'bogus'",)),
    ("gan train --data T/ds --aug fixed:2 --run-dir T/g3", ("--aug fixed:2", "between 0 and 1")),
    ("gan train --data T/ds --kimg -1 --run-dir T/g4", ("--kimg", "positive")),
    ("gan train --data T/ds --batch 0 --run-dir T/g5", ("--batch 0", "at least 2")),
    ("gan train --data T/ds --config T/nope.toml --run-dir T/g6", ("--config", "no such file")),
    ("gan train --data T/ds --config T/text.png --run-dir T/g7", ("--config", "not valid TOML")),
    ("gan train --resume T/nope", ("--resume", "no such run folder")),
    ("gan train --resume T/adir", ("--resume", "config.json is missing")),
    ("gan train --resume T/adir --res 64", ("--resume", "drop --res")),
    ("gan sample --ckpt T/nope.pt --out T/s1", ("nope.pt", "no such checkpoint")),
    ("gan sample --ckpt T/adir --out T/s1", ("--ckpt", "is a directory")),
    ("gan sample --ckpt T/empty.pt --out T/s1", ("empty.pt", "empty file")),
    ("gan sample --ckpt T/text.pt --out T/s1", ("text.pt", "corrupt")),
    ("gan sample --ckpt T/rand.pt --out T/s1", ("rand.pt",)),
    ("gan sample --ckpt T/raw.pt --out T/s1", ("raw.pt", "raw state_dict")),
    ("gan sample --ckpt $SR --out T/s1", ("espcn_x4.pt", "not a GAN generator")),
    ("gan sample --ckpt T/gan.pt --out T/s2 --n 0", ("--n 0", "at least 1")),
    ("gan sample --ckpt T/gan.pt --out T/s3 --n -2", ("--n -2", "at least 1")),
    ("gan sample --ckpt T/gan.pt --out T/text.png --n 1", ("--out", "is a file")),
    ("gan eval --ckpt T/nope.pt --ref T/hr", ("nope.pt", "no such checkpoint")),
    ("gan eval --ckpt $SR --ref T/hr", ("espcn_x4.pt", "not a GAN generator")),
    ("gan eval --ckpt T/raw.pt --ref T/hr", ("raw.pt", "raw state_dict")),
    ("gan eval --ckpt T/gan.pt --ref T/nope", ("nope", "does not exist")),
    ("gan eval --ckpt T/gan.pt --ref T/adir", ("adir", "holds no images")),
    ("gan eval --ckpt T/gan.pt --ref T/hr --inception T/nope.pth", ("--inception", "no such file")),
    ("gan eval --ckpt T/gan.pt --ref T/hr --inception T/text.pt", ("--inception", "cannot read")),
    ("gan export --ckpt $SR --out T/e.pt", ("espcn_x4.pt", "not a GAN generator")),
    ("gan export --ckpt T/nope.pt --out T/e.pt", ("nope.pt", "no such checkpoint")),
    ("gan export --ckpt T/gan.pt --out T/e2.pt --ref T/nope", ("nope", "does not exist")),
]


@pytest.mark.parametrize("template,words", GOOD, ids=[c for c, _ in GOOD])
def test_bad_input_gives_one_error_line(t, template, words):
    _check(t, template, words, code=2)


@pytest.mark.parametrize("name", ["empty.png", "text.png", "trunc.png"])
def test_upscale_reports_unreadable_image_and_exits_1(t, name):
    res = CliRunner().invoke(main, ["upscale", str(t / name), "-o", str(t / f"u_{name}"), "--model", "bicubic"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"failed: {t / name}" in res.output


FIXED = [
    ("gan eval --ckpt T/gan.pt --ref T/hr --n 0", ("--n 0",),
     "RuntimeError: stack expects a non-empty TensorList in train/gan.py load_reference"),
    ("gan eval --ckpt T/gan.pt --ref T/hr --n -1", ("--n -1",),
     "RuntimeError: stack expects a non-empty TensorList in train/gan.py load_reference"),
    ("gan train --data T/ds --res 0 --kimg -1 --run-dir T/g8", ("--res 0",),
     "--res 0 silently becomes 64 (`pick(...) or DEFAULTS` in train/gan.py build_config)"),
    ("sr train --model espcn --scale 0 --data T/ds --steps 0", ("--scale 0",),
     "--scale 0 silently becomes 4 (`scale or 4` in cli/sr_train.py train)"),
    ("upscale T/imgs -o T/imgs/out --model bicubic", ("-o", "inside"),
     "-o inside an input folder is accepted (exit 0); data build and sr bench refuse this"),
    ("gan sample --ckpt T/gan.pt --out T/s4 --n 1 --truncation nan", ("--truncation",),
     "--truncation nan is accepted (exit 0) instead of a ConfigError"),
]


@pytest.mark.parametrize("template,words", [pytest.param(c, w, id=c) for c, w, _ in FIXED])
def test_formerly_silent_bad_input(t, template, words):
    """Cases the review found passing silently or with a traceback; each reason says what it was."""
    _check(t, template, words)


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield prefix + (name,)
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, prefix + (name,))


COMMANDS = [()] + list(_all_commands(main))


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "gansr" for p in COMMANDS])
def test_help_ends_with_examples(path):
    res = CliRunner().invoke(main, [*path, "--help"])
    assert res.exit_code == 0, res.output
    tail = res.output.rsplit("Examples:", 1)
    assert len(tail) == 2, f"gansr {' '.join(path)} --help has no Examples section"
    lines = [ln.strip() for ln in tail[1].splitlines() if ln.strip()]
    assert lines and all(ln.startswith(("gansr ", "torchrun ")) for ln in lines), tail[1]
    for ln in lines:
        if ln.startswith("gansr "):
            assert ln.split()[1 : 1 + len(path)] == list(path)


def test_version():
    res = CliRunner().invoke(main, ["--version"])
    assert res.exit_code == 0 and res.output.startswith("gansr, version ")


def test_unknown_command_and_option():
    runner = CliRunner()
    for args, word in ((["nope"], "No such command"), (["sr", "train", "--nope"], "No such option")):
        res = runner.invoke(main, args)
        assert res.exit_code != 0 and "Error:" in res.output and word in res.output
