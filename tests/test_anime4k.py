"""Classic Anime4K: each push rule on hand-made 3x3 patterns, the gradient, a scalar re-reading of the
reference loops, and whole-image behaviour (flat, range, shapes, thin lines, PSNR near bicubic)."""

from __future__ import annotations

import pytest
import torch

from gan_sr.errors import ConfigError, GansrError
from gan_sr.sr.anime4k import (
    KERNELS,
    Anime4K,
    compute_gradient,
    fired_kernels,
    luminance,
    pre_upscale,
    push_color,
    push_gradient,
)

ORDER = [k.number for k in KERNELS]

# Kernel 0 (top row light): only it fires, in both variants (centre between the rows).
EDGE = [[0.9, 0.8, 1.0], [0.4, 0.5, 0.3], [0.1, 0.2, 0.15]]
EDGE_LIGHT_MEAN = (0.9 + 0.8 + 1.0) / 3
# Kernel 1 (light {t, tr, r}): only it fires.
CORNER = [[0.4, 0.9, 0.8], [0.2, 0.5, 1.0], [0.3, 0.1, 0.4]]
CORNER_LIGHT_MEAN = (0.9 + 0.8 + 1.0) / 3
# Rotating a pattern by 90 degrees clockwise moves each kernel to the next one of its kind.
EDGE_CW = {0: 2, 2: 4, 4: 6, 6: 0}
CORNER_CW = {1: 3, 3: 5, 5: 7, 7: 1}


def gray(pattern) -> torch.Tensor:
    return torch.tensor(pattern, dtype=torch.float32)[None, None].expand(1, 3, 3, 3).contiguous()


def rot_cw(x: torch.Tensor, times: int) -> torch.Tensor:
    return torch.rot90(x, k=-times, dims=(-2, -1))


def patterns():
    """(kernel number, 3x3 gray image, mean L of its light cells) for all eight kernels."""
    for base, number, table, mean in ((EDGE, 0, EDGE_CW, EDGE_LIGHT_MEAN), (CORNER, 1, CORNER_CW, CORNER_LIGHT_MEAN)):
        for times in range(4):
            yield number, rot_cw(gray(base), times), mean
            number = table[number]


@pytest.mark.parametrize("variant", ["glsl", "cpp"])
def test_each_kernel_fires_alone_on_its_pattern(variant):
    seen = set()
    for number, img, _ in patterns():
        fired = fired_kernels(luminance(img, variant), variant)[0, :, 1, 1]
        assert [ORDER[i] for i in fired.nonzero().flatten().tolist()] == [number]
        seen.add(number)
    assert seen == set(range(8))


@pytest.mark.parametrize("variant", ["glsl", "cpp"])
@pytest.mark.parametrize("s", [0.3, 0.5, 1.0])
def test_push_color_on_each_kernel_pattern(variant, s):
    for number, img, mean in patterns():
        out = push_color(img, s, variant)[0, :, 1, 1]
        expected = (1 - s) * 0.5 + s * mean
        assert torch.allclose(out, torch.full((3,), expected), atol=1e-6), number


@pytest.mark.parametrize("variant", ["glsl", "cpp"])
def test_push_gradient_on_each_kernel_pattern(variant):
    s = 0.75
    rgb = torch.rand(1, 3, 3, 3, generator=torch.Generator().manual_seed(1))
    for number, img, _ in patterns():
        a = img[:, :1]
        k = next(k for k in KERNELS if k.number == number)
        light = [rgb[0, :, 1 + dy, 1 + dx] for dy, dx in k.light]
        expected = (1 - s) * rgb[0, :, 1, 1] + s * (light[0] + light[1] + light[2]) / 3
        out = push_gradient(rgb, a, s, variant)[0, :, 1, 1]
        assert torch.allclose(out, expected, atol=1e-6), number


def test_push_blends_each_colour_channel():
    img = gray(EDGE)
    img[0, :, 0, 0] = torch.tensor([1.0, 0.7, 0.9])  # tl stays light in both luminances
    for variant in ("glsl", "cpp"):
        out = push_color(img, 0.5, variant)[0, :, 1, 1]
        mean = (img[0, :, 0, 0] + img[0, :, 0, 1] + img[0, :, 0, 2]) / 3
        assert torch.allclose(out, 0.5 * img[0, :, 1, 1] + 0.5 * mean, atol=1e-6)


