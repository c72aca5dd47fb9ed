"""One synthetic drawn image: a palette, a background, cel-shaded objects, hair, eyes, ink strokes, speech
bubbles and sparkles, drawn with `raster` from an RNG seeded by (GENERATOR_VERSION, seed, index)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from gan_sr.data.raster import (
    Array,
    Blob,
    Canvas,
    Ellipse,
    Polygon,
    RoundBox,
    band,
    bezier,
    cover,
    dots,
    draw_stroke,
    hatch,
    hsv,
    linear_gradient,
    polyline,
    segments_alpha,
    star,
    taper,
)
from gan_sr.errors import ConfigError

GENERATOR_VERSION = 1  # part of every image's seed: bump it when the drawing changes


class _Palette:
    """Per-image colour choices: anime fills are fairly saturated, shadows shift toward a cool tint."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.hue = rng.uniform()
        self.shadow_tint = hsv(rng.uniform(0.6, 0.8), rng.uniform(0.15, 0.35), 1.0)
        self.ink = hsv(rng.uniform(), rng.uniform(0.0, 0.5), rng.uniform(0.05, 0.2))

    def fill(self) -> Array:
        rng = self.rng
        h = self.hue + rng.choice([0.0, 0.08, 0.33, 0.5, 0.67]) + rng.normal(0, 0.04)
        return hsv(h, rng.uniform(0.25, 0.85), rng.uniform(0.65, 1.0))

    def shadow(self, base: Array, depth: float) -> Array:
        return (base * (1.0 - depth) * (self.shadow_tint ** (2 * depth))).astype(np.float32)

    def outline(self, base: Array) -> Array:
        if self.rng.uniform() < 0.7:
            return self.ink
        return (base * self.rng.uniform(0.15, 0.35)).astype(np.float32)


def _background(cv: Canvas, rng: np.random.Generator, pal: _Palette) -> None:
    h, w, u = cv.h, cv.w, cv.unit
    sl, X, Y = cv.region(0, 0, w, h)
    kind = rng.choice(["sky", "sky", "flat_tone", "room", "radial", "stripes"])
    if kind == "sky":
        top = hsv(rng.uniform(0.52, 0.68), rng.uniform(0.45, 0.85), rng.uniform(0.75, 1.0))
        bottom = hsv(rng.uniform(0.5, 0.62) if rng.uniform() < 0.7 else rng.uniform(0.0, 0.12),
                      rng.uniform(0.05, 0.35), 1.0)
        cv.img[:] = linear_gradient(X, Y, 0, 0, 0, h, top, bottom)
        for _ in range(rng.integers(1, 4)):
            _cloud(cv, rng, rng.uniform(0, w), rng.uniform(0.05, 0.6) * h, rng.uniform(18, 40) * u)
    elif kind == "flat_tone":
        base = hsv(rng.uniform(), rng.uniform(0.05, 0.3), rng.uniform(0.85, 1.0))
        cv.img[:] = base
        mask = np.ones((h, w), np.float32)
        if rng.uniform() < 0.6:
            mask = cover(Blob(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.3, 0.6) * min(h, w),
                                rng.uniform(-0.15, 0.15, 3), rng.uniform(0, 2 * np.pi, 3)).sd(X, Y))
        cv.paint(sl, mask * dots(X, Y, rng.uniform(4, 8) * u, rng.uniform(0.8, 1.8) * u),
                 pal.shadow(base, 0.45))
    elif kind == "room":
        wall = hsv(rng.uniform(), rng.uniform(0.1, 0.4), rng.uniform(0.8, 1.0))
        floor = hsv(rng.uniform(0.05, 0.12), rng.uniform(0.3, 0.6), rng.uniform(0.55, 0.85))
        horizon = rng.uniform(0.45, 0.8) * h
        cv.img[:] = wall
        cv.paint(sl, cover(horizon - Y) * np.ones_like(X), floor)
        cv.paint(sl, cover(horizon - Y) * hatch(X, Y - horizon, np.pi / 2, rng.uniform(10, 24) * u, 0.6 * u)
                 * np.ones_like(X), pal.shadow(floor, 0.35))
        cv.paint(sl, band(np.abs(Y - horizon), 1.0 * u) * np.ones_like(X), pal.ink)
        window = RoundBox(rng.uniform(0.1, 0.9) * w, horizon * 0.45, rng.uniform(20, 40) * u,
                           rng.uniform(16, 30) * u, 2 * u).sd(X, Y)
        cv.paint(sl, cover(window), hsv(rng.uniform(0.5, 0.6), 0.3, 1.0))
        cv.paint(sl, band(np.abs(window), 1.5 * u), pal.ink)
    elif kind == "radial":
        c0 = hsv(rng.uniform(), rng.uniform(0.05, 0.3), 1.0)
        c1 = hsv(rng.uniform(), rng.uniform(0.4, 0.8), rng.uniform(0.5, 0.9))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        t = np.clip(np.sqrt((X - cx) ** 2 + (Y - cy) ** 2) / (0.9 * max(h, w)), 0, 1)
        cv.img[:] = c0 + t[..., None] * (c1 - c0)
        for _ in range(rng.integers(3, 8)):
            _sparkle(cv, rng, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(4, 10) * u)
    else:
        c0 = pal.fill()
        cv.img[:] = c0
        ang = rng.uniform(0, np.pi)
        cv.paint(sl, hatch(X, Y, ang, rng.uniform(10, 22) * u, rng.uniform(2, 5) * u),
                 pal.shadow(c0, rng.uniform(0.15, 0.3)))


