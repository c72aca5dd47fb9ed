"""gansr upscale: tiled equals untiled, odd sizes, alpha/grayscale/16-bit kept, bad files reported, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image as PILImage
from torch import nn

from gan_sr.cli import main
from gan_sr.degrade import imresize
from gan_sr.errors import ConfigError, ImageError
from gan_sr.io.checkpoints import save_checkpoint
from gan_sr.io.images import read_image, write_image
from gan_sr.pipelines.upscale import (
    output_paths,
    tile_grid,
    upscale_files,
    upscale_image,
    upscale_levels,
    upscale_tensor,
)
from gan_sr.sr.registry import build_model


def _random_model(name: str, scale: int, seed: int = 0) -> nn.Module:
    """A registry model with weights large enough that the network (not just bicubic) shapes the output."""
    torch.manual_seed(seed)
    model = build_model(name, scale)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.15)
    return model.eval()


def _save(model: nn.Module, path) -> None:
    save_checkpoint(path, {"kind": "sr", "model": model.registry_entry, "state_dict": model.state_dict()})


@pytest.fixture()
def lr_image(rng) -> torch.Tensor:
    return torch.rand(3, 37, 50, generator=rng)


@pytest.mark.parametrize("name,scale", [("espcn", 3), ("srcnn", 2), ("bicubic", 4)])
def test_tiled_equals_untiled_when_pad_covers_receptive_field(name, scale, lr_image):
    model = _random_model(name, scale)
    with torch.no_grad():
        whole = model(lr_image[None])[0]
    tiled = upscale_tensor(model, lr_image, tile=16, tile_pad=10, device="cpu")
    assert tiled.shape == (3, 37 * scale, 50 * scale)
    assert (tiled - whole).abs().max() < 1e-4
    untiled = upscale_tensor(model, lr_image, tile=0, tile_pad=10)
    assert (untiled - whole).abs().max() < 1e-6


def test_tiles_without_pad_differ_so_the_check_can_fail(lr_image):
    model = _random_model("espcn", 3)
    with torch.no_grad():
        whole = model(lr_image[None])[0]
    seamy = upscale_tensor(model, lr_image, tile=16, tile_pad=0)
    assert (seamy - whole).abs().max() > 1e-3


def test_tile_grid_odd_sizes_cover_image_evenly():
    rows, cols = tile_grid(37, 50, 16)
    assert rows[0] == 0 and rows[-1] == 37 and cols[-1] == 50
    assert max(np.diff(rows)) <= 16 and min(np.diff(rows)) >= 12
    assert tile_grid(5, 7, 0) == ([0, 5], [0, 7])


def test_batched_input_and_tile_larger_than_image(rng):
    model = _random_model("espcn", 2)
    x = torch.rand(2, 3, 9, 11, generator=rng)
    with torch.no_grad():
        whole = model(x)
    assert (upscale_tensor(model, x, tile=64, tile_pad=4) - whole).abs().max() < 1e-5


class _BlackUnderAutocast(nn.Module):
    """Nearest x2, but all zeros under autocast: what a half-precision overflow looks like to a user."""

    scale = 2

    def forward(self, x):
        if torch.is_autocast_enabled(x.device.type):
            return torch.zeros(x.shape[0], 3, x.shape[2] * 2, x.shape[3] * 2)
        return x.repeat_interleave(2, -1).repeat_interleave(2, -2)


def test_half_precision_black_tiles_fall_back_to_fp32(rng):
    x = torch.rand(3, 20, 20, generator=rng) * 0.5 + 0.25
    stats: dict = {}
    y = upscale_tensor(_BlackUnderAutocast(), x, tile=8, tile_pad=2, dtype=torch.bfloat16, stats=stats)
    assert torch.allclose(y, x.repeat_interleave(2, -1).repeat_interleave(2, -2), atol=1e-6)
    assert stats["tiles"] == 9 and stats["fp32_fallbacks"] == 9


def test_negative_tile_is_an_error(lr_image):
    with pytest.raises(ConfigError, match="--tile"):
        upscale_tensor(build_model("bicubic", 2), lr_image, tile=-1)


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(arr).save(path)


def test_rgba_keeps_upscaled_alpha(tmp_path, rng):
    arr = (torch.rand(12, 15, 4, generator=rng) * 255).to(torch.uint8).numpy()
    _png(tmp_path / "in" / "sprite.png", arr)
    report = upscale_files([tmp_path / "in"], tmp_path / "out", build_model("bicubic", 2), tile=8, tile_pad=4)
    assert report.ok and report.written == [tmp_path / "out" / "sprite_x2.png"]
    out = PILImage.open(report.written[0])
    assert out.mode == "RGBA" and out.size == (30, 24)
    alpha = torch.from_numpy(arr[..., 3].astype(np.float32) / 255)[None]
    expected = (imresize(alpha, 2).clamp(0, 1) * 255).round().numpy()[0]
    assert np.abs(np.asarray(out)[..., 3].astype(np.float64) - expected).max() <= 1


def test_grayscale_and_16bit_stay_so(tmp_path, rng):
    gray = (torch.rand(10, 13, generator=rng) * 255).to(torch.uint8).numpy()
    _png(tmp_path / "in" / "g.png", gray)
    write_image(tmp_path / "in" / "deep.png", torch.rand(3, 10, 13, generator=rng), bit_depth=16)
    report = upscale_files([tmp_path / "in"], tmp_path / "out", build_model("bicubic", 3), tile=0)
    assert report.ok
    g = read_image(tmp_path / "out" / "g_x3.png")
    assert g.grayscale and g.bit_depth == 8 and g.rgb.shape == (3, 30, 39)
    assert PILImage.open(tmp_path / "out" / "g_x3.png").mode == "L"
    deep = read_image(tmp_path / "out" / "deep_x3.png")
    assert deep.bit_depth == 16 and not deep.grayscale
    levels = np.unique((deep.rgb.numpy() * 65535).round() % 257)
    assert len(levels) > 1  # not merely 8-bit values scaled up


def test_folder_structure_mirrored_and_collisions_renamed(tmp_path):
    for rel in ("a/x.png", "a/sub/y.png", "a/x.jpg"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        PILImage.new("RGB", (4, 4)).save(p)
    pairs = dict(output_paths([tmp_path / "a"], tmp_path / "o", 4))
    assert pairs[tmp_path / "a/sub/y.png"] == tmp_path / "o/sub/y_x4.png"
    assert pairs[tmp_path / "a/x.png"] == tmp_path / "o/x_png_x4.png"
    assert pairs[tmp_path / "a/x.jpg"] == tmp_path / "o/x_jpg_x4.png"


def test_never_writes_onto_an_input(tmp_path):
    for name in ("a.png", "a_x2.png"):
        PILImage.new("RGB", (4, 4)).save(tmp_path / name)
    with pytest.raises(ConfigError, match="would overwrite the input"):
        upscale_files([tmp_path / "a.png", tmp_path / "a_x2.png"], tmp_path, build_model("bicubic", 2))
    with pytest.raises(ConfigError, match="lies inside the input"):
        upscale_files([tmp_path], tmp_path / "out", build_model("bicubic", 2))


def test_missing_source_is_an_error(tmp_path):
    with pytest.raises(ImageError, match="nope"):
        upscale_files([tmp_path / "nope"], tmp_path / "out", build_model("bicubic", 2))


def test_cli_reports_corrupt_file_and_processes_the_rest(tmp_path, rng):
    model = _random_model("espcn", 2)
    _save(model, tmp_path / "espcn.pt")
    _png(tmp_path / "in" / "good.png", (torch.rand(20, 17, 3, generator=rng) * 255).to(torch.uint8).numpy())
    _png(tmp_path / "in" / "deep" / "also.png", np.zeros((5, 6, 3), np.uint8))
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = CliRunner().invoke(main, ["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                       "--model", "espcn", "--scale", "2", "--ckpt", str(tmp_path / "espcn.pt"),
                                       "--tile", "10", "--tile-pad", "8"])
    assert result.exit_code == 1, result.output
    assert "broken.png" in result.output and "1 failed" in result.output
    assert "upscaled 2 of 3" in result.output
    out = read_image(tmp_path / "out" / "good_x2.png")
    with torch.no_grad():
        expected = model(read_image(tmp_path / "in" / "good.png").rgb[None])[0].clamp(0, 1)
    assert (out.rgb - expected).abs().max() <= 0.5 / 255 + 1e-4
    assert (tmp_path / "out" / "deep" / "also_x2.png").is_file()
    assert not (tmp_path / "out" / "broken_x2.png").exists()


@pytest.mark.parametrize("args,message", [
    (["--model", "bicubic", "--scale", "2"], "missing.png"),
    (["--model", "waifu9000", "--scale", "2"], "unknown SR model"),
    (["--scale", "2"], "--model"),
    (["--model", "bicubic", "--scale", "2", "--tile", "-3"], "--tile"),
])
def test_cli_errors_name_the_problem(tmp_path, args, message):
    src = tmp_path / "missing.png"
    if message != "missing.png":
        PILImage.new("RGB", (4, 4)).save(src)
    result = CliRunner().invoke(main, ["upscale", str(src), "-o", str(tmp_path / "out"), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_cli_ckpt_of_another_model_is_refused(tmp_path):
    _save(_random_model("srcnn", 2), tmp_path / "srcnn.pt")
    PILImage.new("RGB", (4, 4)).save(tmp_path / "a.png")
    result = CliRunner().invoke(main, ["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"),
                                       "--model", "espcn", "--scale", "2", "--ckpt", str(tmp_path / "srcnn.pt")])
    assert result.exit_code == 2 and "srcnn" in result.output


@pytest.mark.parametrize("bits,gray", [(8, False), (16, True)])
def test_banded_levels_equal_quantised_float_output(tmp_path, rng, bits, gray):
    """upscale_image quantises band by band; the file must equal writing the whole float output at once."""
    model = _random_model("espcn", 2)
    src = tmp_path / "in.png"
    write_image(src, torch.rand(3, 29, 21, generator=rng), bit_depth=bits, grayscale=gray)
    image = read_image(src)
    tiled = dict(tile=8, tile_pad=4)  # 4 tile rows: three carried-over cross-fade bands
    write_image(tmp_path / "whole.png", upscale_tensor(model, image.rgb, **tiled), bit_depth=bits, grayscale=gray)
    upscale_image(model, src, tmp_path / "banded.png", **tiled)
    whole, banded = read_image(tmp_path / "whole.png"), read_image(tmp_path / "banded.png")
    assert banded.bit_depth == bits and banded.grayscale == gray
    assert torch.equal(banded.rgb, whole.rgb)
    levels = upscale_levels(model, image.rgb, bits=bits, grayscale=gray, **tiled)
    assert levels.shape == (58, 42, 1 if gray else 3) and levels.dtype == (np.uint8 if bits == 8 else np.uint16)
