"""Adversarial losses against hand-written formulas, penalties against analytic gradients."""

from __future__ import annotations

import math

import pytest
import torch

from gan_sr.errors import ConfigError
from gan_sr.losses import adversarial as adv


def _sig(x):
    return 1.0 / (1.0 + torch.exp(-x.double()))


@pytest.fixture()
def logits(rng):
    return torch.randn(8, 1, generator=rng) * 2, torch.randn(8, 1, generator=rng) * 2


def test_ns_matches_bce(logits):
    r, f = logits
    ref = -(torch.log(_sig(r))).mean() - torch.log(1 - _sig(f)).mean()
    assert torch.allclose(adv.d_loss("ns", r, f).double(), ref, atol=1e-5)
    assert torch.allclose(adv.d_loss("vanilla", r, f), adv.d_loss("ns", r, f))
    assert torch.allclose(adv.g_loss("ns", f).double(), -torch.log(_sig(f)).mean(), atol=1e-5)


def test_lsgan_hinge_wgan(logits):
    r, f = logits
    assert torch.allclose(adv.d_loss("lsgan", r, f), 0.5 * (((r - 1) ** 2).mean() + (f ** 2).mean()))
    assert torch.allclose(adv.g_loss("lsgan", f), 0.5 * ((f - 1) ** 2).mean())
    hinge = torch.clamp(1 - r, min=0).mean() + torch.clamp(1 + f, min=0).mean()
    assert torch.allclose(adv.d_loss("hinge", r, f), hinge)
    assert torch.allclose(adv.g_loss("hinge", f), -f.mean())
    assert torch.allclose(adv.d_loss("wgan-gp", r, f), f.mean() - r.mean())
    assert torch.allclose(adv.g_loss("wgan", f), -f.mean())


def test_ragan_matches_esrgan_formula(logits):
    r, f = logits
    dr, df = _sig(r - f.mean()), _sig(f - r.mean())
    ref_d = 0.5 * (-torch.log(dr).mean() - torch.log(1 - df).mean())
    ref_g = 0.5 * (-torch.log(1 - dr).mean() - torch.log(df).mean())
    assert torch.allclose(adv.d_loss("ragan", r, f).double(), ref_d, atol=1e-5)
    assert torch.allclose(adv.g_loss("ragan", f, r).double(), ref_g, atol=1e-5)


def test_losses_prefer_correct_discriminator():
    good_r, good_f = torch.full((4,), 3.0), torch.full((4,), -3.0)
    for kind in adv.KINDS:
        assert adv.d_loss(kind, good_r, good_f) < adv.d_loss(kind, good_f, good_r), kind


def test_ragan_generator_needs_real_and_unknown_kind():
    with pytest.raises(ConfigError, match="real_logits"):
        adv.g_loss("ragan", torch.zeros(2))
    with pytest.raises(ConfigError, match="unknown adversarial loss 'wgan-lp'"):
        adv.d_loss("wgan-lp", torch.zeros(2), torch.zeros(2))


def test_gradient_penalty_linear_critic():
    w = torch.tensor([3.0, 4.0, 0.0, 0.0]).reshape(1, 1, 2, 2)
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731  |grad| = 5 everywhere
    real, fake = torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2)
    assert adv.gradient_penalty(critic, real, fake).item() == pytest.approx((5 - 1) ** 2)


def test_gradient_penalty_trains_critic():
    lin = torch.nn.Linear(4, 1)
    gp = adv.gradient_penalty(lambda x: lin(x), torch.randn(5, 4), torch.randn(5, 4))
    gp.backward()
    ref = 2 * (lin.weight.norm() - 1) * lin.weight / lin.weight.norm()
    assert torch.allclose(lin.weight.grad, ref.detach(), atol=1e-5)


def test_r1_penalty_analytic():
    x = torch.randn(3, 2, 4, 4, requires_grad=True)
    w = torch.randn(1, 2, 4, 4, requires_grad=True)
    logits = (x * w).flatten(1).sum(1) ** 2 / 2  # grad_x = s * w with s = sum(x*w)
    s = (x * w).flatten(1).sum(1).detach()
    ref = ((s[:, None] * w.detach().flatten(1)) ** 2).sum(1).mean()
    pen = adv.r1_penalty(logits, x)
    assert pen.item() == pytest.approx(ref.item(), rel=1e-5)
    pen.backward()
    assert w.grad is not None and torch.isfinite(w.grad).all()
    with pytest.raises(ValueError, match="require grad"):
        adv.r1_penalty(torch.zeros(2), torch.zeros(2, 3))


def test_overfit_signs_neutral_points():
    r = torch.tensor([0.4, 0.6, -1.0, 2.0])
    f = torch.tensor([-2.0, -2.0])
    assert adv.overfit_signs("ns", r).tolist() == [1, 1, -1, 1]
    assert adv.overfit_signs("hinge", r).tolist() == [1, 1, -1, 1]
    assert adv.overfit_signs("lsgan", r).tolist() == [-1, 1, -1, 1]
    mid = 0.5 * (r.mean().item() + (-2.0))  # -0.75
    assert adv.overfit_signs("wgan", r, f).tolist() == [1 if v > mid else -1 for v in r.tolist()]
    assert adv.overfit_signs("ragan", r, f).tolist() == [1, 1, 1, 1]
    with pytest.raises(ConfigError, match="needs fake_logits"):
        adv.overfit_signs("wgan", r)
    assert math.isclose(adv.drift_penalty(r).item(), (r ** 2).mean().item(), rel_tol=1e-6)