@pytest.mark.parametrize("variant", ["glsl", "cpp"])
def test_no_kernel_fires_leaves_the_pixel(variant):
    scattered = [[0.5, 0.2, 0.8], [0.3, 0.6, 0.1], [0.9, 0.4, 0.7]]
    dark_dot = [[0.9, 0.9, 0.9], [0.9, 0.2, 0.9], [0.9, 0.9, 0.9]]  # light all round, but no dark side
    for pattern in (scattered, [[0.5] * 3] * 3, dark_dot):
        img = gray(pattern)
        assert not fired_kernels(luminance(img, variant), variant)[0, :, 1, 1].any()
        assert torch.equal(push_color(img, 0.5, variant)[0, :, 1, 1], img[0, :, 1, 1])
        assert torch.equal(push_gradient(img, img[:, :1], 0.5, variant)[0, :, 1, 1], img[0, :, 1, 1])


def test_edge_rule_differs_between_variants():
    # Top row light, centre darker than the bottom row: GLSL needs only min(light) > c, Anime4KCPP c > max(dark).
    img = gray([[0.9, 0.8, 1.0], [0.2, 0.3, 0.25], [0.4, 0.35, 0.45]])
    assert fired_kernels(img[:, :1], "glsl")[0, :, 1, 1].tolist() == [True] + [False] * 7
    assert not fired_kernels(img[:, :1], "cpp")[0, :, 1, 1].any()
    assert push_color(img, 0.5, "glsl")[0, 0, 1, 1].item() == pytest.approx(0.5 * 0.3 + 0.5 * 0.9)
    assert push_color(img, 0.5, "cpp")[0, 0, 1, 1].item() == pytest.approx(0.3)


def test_inequalities_are_strict():
    # min(light) equal to max(dark) or to the centre: nothing fires.
    light_equals_dark = [[0.9, 0.8, 1.0], [0.4, 0.5, 0.3], [0.8, 0.2, 0.1]]
    light_equals_centre = [[0.9, 0.5, 1.0], [0.4, 0.5, 0.3], [0.1, 0.2, 0.15]]
    for pattern in (light_equals_dark, light_equals_centre):
        for variant in ("glsl", "cpp"):
            assert not fired_kernels(gray(pattern)[:, :1], variant)[0, :, 1, 1].any()


# Kernels 0 (top row, mean L 0.8333) and 1 ({t, tr, r}, mean L 0.9167) both fire.
TWO = [[0.7, 0.8, 1.0], [0.1, 0.3, 0.95], [0.0, 0.1, 0.2]]


def test_glsl_keeps_the_lightest_proposal():
    fired = fired_kernels(gray(TWO)[:, :1], "glsl")[0, :, 1, 1]
    assert [ORDER[i] for i in fired.nonzero().flatten().tolist()] == [0, 1]
    s = 0.3
    assert push_color(gray(TWO), s, "glsl")[0, 0, 1, 1].item() == pytest.approx(0.7 * 0.3 + 0.3 * 2.75 / 3)


def test_cpp_applies_firing_kernels_in_sequence_on_the_running_centre():
    s = 0.3
    c1 = 0.7 * 0.3 + 0.3 * 2.5 / 3  # kernel 0 on the original centre
    c2 = 0.7 * c1 + 0.3 * 2.75 / 3  # kernel 1 tests and blends the updated centre, original neighbours
    assert push_color(gray(TWO), s, "cpp")[0, 0, 1, 1].item() == pytest.approx(c2, abs=1e-6)
    # With s = 1 the centre becomes 0.8333 after kernel 0, which stops kernel 1 (min light 0.8) from firing.
    assert push_color(gray(TWO), 1.0, "cpp")[0, 0, 1, 1].item() == pytest.approx(2.5 / 3, abs=1e-6)


def test_push_gradient_takes_the_first_firing_kernel():
    rgb = torch.rand(1, 3, 3, 3, generator=torch.Generator().manual_seed(2))
    out = push_gradient(rgb, gray(TWO)[:, :1], 1.0, "glsl")[0, :, 1, 1]
    assert torch.allclose(out, rgb[0, :, 0, :].mean(dim=1), atol=1e-6)  # kernel 0, not kernel 1


@pytest.mark.parametrize("variant,weights", [("glsl", (2 / 6, 3 / 6, 1 / 6)), ("cpp", (0.299, 0.587, 0.114))])
def test_luminance_weights(variant, weights):
    rgb = torch.eye(3).view(1, 3, 3, 1)
    assert torch.allclose(luminance(rgb, variant).flatten(), torch.tensor(weights))


