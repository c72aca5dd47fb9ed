"""Anime4K's push passes as one compiled per-pixel loop (numba), the CPU fast path of ``sr/anime4k.py``.

The torch version in ``anime4k.py`` is the readable statement of the rules (and runs on any device, with
autograd); it builds each stage from whole-image tensors, about a hundred temporaries per pass. This loop
reads each pixel's 3x3 window once per stage and keeps everything else in registers (speed against
Anime4KCPP's C++: experiments/anime4k_vs_cpp.py). The outputs agree with the torch path to float32 rounding,
except at the rare pixel where rounding flips a strict test on a near-tie (under 1e-4 of the values on
drawn art; tests/test_anime4k.py).

The eight tests are written out in ``_pair`` (checked against ``anime4k.KERNELS`` by the tests); the light
cells to average come from ``LIGHT``, ``anime4k.KERNELS`` numbered 0-8 row by row (tl t tr / l c r / bl b br).
"""

from __future__ import annotations

import numpy as np
import numba
from numba import njit, prange, literal_unroll

from gan_sr.sr.anime4k import KERNELS, LUMA_WEIGHTS, OFFSETS


if numba.config.THREADING_LAYER == "default":
    # numba's own pool: honours set_num_threads exactly (under the OpenMP layer a 1-thread call still kept a
    # second core busy here), so "--threads 1" means one core
    numba.config.THREADING_LAYER = "workqueue"


def _cells(offsets) -> list[int]:
    return [OFFSETS.index(o) for o in offsets]


LIGHT = np.array([_cells(k.light) for k in KERNELS], dtype=np.int64)
DY = np.array([o[0] for o in OFFSETS], dtype=np.int64)
DX = np.array([o[1] for o in OFFSETS], dtype=np.int64)


@njit(cache=True, inline="always")
def _edge(min_light, max_dark, c, cpp):
    if cpp:
        return min_light > c and c > max_dark
    return min_light > max(max_dark, c)


@njit(cache=True, inline="always")
def _pair(i, tl, t, tr, l, c, r, bl, b, br, cpp):
    """Index into KERNELS of the kernel of pair i that fires on these nine values (the second one is only
    tested when the first did not fire), or -1."""
    if i == 0:
        if _edge(min(tl, t, tr), max(bl, b, br), c, cpp):
            return 0
        return 1 if _edge(min(bl, b, br), max(tl, t, tr), c, cpp) else -1
    if i == 1:
        if min(t, tr, r) > max(l, b, c):
            return 2
        return 3 if min(l, bl, b) > max(r, t, c) else -1
    if i == 2:
        if _edge(min(tr, r, br), max(tl, l, bl), c, cpp):
            return 4
        return 5 if _edge(min(tl, l, bl), max(tr, r, br), c, cpp) else -1
    if min(r, br, b) > max(l, t, c):
        return 6
    return 7 if min(t, l, tl) > max(r, b, c) else -1


@njit(cache=True, inline="always")
def _may_fire(tl, t, tr, l, c, r, bl, b, br):
    """Every rule needs three light cells above the centre, so fewer than three neighbours above it (a flat
    area, the lightest pixel of its window) rules all eight kernels out; this is most pixels of a drawing."""
    n = (tl > c) + (t > c) + (tr > c) + (l > c) + (r > c) + (bl > c) + (b > c) + (br > c)
    return n >= 3


@njit(cache=True, inline="always")
def _light_sum(plane, k, y, x, light, dy, dx):
    total = np.float32(0.0)
    for j in range(3):
        cell = light[k, j]
        total += plane[y + dy[cell], x + dx[cell]]
    return total


@njit(cache=True)
def _fill_border(planes):
    """Replicate the interior's edge into the one-pixel border of (C, H+2, W+2) planes (clamp-to-edge)."""
    h, w = planes.shape[1] - 2, planes.shape[2] - 2
    for ch in range(planes.shape[0]):
        for y in range(1, h + 1):
            planes[ch, y, 0] = planes[ch, y, 1]
            planes[ch, y, w + 1] = planes[ch, y, w]
        for x in range(w + 2):
            planes[ch, 0, x] = planes[ch, 1, x]
            planes[ch, h + 1, x] = planes[ch, h, x]


@njit(cache=True, parallel=True)
def _luminance(rgb, wr, wg, wb, out):
    for y in prange(1, rgb.shape[1] - 1):
        for x in range(1, rgb.shape[2] - 1):
            out[0, y, x] = wr * rgb[0, y, x] + wg * rgb[1, y, x] + wb * rgb[2, y, x]


