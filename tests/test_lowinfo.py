"""Low-information score: share of pixels off the dominant colour, checked against drawn patches of known coverage."""

from __future__ import annotations

import numpy as np
import pytest

from gan_sr.data import lowinfo
from gan_sr.errors import ConfigError


def _flat(colour=(200, 180, 150), size=64) -> np.ndarray:
    return np.broadcast_to(np.asarray(colour, np.uint8), (size, size, 3)).copy()


def test_flat_patch_scores_zero():
    assert lowinfo.info_score(_flat()) == 0.0
    colour, share = lowinfo.dominant_colour(_flat((10, 20, 30)))
    assert share == 1.0
    np.testing.assert_allclose(colour * 255, (10, 20, 30), atol=4)  # histogram bin centre, 8 levels wide


def test_noise_and_texture_within_tolerance_count_as_flat():
    rng = np.random.default_rng(0)
    noisy = np.clip(_flat().astype(int) + rng.integers(-6, 7, (64, 64, 3)), 0, 255).astype(np.uint8)
    assert lowinfo.info_score(noisy) < 0.01


@pytest.mark.parametrize("width", [2, 8, 32])
def test_score_is_the_area_off_the_background(width):
    p = _flat((250, 250, 250))
    p[:, 10 : 10 + width] = (20, 30, 40)  # a vertical stroke
    expected = width / 64  # independent reference: the stroke's share of the pixels
    assert lowinfo.info_score(p) == pytest.approx(expected, abs=1e-9)


def test_two_halves_and_many_colours():
    p = _flat((240, 240, 240))
    p[32:] = (30, 60, 200)
    assert lowinfo.info_score(p) == pytest.approx(0.5)
    rng = np.random.default_rng(1)
    blocks = rng.integers(0, 256, (8, 8, 3)).astype(np.uint8).repeat(8, 0).repeat(8, 1)  # 64 random colours
    assert lowinfo.info_score(blocks) > 0.6


def test_histogram_counts_every_pixel():
    rng = np.random.default_rng(2)
    p = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
    centres, counts = lowinfo.colour_histogram(p)
    assert counts.sum() == 256
    assert centres.min() >= 0 and centres.max() <= 1


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_min_info_outside_0_1_is_refused(bad):
    with pytest.raises(ConfigError, match="--min-info"):
        lowinfo.check_min_info(bad)
