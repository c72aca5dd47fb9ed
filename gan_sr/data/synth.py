"""Procedural anime-like drawn images: inked outlines, cel shading, gradients, hatching, eyes, text marks.

They feed the tests and the out-of-the-box demo, so they carry real edge content (SR on them is not
trivial). Image i depends only on (seed, i): a set of 10 is a prefix of a set of 100, and the same seed
gives byte-identical PNGs (on one platform: numpy's sin/sqrt may differ in the last bit elsewhere).
Pure numpy rasterisation; every shape is a signed distance field, so edges and strokes are
anti-aliased with a one-pixel ramp.
"""

from __future__ import annotations

import colorsys
import json
import math
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from gan_sr.errors import ConfigError

GENERATOR_VERSION = 1  # part of every image's seed: bump it when the drawing changes
MARKER = "synth.json"  # written into every folder this module fills; lets a re-run overwrite it
SPLITS = ("train", "val", "test")
_VECTOR_LIMIT = 150_000  # segments x pixels up to which a stroke is rasterised in one broadcast

Array = np.ndarray


def _unit(x: Array) -> Array:
    """Clamp to [0, 1] in place (np.clip costs more per call than the arithmetic on small boxes)."""
    np.maximum(x, 0.0, out=x)
    return np.minimum(x, 1.0, out=x)


def _cover(sd: Array) -> Array:
    """Coverage of the inside (sd < 0) with a one-pixel anti-aliasing ramp."""
    return _unit(0.5 - sd)


def _band(dist: Array, half_width: Array | float) -> Array:
    """Coverage of a stroke of the given half-width around dist = 0."""
    return _unit(half_width + 0.5 - dist)


def _hsv(h: float, s: float, v: float) -> Array:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0)), np.float32)


class _Canvas:
    """An (H, W, 3) float image plus clipping of boxes to it; sizes are designed for 256 px and scaled."""

    def __init__(self, h: int, w: int):
        self.h, self.w = h, w
        self.img = np.zeros((h, w, 3), np.float32)
        self.unit = min(h, w) / 256.0

    def region(self, x0: float, y0: float, x1: float, y1: float):
        """The box clipped to the canvas: (slices, X (1, w), Y (h, 1)) at pixel centres, or None if empty."""
        xa, xb = max(0, int(math.floor(x0))), min(self.w, int(math.ceil(x1)) + 1)
        ya, yb = max(0, int(math.floor(y0))), min(self.h, int(math.ceil(y1)) + 1)
        if xa >= xb or ya >= yb:
            return None
        X = np.arange(xa, xb, dtype=np.float32)[None, :] + 0.5
        Y = np.arange(ya, yb, dtype=np.float32)[:, None] + 0.5
        return (slice(ya, yb), slice(xa, xb)), X, Y

    def paint(self, sl, alpha: Array, colour: Array) -> None:
        """Composite a colour, (3,) or per pixel (h, w, 3), over the region with coverage alpha (h, w)."""
        reg = self.img[sl]
        reg += alpha[..., None] * (colour - reg)


# --- shapes: each has a centre, a bounding radius and a signed distance (negative inside) -------------


class _Ellipse:
    def __init__(self, cx, cy, rx, ry, angle=0.0):
        self.cx, self.cy, self.rx, self.ry = cx, cy, rx, ry
        self.c, self.s = math.cos(angle), math.sin(angle)
        self.radius = max(rx, ry)

    def sd(self, X, Y):
        dx, dy = X - self.cx, Y - self.cy
        u, v = self.c * dx + self.s * dy, self.c * dy - self.s * dx
        f = (u / self.rx) ** 2 + (v / self.ry) ** 2 - 1.0
        g = 2.0 * np.sqrt((u / self.rx**2) ** 2 + (v / self.ry**2) ** 2) + 1e-6
        return f / g  # first-order distance: exact enough within a few pixels of the contour