def _cloud(cv: Canvas, rng, cx, cy, r) -> None:
    puffs = [Ellipse(cx + dx * r, cy + dy * r, r * s, r * s * 0.8)
             for dx, dy, s in zip(rng.uniform(-1.2, 1.2, 4), rng.uniform(-0.3, 0.2, 4), rng.uniform(0.5, 0.9, 4))]
    region = cv.region(cx - 2.3 * r, cy - 1.4 * r, cx + 2.3 * r, cy + 1.2 * r)
    if region is None:
        return
    sl, X, Y = region
    sd = np.minimum.reduce([p.sd(X, Y) for p in puffs])
    cv.paint(sl, cover(sd), np.array([1.0, 1.0, 1.0], np.float32))
    shifted = np.minimum.reduce([p.sd(X, Y + 0.35 * r) for p in puffs])
    cv.paint(sl, cover(sd) * (1 - cover(shifted)), hsv(0.6, rng.uniform(0.08, 0.2), 0.92))
    if rng.uniform() < 0.5:
        cv.paint(sl, band(np.abs(sd), 0.6 * cv.unit), hsv(0.6, 0.3, 0.7))


def _sparkle(cv: Canvas, rng, cx, cy, r) -> None:
    shape = star(rng, cx, cy, r, 4, 0.25, rng.uniform(0, np.pi / 2))
    region = cv.region(cx - r - 2, cy - r - 2, cx + r + 2, cy + r + 2)
    if region is not None:
        sl, X, Y = region
        cv.paint(sl, cover(shape.sd(X, Y)), hsv(rng.uniform(0.1, 0.18), rng.uniform(0.0, 0.4), 1.0))


def _random_shape(rng, cx, cy, r):
    kind = rng.choice(["ellipse", "box", "star", "polygon", "blob", "blob"])
    if kind == "ellipse":
        return Ellipse(cx, cy, r, r * rng.uniform(0.45, 1.0), rng.uniform(0, np.pi))
    if kind == "box":
        return RoundBox(cx, cy, r, r * rng.uniform(0.4, 1.0), r * rng.uniform(0.05, 0.4), rng.uniform(0, np.pi))
    if kind == "star":
        return star(rng, cx, cy, r, int(rng.integers(4, 8)), rng.uniform(0.4, 0.65), rng.uniform(0, np.pi), 0.1)
    if kind == "polygon":
        n = int(rng.integers(3, 7))
        th = np.sort(rng.uniform(0, 2 * np.pi, n)) if n > 3 else rng.uniform(0, 2 * np.pi) + np.arange(3) * 2.1
        rad = r * rng.uniform(0.7, 1.0, n)
        return Polygon(np.stack([cx + rad * np.cos(th), cy + rad * np.sin(th)], 1))
    return Blob(cx, cy, r / 1.2, rng.uniform(-0.12, 0.12, 4), rng.uniform(0, 2 * np.pi, 4))


