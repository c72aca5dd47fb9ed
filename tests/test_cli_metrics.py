"""`gansr metrics`: pairing, modcrop, formats, grayscale, and every bad input as one error line."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from gan_sr.cli import main
from gan_sr.degrade import imresize, modcrop
from gan_sr.io.images import quantize, read_image, write_image
from gan_sr.metrics.psnr_ssim import evaluate



def _smooth(seed: int, h: int, w: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return imresize(torch.rand(3, h // 4 + 1, w // 4 + 1, generator=g), size=(h, w)).clamp(0, 1)


@pytest.fixture()
def folders(tmp_path):
    """HR a.png (50x47: not a multiple of 4), b.png; SR as a_x4.png / b.png, bicubic x4 of the modcropped HR."""
    hr_dir, sr_dir = tmp_path / "hr", tmp_path / "sr"
    for name, sr_name, seed in (("a", "a_x4", 0), ("b", "b", 1)):
        hr = _smooth(seed, 50, 47)
        write_image(hr_dir / f"{name}.png", hr)
        hr8 = modcrop(read_image(hr_dir / f"{name}.png").rgb, 4)
        write_image(sr_dir / f"{sr_name}.png", quantize(imresize(imresize(hr8, 0.25), 4)))
    return hr_dir, sr_dir


def _run(*args):
    return CliRunner().invoke(main, ["metrics", *map(str, args)])


def _expected(hr_path, sr_path, y=True):
    hr, sr = read_image(hr_path), read_image(sr_path).rgb
    return evaluate(sr, hr.rgb[:, : sr.shape[1], : sr.shape[2]], 4, y=y, gray=hr.grayscale)


def test_json_rows_match_library_and_mean(folders):
    hr_dir, sr_dir = folders
    res = _run(hr_dir, sr_dir, "--scale", 4, "--format", "json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["image"] for r in rows] == ["a", "b", "mean"]
    exp_a = _expected(hr_dir / "a.png", sr_dir / "a_x4.png")
    exp_b = _expected(hr_dir / "b.png", sr_dir / "b.png")
    assert rows[0]["psnr"] == pytest.approx(exp_a["psnr"], abs=1e-9)
    assert rows[1]["ssim"] == pytest.approx(exp_b["ssim"], abs=1e-9)
    assert rows[2]["psnr"] == pytest.approx((exp_a["psnr"] + exp_b["psnr"]) / 2, abs=1e-9)
    assert 20 < rows[2]["psnr"] < 60 and 0.5 < rows[2]["ssim"] < 1

    rgb = json.loads(_run(hr_dir, sr_dir, "--scale", 4, "--rgb", "--format", "json").stdout)
    assert rgb[0]["psnr"] == pytest.approx(_expected(hr_dir / "a.png", sr_dir / "a_x4.png", y=False)["psnr"], abs=1e-9)
    assert rgb[0]["psnr"] != pytest.approx(rows[0]["psnr"], abs=0.1)


def test_md_and_csv(folders):
    hr_dir, sr_dir = folders
    md = _run(hr_dir, sr_dir, "--scale", "4")
    assert md.exit_code == 0 and md.stdout.splitlines()[0] == "| image | psnr | ssim |"
    assert md.stdout.splitlines()[-1].startswith("| mean | ")
    csv = _run(hr_dir, sr_dir, "--scale", "4", "--format", "csv")
    lines = csv.stdout.splitlines()
    assert lines[0] == "image,psnr,ssim" and len(lines) == 4 and lines[3].startswith("mean,")


def test_identical_folders_give_null_psnr_in_json(folders):
    hr_dir, _ = folders
    rows = json.loads(_run(hr_dir, hr_dir, "--scale", 4, "--format", "json").stdout)
    assert rows[0]["psnr"] is None and rows[0]["ssim"] == pytest.approx(1.0)


def test_grayscale_hr_scored_on_gray_level(tmp_path):
    gray = _smooth(3, 48, 48)[:1]
    write_image(tmp_path / "hr" / "g.png", gray)
    hr = read_image(tmp_path / "hr" / "g.png")
    assert hr.grayscale
    sr = quantize(imresize(imresize(hr.rgb, 0.25), 4))
    write_image(tmp_path / "sr" / "g.png", sr)
    rows = json.loads(_run(tmp_path / "hr", tmp_path / "sr", "--scale", 4, "--format", "json").stdout)
    sr_read = read_image(tmp_path / "sr" / "g.png").rgb
    assert rows[0]["psnr"] == pytest.approx(evaluate(sr_read, hr.rgb, 4, gray=True)["psnr"], abs=1e-9)
    assert rows[0]["psnr"] != pytest.approx(evaluate(sr_read, hr.rgb, 4)["psnr"], abs=0.5)


def _assert_error(res, *fragments):
    assert res.exit_code != 0
    assert "Traceback" not in res.output
    err = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(err) == 1, res.output
    for f in fragments:
        assert f in err[0], err[0]


def test_bad_folders(folders, tmp_path):
    hr_dir, sr_dir = folders
    _assert_error(_run(tmp_path / "nope", sr_dir, "--scale", 4), "nope", "HR_DIR does not exist")
    _assert_error(_run(hr_dir, hr_dir / "a.png", "--scale", 4), "a.png", "SR_DIR is not a folder")
    (tmp_path / "empty").mkdir()
    _assert_error(_run(hr_dir, tmp_path / "empty", "--scale", 4), "empty", "SR_DIR holds no image files")
    _assert_error(_run(hr_dir, sr_dir, "--scale", 0), "--scale")


def test_unreadable_image(folders):
    hr_dir, sr_dir = folders
    (sr_dir / "b.png").write_bytes(b"not a png at all")
    _assert_error(_run(hr_dir, sr_dir, "--scale", 4), "b.png", "not an image")


def test_missing_extra_and_ambiguous_counterparts(folders):
    hr_dir, sr_dir = folders
    (sr_dir / "b.png").rename(sr_dir / "zzz.png")
    _assert_error(_run(hr_dir, sr_dir, "--scale", 4), "no HR image for zzz.png")
    (sr_dir / "zzz.png").unlink()
    _assert_error(_run(hr_dir, sr_dir, "--scale", 4), "no SR image for HR b.png")
    write_image(sr_dir / "b.png", torch.zeros(3, 48, 44))
    write_image(sr_dir / "b_SR.png", torch.zeros(3, 48, 44))
    _assert_error(_run(hr_dir, sr_dir, "--scale", 4), "both b.png and b_SR.png match HR b.png")


def test_size_mismatch_and_too_small(folders, tmp_path):
    hr_dir, sr_dir = folders
    write_image(sr_dir / "b.png", torch.zeros(3, 40, 44))
    _assert_error(_run(hr_dir, sr_dir, "--scale", 4), "b.png", "SR is 44x40 px but HR b.png is 47x50", "44x48")
    small_hr, small_sr = tmp_path / "shr", tmp_path / "ssr"
    write_image(small_hr / "t.png", torch.rand(3, 16, 16))
    write_image(small_sr / "t.png", torch.rand(3, 16, 16))
    _assert_error(_run(small_hr, small_sr, "--scale", 4), "t.png", "leaves 8x8 after cropping 4 px")
