"""Anti-aliased drawing on a float canvas for the synthetic images: signed-distance shapes, strokes of varying
width, hatching, screentone and gradients, each edge with a one-pixel coverage ramp."""

from __future__ import annotations

import colorsys
import math

import numpy as np

_VECTOR_LIMIT = 150_000  # segments x pixels up to which a stroke is rasterised in one broadcast

Array = np.ndarray


def clamp01(x: Array) -> Array:
    """Clamp to [0, 1] in place (np.clip costs more per call than the arithmetic on small boxes)."""
    np.maximum(x, 0.0, out=x)
    return np.minimum(x, 1.0, out=x)


def cover(sd: Array) -> Array:
    """Coverage of the inside (sd < 0) with a one-pixel anti-aliasing ramp."""
    return clamp01(0.5 - sd)


def band(dist: Array, half_width: Array | float) -> Array:
    """Coverage of a stroke of the given half-width around dist = 0."""
    return clamp01(half_width + 0.5 - dist)


def hsv(h: float, s: float, v: float) -> Array:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0)), np.float32)


class Canvas:
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


class Ellipse:
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


class RoundBox:
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


class Polygon:
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
            t = clamp01((wx * ex + wy * ey) * (1.0 / (ex * ex + ey * ey + 1e-12)))
            e2 = (wx - ex * t) ** 2 + (wy - ey * t) ** 2
            d2 = e2 if d2 is None else np.minimum(d2, e2)
            crosses = (ay > Y) != (by > Y)
            if ey != 0:
                inside ^= crosses & (X < ax + (Y - ay) * (ex / ey))
        dist = np.sqrt(d2)
        return np.where(inside, -dist, dist)


class Blob:
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


def star(rng, cx, cy, r, points, inner, angle, jitter=0.0) -> Polygon:
    """A star / spiky tuft polygon: alternating outer and inner radii, optionally jittered."""
    k = np.arange(2 * points)
    radii = np.where(k % 2 == 0, r, r * inner) * (1.0 + jitter * rng.uniform(-1, 1, 2 * points))
    th = angle + np.pi * k / points
    return Polygon(np.stack([cx + radii * np.cos(th), cy + radii * np.sin(th)], 1))


# --- tones and strokes ------------------------------------------------------------------------------


def hatch(X, Y, angle, spacing, half_width) -> Array:
    """Coverage of parallel lines at an angle, one every `spacing` pixels."""
    u = X * math.cos(angle) + Y * math.sin(angle)
    d = np.abs(np.mod(u, spacing) - 0.5 * spacing)
    return band(d, half_width)


def dots(X, Y, spacing, radius, angle=math.pi / 4) -> Array:
    """Coverage of a screentone: a rotated lattice of dots."""
    u = X * math.cos(angle) + Y * math.sin(angle)
    v = Y * math.cos(angle) - X * math.sin(angle)
    du = np.mod(u, spacing) - 0.5 * spacing
    dv = np.mod(v, spacing) - 0.5 * spacing
    return cover(np.sqrt(du * du + dv * dv) - radius)


def linear_gradient(X, Y, x0, y0, x1, y1, c0: Array, c1: Array) -> Array:
    ex, ey = x1 - x0, y1 - y0
    t = np.clip(((X - x0) * ex + (Y - y0) * ey) / (ex * ex + ey * ey + 1e-9), 0.0, 1.0)
    return c0 + t[..., None] * (c1 - c0)


def segments_alpha(cv: Canvas, segs: Array, widths: Array):
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
        t = clamp01((SX * ex + SY * ey) * (1.0 / (ex * ex + ey * ey + 1e-9)))
        dx, dy = SX - ex * t, SY - ey * t
        wa, wb = widths[:, 0, None, None], widths[:, 1, None, None]
        return sl, band(np.sqrt(dx * dx + dy * dy), 0.5 * wa + (0.5 * (wb - wa)) * t).max(0)
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
        t = clamp01((SX * ex + SY * ey) * (1.0 / (ex * ex + ey * ey + 1e-9)))
        dx, dy = SX - ex * t, SY - ey * t
        a = band(np.sqrt(dx * dx + dy * dy), 0.5 * wa + (0.5 * (wb - wa)) * t)
        np.maximum(alpha[ya:yb, xa:xb], a, out=alpha[ya:yb, xa:xb])
    return sl, alpha


def polyline(pts: Array, widths: Array) -> tuple[Array, Array]:
    """Segments and per-end widths of a polyline given at its points."""
    return np.stack([pts[:-1], pts[1:]], 1), np.stack([widths[:-1], widths[1:]], 1)


def bezier(p: Array, n: int) -> Array:
    t = np.linspace(0.0, 1.0, n)[:, None]
    s = 1 - t
    return (s**3 * p[0] + 3 * s**2 * t * p[1] + 3 * s * t**2 * p[2] + t**3 * p[3]).astype(np.float32)


def draw_stroke(cv: Canvas, pts: Array, widths: Array, colour: Array) -> None:
    """A polyline through pts with the given width at each point."""
    res = segments_alpha(cv, *polyline(pts, widths))
    if res is not None:
        cv.paint(res[0], res[1], colour)


def taper(n: int, w: float, rng) -> Array:
    t = np.linspace(0.0, 1.0, n)
    if rng.uniform() < 0.5:
        return (w * np.sqrt(np.sin(np.pi * t)) + 0.15).astype(np.float32)  # thin at both ends
    return (w * (1.0 - t) + 0.15).astype(np.float32)  # a flick: thick start, thin tail