def _draw_object(cv: Canvas, rng, pal: _Palette, shape, light: Array) -> None:
    """A filled shape with cel shading (2 or 3 tones), optional highlight and hatching, and an inked outline."""
    u = cv.unit
    width = max(0.8, rng.uniform(0.8, 3.5) * u) if rng.uniform() < 0.88 else 0.0
    shift = rng.uniform(0.15, 0.35) * shape.radius
    pad = width * 1.6 + 2.0
    r = shape.radius + pad
    region = cv.region(shape.cx - r, shape.cy - r, shape.cx + r, shape.cy + r)
    if region is None:
        return
    sl, X, Y = region
    sd = shape.sd(X, Y)
    inside = cover(sd)
    base = pal.fill()
    if rng.uniform() < 0.2:
        c1 = base * rng.uniform(0.6, 0.85)
        colour = linear_gradient(X, Y, shape.cx, shape.cy - shape.radius, shape.cx, shape.cy + shape.radius,
                                  base, c1.astype(np.float32))
    else:
        colour = base
    cv.paint(sl, inside, colour)
    lx, ly = light
    shadow = inside * (1.0 - cover(shape.sd(X - lx * shift, Y - ly * shift)))
    cv.paint(sl, shadow, pal.shadow(base, rng.uniform(0.2, 0.35)))
    if rng.uniform() < 0.5:
        core = inside * (1.0 - cover(shape.sd(X - lx * shift * 0.4, Y - ly * shift * 0.4)))
        cv.paint(sl, core, pal.shadow(base, rng.uniform(0.45, 0.6)))
    if rng.uniform() < 0.3:
        lines_ = hatch(X, Y, rng.uniform(0, np.pi), rng.uniform(3, 6) * u, rng.uniform(0.3, 0.7) * u)
        cv.paint(sl, shadow * lines_, pal.shadow(base, 0.7))
    if rng.uniform() < 0.4:
        hr = shape.radius * rng.uniform(0.12, 0.25)
        spot = Ellipse(shape.cx + lx * shape.radius * 0.45, shape.cy + ly * shape.radius * 0.45, hr, hr * 0.6,
                        math.atan2(ly, lx) + np.pi / 2)
        cv.paint(sl, inside * cover(spot.sd(X, Y)), base + (1.0 - base) * 0.7)
    if width > 0:
        th = np.arctan2(Y - shape.cy, X - shape.cx)
        wobble = 1.0 + 0.45 * np.sin(rng.integers(1, 4) * th + rng.uniform(0, 2 * np.pi))
        cv.paint(sl, band(np.abs(sd), 0.5 * width * wobble), pal.outline(base))


def _hair(cv: Canvas, rng, pal: _Palette, cx, cy, r, light) -> None:
    """A spiky tuft of hair: a cel-shaded jagged polygon plus strand curves flowing toward its tips."""
    u = cv.unit
    angle = rng.uniform(0, 2 * np.pi)
    tuft = star(rng, cx, cy, r, int(rng.integers(3, 6)), rng.uniform(0.35, 0.55), angle, 0.25)
    _draw_object(cv, rng, pal, tuft, light)
    strand = pal.shadow(pal.fill(), 0.55)
    segs, widths = [], []
    for _ in range(rng.integers(3, 7)):
        a = angle + rng.uniform(0, 2 * np.pi)
        tip = np.array([cx + r * 0.85 * math.cos(a), cy + r * 0.85 * math.sin(a)])
        root = np.array([cx, cy]) + rng.normal(0, 0.15 * r, 2)
        bend = rng.normal(0, 0.25 * r, 2)
        ctrl = np.stack([root, root + (tip - root) * 0.33 + bend, root + (tip - root) * 0.66 + bend, tip])
        s, w = polyline(bezier(ctrl, 12), taper(12, rng.uniform(0.8, 2.2) * u, rng))
        segs.append(s)
        widths.append(w)
    res = segments_alpha(cv, np.concatenate(segs), np.concatenate(widths))
    if res is not None:
        cv.paint(res[0], res[1], strand)