class _RoundBox:
    def __init__(self, cx, cy, hx, hy, r, angle=0.0):
        self.cx, self.cy, self.hx, self.hy, self.r = cx, cy, hx, hy, min(r, hx, hy)
        self.c, self.s = math.cos(angle), math.sin(angle)
        self.radius = math.hypot(hx, hy)

    def sd(self, X, Y):
        dx, dy = X - self.cx, Y - self.cy
        qx = np.abs(self.c * dx + self.s * dy) - (self.hx - self.r)
        qy = np.abs(self.c * dy - self.s * dx) - (self.hy - self.r)
        outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
        return outside + np.minimum(np.maximum(qx, qy), 0.0) - self.r


class _Polygon:
    """Exact signed distance to a closed polygon (any simple polygon; even-odd inside test)."""

    def __init__(self, pts: Array):
        self.pts = pts.astype(np.float32)
        self.cx, self.cy = (float(v) for v in self.pts.mean(0))
        self.radius = float(np.hypot(self.pts[:, 0] - self.cx, self.pts[:, 1] - self.cy).max())

    def sd(self, X, Y):
        d2 = None
        inside = np.zeros(np.broadcast_shapes(X.shape, Y.shape), bool)
        n = len(self.pts)
        for i in range(n):
            ax, ay = self.pts[i]
            bx, by = self.pts[i - 1]
            ex, ey = bx - ax, by - ay
            wx, wy = X - ax, Y - ay
            t = _unit((wx * ex + wy * ey) * (1.0 / (ex * ex + ey * ey + 1e-12)))
            e2 = (wx - ex * t) ** 2 + (wy - ey * t) ** 2
            d2 = e2 if d2 is None else np.minimum(d2, e2)
            crosses = (ay > Y) != (by > Y)
            if ey != 0:
                inside ^= crosses & (X < ax + (Y - ay) * (ex / ey))
        dist = np.sqrt(d2)
        return np.where(inside, -dist, dist)


class _Blob:
    """A wobbly closed shape: radius = R (1 + sum a_k cos(k theta + phi_k)) around a centre."""

    def __init__(self, cx, cy, r, amps, phases):
        self.cx, self.cy, self.r = cx, cy, r
        self.amps, self.phases = amps, phases
        self.radius = r * (1.0 + float(np.abs(amps).sum()))

    def sd(self, X, Y):
        dx, dy = X - self.cx, Y - self.cy
        rho = np.sqrt(dx * dx + dy * dy)
        th = np.arctan2(dy, dx)
        rad = np.ones_like(th)
        drad = np.zeros_like(th)
        for k, (a, p) in enumerate(zip(self.amps, self.phases), start=2):
            rad += a * np.cos(k * th + p)
            drad -= a * k * np.sin(k * th + p)
        rad *= self.r
        drad *= self.r
        return (rho - rad) * rad / np.sqrt(rad * rad + drad * drad)


def _star(rng, cx, cy, r, points, inner, angle, jitter=0.0) -> _Polygon:
    """A star / spiky tuft polygon: alternating outer and inner radii, optionally jittered."""
    k = np.arange(2 * points)
    radii = np.where(k % 2 == 0, r, r * inner) * (1.0 + jitter * rng.uniform(-1, 1, 2 * points))
    th = angle + np.pi * k / points
    return _Polygon(np.stack([cx + radii * np.cos(th), cy + radii * np.sin(th)], 1))


# --- palette ----------------------------------------------------------------------------------------


