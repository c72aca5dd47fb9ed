"""An interpolated ESRGAN (`gansr sr interpolate`) as its own column of `sr bench`: scored and in the grid."""

from __future__ import annotations

import pytest
import torch

from gan_sr.data.synth import write_synth_dataset
from gan_sr.degrade import imresize, modcrop
from gan_sr.io.checkpoints import save_checkpoint
from gan_sr.io.images import list_images, quantize, read_image
from gan_sr.metrics.psnr_ssim import psnr
from gan_sr.pipelines.bench import run_bench
from gan_sr.sr.registry import build_model, model_entry
from gan_sr.sr.interpolate import interpolate_checkpoints


@pytest.fixture(autouse=True)
def no_shipped(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSR_CHECKPOINTS", str(tmp_path / "no_checkpoints"))


def test_interpolated_esrgan_is_a_bench_and_grid_column(tmp_path):
    hr_dir = tmp_path / "hr"
    write_synth_dataset(hr_dir, 2, size=(48, 40), seed=4)
    small = dict(num_blocks=1, nf=8, gc=4)
    states = []
    for seed, level in ((0, 0.5), (1, 0.3)):
        torch.manual_seed(seed)
        model = build_model("esrgan", 4, "cpu", **small)
        with torch.no_grad():
            model.conv_last.bias.fill_(level)  # random weights give a near-zero image; lift it off the clamp
        states.append(model.state_dict())
        save_checkpoint(tmp_path / f"stage{seed}.pt", {"kind": "sr", "model": model_entry("esrgan", 4, "cpu", **small),
                                                       "state_dict": model.state_dict()})
    interp = interpolate_checkpoints(tmp_path / "stage0.pt", tmp_path / "stage1.pt", 0.25, tmp_path / "interp.pt")
    res = run_bench("bicubic", hr_dir, 4, tmp_path / "out", timing=False, timing_size=16,
                    ckpts=[f"esrgan_interp={interp}", f"esrgan={tmp_path / 'stage0.pt'}"])
    assert [m["name"] for m in res["methods"]] == ["bicubic", "esrgan_interp", "esrgan"]
    assert res["grid"]["methods"] == ["HR", "bicubic", "esrgan_interp", "esrgan"]
    assert (tmp_path / "out" / "grid.png").stat().st_size > 0
    assert "esrgan_interp" in (tmp_path / "out" / "results.md").read_text()

    # the column is the model with 0.75 * stage0 + 0.25 * stage1, scored here directly
    model = build_model("esrgan", 4, "cpu", **small).eval()
    model.load_state_dict({k: 0.75 * a + 0.25 * states[1][k] if a.is_floating_point() else a
                           for k, a in states[0].items()})
    path = list_images(hr_dir, recursive=False)[0]
    hr = modcrop(read_image(path).rgb[None], 4)
    with torch.no_grad():
        sr = quantize(model(imresize(hr.double(), 0.25).float()).clamp(0, 1))
    got = res["methods"][1]["datasets"]["hr"]["per_image"][0]
    assert got["image"] == path.stem
    assert got["psnr_y"] == pytest.approx(float(psnr(sr, hr, crop=4)[0]), abs=1e-4)
    assert got["psnr_y"] != pytest.approx(res["methods"][2]["datasets"]["hr"]["per_image"][0]["psnr_y"], abs=1e-3)