def _eyes(cv: Canvas, rng, pal: _Palette, cx, cy, size) -> None:
    """A pair of anime eyes: white, gradient iris with pupil and highlights, thick upper lash line."""
    u = cv.unit
    gap = size * rng.uniform(1.4, 2.2)
    iris_col = hsv(rng.uniform(), rng.uniform(0.5, 0.9), rng.uniform(0.6, 0.95))
    tilt = rng.uniform(-0.15, 0.15)
    for side in (-1, 1):
        ex, ey = cx + side * gap / 2, cy
        rx, ry = size * 0.5, size * rng.uniform(0.45, 0.6)
        region = cv.region(ex - rx - 6 * u, ey - ry - 8 * u, ex + rx + 6 * u, ey + ry + 6 * u)
        if region is None:
            continue
        sl, X, Y = region
        white = Ellipse(ex, ey, rx, ry, side * tilt)
        ws = cover(white.sd(X, Y))
        cv.paint(sl, ws, np.array([0.98, 0.98, 0.99], np.float32))
        iris = Ellipse(ex, ey + ry * 0.1, rx * 0.55, ry * 0.85)
        ia = ws * cover(iris.sd(X, Y))
        cv.paint(sl, ia, linear_gradient(X, Y, ex, ey - ry, ex, ey + ry, iris_col * 0.35, iris_col))
        cv.paint(sl, ia * (1.0 - cover(iris.sd(X, Y - ry * 0.3))), iris_col * 0.25)
        cv.paint(sl, ws * cover(Ellipse(ex, ey + ry * 0.15, rx * 0.22, ry * 0.4).sd(X, Y)), iris_col * 0.12)
        for hx, hy, hr in ((-0.22, -0.25, 0.16), (0.18, 0.35, 0.08)):
            cv.paint(sl, ws * cover(Ellipse(ex + hx * rx, ey + hy * ry, hr * size, hr * size).sd(X, Y)),
                     np.array([1.0, 1.0, 1.0], np.float32))
        th = np.linspace(np.pi * 1.05, np.pi * 1.95, 14)
        lash = np.stack([ex + rx * 1.05 * np.cos(th), ey + ry * 1.05 * np.sin(th) + tilt * side * rx * np.cos(th)], 1)
        draw_stroke(cv, lash.astype(np.float32), taper(14, rng.uniform(2.5, 4.5) * u, rng) + 0.6 * u, pal.ink)
        th = np.linspace(np.pi * 0.25, np.pi * 0.75, 8)
        low = np.stack([ex + rx * np.cos(th), ey + ry * 1.02 * np.sin(th)], 1)
        draw_stroke(cv, low.astype(np.float32), taper(8, 1.0 * u, rng), pal.ink)


def _glyph_strokes(rng, x, y, g) -> list[Array]:
    """Two to four short strokes between points of a 3x3 lattice in a g x g cell: a text-like mark."""
    lattice = np.array([[x + i * g / 2, y + j * g / 2] for j in range(3) for i in range(3)], np.float32)
    return [lattice[rng.choice(9, 2, replace=False)] for _ in range(rng.integers(2, 5))]