class _Palette:
    """Per-image colour choices: anime fills are fairly saturated, shadows shift toward a cool tint."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.hue = rng.uniform()
        self.shadow_tint = _hsv(rng.uniform(0.6, 0.8), rng.uniform(0.15, 0.35), 1.0)
        self.ink = _hsv(rng.uniform(), rng.uniform(0.0, 0.5), rng.uniform(0.05, 0.2))

    def fill(self) -> Array:
        rng = self.rng
        h = self.hue + rng.choice([0.0, 0.08, 0.33, 0.5, 0.67]) + rng.normal(0, 0.04)
        return _hsv(h, rng.uniform(0.25, 0.85), rng.uniform(0.65, 1.0))

    def shadow(self, base: Array, depth: float) -> Array:
        return (base * (1.0 - depth) * (self.shadow_tint ** (2 * depth))).astype(np.float32)

    def outline(self, base: Array) -> Array:
        if self.rng.uniform() < 0.7:
            return self.ink
        return (base * self.rng.uniform(0.15, 0.35)).astype(np.float32)


# --- drawing ----------------------------------------------------------------------------------------


def _hatch(X, Y, angle, spacing, half_width) -> Array:
    """Coverage of parallel lines at an angle, one every `spacing` pixels."""
    u = X * math.cos(angle) + Y * math.sin(angle)
    d = np.abs(np.mod(u, spacing) - 0.5 * spacing)
    return _band(d, half_width)


def _dots(X, Y, spacing, radius, angle=math.pi / 4) -> Array:
    """Coverage of a screentone: a rotated lattice of dots."""
    u = X * math.cos(angle) + Y * math.sin(angle)
    v = Y * math.cos(angle) - X * math.sin(angle)
    du = np.mod(u, spacing) - 0.5 * spacing
    dv = np.mod(v, spacing) - 0.5 * spacing
    return _cover(np.sqrt(du * du + dv * dv) - radius)


def _linear_gradient(X, Y, x0, y0, x1, y1, c0: Array, c1: Array) -> Array:
    ex, ey = x1 - x0, y1 - y0
    t = np.clip(((X - x0) * ex + (Y - y0) * ey) / (ex * ex + ey * ey + 1e-9), 0.0, 1.0)
    return c0 + t[..., None] * (c1 - c0)


def _background(cv: _Canvas, rng: np.random.Generator, pal: _Palette) -> None:
    h, w, u = cv.h, cv.w, cv.unit
    sl, X, Y = cv.region(0, 0, w, h)
    kind = rng.choice(["sky", "sky", "flat_tone", "room", "radial", "stripes"])
    if kind == "sky":
        top = _hsv(rng.uniform(0.52, 0.68), rng.uniform(0.45, 0.85), rng.uniform(0.75, 1.0))
        bottom = _hsv(rng.uniform(0.5, 0.62) if rng.uniform() < 0.7 else rng.uniform(0.0, 0.12),
                      rng.uniform(0.05, 0.35), 1.0)
        cv.img[:] = _linear_gradient(X, Y, 0, 0, 0, h, top, bottom)
        for _ in range(rng.integers(1, 4)):
            _cloud(cv, rng, rng.uniform(0, w), rng.uniform(0.05, 0.6) * h, rng.uniform(18, 40) * u)
    elif kind == "flat_tone":
        base = _hsv(rng.uniform(), rng.uniform(0.05, 0.3), rng.uniform(0.85, 1.0))
        cv.img[:] = base
        mask = np.ones((h, w), np.float32)
        if rng.uniform() < 0.6:
            mask = _cover(_Blob(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.3, 0.6) * min(h, w),
                                rng.uniform(-0.15, 0.15, 3), rng.uniform(0, 2 * np.pi, 3)).sd(X, Y))
        cv.paint(sl, mask * _dots(X, Y, rng.uniform(4, 8) * u, rng.uniform(0.8, 1.8) * u),
                 pal.shadow(base, 0.45))
    elif kind == "room":
        wall = _hsv(rng.uniform(), rng.uniform(0.1, 0.4), rng.uniform(0.8, 1.0))
        floor = _hsv(rng.uniform(0.05, 0.12), rng.uniform(0.3, 0.6), rng.uniform(0.55, 0.85))
        horizon = rng.uniform(0.45, 0.8) * h
        cv.img[:] = wall
        cv.paint(sl, _cover(horizon - Y) * np.ones_like(X), floor)
        cv.paint(sl, _cover(horizon - Y) * _hatch(X, Y - horizon, np.pi / 2, rng.uniform(10, 24) * u, 0.6 * u)
                 * np.ones_like(X), pal.shadow(floor, 0.35))
        cv.paint(sl, _band(np.abs(Y - horizon), 1.0 * u) * np.ones_like(X), pal.ink)
        window = _RoundBox(rng.uniform(0.1, 0.9) * w, horizon * 0.45, rng.uniform(20, 40) * u,
                           rng.uniform(16, 30) * u, 2 * u).sd(X, Y)
        cv.paint(sl, _cover(window), _hsv(rng.uniform(0.5, 0.6), 0.3, 1.0))
        cv.paint(sl, _band(np.abs(window), 1.5 * u), pal.ink)
    elif kind == "radial":
        c0 = _hsv(rng.uniform(), rng.uniform(0.05, 0.3), 1.0)
        c1 = _hsv(rng.uniform(), rng.uniform(0.4, 0.8), rng.uniform(0.5, 0.9))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        t = np.clip(np.sqrt((X - cx) ** 2 + (Y - cy) ** 2) / (0.9 * max(h, w)), 0, 1)
        cv.img[:] = c0 + t[..., None] * (c1 - c0)
        for _ in range(rng.integers(3, 8)):
            _sparkle(cv, rng, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(4, 10) * u)
    else:
        c0 = pal.fill()
        cv.img[:] = c0
        ang = rng.uniform(0, np.pi)
        cv.paint(sl, _hatch(X, Y, ang, rng.uniform(10, 22) * u, rng.uniform(2, 5) * u),
                 pal.shadow(c0, rng.uniform(0.15, 0.3)))


def _cloud(cv: _Canvas, rng, cx, cy, r) -> None:
    puffs = [_Ellipse(cx + dx * r, cy + dy * r, r * s, r * s * 0.8)
             for dx, dy, s in zip(rng.uniform(-1.2, 1.2, 4), rng.uniform(-0.3, 0.2, 4), rng.uniform(0.5, 0.9, 4))]
    region = cv.region(cx - 2.3 * r, cy - 1.4 * r, cx + 2.3 * r, cy + 1.2 * r)
    if region is None:
        return
    sl, X, Y = region
    sd = np.minimum.reduce([p.sd(X, Y) for p in puffs])
    cv.paint(sl, _cover(sd), np.array([1.0, 1.0, 1.0], np.float32))
    shifted = np.minimum.reduce([p.sd(X, Y + 0.35 * r) for p in puffs])
    cv.paint(sl, _cover(sd) * (1 - _cover(shifted)), _hsv(0.6, rng.uniform(0.08, 0.2), 0.92))
    if rng.uniform() < 0.5:
        cv.paint(sl, _band(np.abs(sd), 0.6 * cv.unit), _hsv(0.6, 0.3, 0.7))


def _sparkle(cv: _Canvas, rng, cx, cy, r) -> None:
    star = _star(rng, cx, cy, r, 4, 0.25, rng.uniform(0, np.pi / 2))
    region = cv.region(cx - r - 2, cy - r - 2, cx + r + 2, cy + r + 2)
    if region is not None:
        sl, X, Y = region
        cv.paint(sl, _cover(star.sd(X, Y)), _hsv(rng.uniform(0.1, 0.18), rng.uniform(0.0, 0.4), 1.0))


def _random_shape(rng, cx, cy, r):
    kind = rng.choice(["ellipse", "box", "star", "polygon", "blob", "blob"])
    if kind == "ellipse":
        return _Ellipse(cx, cy, r, r * rng.uniform(0.45, 1.0), rng.uniform(0, np.pi))
    if kind == "box":
        return _RoundBox(cx, cy, r, r * rng.uniform(0.4, 1.0), r * rng.uniform(0.05, 0.4), rng.uniform(0, np.pi))
    if kind == "star":
        return _star(rng, cx, cy, r, int(rng.integers(4, 8)), rng.uniform(0.4, 0.65), rng.uniform(0, np.pi), 0.1)
    if kind == "polygon":
        n = int(rng.integers(3, 7))
        th = np.sort(rng.uniform(0, 2 * np.pi, n)) if n > 3 else rng.uniform(0, 2 * np.pi) + np.arange(3) * 2.1
        rad = r * rng.uniform(0.7, 1.0, n)
        return _Polygon(np.stack([cx + rad * np.cos(th), cy + rad * np.sin(th)], 1))
    return _Blob(cx, cy, r / 1.2, rng.uniform(-0.12, 0.12, 4), rng.uniform(0, 2 * np.pi, 4))


def _draw_object(cv: _Canvas, rng, pal: _Palette, shape, light: Array) -> None:
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
    inside = _cover(sd)
    base = pal.fill()
    if rng.uniform() < 0.2:
        c1 = base * rng.uniform(0.6, 0.85)
        colour = _linear_gradient(X, Y, shape.cx, shape.cy - shape.radius, shape.cx, shape.cy + shape.radius,
                                  base, c1.astype(np.float32))
    else:
        colour = base
    cv.paint(sl, inside, colour)
    lx, ly = light
    shadow = inside * (1.0 - _cover(shape.sd(X - lx * shift, Y - ly * shift)))
    cv.paint(sl, shadow, pal.shadow(base, rng.uniform(0.2, 0.35)))
    if rng.uniform() < 0.5:
        core = inside * (1.0 - _cover(shape.sd(X - lx * shift * 0.4, Y - ly * shift * 0.4)))
        cv.paint(sl, core, pal.shadow(base, rng.uniform(0.45, 0.6)))
    if rng.uniform() < 0.3:
        hatch = _hatch(X, Y, rng.uniform(0, np.pi), rng.uniform(3, 6) * u, rng.uniform(0.3, 0.7) * u)
        cv.paint(sl, shadow * hatch, pal.shadow(base, 0.7))
    if rng.uniform() < 0.4:
        hr = shape.radius * rng.uniform(0.12, 0.25)
        spot = _Ellipse(shape.cx + lx * shape.radius * 0.45, shape.cy + ly * shape.radius * 0.45, hr, hr * 0.6,
                        math.atan2(ly, lx) + np.pi / 2)
        cv.paint(sl, inside * _cover(spot.sd(X, Y)), base + (1.0 - base) * 0.7)
    if width > 0:
        th = np.arctan2(Y - shape.cy, X - shape.cx)
        wobble = 1.0 + 0.45 * np.sin(rng.integers(1, 4) * th + rng.uniform(0, 2 * np.pi))
        cv.paint(sl, _band(np.abs(sd), 0.5 * width * wobble), pal.outline(base))


def _segments_alpha(cv: _Canvas, segs: Array, widths: Array):
    """Coverage of line segments (n, 2, 2) whose width varies linearly along each (n, 2), on their joint box.

    A polyline is its consecutive segments; the union is the maximum of the per-segment coverages.
    """
    pad = float(widths.max()) + 2.0
    pts = segs.reshape(-1, 2)
    region = cv.region(pts[:, 0].min() - pad, pts[:, 1].min() - pad, pts[:, 0].max() + pad, pts[:, 1].max() + pad)
    if region is None:
        return None
    sl, X, Y = region
    if len(segs) * X.size * Y.size <= _VECTOR_LIMIT:  # small box: all segments at once
        ax, ay = segs[:, 0, 0, None, None], segs[:, 0, 1, None, None]
        ex, ey = segs[:, 1, 0, None, None] - ax, segs[:, 1, 1, None, None] - ay
        SX, SY = X[None] - ax, Y[None] - ay
        t = _unit((SX * ex + SY * ey) * (1.0 / (ex * ex + ey * ey + 1e-9)))
        dx, dy = SX - ex * t, SY - ey * t
        wa, wb = widths[:, 0, None, None], widths[:, 1, None, None]
        return sl, _band(np.sqrt(dx * dx + dy * dy), 0.5 * wa + (0.5 * (wb - wa)) * t).max(0)
    alpha = np.zeros((Y.shape[0], X.shape[1]), np.float32)
    x0, y0 = float(X[0, 0]), float(Y[0, 0])
    for ((ax, ay), (bx, by)), (wa, wb) in zip(segs.tolist(), widths.tolist()):
        p = max(wa, wb) * 0.5 + 1.5
        xa = max(0, int(math.floor(min(ax, bx) - p - x0)))
        xb = min(alpha.shape[1], int(math.ceil(max(ax, bx) + p - x0)) + 1)
        ya = max(0, int(math.floor(min(ay, by) - p - y0)))
        yb = min(alpha.shape[0], int(math.ceil(max(ay, by) + p - y0)) + 1)
        if xa >= xb or ya >= yb:
            continue
        SX, SY = X[:, xa:xb] - ax, Y[ya:yb, :] - ay
        ex, ey = bx - ax, by - ay
        t = _unit((SX * ex + SY * ey) * (1.0 / (ex * ex + ey * ey + 1e-9)))
        dx, dy = SX - ex * t, SY - ey * t
        a = _band(np.sqrt(dx * dx + dy * dy), 0.5 * wa + (0.5 * (wb - wa)) * t)
        np.maximum(alpha[ya:yb, xa:xb], a, out=alpha[ya:yb, xa:xb])
    return sl, alpha


def _polyline(pts: Array, widths: Array) -> tuple[Array, Array]:
    """Segments and per-end widths of a polyline given at its points."""
    return np.stack([pts[:-1], pts[1:]], 1), np.stack([widths[:-1], widths[1:]], 1)


def _bezier(p: Array, n: int) -> Array:
    t = np.linspace(0.0, 1.0, n)[:, None]
    s = 1 - t
    return (s**3 * p[0] + 3 * s**2 * t * p[1] + 3 * s * t**2 * p[2] + t**3 * p[3]).astype(np.float32)


def _draw_stroke(cv: _Canvas, pts: Array, widths: Array, colour: Array) -> None:
    """A polyline through pts with the given width at each point."""
    res = _segments_alpha(cv, *_polyline(pts, widths))
    if res is not None:
        cv.paint(res[0], res[1], colour)


def _taper(n: int, w: float, rng) -> Array:
    t = np.linspace(0.0, 1.0, n)
    if rng.uniform() < 0.5:
        return (w * np.sqrt(np.sin(np.pi * t)) + 0.15).astype(np.float32)  # thin at both ends
    return (w * (1.0 - t) + 0.15).astype(np.float32)  # a flick: thick start, thin tail


def _hair(cv: _Canvas, rng, pal: _Palette, cx, cy, r, light) -> None:
    """A spiky tuft of hair: a cel-shaded jagged polygon plus strand curves flowing toward its tips."""
    u = cv.unit
    angle = rng.uniform(0, 2 * np.pi)
    tuft = _star(rng, cx, cy, r, int(rng.integers(3, 6)), rng.uniform(0.35, 0.55), angle, 0.25)
    _draw_object(cv, rng, pal, tuft, light)
    strand = pal.shadow(pal.fill(), 0.55)
    segs, widths = [], []
    for _ in range(rng.integers(3, 7)):
        a = angle + rng.uniform(0, 2 * np.pi)
        tip = np.array([cx + r * 0.85 * math.cos(a), cy + r * 0.85 * math.sin(a)])
        root = np.array([cx, cy]) + rng.normal(0, 0.15 * r, 2)
        bend = rng.normal(0, 0.25 * r, 2)
        ctrl = np.stack([root, root + (tip - root) * 0.33 + bend, root + (tip - root) * 0.66 + bend, tip])
        s, w = _polyline(_bezier(ctrl, 12), _taper(12, rng.uniform(0.8, 2.2) * u, rng))
        segs.append(s)
        widths.append(w)
    res = _segments_alpha(cv, np.concatenate(segs), np.concatenate(widths))
    if res is not None:
        cv.paint(res[0], res[1], strand)


def _eyes(cv: _Canvas, rng, pal: _Palette, cx, cy, size) -> None:
    """A pair of anime eyes: white, gradient iris with pupil and highlights, thick upper lash line."""
    u = cv.unit
    gap = size * rng.uniform(1.4, 2.2)
    iris_col = _hsv(rng.uniform(), rng.uniform(0.5, 0.9), rng.uniform(0.6, 0.95))
    tilt = rng.uniform(-0.15, 0.15)
    for side in (-1, 1):
        ex, ey = cx + side * gap / 2, cy
        rx, ry = size * 0.5, size * rng.uniform(0.45, 0.6)
        region = cv.region(ex - rx - 6 * u, ey - ry - 8 * u, ex + rx + 6 * u, ey + ry + 6 * u)
        if region is None:
            continue
        sl, X, Y = region
        white = _Ellipse(ex, ey, rx, ry, side * tilt)
        ws = _cover(white.sd(X, Y))
        cv.paint(sl, ws, np.array([0.98, 0.98, 0.99], np.float32))
        iris = _Ellipse(ex, ey + ry * 0.1, rx * 0.55, ry * 0.85)
        ia = ws * _cover(iris.sd(X, Y))
        cv.paint(sl, ia, _linear_gradient(X, Y, ex, ey - ry, ex, ey + ry, iris_col * 0.35, iris_col))
        cv.paint(sl, ia * (1.0 - _cover(iris.sd(X, Y - ry * 0.3))), iris_col * 0.25)
        cv.paint(sl, ws * _cover(_Ellipse(ex, ey + ry * 0.15, rx * 0.22, ry * 0.4).sd(X, Y)), iris_col * 0.12)
        for hx, hy, hr in ((-0.22, -0.25, 0.16), (0.18, 0.35, 0.08)):
            cv.paint(sl, ws * _cover(_Ellipse(ex + hx * rx, ey + hy * ry, hr * size, hr * size).sd(X, Y)),
                     np.array([1.0, 1.0, 1.0], np.float32))
        th = np.linspace(np.pi * 1.05, np.pi * 1.95, 14)
        lash = np.stack([ex + rx * 1.05 * np.cos(th), ey + ry * 1.05 * np.sin(th) + tilt * side * rx * np.cos(th)], 1)
        _draw_stroke(cv, lash.astype(np.float32), _taper(14, rng.uniform(2.5, 4.5) * u, rng) + 0.6 * u, pal.ink)
        th = np.linspace(np.pi * 0.25, np.pi * 0.75, 8)
        low = np.stack([ex + rx * np.cos(th), ey + ry * 1.02 * np.sin(th)], 1)
        _draw_stroke(cv, low.astype(np.float32), _taper(8, 1.0 * u, rng), pal.ink)


def _glyph_strokes(rng, x, y, g) -> list[Array]:
    """Two to four short strokes between points of a 3x3 lattice in a g x g cell: a text-like mark."""
    lattice = np.array([[x + i * g / 2, y + j * g / 2] for j in range(3) for i in range(3)], np.float32)
    return [lattice[rng.choice(9, 2, replace=False)] for _ in range(rng.integers(2, 5))]


def _speech_bubble(cv: _Canvas, rng, pal: _Palette, cx, cy) -> None:
    """A manga speech bubble: white ellipse with a tail and an outline, holding rows of text-like marks."""
    u = cv.unit
    rx, ry = rng.uniform(34, 56) * u, rng.uniform(20, 32) * u
    bubble = _Ellipse(cx, cy, rx, ry)
    side = rng.choice([-1.0, 1.0])
    tail = _Polygon(np.array([[cx + side * rx * 0.2, cy + ry * 0.6], [cx + side * rx * 0.55, cy + ry * 0.5],
                              [cx + side * rx * 0.9, cy + ry * 1.6]]))
    width = rng.uniform(1.0, 2.2) * u
    region = cv.region(cx - rx - 4, cy - ry - 4, cx + rx + 4, cy + ry * 1.7 + 4)
    if region is None:
        return
    sl, X, Y = region
    sd = np.minimum(bubble.sd(X, Y), tail.sd(X, Y))
    cv.paint(sl, _cover(sd), np.array([1.0, 1.0, 1.0], np.float32))
    cv.paint(sl, _band(np.abs(sd), width / 2), pal.ink)
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
    res = _segments_alpha(cv, np.stack(segs), np.full((len(segs), 2), max(1.0, 1.1 * u), np.float32)) if segs else None
    if res is not None:
        cv.paint(res[0], res[1], pal.ink)


def _hw(size: int | tuple[int, int]) -> tuple[int, int]:
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
    h, w = _hw(size)
    rng = np.random.default_rng([GENERATOR_VERSION, seed, index])
    cv = _Canvas(h, w)
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
            _draw_stroke(cv, _bezier(ctrl, 20), _taper(20, max(0.8, rng.uniform(1.0, 4.0) * u), rng), colour)
        if rng.uniform() < 0.55:
            _eyes(cv, rng, pal, rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h, rng.uniform(16, 28) * u)
        if rng.uniform() < 0.5:
            _speech_bubble(cv, rng, pal, rng.uniform(0.25, 0.75) * w, rng.uniform(0.2, 0.6) * h)
        for _ in range(rng.integers(0, 4)):
            _sparkle(cv, rng, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(3, 8) * u)
    pixels = np.rint(np.clip(cv.img, 0.0, 1.0) * 255.0).astype(np.uint8)
    return torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255.0)


def _name(index: int) -> str:
    return f"synth_{index:06d}.png"


def _prepare_out(out: Path, force: bool) -> None:
    """Refuse a non-empty folder this module did not fill, unless forced; never delete foreign files."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file() and not force:
        raise ConfigError(
            f"--out {out} is not empty and was not written by `gansr data synth`; "
            "choose an empty or new folder, or pass --force to write into it anyway"
        )
    out.mkdir(parents=True, exist_ok=True)


