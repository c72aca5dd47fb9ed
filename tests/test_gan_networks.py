"""StyleGAN2-lite networks: shapes, equalised lr, modulation/demodulation algebra, minibatch std, truncation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gan_sr.errors import ConfigError
from gan_sr.gan import networks as N
from gan_sr.losses.adversarial import r1_penalty

TINY = {"channel_base": 64, "channel_max": 32, "z_dim": 16, "w_dim": 16}


@pytest.mark.parametrize("res", [16, 32])
def test_shapes(res, rng):
    g, d = N.build_gan(N.gan_config(res, "cpu", **TINY))
    z = torch.randn(4, 16, generator=rng)
    x = g(z)
    assert x.shape == (4, 3, res, res) and torch.isfinite(x).all()
    assert d(x).shape == (4, 1)
    assert len(g.blocks) == {16: 2, 32: 3}[res]


def test_presets_and_channel_schedule():
    cpu, gpu = N.gan_config(64, "cpu"), N.gan_config(64, "gpu")
    assert [N.channels(r, gpu) for r in (4, 8, 16, 32, 64, 128)] == [512, 512, 512, 512, 256, 128]
    assert [N.channels(r, cpu) for r in (4, 64)] == [cpu["channel_max"], cpu["channel_base"] // 64]
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    gc, dc = N.build_gan(cpu)
    gg, dg = N.build_gan(gpu)
    assert n(gc) < n(gg) and n(dc) < n(dg)


def test_equalised_lr_keeps_unit_variance(rng):
    lin = N.EqLinear(512, 256)
    y = lin(torch.randn(4096, 512, generator=rng))
    assert abs(y.std().item() - 1.0) < 0.05
    conv = N.EqConv2d(64, 64, 3, act=False)
    y = conv(torch.randn(16, 64, 16, 16, generator=rng))[:, :, 1:-1, 1:-1]
    assert abs(y.std().item() - 1.0) < 0.05
    assert conv.weight.std().item() == pytest.approx(1.0, abs=0.05)  # stored N(0, 1), scaled at run time


def test_modconv_equals_per_sample_convolution(rng):
    m = N.ModConv(6, 5, 3, w_dim=8, act=False)
    x, w = torch.randn(3, 6, 8, 8, generator=rng), torch.randn(3, 8, generator=rng)
    s = m.affine(w)
    out = m(x, w)
    for b in range(3):
        wb = m.weight * m.scale * s[b][None, :, None, None]
        wb = wb / wb.square().sum((1, 2, 3), keepdim=True).add(1e-8).sqrt()
        ref = F.conv2d(x[b : b + 1], wb, padding=1) + m.bias[None, :, None, None]
        assert torch.allclose(out[b : b + 1], ref, atol=1e-5)


def test_demodulation_removes_style_scale(rng):
    m = N.ModConv(4, 4, 3, w_dim=8, act=False)
    x, w = torch.randn(2, 4, 8, 8, generator=rng), torch.randn(2, 8, generator=rng)
    before = m(x, w)
    with torch.no_grad():
        m.affine.weight.mul_(3.0)
        m.affine.bias.mul_(3.0)
    assert torch.allclose(m(x, w), before, atol=1e-5)


def test_minibatch_std_matches_manual(rng):
    mb = N.MinibatchStd(4)
    x = torch.randn(8, 3, 2, 2, generator=rng)
    y = mb(x)
    assert y.shape == (8, 4, 2, 2)
    for m in range(2):  # groups are images {m, m+2, m+4, m+6}
        grp = x[m::2]
        ref = grp.std(0, unbiased=False).mean()
        assert torch.allclose(y[m::2, 3], ref.expand(4, 2, 2), atol=1e-5)
    assert mb(torch.randn(6, 3, 2, 2)).shape == (6, 4, 2, 2)  # group 3 divides 6
    assert mb(torch.randn(5, 3, 2, 2)).shape == (5, 4, 2, 2)  # a prime batch: one group of 5


def test_truncation_and_w_avg(rng):
    g, _ = N.build_gan(N.gan_config(16, "cpu", **TINY))
    z = torch.randn(4, 16, generator=rng)
    g.eval()
    before = g.w_avg.clone()
    x0 = g(z, truncation=0.0)
    assert torch.allclose(x0, x0[:1].expand_as(x0), atol=1e-5)
    assert torch.equal(g.w_avg, before)
    g.train()
    g(z)
    assert not torch.equal(g.w_avg, before)


def test_r1_double_backward_through_discriminator(rng):
    _, d = N.build_gan(N.gan_config(16, "cpu", **TINY))
    x = torch.randn(4, 3, 16, 16, generator=rng, requires_grad=True)
    pen = r1_penalty(d(x), x)
    pen.backward()
    assert pen.item() > 0
    assert d.fromrgb.weight.grad is not None and d.fromrgb.weight.grad.abs().sum() > 0


def test_config_errors():
    with pytest.raises(ConfigError, match="--res 48"):
        N.gan_config(48)
    with pytest.raises(ConfigError, match="unknown GAN preset 'paper'"):
        N.gan_config(64, "paper")
    with pytest.raises(ConfigError, match=r"unknown GAN network option\(s\) \['width'\]"):
        N.gan_config(64, width=3)
    with pytest.raises(ConfigError, match="z_dim=0"):
        N.gan_config(64, z_dim=0)