def _speech_bubble(cv: Canvas, rng, pal: _Palette, cx, cy) -> None:
    """A manga speech bubble: white ellipse with a tail and an outline, holding rows of text-like marks."""
    u = cv.unit
    rx, ry = rng.uniform(34, 56) * u, rng.uniform(20, 32) * u
    bubble = Ellipse(cx, cy, rx, ry)
    side = rng.choice([-1.0, 1.0])
    tail = Polygon(np.array([[cx + side * rx * 0.2, cy + ry * 0.6], [cx + side * rx * 0.55, cy + ry * 0.5],
                              [cx + side * rx * 0.9, cy + ry * 1.6]]))
    width = rng.uniform(1.0, 2.2) * u
    region = cv.region(cx - rx - 4, cy - ry - 4, cx + rx + 4, cy + ry * 1.7 + 4)
    if region is None:
        return
    sl, X, Y = region
    sd = np.minimum(bubble.sd(X, Y), tail.sd(X, Y))
    cv.paint(sl, cover(sd), np.array([1.0, 1.0, 1.0], np.float32))
    cv.paint(sl, band(np.abs(sd), width / 2), pal.ink)
    g = rng.uniform(5, 8) * u
    rows = max(1, int(ry * 1.2 // (g * 1.6)))
    segs: list[Array] = []
    for row in range(rows):
        y = cy - rows * g * 0.8 + row * g * 1.6
        half = rx * math.sqrt(max(0.0, 1 - ((y + g / 2 - cy) / ry) ** 2)) * 0.75
        x = cx - half
        while x + g < cx + half:
            segs += _glyph_strokes(rng, x, y, g)
            x += g * rng.uniform(1.2, 1.5)
    res = segments_alpha(cv, np.stack(segs), np.full((len(segs), 2), max(1.0, 1.1 * u), np.float32)) if segs else None
    if res is not None:
        cv.paint(res[0], res[1], pal.ink)


def synth_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """(H, W) of an int (square) or (H, W) size; ConfigError under 8 px."""
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if h < 8 or w < 8:
        raise ConfigError(f"synth image size must be at least 8 px, got {size!r}")
    return h, w


def synth_image(seed: int, index: int, size: int | tuple[int, int] = 256) -> Tensor:
    """Draw image `index` of the set `seed`: float32 (3, H, W) in [0, 1], on the 8-bit grid (what the PNG holds).

    `size` is an int (square) or (H, W). The result depends only on (seed, index, size).
    """
    if seed < 0 or index < 0:
        raise ConfigError(f"synth seed and index must be >= 0, got seed={seed}, index={index}")
    h, w = synth_size(size)
    rng = np.random.default_rng([GENERATOR_VERSION, seed, index])
    cv = Canvas(h, w)
    pal = _Palette(rng)
    u = cv.unit
    a = rng.uniform(0, 2 * np.pi)
    light = np.array([math.cos(a), math.sin(a)], np.float32)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        _background(cv, rng, pal)
        quadrants = rng.permutation(4)
        n_obj = int(rng.integers(4, 8))
        for k in range(n_obj):
            if k < 4:
                qy, qx = divmod(int(quadrants[k]), 2)
                cx, cy = (qx + rng.uniform(0.15, 0.85)) * w / 2, (qy + rng.uniform(0.15, 0.85)) * h / 2
            else:
                cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            r = rng.uniform(16, 52) * u
            if rng.uniform() < 0.25:
                _hair(cv, rng, pal, cx, cy, r * 1.2, light)
            else:
                _draw_object(cv, rng, pal, _random_shape(rng, cx, cy, r), light)
        for _ in range(rng.integers(2, 6)):
            p0 = rng.uniform([0, 0], [w, h])
            span = rng.uniform(30, 90) * u
            ctrl = np.stack([p0 + rng.normal(0, span, 2) * k / 3 for k in range(4)])
            colour = pal.ink if rng.uniform() < 0.6 else pal.fill()
            draw_stroke(cv, bezier(ctrl, 20), taper(20, max(0.8, rng.uniform(1.0, 4.0) * u), rng), colour)
        if rng.uniform() < 0.55:
            _eyes(cv, rng, pal, rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h, rng.uniform(16, 28) * u)
        if rng.uniform() < 0.5:
            _speech_bubble(cv, rng, pal, rng.uniform(0.25, 0.75) * w, rng.uniform(0.2, 0.6) * h)
        for _ in range(rng.integers(0, 4)):
            _sparkle(cv, rng, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(3, 8) * u)
    pixels = np.rint(np.clip(cv.img, 0.0, 1.0) * 255.0).astype(np.uint8)
    return torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255.0)
