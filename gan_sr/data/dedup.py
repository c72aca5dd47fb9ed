"""Near-duplicate patches: perceptual fingerprints (imagehash) and a sub-quadratic Hamming-radius search.

One file on purpose: the fingerprint's packed bit layout and the tables that index it are one format (the
compiled inner loop is apart, in `hamming_search`).

Search: multi-index hashing (Norouzi, Punjani & Fleet, "Fast search in Hamming space with multi-index
hashing", CVPR 2012). A B-bit fingerprint is cut into m disjoint substrings; if two fingerprints are within
D bits and substring j is given a search radius r_j with sum_j (r_j + 1) > D, then by pigeonhole at least one
substring differs in at most r_j bits. Each substring keys a bucket table; a query visits only the buckets
within r_j of its own substring and measures the full distance on those candidates. The result is exact
(the same neighbours as an all-pairs scan), and m is chosen from a cost model for the expected index size.

Grouping is leader clustering in arrival order: a fingerprint is a duplicate of the nearest earlier *kept*
fingerprint within D bits (ties go to the earliest); otherwise it is kept. No chains: every duplicate is
within D of the patch it names, and earlier decisions never change when more fingerprints arrive.
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import imagehash
import numpy as np
from PIL import Image as PILImage

from gan_sr.errors import ConfigError

HASH_METHODS: tuple[str, ...] = ("phash", "dhash", "ahash")
DEFAULT_HASH = "phash"
DEFAULT_HASH_SIZE = 13
DEFAULT_DUP_THRESHOLD = 24
"""Hamming bits out of 169 (phash, 13x13): the middle of the range (20-28) where experiments/bench_dedup.py
measured recall >= 0.95 with false positives <= 1% of distinct drawn-art patches."""

_MAX_TABLE_BITS = 20  # bucket heads and offsets are 2**bits int32 each: 4 MB per table at most
_CHUNK = 256  # fingerprints decided per vectorised step (their pairwise distances are computed directly)


def check_hash(method: str, hash_size: int) -> None:
    """ConfigError unless `method` is a known imagehash and `hash_size` is at least 2."""
    if method not in HASH_METHODS:
        raise ConfigError(f"--hash {method!r}: choose one of {', '.join(HASH_METHODS)}")
    if int(hash_size) < 2:
        raise ConfigError(f"--hash-size {hash_size}: must be at least 2 (the fingerprint has hash_size**2 bits)")


def fingerprint(patch: np.ndarray, method: str = DEFAULT_HASH, hash_size: int = DEFAULT_HASH_SIZE) -> np.ndarray:
    """Perceptual hash of an (H, W, 3) uint8 patch as a flat bool array of hash_size**2 bits."""
    check_hash(method, hash_size)
    image = PILImage.fromarray(np.ascontiguousarray(patch))
    if method == "phash":
        h = imagehash.phash(image, hash_size=hash_size)
    elif method == "dhash":
        h = imagehash.dhash(image, hash_size=hash_size)
    else:
        h = imagehash.average_hash(image, hash_size=hash_size)
    return np.asarray(h.hash, dtype=bool).ravel()


def bits_to_hex(bits: np.ndarray) -> str:
    """Bits (most significant first, zero-padded to whole bytes) as lowercase hex."""
    return np.packbits(np.asarray(bits, dtype=bool)).tobytes().hex()


def hex_to_bits(text: str, n_bits: int) -> np.ndarray:
    """Inverse of bits_to_hex."""
    raw = np.frombuffer(bytes.fromhex(text), dtype=np.uint8)
    return np.unpackbits(raw)[:n_bits].astype(bool)


def pack(bits: np.ndarray) -> np.ndarray:
    """(N, n_bits) bool -> (N, ceil(n_bits / 64)) uint64 words for fast XOR/popcount."""
    bits = np.atleast_2d(np.asarray(bits, dtype=bool))
    n, n_bits = bits.shape
    words = -(-n_bits // 64)
    padded = np.zeros((n, words * 64), dtype=bool)
    padded[:, :n_bits] = bits
    return np.packbits(padded, axis=1).view(">u8").astype(np.uint64).reshape(n, words)


if hasattr(np, "bitwise_count"):

    def _popcount(x: np.ndarray) -> np.ndarray:
        return np.bitwise_count(x)

else:  # numpy < 2.0
    _BYTE_COUNTS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)

    def _popcount(x: np.ndarray) -> np.ndarray:
        b = np.ascontiguousarray(x).view(np.uint8).reshape(*x.shape, 8)
        return _BYTE_COUNTS[b].sum(-1, dtype=np.uint8)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between packed codes, broadcasting over leading axes; the last axis is words."""
    x = np.bitwise_xor(a, b)
    out = _popcount(x[..., 0]).astype(np.int64)
    for w in range(1, x.shape[-1]):
        out += _popcount(x[..., w])
    return out


