"""PSNR/SSIM against scikit-image on real images; Y against skimage's rgb2ycbcr; the shared timer.

skimage's structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=255) filters with an 11-tap Gaussian (truncate 3.5) on a reflect-padded image and then
averages the SSIM map with 5 px cut from every side. The surviving values only ever read interior
pixels, so that is exactly our valid filtering; the border shave (crop = scale) is applied to the
inputs before either implementation sees them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from gan_sr.colour import rgb_to_y
from gan_sr.degrade import imresize, modcrop
from gan_sr.errors import ConfigError
from gan_sr.metrics.psnr_ssim import evaluate, psnr, ssim
from gan_sr.metrics.timing import Timing, time_fn



def _pair(path, s=4, size=160):
    """HR (top-left crop of a real image) and its 8-bit bicubic x`s` reconstruction, (3, H, W) in [0, 1]."""
    from gan_sr.io.images import quantize, read_image

    im = read_image(path)
    hr = modcrop(im.rgb[:, :size, :size], s)
    return quantize(imresize(imresize(hr, 1 / s), s)), hr, im.grayscale


def _np(x: torch.Tensor) -> np.ndarray:
    return x.double().permute(1, 2, 0).numpy()  # (H, W, C)


def _sk_ssim(a: np.ndarray, b: np.ndarray, multichannel: bool) -> float:
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
        channel_axis=-1 if multichannel else None,
    )


@pytest.fixture(scope="module")
def real_pairs(shared_datasets):
    names = ["Set5/butterfly.png", "Set14/bridge.png", "Set14/comic.png", "BSD100/img_023.png"]
    return {n: _pair(shared_datasets / n) for n in names}


@pytest.mark.shared
def test_rgb_to_y_matches_skimage(real_pairs):
    for sr, hr, _ in real_pairs.values():
        ours = rgb_to_y(hr)[0].numpy()
        np.testing.assert_allclose(ours, rgb2ycbcr(_np(hr))[..., 0], atol=1e-9)
    assert rgb_to_y(torch.ones(3, 2, 2)).allclose(torch.full((1, 2, 2), 235.0, dtype=torch.float64))


@pytest.mark.shared
@pytest.mark.parametrize("crop", [0, 4])
def test_psnr_ssim_match_skimage(real_pairs, crop):
    for name, (sr, hr, _) in real_pairs.items():
        c = slice(crop, -crop or None)
        y_sr, y_hr = rgb_to_y(sr)[0, c, c].numpy(), rgb_to_y(hr)[0, c, c].numpy()
        assert float(psnr(sr, hr, crop=crop)[0]) == pytest.approx(
            peak_signal_noise_ratio(y_hr, y_sr, data_range=255), abs=1e-6), name
        assert float(ssim(sr, hr, crop=crop)[0]) == pytest.approx(_sk_ssim(y_sr, y_hr, False), abs=1e-6), name
        r_sr, r_hr = _np(sr)[c, c] * 255, _np(hr)[c, c] * 255
        assert float(psnr(sr, hr, crop=crop, y=False)[0]) == pytest.approx(
            peak_signal_noise_ratio(r_hr, r_sr, data_range=255), abs=1e-6), name
        assert float(ssim(sr, hr, crop=crop, y=False)[0]) == pytest.approx(_sk_ssim(r_sr, r_hr, True), abs=1e-6), name


@pytest.mark.shared
def test_batched_equals_per_image_and_evaluate(real_pairs):
    sr, hr, _ = real_pairs["Set5/butterfly.png"]
    sr2, hr2, _ = real_pairs["BSD100/img_023.png"]
    b_sr, b_hr = torch.stack([sr, sr2]), torch.stack([hr, hr2])
    p, s = psnr(b_sr, b_hr, crop=4), ssim(b_sr, b_hr, crop=4)
    assert p.shape == (2,) and p.dtype == torch.float64 and s.shape == (2,)
    assert torch.allclose(p[1:], psnr(sr2, hr2, crop=4), atol=1e-12)
    assert torch.allclose(s[:1], ssim(sr, hr, crop=4), atol=1e-12)
    single = evaluate(sr, hr, 4)
    assert single == {"psnr": pytest.approx(float(p[0]), abs=1e-12), "ssim": pytest.approx(float(s[0]), abs=1e-12)}
    batch = evaluate(b_sr, b_hr, 4, y=False)
    assert batch["psnr"] == pytest.approx(psnr(b_sr, b_hr, crop=4, y=False).tolist())


@pytest.mark.shared
def test_grayscale_scored_on_gray_level(real_pairs):
    sr, hr, gray = real_pairs["Set14/bridge.png"]
    assert gray
    g_sr, g_hr = sr[0].double().numpy() * 255, hr[0].double().numpy() * 255
    res = evaluate(sr, hr, 4, gray=True)
    assert res["psnr"] == pytest.approx(peak_signal_noise_ratio(g_hr[4:-4, 4:-4], g_sr[4:-4, 4:-4], data_range=255), abs=1e-6)
    assert res["ssim"] == pytest.approx(_sk_ssim(g_sr[4:-4, 4:-4], g_hr[4:-4, 4:-4], False), abs=1e-6)
    # rgb2ycbcr of replicated gray compresses the range to 16..235: PSNR is 20 log10(255/219) dB higher
    assert evaluate(sr, hr, 4)["psnr"] - res["psnr"] == pytest.approx(20 * math.log10(255 / 219), abs=1e-9)


def test_identical_and_known_values(rng):
    x = torch.rand(2, 3, 20, 24, generator=rng)
    assert torch.isinf(psnr(x, x)).all() and torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64))
    hr = torch.zeros(3, 16, 16, dtype=torch.float64)
    sr = torch.full((3, 16, 16), 1 / 255, dtype=torch.float64)  # RGB error of exactly one level everywhere: MSE 1
    assert float(psnr(sr, hr, y=False)[0]) == pytest.approx(20 * math.log10(255), abs=1e-9)
    assert float(psnr(sr, hr)[0]) == pytest.approx(20 * math.log10(255 / (219 / 255)), abs=1e-9)


def test_crop_discards_the_border(rng):
    hr = torch.rand(3, 40, 40, generator=rng)
    sr = hr.clone()
    sr[:, :3] = 0  # damage only inside a 3 px border
    assert torch.isinf(psnr(sr, hr, crop=3)).all()
    assert float(ssim(sr, hr, crop=3)[0]) == pytest.approx(1.0)
    assert float(psnr(sr, hr, crop=2)[0]) < 40


def test_metric_errors():
    a = torch.rand(3, 20, 20)
    with pytest.raises(ConfigError, match=r"shapes differ: \(1, 1, 20, 20\) vs \(1, 1, 20, 21\)"):
        psnr(a, torch.rand(3, 20, 21))
    with pytest.raises(ConfigError, match="20x20 px leaves 8x8 after cropping 6 px.*11x11"):
        ssim(a, a, crop=6)
    with pytest.raises(ConfigError, match=r"RGB tensor \(3, H, W\) or \(B, 3, H, W\), got \(1, 20, 20\)"):
        psnr(a[:1], a[:1])
    with pytest.raises(ConfigError, match="crop must be >= 0"):
        psnr(a, a, crop=-1)


def test_time_fn_counts_and_orders():
    calls = []
    t = time_fn(lambda: calls.append(1), warmup=3, runs=7)
    assert isinstance(t, Timing) and len(calls) == 10 and t.runs == 7 and len(t.times_s) == 7
    assert min(t.times_s) <= t.q1_s <= t.median_s <= t.q3_s <= max(t.times_s)
    assert t.iqr_s == pytest.approx(t.q3_s - t.q1_s)
    assert t.rate(2.0) == pytest.approx(2.0 / t.median_s)
    assert "n=7" in str(t) and t.as_dict()["runs"] == 7
    one = time_fn(lambda: None, warmup=0, runs=1)
    assert one.q1_s == one.median_s == one.q3_s
    with pytest.raises(ValueError, match="runs >= 1"):
        time_fn(lambda: None, runs=0)