@pytest.mark.parametrize("vertical", [False, True])
def test_gradient_on_a_step_edge(vertical):
    step = 0.1
    img = torch.zeros(1, 3, 8, 10)
    img[..., 5:] = step
    if vertical:
        img = img.transpose(-1, -2).contiguous()
    a = compute_gradient(img, "glsl")[0, 0]
    if vertical:
        a = a.T
    expected = torch.ones(8, 10)
    expected[:, 4:6] = 1 - 4 * step  # unnormalised Sobel: |G| = 4 * step on both sides of the step
    assert torch.allclose(a, expected, atol=1e-6)  # clamp-to-edge: no response at the image border
    big = torch.zeros(1, 3, 4, 6)
    big[..., 3:] = 0.3
    assert compute_gradient(big, "glsl")[0, 0, :, 2:4].eq(0).all()  # |G| = 1.2 clamps to 1


def test_gradient_uses_the_variant_luminance():
    img = torch.zeros(1, 3, 4, 6)
    img[:, 0, :, 3:] = 0.3  # red step
    assert compute_gradient(img, "glsl")[0, 0, 0, 2].item() == pytest.approx(1 - 4 * 0.3 * 2 / 6)
    assert compute_gradient(img, "cpp")[0, 0, 0, 2].item() == pytest.approx(1 - 4 * 0.3 * 0.299)


# A scalar transcription of the reference loops (ThinLines/Refine in Anime4K_Adaptive_v0.9.glsl,
# pushColorF/pushGradientF in CPUAnime4K09.cpp with clamp-to-edge borders) for the vectorised code.
SETS = {  # number: (light, dark, edge) with cells named as in the shaders
    0: ("tl t tr", "bl b br", True), 4: ("bl b br", "tl t tr", True),
    1: ("t tr r", "c l b", False), 5: ("l bl b", "c r t", False),
    2: ("tr r br", "tl l bl", True), 6: ("tl l bl", "tr r br", True),
    3: ("r br b", "c l t", False), 7: ("t l tl", "c r b", False),
}
CELLS = {"tl": (-1, -1), "t": (-1, 0), "tr": (-1, 1), "l": (0, -1), "c": (0, 0), "r": (0, 1),
         "bl": (1, -1), "b": (1, 0), "br": (1, 1)}


def scalar_push(img, a, s, variant, mode):
    h, w = len(img), len(img[0])
    out = [[None] * w for _ in range(h)]
    for y in range(h):
        for x in range(w):
            def at(name, grid):
                dy, dx = CELLS[name]
                return grid[min(max(y + dy, 0), h - 1)][min(max(x + dx, 0), w - 1)]

            cc, ca = list(img[y][x]), a[y][x]
            best, best_a = cc, ca
            result = None
            for pair in ((0, 4), (1, 5), (2, 6), (3, 7)):
                for number in pair:
                    light, dark, edge = (v.split() if isinstance(v, str) else v for v in SETS[number])
                    la = [at(n, a) for n in light]
                    centre = ca if (variant == "cpp" and mode == "color") else a[y][x]
                    da = [centre if n == "c" else at(n, a) for n in dark]
                    if edge and variant == "cpp":
                        ok = min(la) > centre > max(da)
                    elif edge:
                        ok = min(la) > centre and min(la) > max(da)
                    else:
                        ok = min(la) > max(da)
                    if not ok:
                        continue
                    lp = [at(n, img) for n in light]
                    mean = [sum(p[i] for p in lp) / 3 for i in range(3)]
                    if mode == "gradient":
                        result = [(1 - s) * cc[i] + s * mean[i] for i in range(3)]
                    elif variant == "glsl":
                        prop = [(1 - s) * cc[i] + s * mean[i] for i in range(3)]
                        prop_a = (1 - s) * a[y][x] + s * sum(la) / 3
                        if prop_a > best_a:
                            best, best_a = prop, prop_a
                    else:
                        cc = [(1 - s) * cc[i] + s * mean[i] for i in range(3)]
                        ca = (1 - s) * ca + s * sum(la) / 3
                    break
                if result is not None:
                    break
            if mode == "gradient":
                out[y][x] = result or list(img[y][x])
            else:
                out[y][x] = best if variant == "glsl" else cc
    return out


@pytest.mark.parametrize("variant", ["glsl", "cpp"])
def test_matches_a_scalar_reading_of_the_reference(variant):
    g = torch.Generator().manual_seed(3)
    rgb = (torch.rand(1, 3, 7, 9, generator=g) * 4).round() / 4  # coarse levels: plenty of ties and firings
    rgb[..., 2:5, 3:7] = torch.rand(1, 3, 3, 4, generator=g)
    to_grid = lambda t: t[0].permute(1, 2, 0).double().tolist()  # noqa: E731
    lum = luminance(rgb.double(), variant)[0, 0].tolist()
    got = push_color(rgb.double(), 0.4, variant)
    ref = scalar_push(to_grid(rgb), lum, 0.4, variant, "color")
    assert torch.allclose(got[0].permute(1, 2, 0), torch.tensor(ref, dtype=torch.float64))
    a = compute_gradient(got, variant)
    got2 = push_gradient(got, a, 0.8, variant)
    ref2 = scalar_push(to_grid(got), a[0, 0].tolist(), 0.8, variant, "gradient")
    assert torch.allclose(got2[0].permute(1, 2, 0), torch.tensor(ref2, dtype=torch.float64))
    assert not torch.equal(got, rgb.double()) and not torch.equal(got2, got)


