"""The inner loop of the multi-index Hamming search, compiled with numba.

For each query: every probed bucket of every table (the sorted part and the chained recent part), the full
distance of each stored fingerprint found there, stopping a distance as soon as it passes the best so far.
Written as numpy this loop gathers every candidate pair into arrays first (billions at 1M fingerprints);
compiled it touches each candidate once and keeps nothing, which is what makes a 1M-fingerprint build fast.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _popcount64(x):  # SWAR popcount of one uint64
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(cache=True, parallel=True)
def nearest_within(q_keys, q_words, masks, mask_start, offsets, offset_start, sorted_ids, sorted_words, heads,
                   head_start, nxt, words, base, size, radius):
    """Per query the nearest stored id within `radius` (ties to the lowest id; -1 if none) and its distance.

    q_keys (tables, nq) int64 substring keys; q_words (words, nq) uint64; masks concatenated per table
    (mask_start); offsets / heads concatenated per table (offset_start / head_start); sorted_ids (tables, base)
    and sorted_words (tables, base, words), the sorted part's ids and fingerprints in bucket order (a bucket is
    one contiguous read); nxt (tables, capacity) chains; words (words, capacity) every stored fingerprint;
    ids >= base are chained.
    """
    n_tables, nq = q_keys.shape
    n_words = q_words.shape[0]
    best = np.full(nq, -1, dtype=np.int64)
    best_d = np.full(nq, -1, dtype=np.int64)
    for q in prange(nq):  # queries are independent: numba's threads (NUMBA_NUM_THREADS) share them
        b_id = -1
        b_d = radius + 1
        for j in range(n_tables):
            key = q_keys[j, q]
            for mi in range(mask_start[j], mask_start[j + 1]):
                bucket = key ^ masks[mi]
                if base > 0:
                    o = offset_start[j] + bucket
                    for p in range(offsets[o], offsets[o + 1]):
                        d = 0
                        for w in range(n_words):
                            d += _popcount64(sorted_words[j, p, w] ^ q_words[w, q])
                            if d > b_d:
                                break
                        if d <= b_d:
                            i = sorted_ids[j, p]
                            if d < b_d or i < b_id:
                                b_d, b_id = d, i
                if size > base:
                    i = heads[head_start[j] + bucket]
                    while i >= 0:
                        d = 0
                        for w in range(n_words):
                            d += _popcount64(words[w, i] ^ q_words[w, q])
                            if d > b_d:
                                break
                        if d < b_d or (d == b_d and i < b_id):
                            b_d, b_id = d, i
                        i = nxt[j, i]
        if b_id >= 0:
            best[q], best_d[q] = b_id, b_d
    return best, best_d