@njit(cache=True, parallel=True)
def _push_color_glsl(rgb, lum, s, out, lum_out, wr, wg, wb, light, dy, dx):
    h, w = lum.shape[1] - 2, lum.shape[2] - 2
    keep, third = np.float32(1.0) - s, s / np.float32(3.0)
    m = lum[0]
    for y in prange(1, h + 1):
        for x in range(1, w + 1):
            tl, t, tr = m[y - 1, x - 1], m[y - 1, x], m[y - 1, x + 1]
            l, c, r = m[y, x - 1], m[y, x], m[y, x + 1]
            bl, b, br = m[y + 1, x - 1], m[y + 1, x], m[y + 1, x + 1]
            p0, p1, p2 = rgb[0, y, x], rgb[1, y, x], rgb[2, y, x]
            if _may_fire(tl, t, tr, l, c, r, bl, b, br):  # glsl: the lightest proposal wins, ties keep the earlier
                best, best_sum = -1, np.float32(3.0) * c
                for i in range(4):
                    k = _pair(i, tl, t, tr, l, c, r, bl, b, br, False)
                    if k >= 0:
                        total = _light_sum(m, k, y, x, light, dy, dx)
                        if total > best_sum:
                            best, best_sum = k, total
                if best >= 0:
                    p0 = keep * p0 + third * _light_sum(rgb[0], best, y, x, light, dy, dx)
                    p1 = keep * p1 + third * _light_sum(rgb[1], best, y, x, light, dy, dx)
                    p2 = keep * p2 + third * _light_sum(rgb[2], best, y, x, light, dy, dx)
            out[0, y, x], out[1, y, x], out[2, y, x] = p0, p1, p2
            lum_out[0, y, x] = wr * p0 + wg * p1 + wb * p2  # the next stage's luminance, while p is at hand


@njit(cache=True, parallel=True)
def _gradient(planes, out):
    lum = planes[0]
    h, w = lum.shape[0] - 2, lum.shape[1] - 2
    for y in prange(1, h + 1):
        ym, yp = y - 1, y + 1
        for x in range(1, w + 1):
            xm, xp = x - 1, x + 1
            gx = (-lum[ym, xm] + lum[ym, xp]) + (np.float32(-2.0) * lum[y, xm] + np.float32(2.0) * lum[y, xp]) \
                + (-lum[yp, xm] + lum[yp, xp])
            gy = (-lum[ym, xm] - np.float32(2.0) * lum[ym, x] - lum[ym, xp]) \
                + (lum[yp, xm] + np.float32(2.0) * lum[yp, x] + lum[yp, xp])
            out[0, y, x] = np.float32(1.0) - min(np.sqrt(gx * gx + gy * gy), np.float32(1.0))


@njit(cache=True, parallel=True)
def _push_gradient(rgb, a, s, cpp, out, lum_out, wr, wg, wb, light, dy, dx):
    h, w = a.shape[1] - 2, a.shape[2] - 2
    keep, third = np.float32(1.0) - s, s / np.float32(3.0)
    m = a[0]
    for y in prange(1, h + 1):
        for x in range(1, w + 1):
            tl, t, tr = m[y - 1, x - 1], m[y - 1, x], m[y - 1, x + 1]
            l, c, r = m[y, x - 1], m[y, x], m[y, x + 1]
            bl, b, br = m[y + 1, x - 1], m[y + 1, x], m[y + 1, x + 1]
            k = -1
            if _may_fire(tl, t, tr, l, c, r, bl, b, br):
                for i in range(4):
                    k = _pair(i, tl, t, tr, l, c, r, bl, b, br, cpp)
                    if k >= 0:
                        break
            p0, p1, p2 = rgb[0, y, x], rgb[1, y, x], rgb[2, y, x]
            if k >= 0:
                p0 = keep * p0 + third * _light_sum(rgb[0], k, y, x, light, dy, dx)
                p1 = keep * p1 + third * _light_sum(rgb[1], k, y, x, light, dy, dx)
                p2 = keep * p2 + third * _light_sum(rgb[2], k, y, x, light, dy, dx)
            out[0, y, x], out[1, y, x], out[2, y, x] = p0, p1, p2
            lum_out[0, y, x] = wr * p0 + wg * p1 + wb * p2


