"""degrade_mixed (blur, bicubic, noise, JPEG) against independent references, and its path to the trainer."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image as PILImage

from gan_sr.cli import main
from gan_sr.data.datasets import PairedDataset
from gan_sr.data.synth import make_split_dirs
from gan_sr.degrade import degrade_mixed, downscale, gaussian_kernel
from gan_sr.errors import ConfigError
from gan_sr.train.loop import BatchStream
from gan_sr.train.sr_config import build_config

OFF = {"p_blur": 0.0, "p_noise": 0.0, "p_jpeg": 0.0}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _texture(h: int = 48, w: int = 40, seed: int = 0) -> torch.Tensor:
    """Smooth colour gradients plus fine random detail, in [0, 1]."""
    g = _gen(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = torch.stack([xx, yy, 0.5 * (xx + yy)])
    return (0.7 * base + 0.3 * torch.rand(3, h, w, generator=g)).clamp(0, 1)


def _q8(x: torch.Tensor) -> torch.Tensor:
    return torch.floor(x.clamp(0, 1) * 255 + 0.5) / 255


def _on_8bit_grid(x: torch.Tensor) -> bool:
    return bool(torch.all((x * 255 - (x * 255).round()).abs() < 1e-4))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_split_dirs(tmp_path_factory.mktemp("mixed") / "set", {"train": 4, "val": 2}, size=32, seed=3)


# ------------------------------------------------------------------------------------------ the function


def test_a_seed_fixes_the_result_and_seeds_differ():
    hr = _texture()
    a = degrade_mixed(hr, 2, generator=_gen(7), p_blur=1, p_noise=1, p_jpeg=1)
    b = degrade_mixed(hr, 2, generator=_gen(7), p_blur=1, p_noise=1, p_jpeg=1)
    c = degrade_mixed(hr, 2, generator=_gen(8), p_blur=1, p_noise=1, p_jpeg=1)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shapes_range_and_grid(scale):
    hr = _texture(48, 36)
    lr = degrade_mixed(hr, scale, generator=_gen(scale), p_blur=1, p_noise=1, p_jpeg=1)
    assert lr.shape == (3, 48 // scale, 36 // scale) and lr.dtype == torch.float32
    assert lr.min() >= 0 and lr.max() <= 1 and _on_8bit_grid(lr)
    batch = torch.stack([hr, hr.flip(-1)])
    out = degrade_mixed(batch, scale, generator=_gen(0))
    assert out.shape == (2, 3, 48 // scale, 36 // scale)
    # the images of a batch draw in turn from the generator: the same as one at a time
    g = _gen(0)
    one_by_one = torch.stack([degrade_mixed(x, scale, generator=g) for x in batch])
    assert torch.equal(out, one_by_one)


def test_all_probabilities_zero_is_plain_bicubic():
    hr = _texture(50, 44)
    for scale in (2, 3, 4):
        lr = degrade_mixed(hr, scale, generator=_gen(scale), **OFF)
        assert torch.equal(lr, _q8(downscale(hr, scale, "bicubic")))


@pytest.mark.parametrize("sx,sy,theta", [(1.0, 1.0, 0.0), (2.0, 2.0, 0.0), (2.0, 0.7, 0.0), (1.8, 0.6, 0.9)])
def test_kernel_covariance_is_the_requested_one(sx, sy, theta):
    k = gaussian_kernel(sx, sy, theta)
    r = k.shape[0] // 2
    assert k.shape[0] % 2 == 1 and math.isclose(float(k.sum()), 1.0, abs_tol=1e-12)
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    y, x = torch.meshgrid(t, t, indexing="ij")
    got = [float((k * x * x).sum()), float((k * y * y).sum()), float((k * x * y).sum())]
    c, s = math.cos(theta), math.sin(theta)
    want = [sx**2 * c * c + sy**2 * s * s, sx**2 * s * s + sy**2 * c * c, (sx**2 - sy**2) * s * c]
    for g, w in zip(got, want):
        assert abs(g - w) <= 0.01 * max(sx, sy) ** 2


@pytest.mark.parametrize("sigma", [1.0, 1.6])
def test_blurred_line_has_the_second_moment_of_the_sigma(sigma):
    """A one-pixel white line through degrade_mixed at scale 1: its profile's variance is sigma^2."""
    hr = torch.zeros(3, 40, 41)
    hr[:, :, 20] = 1.0
    lr = degrade_mixed(hr, 1, generator=_gen(1), blur_sigma=(sigma, sigma), p_blur=1.0, p_noise=0.0, p_jpeg=0.0)
    profile = lr[0, 20].double()
    x = torch.arange(41, dtype=torch.float64) - 20
    mass = profile.sum()
    assert abs(float(mass) - 1.0) < 0.02
    assert abs(float((profile * x).sum() / mass)) < 0.02
    var = float((profile * x * x).sum() / mass)
    assert abs(var - sigma**2) < 0.05 * sigma**2
    assert torch.equal(lr[0], lr[0, 5].expand_as(lr[0])) and torch.equal(lr[0], lr[2])