def write_synth_dataset(out: str | Path, n: int, size: int | tuple[int, int] = 256, seed: int = 0, *,
                        force: bool = False, progress: bool = False, start: int = 0) -> list[Path]:
    """Write images start..start+n-1 of the set `seed` as out/synth_NNNNNN.png; returns their paths.

    Refuses a non-empty folder it did not create unless `force`. A re-run into its own folder replaces
    the images it wrote before (stale ones from a larger earlier run are removed).
    """
    from gan_sr.io.images import write_image

    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    h, w = _hw(size)
    out = Path(out)
    _prepare_out(out, force)
    marker = out / MARKER
    if marker.is_file():
        try:
            previous = json.loads(marker.read_text()).get("files", [])
        except (OSError, ValueError):
            previous = []
        keep = {_name(i) for i in range(start, start + n)}
        for name in previous:
            if name not in keep and Path(name).name == name and (out / name).is_file():
                (out / name).unlink()
    paths = []
    bar = tqdm(range(start, start + n), desc="synth", unit="img", disable=not progress or not sys.stderr.isatty())
    for i in bar:
        path = out / _name(i)
        write_image(path, synth_image(seed, i, (h, w)))
        paths.append(path)
    info = {"generator": "gansr.data.synth", "version": GENERATOR_VERSION, "seed": seed,
            "size": [h, w], "start": start, "n": n, "files": [p.name for p in paths]}
    marker.write_text(json.dumps(info, indent=1) + "\n")
    return paths


def make_split_dirs(out: str | Path, n_per_split: int | Mapping[str, int] = 4,
                    size: int | tuple[int, int] = 64, seed: int = 0) -> Path:
    """A tiny built-dataset layout for tests: out/{train,val,test}/*.png with distinct images per split.

    `n_per_split` is one count for all splits or a mapping such as {"train": 8, "val": 2, "test": 2}.
    """
    counts = {s: n_per_split for s in SPLITS} if isinstance(n_per_split, int) else dict(n_per_split)
    unknown = set(counts) - set(SPLITS)
    if unknown:
        raise ConfigError(f"make_split_dirs: unknown split(s) {sorted(unknown)}; use {list(SPLITS)}")
    out = Path(out)
    start = 0
    for split in SPLITS:
        n = counts.get(split, 0)
        if n > 0:
            write_synth_dataset(out / split, n, size, seed, start=start)
            start += n
    return out
