"""The procedural drawn images: byte determinism, prefix property, real edge content, split layout, CLI."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from gan_sr.cli import main
from gan_sr.colour import LUMA
from gan_sr.data.synth import MARKER, make_split_dirs, synth_image, write_synth_dataset
from gan_sr.degrade import imresize
from gan_sr.errors import ConfigError
from gan_sr.io.images import list_images, read_image


def _luma(x: torch.Tensor) -> torch.Tensor:
    wr, wg, wb = LUMA
    return wr * x[0] + wg * x[1] + wb * x[2]


def _edges(y: torch.Tensor, thresh: float = 0.1) -> torch.Tensor:
    """Pixels whose luminance jumps by more than `thresh` to the right or below neighbour."""
    gx = (y[:-1, 1:] - y[:-1, :-1]).abs()
    gy = (y[1:, :-1] - y[:-1, :-1]).abs()
    return torch.maximum(gx, gy) > thresh


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a.double() - b.double()) ** 2).mean().item()
    return float("inf") if mse == 0 else 10.0 * torch.log10(torch.tensor(1.0 / mse)).item()


def _bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def test_same_seed_gives_byte_identical_pngs(tmp_path):
    a = write_synth_dataset(tmp_path / "a", 3, 48, seed=7)
    b = write_synth_dataset(tmp_path / "b", 3, 48, seed=7)
    assert [p.name for p in a] == [p.name for p in b] == [f"synth_{i:06d}.png" for i in range(3)]
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")
    c = write_synth_dataset(tmp_path / "c", 3, 48, seed=8)
    assert all(p.read_bytes() != q.read_bytes() for p, q in zip(a, c))


def test_smaller_n_is_a_prefix(tmp_path):
    write_synth_dataset(tmp_path / "small", 2, 40, seed=3)
    write_synth_dataset(tmp_path / "big", 5, 40, seed=3)
    small, big = _bytes(tmp_path / "small"), _bytes(tmp_path / "big")
    assert len(small) == 2 and len(big) == 5
    assert all(big[name] == data for name, data in small.items())
    # image i needs no other image drawn first: no hidden global state
    torch.manual_seed(123)
    assert torch.equal(synth_image(3, 4, 40), read_image(tmp_path / "big" / "synth_000004.png").rgb)


def test_tensor_is_what_the_png_holds(tmp_path):
    x = synth_image(0, 2, (40, 72))
    assert x.shape == (3, 40, 72) and x.dtype == torch.float32
    assert torch.equal(x, torch.round(x * 255) / 255)
    write_synth_dataset(tmp_path, 3, (40, 72), seed=0)
    assert torch.equal(read_image(tmp_path / "synth_000002.png").rgb, x)


@pytest.mark.parametrize("index", range(6))
def test_images_have_drawn_content(index):
    x = synth_image(11, index, 128)
    y = _luma(x)
    assert y.std() > 0.05, "nearly flat image"
    edges = _edges(y)
    assert edges.float().mean() > 0.04
    for top in (0, 63):  # every quadrant has edges, so a patch builder keeps most 64 px patches
        for left in (0, 63):
            assert edges[top : top + 63, left : left + 63].float().mean() > 0.015
    assert (y < 0.25).float().mean() > 0.005, "no dark outlines / ink"
    assert torch.unique(x.reshape(3, -1), dim=1).shape[1] > 200, "too few colours for gradients and anti-aliasing"


def test_bicubic_x4_is_far_from_lossless():
    flat = torch.full((3, 128, 128), 0.6)
    up = imresize(imresize(flat, 0.25), 4.0).clamp(0, 1)
    assert _psnr(up[:, 4:-4, 4:-4], flat[:, 4:-4, 4:-4]) > 60
    for i in range(4):
        x = synth_image(0, i, 128)
        up = imresize(imresize(x, 0.25), 4.0).clamp(0, 1)
        assert _psnr(up[:, 4:-4, 4:-4], x[:, 4:-4, 4:-4]) < 30


def test_make_split_dirs_layout(tmp_path):
    out = make_split_dirs(tmp_path / "data", 2, 32, seed=1)
    counts = {s: len(list_images(out / s)) for s in ("train", "val", "test")}
    assert counts == {"train": 2, "val": 2, "test": 2}
    images = [read_image(p).rgb for s in ("train", "val", "test") for p in list_images(out / s)]
    assert all(im.shape == (3, 32, 32) for im in images)
    assert len({im.numpy().tobytes() for im in images}) == 6, "splits must not share images"
    make_split_dirs(tmp_path / "d2", {"train": 3, "val": 1}, 24)
    assert len(list_images(tmp_path / "d2" / "train")) == 3
    assert not (tmp_path / "d2" / "test").exists()
    with pytest.raises(ConfigError, match="unknown split.*'tran'"):
        make_split_dirs(tmp_path / "d3", {"tran": 2}, 24)


def test_rewrite_own_folder_removes_stale_images_only(tmp_path):
    write_synth_dataset(tmp_path, 4, 24)
    (tmp_path / "notes.txt").write_text("mine")
    write_synth_dataset(tmp_path, 2, 24)  # our own folder: allowed without force
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["synth_000000.png", "synth_000001.png"]
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert json.loads((tmp_path / MARKER).read_text())["n"] == 2


def test_bad_arguments_raise(tmp_path):
    with pytest.raises(ConfigError, match="seed and index must be >= 0"):
        synth_image(-1, 0, 32)
    with pytest.raises(ConfigError, match="at least 8 px"):
        synth_image(0, 0, 4)
    with pytest.raises(ConfigError, match="--n must be at least 1"):
        write_synth_dataset(tmp_path / "x", 0, 32)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="file.*not a folder"):
        write_synth_dataset(tmp_path / "file", 1, 32)


def test_cli_writes_and_refuses_foreign_folder(tmp_path):
    runner = CliRunner()
    out = tmp_path / "synth"
    res = runner.invoke(main, ["data", "synth", "--out", str(out), "--n", "3", "--size", "32", "--seed", "2"])
    assert res.exit_code == 0, res.output
    assert "Wrote 3 images" in res.output
    assert len(list_images(out)) == 3
    assert torch.equal(read_image(out / "synth_000001.png").rgb, synth_image(2, 1, 32))

    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "keep.jpg").write_bytes(b"not really")
    res = runner.invoke(main, ["data", "synth", "--out", str(foreign), "--n", "2", "--size", "32"])
    assert res.exit_code == 2
    assert "Error:" in res.output and str(foreign) in res.output and "--force" in res.output
    assert sorted(p.name for p in foreign.iterdir()) == ["keep.jpg"]

    args = ["data", "synth", "--out", str(foreign), "--n", "2", "--size", "32", "--force", "--quiet"]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    assert res.output == ""
    assert (foreign / "keep.jpg").read_bytes() == b"not really"
    assert (foreign / "synth_000001.png").is_file()

    res = runner.invoke(main, ["data", "synth", "--out", str(out), "--n", "0"])
    assert res.exit_code == 2 and "--n" in res.output


def test_cli_help_has_an_example():
    res = CliRunner().invoke(main, ["data", "synth", "--help"])
    assert res.exit_code == 0
    assert "gansr data synth --out" in res.output and "--seed" in res.output
