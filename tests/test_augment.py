"""ADA's bgc pipeline: exact blits, colour algebra, probability p, differentiability; the p controller."""

from __future__ import annotations

import math

import pytest
import torch

from gan_sr.errors import ConfigError
from gan_sr.gan.augment import AdaController, AugmentPipe, BGCStrengths, parse_aug

_NAMES = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac",
          "brightness", "contrast", "lumaflip", "hue", "saturation")


def only(*names: str) -> BGCStrengths:
    return BGCStrengths(**{n: (1.0 if n in names else 0.0) for n in _NAMES})


def test_p_zero_is_identity(rng):
    x = torch.rand(4, 3, 8, 8, generator=rng)
    assert AugmentPipe(0.0)(x) is x


def test_xflip_is_exact(rng):
    x = torch.rand(64, 3, 8, 8, generator=rng)
    y = AugmentPipe(1.0, only("xflip"))(x, generator=rng)
    same = (y - x).abs().flatten(1).amax(1) < 1e-5
    flipped = (y - x.flip(-1)).abs().flatten(1).amax(1) < 1e-5
    assert (same | flipped).all() and same.any() and flipped.any()


def test_rotate90_is_exact(rng):
    x = torch.rand(64, 3, 8, 8, generator=rng)
    y = AugmentPipe(1.0, only("rotate90"))(x, generator=rng)
    hits = torch.stack([(y - torch.rot90(x, k, (-2, -1))).abs().flatten(1).amax(1) < 1e-5 for k in range(4)])
    assert (hits.sum(0) == 1).all()
    assert hits.any(1).all()  # all four rotations occur


def test_integer_translation_moves_whole_pixels(rng):
    x = torch.rand(16, 3, 16, 16, generator=rng)
    y = AugmentPipe(1.0, only("xint"))(x, generator=rng)
    for xi, yi in zip(x, y):
        found = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                shifted = torch.roll(xi, (dy, dx), (-2, -1))
                if (shifted - yi)[:, 3:-3, 3:-3].abs().max() < 1e-5:
                    found = True
        assert found


def test_brightness_applied_with_probability_p(rng):
    x = torch.zeros(4000, 3, 2, 2)
    y = AugmentPipe(0.3, only("brightness"))(x, generator=rng)
    offset = y.flatten(1)
    assert torch.allclose(offset, offset[:, :1].expand_as(offset))  # one constant per image
    frac = (offset[:, 0].abs() > 0).float().mean().item()
    assert abs(frac - 0.3) < 0.03
    assert abs(offset[offset[:, 0] != 0, 0].std().item() - 0.2) < 0.02


def test_lumaflip_negates_gray_and_hue_keeps_luma(rng):
    gray = torch.rand(32, 1, 4, 4, generator=rng).expand(-1, 3, -1, -1) * 2 - 1
    y = AugmentPipe(1.0, only("lumaflip"))(gray, generator=rng)
    neg = (y + gray).abs().flatten(1).amax(1) < 1e-5
    same = (y - gray).abs().flatten(1).amax(1) < 1e-5
    assert (neg | same).all() and neg.any()
    x = torch.rand(32, 3, 4, 4, generator=rng) * 2 - 1
    h = AugmentPipe(1.0, only("hue"))(x, generator=rng)
    assert torch.allclose(h.mean(1), x.mean(1), atol=1e-5)
    assert torch.allclose(h.norm(dim=1), x.norm(dim=1), atol=1e-5)
    assert not torch.allclose(h, x)


def test_saturation_matrix_is_luma_plus_scaled_chroma(rng):
    x = torch.rand(8, 3, 4, 4, generator=rng) * 2 - 1
    pipe = AugmentPipe(1.0, only("saturation"))
    G, C = pipe.sample_params(8, 4, 4, generator=rng)
    y = pipe.apply(x, G, C)
    luma = x.mean(1, keepdim=True)
    k = ((y - luma) / (x - luma))[:, :, 0, 0]
    assert torch.allclose(y.mean(1), x.mean(1), atol=1e-5)
    assert torch.allclose(k, k[:, :1].expand_as(k), rtol=1e-3)
    assert (k > 0).all()


def test_full_pipeline_is_differentiable(rng):
    pipe = AugmentPipe(1.0)
    x = torch.rand(2, 3, 6, 6, generator=rng, dtype=torch.float64, requires_grad=True)
    G, C = pipe.sample_params(2, 6, 6, generator=rng)
    G, C = G.double(), C.double()
    assert not torch.equal(G, torch.eye(3, dtype=torch.float64).expand_as(G))
    assert torch.autograd.gradcheck(lambda t: pipe.apply(t, G, C), (x,), eps=1e-6, atol=1e-4)
    x32 = torch.rand(8, 3, 16, 16, generator=rng, requires_grad=True)
    out = AugmentPipe(0.8)(x32, generator=rng)
    out.square().sum().backward()
    assert torch.isfinite(out).all() and x32.grad.abs().sum() > 0


def test_controller_moves_p_by_images_over_ramp():
    ada = AdaController("ada", 0.0, ramp_kimg=0.1)  # p moves by 1 per 100 images
    for _ in range(4):
        ada.accumulate(torch.ones(8), images=8)
    assert ada.due()
    assert ada.update() == 1.0
    assert ada.p == pytest.approx(32 / 100)
    for _ in range(4):
        ada.accumulate(torch.tensor([1.0, -1.0, -1.0, -1.0, 1.0, -1.0, 1.0, -1.0]), images=8)
    assert ada.update() == pytest.approx(-0.25)
    assert ada.p == pytest.approx(0.0)
    ada.update(totals=(10.0, 10, 1000))
    assert ada.p == 1.0  # clamped
    fixed = AdaController("fixed", 0.3)
    fixed.accumulate(torch.ones(4), 4)
    fixed.update()
    assert fixed.p == 0.3 and fixed.r_t == 1.0


def test_controller_state_roundtrip():
    a = AdaController("ada", 0.2, ramp_kimg=1)
    a.accumulate(torch.tensor([1.0, -1.0, 1.0]), 3)
    b = AdaController("none")
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == pytest.approx(a.state_dict(), nan_ok=True)
    assert b.mode == "ada" and b.sign_count == 3 and math.isnan(b.r_t)


def test_parse_aug():
    assert parse_aug("ada") == ("ada", 0.0)
    assert parse_aug("fixed:0.25") == ("fixed", 0.25)
    assert parse_aug("none") == ("none", 0.0)
    with pytest.raises(ConfigError, match="--aug fixed:1.5"):
        parse_aug("fixed:1.5")
    with pytest.raises(ConfigError, match="--aug fixed:x"):
        parse_aug("fixed:x")
    with pytest.raises(ConfigError, match="'diffaug'"):
        parse_aug("diffaug")
    with pytest.raises(ConfigError, match="unknown"):
        AdaController("sometimes")