@njit(cache=True, parallel=True)
def _bilinear_into(lr, scale, out):
    """Bilinear upscale by an integer factor (torch's align_corners=False rule: source = (i + 0.5) / s - 0.5,
    clamped at 0), clamped to [0, 1], into the interior of the padded (3, h*s + 2, w*s + 2) ``out``."""
    h, w = lr.shape[1], lr.shape[2]
    inv = np.float32(1.0) / np.float32(scale)
    for oy in prange(h * scale):
        sy = max(inv * (np.float32(oy) + np.float32(0.5)) - np.float32(0.5), np.float32(0.0))
        y0 = int(sy)
        ly = min(sy - np.float32(y0), np.float32(1.0))
        y1 = y0 + 1 if y0 < h - 1 else y0
        for ox in range(w * scale):
            sx = max(inv * (np.float32(ox) + np.float32(0.5)) - np.float32(0.5), np.float32(0.0))
            x0 = int(sx)
            lx = min(sx - np.float32(x0), np.float32(1.0))
            x1 = x0 + 1 if x0 < w - 1 else x0
            for ch in range(3):
                top = (np.float32(1.0) - lx) * lr[ch, y0, x0] + lx * lr[ch, y0, x1]
                bottom = (np.float32(1.0) - lx) * lr[ch, y1, x0] + lx * lr[ch, y1, x1]
                v = (np.float32(1.0) - ly) * top + ly * bottom
                out[ch, oy + 1, ox + 1] = min(max(v, np.float32(0.0)), np.float32(1.0))


@njit(cache=True, parallel=True)
def _clamp_from(padded, out):
    """The interior of a padded (3, H+2, W+2) plane set, clamped to [0, 1], into (3, H, W) ``out``."""
    for y in prange(out.shape[1]):
        for ch in range(3):
            for x in range(out.shape[2]):
                out[ch, y, x] = min(max(padded[ch, y + 1, x + 1], np.float32(0.0)), np.float32(1.0))


@njit(cache=True, inline="always")
def _fire2(i, tl, t, tr, l, c, r, bl, b, br, cpp):
    """Pair i's two tests as flags (the second only where the first did not fire), without branches."""
    if i == 0:
        la, da, lb, db = min(tl, t, tr), max(bl, b, br), min(bl, b, br), max(tl, t, tr)
        edge = True
    elif i == 1:
        la, da, lb, db = min(t, tr, r), max(l, b), min(l, bl, b), max(r, t)
        edge = False
    elif i == 2:
        la, da, lb, db = min(tr, r, br), max(tl, l, bl), min(tl, l, bl), max(tr, r, br)
        edge = True
    else:
        la, da, lb, db = min(r, br, b), max(l, t), min(t, l, tl), max(r, b)
        edge = False
    if edge and cpp:
        fa = (la > c) & (c > da)
        fb = (lb > c) & (c > db)
    else:
        fa = la > max(da, c)
        fb = lb > max(db, c)
    return fa, fb & ~fa


@njit(cache=True, inline="always")
def _sums2(i, p, y, x):
    """The light-cell sums (LIGHT's order) of pair i's two kernels on plane p at (y, x)."""
    if i == 0:
        return (p[y - 1, x - 1] + p[y - 1, x]) + p[y - 1, x + 1], (p[y + 1, x - 1] + p[y + 1, x]) + p[y + 1, x + 1]
    if i == 1:
        return (p[y - 1, x] + p[y - 1, x + 1]) + p[y, x + 1], (p[y, x - 1] + p[y + 1, x - 1]) + p[y + 1, x]
    if i == 2:
        return (p[y - 1, x + 1] + p[y, x + 1]) + p[y + 1, x + 1], (p[y - 1, x - 1] + p[y, x - 1]) + p[y + 1, x - 1]
    return (p[y, x + 1] + p[y + 1, x + 1]) + p[y + 1, x], (p[y - 1, x] + p[y, x - 1]) + p[y - 1, x - 1]


@njit(cache=True, inline="always")
def _mix(v, fa, fb, sa, sb, keep, third):
    return keep * v + third * sa if fa else (keep * v + third * sb if fb else v)