def test_variant_defaults():
    g = Anime4K(4)
    assert (g.variant, g.pre, g.passes, g.push_color_count) == ("glsl", "bicubic", 1, 1)
    assert (g.strength_color, g.strength_gradient) == (pytest.approx(4 / 6), 1.0)
    assert Anime4K(8).strength_color == 1.0 and Anime4K(1).strength_gradient == 0.5
    c2, c4 = Anime4K(2, "cpp"), Anime4K(4, "cpp")
    assert (c2.pre, c4.pre) == ("bilinear", "bicubic")
    assert (c4.passes, c4.push_color_count, c4.strength_color, c4.strength_gradient) == (2, 2, 0.3, 1.0)
    assert Anime4K(2, "cpp", pre="bicubic", passes=1, push_color_count=0, strength_color=0.1).pre == "bicubic"


@pytest.mark.parametrize("variant", ["glsl", "cpp"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_flat_image_unchanged_and_shape(variant, scale):
    lr = torch.full((2, 3, 9, 13), 0.37)
    lr[1] = torch.tensor([0.1, 0.5, 0.9]).view(3, 1, 1)
    sr = Anime4K(scale, variant)(lr)
    assert sr.shape == (2, 3, 9 * scale, 13 * scale)
    assert torch.allclose(sr, lr[:, :, :1, :1].expand_as(sr), atol=1e-5)


@pytest.mark.parametrize("variant", ["glsl", "cpp"])
def test_output_range_and_batch_independence(variant, rng):
    lr = torch.rand(3, 3, 12, 10, generator=rng)
    lr[:, :, 4:8] = (lr[:, :, 4:8] > 0.5).float()  # hard edges: bicubic overshoot
    model = Anime4K(3, variant)
    sr = model(lr)
    assert sr.min() >= 0 and sr.max() <= 1
    assert torch.allclose(sr[1:2], model(lr[1:2]), atol=1e-6)


@pytest.mark.parametrize("variant", ["glsl", "cpp"])
@pytest.mark.parametrize("pre", ["bicubic", "bilinear"])
def test_thin_dark_line_gets_thinner(variant, pre):
    lr = torch.ones(1, 3, 20, 20)
    lr[..., 9] = 0.0
    lr[..., 14, :] = 0.1
    up = pre_upscale(lr, 4, pre).clamp(0, 1)
    sr = Anime4K(4, variant, pre=pre)(lr)
    dark_before = (luminance(up, variant) < 0.75).sum().item()
    dark_after = (luminance(sr, variant) < 0.75).sum().item()
    assert dark_after < 0.8 * dark_before
    assert sr.sum() > up.sum()  # light pushed into the lines


def test_refine_runs_on_an_upscaled_image():
    x = torch.ones(1, 3, 16, 16)
    x[..., 7:9] = 0.2
    assert Anime4K(2).refine(x).shape == x.shape


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"scale": 0}, "scale must be an integer >= 1"),
        ({"scale": 2.5}, "scale must be an integer >= 1"),
        ({"scale": 2, "variant": "hlsl"}, "unknown variant 'hlsl'"),
        ({"scale": 2, "pre": "lanczos"}, "unknown pre-upscaler 'lanczos'"),
        ({"scale": 2, "passes": 0}, "passes must be an integer >= 1"),
        ({"scale": 2, "push_color_count": -1}, "push_color_count must be an integer >= 0"),
        ({"scale": 2, "strength_color": 1.5}, "strength_color must be a number in [0, 1]"),
        ({"scale": 2, "strength_gradient": -0.1}, "strength_gradient must be a number in [0, 1]"),
    ],
)
def test_bad_options_raise(kwargs, message):
    with pytest.raises(ConfigError) as err:
        Anime4K(**kwargs)
    assert message in str(err.value)


def test_bad_input_raises():
    model = Anime4K(2)
    with pytest.raises(GansrError, match=r"RGB batch \(B, 3, h, w\), got shape \(1, 1, 4, 4\)"):
        model(torch.zeros(1, 1, 4, 4))
    with pytest.raises(GansrError, match="float tensor"):
        model(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="unknown variant"):
        luminance(torch.zeros(1, 3, 2, 2), "java")


