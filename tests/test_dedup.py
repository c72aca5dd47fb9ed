"""Near-duplicate search: the multi-index hash finds exactly what an all-pairs scan finds; grouping is deterministic."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from gan_sr.data import dedup
from gan_sr.errors import ConfigError

N_BITS = 169


def _codes(n: int, n_near: int, seed: int = 0, max_flips: int = 30) -> np.ndarray:
    """Random fingerprints plus near copies with 0..max_flips bits flipped, shuffled."""
    rng = np.random.default_rng(seed)
    base = rng.random((n, N_BITS)) < 0.5
    near = base[rng.integers(0, n, n_near)].copy()
    for row in near:
        row[rng.choice(N_BITS, rng.integers(0, max_flips + 1), replace=False)] ^= True
    allc = np.concatenate([base, near])
    return allc[rng.permutation(len(allc))]


def _reference_pairs(queries: np.ndarray, stored: np.ndarray, radius: int) -> set[tuple[int, int, int]]:
    d = (queries[:, None, :] != stored[None, :, :]).sum(-1)  # bool comparison: independent of packing/popcount
    r, c = np.nonzero(d <= radius)
    return {(int(a), int(b), int(d[a, b])) for a, b in zip(r, c)}


@pytest.mark.parametrize("radius", [0, 7, 22, 40])
def test_index_neighbours_equal_all_pairs(radius):
    codes = _codes(4000, 1200)
    stored, queries = codes[:4900], codes[4900:]
    index = dedup.HammingIndex(N_BITS, radius, expected=len(stored))
    for s in range(0, len(stored), 700):  # several batches: exercises the chained part and the sorted rebuild
        index.add(stored[s : s + 700])
    assert len(index) == len(stored) and index._base > 0 and index._base < len(stored)
    rows, ids, dist = index.neighbours(queries)
    got = set(zip(rows.tolist(), ids.tolist(), dist.tolist()))
    assert got == _reference_pairs(queries, stored, radius)
    assert len(got) == len(rows)  # each pair once


def test_plan_satisfies_pigeonhole():
    for radius in (0, 5, 22, 60):
        for expected in (1_000, 1_000_000):
            plan = dedup.plan_tables(N_BITS, radius, expected)
            assert sum(s for s, _ in plan) == N_BITS
            assert sum(r + 1 for _, r in plan) == radius + 1
            assert max(s for s, _ in plan) <= 22


def _reference_leaders(codes: np.ndarray, radius: int) -> tuple[list[int], list[bool], list[int]]:
    """Leader clustering written the slow, obvious way: nearest earlier kept, ties to the earliest."""
    kept_rows: list[int] = []
    leader, dup, dist = [], [], []
    for v in range(len(codes)):
        best = None
        for k, u in enumerate(kept_rows):
            d = int((codes[u] != codes[v]).sum())
            if d <= radius and (best is None or d < best[1]):
                best = (k, d)
        if best is None:
            leader.append(len(kept_rows))
            kept_rows.append(v)
            dup.append(False)
            dist.append(0)
        else:
            leader.append(best[0])
            dup.append(True)
            dist.append(best[1])
    return leader, dup, dist


def test_deduplicator_matches_reference_and_is_independent_of_batching():
    codes = _codes(400, 500, seed=3, max_flips=40)
    ref = _reference_leaders(codes, 22)
    assert 100 < sum(ref[1]) < 500  # the data has duplicates and chains to resolve
    whole = dedup.Deduplicator(N_BITS, 22, expected=1000)
    got = whole.add(codes)
    assert [x.tolist() for x in got] == [list(map(int, ref[0])), ref[1], ref[2]]
    pieces = dedup.Deduplicator(N_BITS, 22, expected=1000)
    parts = [pieces.add(codes[s : s + 37]) for s in range(0, len(codes), 37)]
    for k in range(3):
        assert np.concatenate([p[k] for p in parts]).tolist() == got[k].tolist()
    brute = dedup.Deduplicator(N_BITS, 22, brute_force=True)
    assert [x.tolist() for x in brute.add(codes)] == [x.tolist() for x in got]


def test_every_duplicate_is_within_radius_of_a_kept_leader():
    codes = _codes(300, 300, seed=4, max_flips=40)
    leader, dup, dist = dedup.Deduplicator(N_BITS, 22).add(codes)
    kept_rows = np.flatnonzero(~dup)
    for v in np.flatnonzero(dup):
        u = kept_rows[leader[v]]
        assert u < v and (codes[u] != codes[v]).sum() == dist[v] <= 22


def _drawing(seed: int, size: int = 128) -> Image.Image:
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (size, size), tuple(int(c) for c in rng.integers(150, 255, 3)))
    d = ImageDraw.Draw(im)
    for _ in range(12):
        x, y = rng.integers(0, size, 2)
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        if rng.random() < 0.5:
            d.ellipse((x, y, x + rng.integers(10, 50), y + rng.integers(10, 50)), fill=colour, outline=(0, 0, 0), width=2)
        else:
            d.line((x, y, *rng.integers(0, size, 2)), fill=(0, 0, 0), width=2)
    return im


def test_fingerprint_survives_jpeg_and_separates_distinct_drawings():
    fps = [dedup.fingerprint(np.asarray(_drawing(s))) for s in range(6)]
    assert all(f.shape == (N_BITS,) and f.dtype == bool for f in fps)
    buf = io.BytesIO()
    _drawing(0).save(buf, "JPEG", quality=75)
    jpeg = dedup.fingerprint(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    assert (jpeg != fps[0]).sum() <= dedup.DEFAULT_DUP_THRESHOLD
    distinct = [(fps[i] != fps[j]).sum() for i in range(6) for j in range(i + 1, 6)]
    assert min(distinct) > dedup.DEFAULT_DUP_THRESHOLD


@pytest.mark.parametrize("method", dedup.HASH_METHODS)
def test_hex_round_trip(method):
    bits = dedup.fingerprint(np.asarray(_drawing(1)), method, 13)
    text = dedup.bits_to_hex(bits)
    assert len(text) == 44 and np.array_equal(dedup.hex_to_bits(text, 169), bits)
    packed = dedup.pack(bits[None])
    assert packed.shape == (1, 3) and dedup.hamming(packed, packed)[0] == 0


def test_bad_hash_options_are_refused():
    with pytest.raises(ConfigError, match="--hash 'md5'"):
        dedup.check_hash("md5", 13)
    with pytest.raises(ConfigError, match="--hash-size 1"):
        dedup.check_hash("phash", 1)
    with pytest.raises(ConfigError, match="--dup-threshold 200"):
        dedup.HammingIndex(169, 200)


def test_the_compiled_search_equals_the_exhaustive_one_on_20k_fingerprints():
    codes = _codes(18000, 2000, seed=5)
    fast = dedup.Deduplicator(N_BITS, dedup.DEFAULT_DUP_THRESHOLD, expected=len(codes)).add(codes)
    slow = dedup.Deduplicator(N_BITS, dedup.DEFAULT_DUP_THRESHOLD, brute_force=True).add(codes)
    assert fast[1].sum() > 1000  # the near copies were found
    for a, b in zip(fast, slow):
        assert np.array_equal(a, b)