def test_jpeg_stage_matches_pillow_and_degrades_with_quality():
    hr = _texture(64, 64)
    clean = _q8(downscale(hr, 2))
    arr = (clean * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    errs = {}
    for q in (40, 95):
        lr = degrade_mixed(hr, 2, generator=_gen(0), jpeg_quality=(q, q), p_blur=0, p_noise=0, p_jpeg=1)
        assert lr.min() >= 0 and lr.max() <= 1 and _on_8bit_grid(lr)
        assert not torch.equal(lr, clean)
        buf = io.BytesIO()
        PILImage.fromarray(np.ascontiguousarray(arr)).save(buf, format="JPEG", quality=q)
        ref = np.asarray(PILImage.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        assert torch.equal(lr, torch.from_numpy(ref.copy()).permute(2, 0, 1).float() / 255)
        errs[q] = float((lr - clean).abs().mean())
    assert errs[40] > errs[95] > 0


@pytest.mark.parametrize("sigma", [4 / 255, 10 / 255])
def test_noise_has_the_requested_sigma_in_colour_and_grey(sigma):
    hr = torch.full((3, 192, 192), 0.5)
    kinds = set()
    for seed in range(12):
        lr = degrade_mixed(hr, 2, generator=_gen(seed), noise_sigma=(sigma, sigma), p_blur=0, p_noise=1, p_jpeg=0)
        n = (lr - 0.5).double()
        assert abs(float(n.mean())) < 0.1 * sigma
        assert abs(float(n.std()) - sigma) < 0.04 * sigma
        grey = torch.equal(lr[0], lr[1]) and torch.equal(lr[1], lr[2])
        if not grey:
            corr = float(torch.corrcoef(n.reshape(3, -1))[0, 1])
            assert abs(corr) < 0.05
        kinds.add(grey)
    assert kinds == {True, False}


def test_probabilities_set_how_often_a_stage_runs():
    hr = _texture(24, 24)
    clean = _q8(downscale(hr, 2))
    runs = sum(not torch.equal(degrade_mixed(hr, 2, generator=_gen(s), jpeg_quality=(60, 60), p_blur=0,
                                             p_noise=0, p_jpeg=0.5), clean) for s in range(200))
    assert 70 <= runs <= 130


@pytest.mark.parametrize("kwargs,message", [
    ({"blur_sigma": (0.0, 1.0)}, "blur_sigma = \\(0.0, 1.0\\): sigmas must be > 0"),
    ({"blur_sigma": (2.0, 1.0)}, "blur_sigma = \\(2.0, 1.0\\) must satisfy"),
    ({"noise_sigma": 0.1}, "noise_sigma must be a \\(min, max\\) pair"),
    ({"noise_sigma": (-0.1, 0.1)}, "noise_sigma = \\(-0.1, 0.1\\) must satisfy 0 <= min"),
    ({"jpeg_quality": (0, 90)}, "jpeg_quality = \\(0, 90\\) must satisfy 1 <= min <= max <= 100"),
    ({"jpeg_quality": (40.5, 90)}, "jpeg_quality = \\(40.5, 90\\) must be whole numbers"),
    ({"p_blur": 1.5}, "p_blur must be a probability in \\[0, 1\\], got 1.5"),
    ({"p_jpeg": -0.1}, "p_jpeg must be a probability"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        degrade_mixed(_texture(8, 8), 2, generator=_gen(0), **kwargs)


def test_non_rgb_input_is_refused():
    with pytest.raises(ConfigError, match="needs float RGB images \\(3, H, W\\) or \\(B, 3, H, W\\), got \\(1, 8, 8\\)"):
        degrade_mixed(torch.rand(1, 8, 8), 2, generator=_gen(0))


# ------------------------------------------------------------------------------- dataset, config and CLI


def test_unknown_degradation_lists_the_names(data):
    with pytest.raises(ConfigError, match="unknown degradation 'jpeg'; choose bicubic, area, mixed"):
        PairedDataset(data, 2, degradation="jpeg")
    with pytest.raises(ConfigError, match="data.degradation = 'jpeg' \\(--degradation\\): choose bicubic, area, mixed"):
        build_config("espcn", scale=2, overrides={"data": {"degradation": "jpeg"}})
    res = CliRunner().invoke(main, ["sr", "train", "--model", "espcn", "--scale", "2", "--data", str(data),
                                    "--degradation", "jpeg", "--run-dir", str(data.parent / "never")])
    assert res.exit_code == 2 and "Error: data.degradation = 'jpeg'" in res.output
    assert not (data.parent / "never").exists()


def test_dataset_items_are_reproducible(data):
    val = PairedDataset(data, 2, split="val", degradation="mixed")
    bic = PairedDataset(data, 2, split="val")
    lr0, hr0 = val[0]
    assert torch.equal(val[0][0], lr0) and torch.equal(hr0, bic[0][1])
    assert lr0.shape == (3, 16, 16) and _on_8bit_grid(lr0)
    assert torch.equal(lr0, degrade_mixed(hr0, 2, generator=_gen(0)))
    assert torch.equal(val[1][0], degrade_mixed(val[1][1], 2, generator=_gen(1)))
    train = PairedDataset(data, 2, split="train", hr_size=16, degradation="mixed")
    torch.manual_seed(5)
    a = train[1]
    torch.manual_seed(5)
    b = train[1]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    # a stream resumed at batch 3 hands out what an uninterrupted one does
    full = BatchStream(train, 2, seed=1)
    batches = [next(full) for _ in range(4)]
    resumed = BatchStream(train, 2, seed=1)
    resumed.load_state_dict({"epoch": 1, "batch": 1, "seed": 1})
    lr, hr = next(resumed)
    assert torch.equal(lr, batches[3][0]) and torch.equal(hr, batches[3][1])


def test_cli_option_reaches_the_dataset(tmp_path, data, monkeypatch):
    import gan_sr.data.datasets as datasets

    calls = []

    def counted(hr, scale, **kw):
        calls.append(tuple(hr.shape))
        return degrade_mixed(hr, scale, **kw)

    monkeypatch.setattr(datasets, "degrade_mixed", counted)
    run = tmp_path / "run"
    cfg = tmp_path / "tiny.toml"
    cfg.write_text('[model]\noverrides = {widths = [8, 4]}\n[data]\nhr_size = 16\nbatch = 2\n'
                   '[eval]\nevery = 2\nmax_images = 1\n[log]\nevery = 1\ncheckpoint_every = 2\nsamples = 1\n')
    res = CliRunner().invoke(main, ["sr", "train", "--model", "espcn", "--scale", "2", "--data", str(data),
                                    "--config", str(cfg), "--steps", "2", "--degradation", "mixed",
                                    "--run-dir", str(run), "--quiet"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert json.loads((run / "config.json").read_text())["config"]["data"]["degradation"] == "mixed"
    assert calls.count((3, 16, 16)) == 4 and (3, 32, 32) in calls  # 2 steps x batch 2 train crops, val images
    res = CliRunner().invoke(main, ["sr", "train", "--resume", str(run), "--degradation", "bicubic"])
    assert res.exit_code == 2 and "drop --degradation" in res.output
