"""ProGAN's multi-scale SWD: pyramid against scipy, descriptors by construction, SWD on known shifts,
and the behaviour the metric exists for (halves of one set close; distortions push it up monotonically)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from gan_sr.data.synth import synth_image
from gan_sr.errors import ConfigError
from gan_sr.metrics import swd as S


_K = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_pyramid_matches_scipy_mirror_convolution(rng):
    x = torch.rand(2, 3, 16, 12, generator=rng, dtype=torch.float64)
    ref_down = ndimage.convolve(x.numpy(), _K[None, None], mode="mirror")[:, :, ::2, ::2]
    assert np.allclose(S.pyr_down(x).numpy(), ref_down)
    small = x[:, :, ::2, ::2]
    up = np.zeros(x.shape)
    up[:, :, ::2, ::2] = small.numpy()
    ref_up = ndimage.convolve(up, _K[None, None] * 4.0, mode="mirror")
    assert np.allclose(S.pyr_up(small).numpy(), ref_up)


def test_laplacian_pyramid_reconstructs(rng):
    x = torch.rand(2, 3, 64, 64, generator=rng, dtype=torch.float64)
    pyr = S.laplacian_pyramid(x, 3)
    assert [p.shape[-1] for p in pyr] == [64, 32, 16]
    y = pyr[-1]
    for band in reversed(pyr[:-1]):
        y = band + S.pyr_up(y)
    assert torch.allclose(y, x, atol=1e-12)
    assert S.swd_resolutions(128) == [128, 64, 32, 16] and S.swd_resolutions(8) == [8]


def test_descriptors_are_7x7_patches_inside_the_image():
    c, y, x = torch.meshgrid(torch.arange(3), torch.arange(20), torch.arange(24), indexing="ij")
    img = (c * 10000 + y * 100 + x).double()[None].repeat(2, 1, 1, 1)
    img[1] += 1_000_000
    desc = S.patch_descriptors(img, nhoods=50, generator=_gen()).reshape(100, 3, 7, 7)
    centre = desc[:, 0, 3, 3]
    b, cy, cx = centre // 1_000_000, (centre % 10000) // 100, centre % 100
    assert (b[:50] == 0).all() and (b[50:] == 1).all()
    assert cy.min() >= 3 and cy.max() <= 16 and cx.min() >= 3 and cx.max() <= 20
    off = torch.arange(-3, 4).double()
    ref = (b[:, None, None, None] * 1_000_000 + torch.arange(3).double()[None, :, None, None] * 10000
           + (cy[:, None, None, None] + off[None, None, :, None]) * 100 + cx[:, None, None, None] + off)
    assert torch.equal(desc, ref)


def test_sliced_wasserstein_of_a_translated_set(rng):
    a = torch.randn(500, 10, generator=rng)
    shift = torch.randn(10, generator=rng)
    got = S.sliced_wasserstein(a, a + shift, repeats=2, dirs=16, generator=_gen(3))
    g = _gen(3)
    expect = []
    for _ in range(2):
        u = torch.randn(16, 10, generator=g, dtype=torch.float64)
        u = u / u.norm(dim=1, keepdim=True)
        expect.append((u @ shift.double()).abs().mean())
    assert got == pytest.approx(float(torch.stack(expect).mean()), rel=1e-4)
    assert S.sliced_wasserstein(a, a, generator=_gen()) == 0.0


def test_normalisation_removes_per_channel_affine_changes(rng):
    d = torch.rand(300, 147, generator=rng)
    scaled = d.reshape(300, 3, 49) * torch.tensor([2.0, 0.5, 3.0])[None, :, None] + 0.7
    assert torch.allclose(S.normalize_descriptors(d), S.normalize_descriptors(scaled.reshape(300, 147)), atol=1e-4)


def _blur(x, passes):
    for _ in range(passes):
        x = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)
    return x


def _check_metric_behaviour(a, b, nhoods):
    def d(other, seed=0):
        return S.swd(a, other, nhoods=nhoods, generator=_gen(seed))["mean"]

    halves = d(b)
    noise = [d((b + s * torch.randn(b.shape, generator=_gen(1))).clamp(0, 1)) for s in (0.05, 0.1, 0.2)]
    blur = [d(_blur(b, k)) for k in (1, 2, 4)]
    perm = torch.randperm(b[0, 0].numel(), generator=_gen(2))
    shuffled = d(b.flatten(2)[:, :, perm].reshape(b.shape))  # same colours, no structure
    assert halves < noise[0] < noise[1] < noise[2], (halves, noise)
    assert halves < blur[0] < blur[1] < blur[2], (halves, blur)
    assert shuffled > max(1.3 * halves, noise[1]), (halves, noise, shuffled)
    return halves


def test_swd_halves_small_and_monotone_in_distortion():
    x = torch.stack([synth_image(1, i, 32) for i in range(96)])
    _check_metric_behaviour(x[:48], x[48:], nhoods=24)


@pytest.mark.shared
def test_swd_on_real_drawn_art(shared_datasets):
    from gan_sr.io.images import list_images, read_image

    paths = list_images(shared_datasets / "peppercarrot_webcomic_crops384")[:64]
    crops = []
    for p in paths:  # one 128 px crop per page, area-downscaled to 64 px; halves come from different pages
        im = read_image(p).rgb
        crops.append(F.avg_pool2d(im[None, :, 128:256, 128:256], 2)[0])
    x = torch.stack(crops)
    halves = _check_metric_behaviour(x[:32], x[32:], nhoods=16)
    out = S.swd(x[:32], x[32:], nhoods=16, generator=_gen())
    assert sorted(out["levels"]) == [16, 32, 64] and out["mean"] == pytest.approx(halves)


def test_swd_errors():
    x = torch.rand(4, 3, 16, 16)
    with pytest.raises(ConfigError, match="equal-sized sets; got 4 real and 2 fake"):
        S.swd(x, x[:2])
    with pytest.raises(ConfigError, match=r"RGB image batches \(B, 3, H, W\)"):
        S.swd(x[:, :1], x[:, :1])
    with pytest.raises(ConfigError, match="differ in size"):
        S.swd(x, torch.rand(4, 3, 32, 32))
    with pytest.raises(ConfigError, match="at least 7x7"):
        S.swd(torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4))
