"""Low-information patches: how much of a patch is taken up by one colour.

In one line: info = 1 - share of pixels in the dominant colour (a patch's largest k-means colour cluster
plus the clusters within TOLERANCE of it).

Details: the patch's colour histogram (32 levels per channel) is clustered with scikit-learn k-means
(k = 8, weighted by pixel counts, started from the 8 fullest bins so it is deterministic); clusters whose
centre is within TOLERANCE (RGB distance, channels in 0..1) of the heaviest one count as the same colour,
which absorbs JPEG noise, paper texture and gentle shading. A blank background or an empty fill scores 0,
a sliver of a sprite on a background its area, drawn content 0.2 and up; patches scoring below `min_info`
are dropped as low-information.
"""

from __future__ import annotations

import warnings

import numpy as np

from gan_sr.errors import ConfigError

N_CLUSTERS = 8
TOLERANCE = 0.15
"""Colours closer than this (RGB Euclidean, channels in [0, 1]) count as the same: JPEG noise, paper texture."""
HIST_BITS = 5
DEFAULT_MIN_INFO = 0.05
"""Tuned on the drawn-art folders in shared/datasets (see experiments/results/data/)."""


def check_min_info(min_info: float) -> None:
    """ConfigError unless 0 <= min_info <= 1."""
    if not 0.0 <= float(min_info) <= 1.0:
        raise ConfigError(f"--min-info {min_info}: must be between 0 and 1 (share of pixels off the dominant colour)")


def colour_histogram(patch: np.ndarray, bits: int = HIST_BITS) -> tuple[np.ndarray, np.ndarray]:
    """Occupied bins of an (H, W, 3) uint8 patch's colour histogram: bin centres in [0, 1] (K, 3) and counts."""
    shift = 8 - bits
    q = (np.asarray(patch, dtype=np.uint8).reshape(-1, 3) >> shift).astype(np.int64)
    key = (q[:, 0] << (2 * bits)) | (q[:, 1] << bits) | q[:, 2]
    bins, counts = np.unique(key, return_counts=True)
    mask = (1 << bits) - 1
    levels = np.stack([(bins >> (2 * bits)) & mask, (bins >> bits) & mask, bins & mask], 1)
    centres = ((levels << shift) + (1 << shift) / 2.0) / 255.0
    return centres, counts


def dominant_colour(patch: np.ndarray) -> tuple[np.ndarray, float]:
    """The dominant colour (RGB in [0, 1]) of an (H, W, 3) uint8 patch and the share of pixels it covers."""
    centres, counts = colour_histogram(patch)
    total = counts.sum()
    if len(centres) == 1:
        return centres[0], 1.0
    from sklearn.cluster import KMeans  # imported here so that reading the defaults stays cheap
    from sklearn.exceptions import ConvergenceWarning

    k = min(N_CLUSTERS, len(centres))
    init = centres[np.argsort(-counts, kind="stable")[:k]]  # the k fullest bins: deterministic, no k-means++ pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        km = KMeans(n_clusters=k, init=init, n_init=1, max_iter=50).fit(centres, sample_weight=counts)
    weight = np.bincount(km.labels_, weights=counts, minlength=k)
    top = int(np.argmax(weight))
    near = np.linalg.norm(km.cluster_centers_ - km.cluster_centers_[top], axis=1) <= TOLERANCE
    return km.cluster_centers_[top], float(weight[near].sum() / total)


def info_score(patch: np.ndarray) -> float:
    """1 - share of the dominant colour: 0 for a flat patch, towards 1 for varied content."""
    return 1.0 - dominant_colour(patch)[1]