@njit(cache=True)
def _push_color_cpp_row(y, m, R, G, B, out, lum_out, keep, third, wr, wg, wb):
    """One row of the cpp push colour: every pair tested and blended branch-free (selects), because on
    drawn art ~40 % of pixels fire in no predictable pattern and a mispredicted branch costs more than the
    arithmetic; the pairs are unrolled at compile time (literal_unroll) so each is straight-line code."""
    for x in range(1, m.shape[1] - 1):
        tl, t, tr = m[y - 1, x - 1], m[y - 1, x], m[y - 1, x + 1]
        l, c, r = m[y, x - 1], m[y, x], m[y, x + 1]
        bl, b, br = m[y + 1, x - 1], m[y + 1, x], m[y + 1, x + 1]
        p0, p1, p2 = R[y, x], G[y, x], B[y, x]
        for i in literal_unroll((0, 1, 2, 3)):
            fa, fb = _fire2(i, tl, t, tr, l, c, r, bl, b, br, True)
            sa, sb = _sums2(i, m, y, x)
            c = _mix(c, fa, fb, sa, sb, keep, third)
            sa, sb = _sums2(i, R, y, x)
            p0 = _mix(p0, fa, fb, sa, sb, keep, third)
            sa, sb = _sums2(i, G, y, x)
            p1 = _mix(p1, fa, fb, sa, sb, keep, third)
            sa, sb = _sums2(i, B, y, x)
            p2 = _mix(p2, fa, fb, sa, sb, keep, third)
        out[0, y, x], out[1, y, x], out[2, y, x] = p0, p1, p2
        lum_out[0, y, x] = wr * p0 + wg * p1 + wb * p2


@njit(cache=True, parallel=True)
def _push_color_cpp(rgb, lum, s, out, lum_out, wr, wg, wb):
    keep, third = np.float32(1.0) - s, s / np.float32(3.0)
    for y in prange(1, lum.shape[1] - 1):
        _push_color_cpp_row(y, lum[0], rgb[0], rgb[1], rgb[2], out, lum_out, keep, third, wr, wg, wb)


_WORK: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}


def _work_buffers(h: int, w: int) -> tuple[np.ndarray, ...]:
    """The padded planes of one image size, kept for the next call of that size (the last size only): a
    fresh 4K set is ~200 MB of page faults, a third of the work at that size."""
    if (h, w) not in _WORK:
        _WORK.clear()
        _WORK[(h, w)] = tuple(np.empty((c, h + 2, w + 2), dtype=np.float32) for c in (3, 3, 1, 1, 1))
    return _WORK[(h, w)]


def refine(x: np.ndarray, variant: str, passes: int, push_color_count: int, strength_color: float,
           strength_gradient: float, prescale: int = 1) -> np.ndarray:
    """``Anime4K.refine`` on a float32 (B, 3, H, W) array (a new array, clamped to [0, 1]). With
    ``prescale`` > 1, ``x`` is the LR image and is first upscaled bilinearly by that factor (the cpp
    variant's x2 pre-upscaler; used at x2 only, where its weights 0.25/0.75 are exact and it matches torch
    to rounding), straight into the work buffer."""
    cpp = variant == "cpp"
    wr, wg, wb = (np.float32(c) for c in LUMA_WEIGHTS[variant])
    sc, sg = np.float32(strength_color), np.float32(strength_gradient)
    tables = (LIGHT, DY, DX)
    b, _, h, w = x.shape
    h, w = h * prescale, w * prescale
    out = np.empty((b, 3, h, w), dtype=np.float32)
    cur, tmp, plane, other, a = _work_buffers(h, w)
    for n in range(b):
        if prescale > 1:
            _bilinear_into(np.ascontiguousarray(x[n]), prescale, cur)
        else:
            cur[:, 1:-1, 1:-1] = x[n]
        _fill_border(cur)
        _luminance(cur, wr, wg, wb, plane)  # plane holds the luminance of cur from here on
        _fill_border(plane)
        for i in range(passes):
            if strength_color > 0 and i < push_color_count:
                if cpp:
                    _push_color_cpp(cur, plane, sc, tmp, other, wr, wg, wb)
                else:
                    _push_color_glsl(cur, plane, sc, tmp, other, wr, wg, wb, *tables)
                _fill_border(tmp)
                _fill_border(other)
                cur, tmp, plane, other = tmp, cur, other, plane
            _gradient(plane, a)
            _fill_border(a)
            _push_gradient(cur, a, sg, cpp, tmp, plane, wr, wg, wb, *tables)
            _fill_border(tmp)
            _fill_border(plane)
            cur, tmp = tmp, cur
        _clamp_from(cur, out[n])
    return out