def _psnr_y(sr, hr, crop):
    from gan_sr.metrics.psnr_ssim import psnr

    return float(psnr(sr, hr, crop=crop)[0])


def test_psnr_near_bicubic_on_drawn_art(shared_datasets):
    """Anime4K trades a little PSNR for sharper lines; far below bicubic would point at a fault (REFERENCE 4)."""
    from gan_sr.degrade import imresize
    from gan_sr.io.images import read_image

    hr = read_image(shared_datasets / "peppercarrot_webcomic_crops384" / "E02P04_x320_y976.png").rgb[None]
    hr = hr[..., 96:288, 96:288]  # line art (a cat's head), kept small for speed
    lr = imresize(hr, 0.25).clamp(0, 1)
    bicubic = _psnr_y(imresize(lr, 4).clamp(0, 1), hr, 4)
    for variant in ("glsl", "cpp"):
        ours = _psnr_y(Anime4K(4, variant)(lr), hr, 4)
        assert bicubic - 1.0 < ours < bicubic + 0.5, (variant, ours, bicubic)


def _drawing(b: int, h: int, w: int, seed: int) -> torch.Tensor:
    """Line-art-like RGB: flat colour regions, dark strokes, soft ramps and a little noise."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    img = torch.rand(b, 3, 1, 1, generator=g) * 0.5 + 0.5 + 0.0 * xx
    for _ in range(4):
        cy, cx, r = torch.rand(3, generator=g) * torch.tensor([h, w, max(h, w) / 2])
        d = ((yy - cy) ** 2 + (xx - cx) ** 2).sqrt()
        img = torch.where((d < r)[None, None], torch.rand(b, 3, 1, 1, generator=g), img)
        img = img * (1 - 0.8 * (d - r).abs().lt(1.0).float())[None, None]
    img = img + 0.2 * (xx / max(w - 1, 1))[None, None] + 0.02 * torch.rand(b, 3, h, w, generator=g)
    return img.clamp(0, 1)


@pytest.mark.parametrize("variant", ["cpp", "glsl"])
@pytest.mark.parametrize("hw", [(1, 1), (1, 7), (2, 3), (23, 37), (64, 48)])
def test_compiled_refine_equals_the_tensor_rules(variant, hw):
    x = _drawing(2, *hw, seed=hw[0] * 100 + hw[1])
    for kwargs in ({}, {"passes": 3, "push_color_count": 1}, {"strength_color": 0.0}, {"strength_gradient": 0.4}):
        m = Anime4K(2, variant, **kwargs)
        ref, got = m.refine(x, backend="torch"), m.refine(x, backend="compiled")
        assert got.shape == ref.shape and got.dtype == torch.float32
        off = (got - ref).abs() > 2e-6  # a strict test on a near-tie can flip with float32 rounding
        assert off.float().mean().item() <= 1e-3, (kwargs, off.float().mean().item())
    changed = (Anime4K(2, variant).refine(x, backend="compiled") - x).abs().max().item()
    assert hw[0] * hw[1] < 10 or changed > 0.05  # the patterns exercise the pushes, not only the identity


def test_compiled_refine_is_the_default_on_cpu_and_leaves_its_input_alone():
    x = _drawing(1, 32, 32, seed=3)
    before = x.clone()
    m = Anime4K(2, "cpp")
    assert torch.equal(m.refine(x), m.refine(x, backend="compiled"))
    assert torch.equal(x, before)
    y = x.clone().requires_grad_(True)
    out = m.refine(y)  # needs a gradient: the tensor rules
    assert out.requires_grad
    with pytest.raises(ConfigError, match="unknown backend"):
        m.refine(x, backend="cuda")


def test_fused_bilinear_upscale_equals_torch():
    lr = _drawing(2, 9, 14, seed=2)
    m = Anime4K(2, "cpp", pre="bilinear")
    ref = m.refine(pre_upscale(lr, 2, "bilinear").clamp(0, 1), backend="torch")
    got = m(lr)  # x2: the upscale runs inside the compiled loop
    assert got.shape == ref.shape == (2, 3, 18, 28)
    assert ((got - ref).abs() > 2e-6).float().mean().item() <= 1e-3
    m3 = Anime4K(3, "cpp", pre="bilinear")  # other factors upscale in torch first
    assert torch.equal(m3(lr), m3.refine(pre_upscale(lr, 3, "bilinear").clamp(0, 1), backend="compiled"))