def _flip_masks(n_bits: int, radius: int) -> np.ndarray:
    """All n_bits-bit integers with at most `radius` bits set."""
    masks = [0]
    for k in range(1, radius + 1):
        masks.extend(sum(1 << i for i in c) for c in combinations(range(n_bits), k))
    return np.asarray(masks, dtype=np.int64)


def plan_tables(n_bits: int, radius: int, expected: int) -> list[tuple[int, int]]:
    """(substring bits, substring radius) for each of the m substrings, minimising probes + candidates per query.

    Radii satisfy sum(r + 1) = radius + 1; a substring with radius -1 is never searched and gets no table.
    The cost model assumes uniformly random bits: a probe of an s-bit table finds expected / 2**s entries.
    """
    q = radius + 1
    best: tuple[float, list[tuple[int, int]]] | None = None
    for m in range(1, n_bits + 1):
        sizes = [n_bits // m + (1 if j < n_bits % m else 0) for j in range(m)]
        if sizes[0] > _MAX_TABLE_BITS:
            continue
        plan = [(s, q // m + (1 if j < q % m else 0) - 1) for j, s in enumerate(sizes)]
        cost = sum(sum(comb(s, i) for i in range(r + 1)) * (1.0 + expected / 2.0**s) for s, r in plan if r >= 0)
        if best is None or cost < best[0]:
            best = (cost, plan)
    assert best is not None
    return best[1]


class HammingIndex:
    """Fingerprints added so far, searchable for all neighbours within `radius` bits (multi-index hashing).

    Each searched substring has a bucket table in two parts: a sorted "base" (bucket offsets into ids sorted
    by key, read with one vectorised range expansion) and a "recent" part of chained entries (dense bucket
    heads plus a `next` array), so adding is O(1). The base is rebuilt once the recent part outgrows half
    of it, which keeps the total rebuild work O(n log n).
    """

    def __init__(self, n_bits: int, radius: int, *, expected: int = 1_000_000) -> None:
        if radius < 0 or radius > n_bits:
            raise ConfigError(f"--dup-threshold {radius}: must be between 0 and the {n_bits} fingerprint bits")
        self.n_bits = int(n_bits)
        self.radius = int(radius)
        plan = plan_tables(self.n_bits, self.radius, max(1, int(expected)))
        m = len(plan)
        # substring j takes every m-th bit (j, j + m, ...), so neighbouring DCT coefficients land in different tables
        order = np.concatenate([np.arange(j, self.n_bits, m) for j in range(m)])
        bounds = np.cumsum([0] + [s for s, _ in plan])
        self.tables = [(s, r) for s, r in plan if r >= 0]
        t = len(self.tables)
        self._groups = [order[bounds[j] : bounds[j + 1]] for j, (_, r) in enumerate(plan) if r >= 0]
        self._weights = [np.left_shift(np.int64(1), np.arange(s, dtype=np.int64)) for s, _ in self.tables]
        self._masks = [_flip_masks(s, r) for s, r in self.tables]
        self._keys_of = np.zeros((t, 0), dtype=np.int32)  # key of every stored fingerprint, per table
        # per-table bucket offsets and chain heads live in one array each (views per table), as the compiled
        # search (hamming_search.nearest_within) reads them
        sizes = [1 << s for s, _ in self.tables]
        self._offset_start = np.cumsum([0] + [n + 1 for n in sizes]).astype(np.int64)
        self._head_start = np.cumsum([0] + sizes).astype(np.int64)
        self._offsets_all = np.zeros(int(self._offset_start[-1]), dtype=np.int32)
        self._heads_all = np.full(int(self._head_start[-1]), -1, dtype=np.int32)
        self._offsets = [self._offsets_all[self._offset_start[j] : self._offset_start[j + 1]] for j in range(t)]
        self._heads = [self._heads_all[self._head_start[j] : self._head_start[j + 1]] for j in range(t)]
        self._sorted_all = np.zeros((t, 0), dtype=np.int32)
        self._sorted = list(self._sorted_all)
        self._sorted_words = np.zeros((t, 0, -(-self.n_bits // 64)), dtype=np.uint64)
        self._mask_all = np.concatenate(self._masks)
        self._mask_start = np.cumsum([0] + [len(m) for m in self._masks]).astype(np.int64)
        self._next = np.zeros((t, 0), dtype=np.int32)
        self._words = np.zeros((-(-self.n_bits // 64), 0), dtype=np.uint64)  # one row per 64-bit word
        self._size = 0
        self._base = 0  # fingerprints [0, _base) are in the sorted part, the rest are chained

    def __len__(self) -> int:
        return self._size

    def _keys(self, bits: np.ndarray, j: int) -> np.ndarray:
        return bits[:, self._groups[j]].astype(np.int64) @ self._weights[j]

    def _grow(self, need: int) -> None:
        cap = self._words.shape[1]
        if need <= cap:
            return
        new_cap = max(need, 2 * cap, 1024)

        def grown(a: np.ndarray, fill: int) -> np.ndarray:
            out = np.full((a.shape[0], new_cap), fill, dtype=a.dtype)
            out[:, : self._size] = a[:, : self._size]
            return out

        self._words, self._keys_of, self._next = grown(self._words, 0), grown(self._keys_of, 0), grown(self._next, -1)

    def add(self, bits: np.ndarray) -> np.ndarray:
        """Store (B, n_bits) bool fingerprints; returns their ids (consecutive, starting at len(self))."""
        bits = self._check(bits)
        b = len(bits)
        ids = np.arange(self._size, self._size + b, dtype=np.int64)
        self._grow(self._size + b)
        self._words[:, ids] = pack(bits).T
        for j in range(len(self.tables)):
            keys = self._keys(bits, j)
            self._keys_of[j, ids] = keys
            order = np.argsort(keys, kind="stable")
            ks, idk = keys[order], ids[order]
            run_start = np.ones(b, dtype=bool)
            run_start[1:] = ks[1:] != ks[:-1]
            prev = np.empty(b, dtype=np.int64)
            prev[1:] = idk[:-1]
            self._next[j, idk] = np.where(run_start, self._heads[j][ks], prev)
            run_end = np.ones(b, dtype=bool)
            run_end[:-1] = run_start[1:]
            self._heads[j][ks[run_end]] = idk[run_end]
        self._size += b
        if self._size - self._base > max(4096, self._base // 2):
            self._rebuild()
        return ids

    def _rebuild(self) -> None:
        """Move every fingerprint into the sorted part and empty the chains."""
        n = self._size
        self._sorted_all = np.zeros((len(self.tables), n), dtype=np.int32)
        self._sorted = list(self._sorted_all)
        for j, (s, _) in enumerate(self.tables):
            keys = self._keys_of[j, :n]
            self._sorted[j][:] = np.argsort(keys, kind="stable")
            self._offsets[j][0] = 0
            np.cumsum(np.bincount(keys, minlength=1 << s), out=self._offsets[j][1:])
            self._heads[j].fill(-1)
        # each table's fingerprints in its bucket order: a probed bucket is then one contiguous read
        self._sorted_words = np.ascontiguousarray(self._words[:, self._sorted_all].transpose(1, 2, 0))
        self._base = n

    def _candidates(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query row, id) for every stored fingerprint sharing a probed bucket; pairs may repeat."""
        q_rows, ids = [], []
        for j in range(len(self.tables)):
            probes = (self._keys(bits, j)[:, None] ^ self._masks[j][None, :]).ravel()
            rows = np.repeat(np.arange(len(bits), dtype=np.int64), len(self._masks[j]))
            if self._base:
                start = self._offsets[j].take(probes)
                count = self._offsets[j].take(probes + 1) - start
                total = int(count.sum())
                if total:
                    hit = np.flatnonzero(count)
                    start, count, r = start[hit], count[hit], rows[hit]
                    first = np.cumsum(count) - count  # where each probe's run begins in the output
                    pos = np.arange(total, dtype=np.int64) + np.repeat(start - first, count)
                    q_rows.append(np.repeat(r, count))
                    ids.append(self._sorted[j].take(pos))
            if self._size > self._base:
                cur = self._heads[j].take(probes)
                nxt = self._next[j]
                while True:
                    hit = np.flatnonzero(cur >= 0)
                    if not len(hit):
                        break
                    rows, cur = rows.take(hit), cur.take(hit)
                    q_rows.append(rows)
                    ids.append(cur)
                    cur = nxt.take(cur)
        if not q_rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(q_rows), np.concatenate(ids)

    def neighbours(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All stored fingerprints within radius of each query: (query row, id, distance), each pair once."""
        bits = self._check(bits)
        rows, cand = self._candidates(bits)
        queries = pack(bits).T
        dist = np.zeros(len(cand), dtype=np.int64)
        for w in range(len(queries)):  # word by word (1-D gathers are fast), dropping pairs already too far
            dist += _popcount(self._words[w].take(cand) ^ queries[w].take(rows))
            ok = np.flatnonzero(dist <= self.radius)
            rows, cand, dist = rows.take(ok), cand.take(ok), dist.take(ok)
        first = np.unique(rows * max(1, self._size) + cand, return_index=True)[1]
        return rows[first], cand[first], dist[first]

    def nearest(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per query the nearest stored id within radius (-1 if none; ties to the lowest id) and its distance."""
        from gan_sr.data.hamming_search import nearest_within

        bits = self._check(bits)
        q_keys = np.stack([self._keys(bits, j) for j in range(len(self.tables))]) if self.tables else \
            np.zeros((0, len(bits)), dtype=np.int64)
        return nearest_within(q_keys, np.ascontiguousarray(pack(bits).T), self._mask_all, self._mask_start,
                              self._offsets_all, self._offset_start, self._sorted_all, self._sorted_words,
                              self._heads_all,
                              self._head_start, self._next, self._words, self._base, self._size, self.radius)

    def _check(self, bits: np.ndarray) -> np.ndarray:
        bits = np.atleast_2d(np.asarray(bits, dtype=bool))
        if bits.shape[1] != self.n_bits:
            raise ValueError(f"fingerprints have {bits.shape[1]} bits, the index {self.n_bits}")
        return bits


class BruteForceIndex:
    """Same interface as HammingIndex by scanning everything: the all-pairs reference for tests and benchmarks."""

    def __init__(self, n_bits: int, radius: int, **_: object) -> None:
        self.n_bits, self.radius = int(n_bits), int(radius)
        self._words = np.zeros((-(-self.n_bits // 64), 0), dtype=np.uint64)
        self._parts: list[np.ndarray] = []

    def __len__(self) -> int:
        return self._words.shape[1] + sum(p.shape[1] for p in self._parts)

    def add(self, bits: np.ndarray) -> np.ndarray:
        start = len(self)
        self._parts.append(pack(bits).T)
        return np.arange(start, len(self), dtype=np.int64)

    def neighbours(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._parts:
            self._words = np.concatenate([self._words, *self._parts], axis=1)
            self._parts = []
        q = pack(bits).T
        n = self._words.shape[1]
        rows, ids, dists = [], [], []
        step = max(1, 2_000_000 // max(1, n))
        for s in range(0, q.shape[1], step):
            d = np.zeros((min(step, q.shape[1] - s), n), dtype=np.uint16)
            for w in range(len(q)):  # word by word: contiguous rows, no 3-D temporaries
                d += _popcount(q[w, s : s + step, None] ^ self._words[w][None, :])
            r, c = np.nonzero(d <= self.radius)
            rows.append(r + s)
            ids.append(c)
            dists.append(d[r, c])
        if not rows:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        return (np.concatenate(rows).astype(np.int64), np.concatenate(ids).astype(np.int64),
                np.concatenate(dists).astype(np.int64))

    def nearest(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bits = np.atleast_2d(np.asarray(bits, dtype=bool))
        return _nearest(len(bits), *self.neighbours(bits))


def _nearest(n: int, rows: np.ndarray, ids: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    best = np.full(n, -1, dtype=np.int64)
    best_d = np.full(n, -1, dtype=np.int64)
    if len(rows):
        order = np.lexsort((ids, dist, rows))
        rows, ids, dist = rows[order], ids[order], dist[order]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        best[rows[first]] = ids[first]
        best_d[rows[first]] = dist[first]
    return best, best_d


class Deduplicator:
    """Leader clustering in arrival order over an index of the kept fingerprints.

    `add` returns, per fingerprint, the index id of its kept leader (its own new id when it is kept), whether
    it is a duplicate, and the distance to the leader (0 when kept).
    """

    def __init__(self, n_bits: int, radius: int, *, expected: int = 1_000_000, brute_force: bool = False) -> None:
        cls = BruteForceIndex if brute_force else HammingIndex
        self.index = cls(n_bits, radius, expected=expected)
        self.radius = int(radius)

    def __len__(self) -> int:
        return len(self.index)

    def add(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        bits = np.atleast_2d(np.asarray(bits, dtype=bool))
        leader = np.zeros(len(bits), dtype=np.int64)
        dup = np.zeros(len(bits), dtype=bool)
        dist = np.zeros(len(bits), dtype=np.int64)
        for s in range(0, len(bits), _CHUNK):
            part = bits[s : s + _CHUNK]
            lo, dp, ds = self._add_chunk(part)
            leader[s : s + len(part)], dup[s : s + len(part)], dist[s : s + len(part)] = lo, dp, ds
        return leader, dup, dist

    def _add_chunk(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(bits)
        if len(self.index):
            leader, dist = self.index.nearest(bits)
        else:
            leader, dist = np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64)
        dup = leader >= 0
        local = np.full(n, -1, dtype=np.int64)  # leader inside this chunk, by row
        words = pack(bits).T
        d = sum(_popcount(w[:, None] ^ w[None, :]).astype(np.int64) for w in words)
        earlier = np.tril(d <= self.radius, -1)
        for v in np.flatnonzero(earlier.any(1)):  # rows before v are final when v is decided
            cand = np.flatnonzero(earlier[v] & ~dup)
            if not len(cand):
                continue
            u = cand[np.argmin(d[v, cand])]  # argmin takes the first, i.e. the earliest, of equals
            if not dup[v] or d[v, u] < dist[v]:  # stored ids are older, so they win ties
                dup[v], local[v], dist[v] = True, u, d[v, u]
        new_ids = len(self.index) + np.cumsum(~dup) - 1
        leader = np.where(~dup, new_ids, np.where(local >= 0, new_ids[np.maximum(local, 0)], leader))
        dist = np.where(dup, dist, 0)
        if (~dup).any():
            self.index.add(bits[~dup])
        return leader, dup, dist
