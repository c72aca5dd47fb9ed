"""Nearest training image of each generated one: the no-copying check of a limited-data GAN.

A GAN that memorises its few hundred training images scores well on distribution metrics and is still a
failure, so every report puts each sample beside its nearest training image. Distance: RMS pixel difference
in [0, 1] (L2 over all pixels / sqrt(pixels)), exact (a brute-force scan, chunked so memory stays small).
The reference scale is the same distance from each val image to its nearest training image: a sample much
closer to the training set than unseen real images are is a copy.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gan_sr.errors import ConfigError


def nearest_neighbours(queries: Tensor, pool: Tensor, *, chunk: int = 256) -> tuple[Tensor, Tensor]:
    """(index into pool, RMS distance) of the nearest pool image for each query; both (N, C, H, W) in [0, 1]."""
    if queries.dim() != 4 or pool.dim() != 4 or queries.shape[1:] != pool.shape[1:]:
        raise ConfigError(f"nearest_neighbours: queries {tuple(queries.shape)} and pool {tuple(pool.shape)} "
                          "must be image batches of one shape")
    if pool.shape[0] == 0:
        raise ConfigError("nearest_neighbours: the pool of training images is empty")
    q = queries.flatten(1).double()
    p = pool.flatten(1).double()
    p_sq = p.square().sum(1)
    best_d = torch.full((q.shape[0],), float("inf"), dtype=torch.float64)
    best_i = torch.zeros(q.shape[0], dtype=torch.long)
    for s in range(0, p.shape[0], chunk):
        part = p[s : s + chunk]
        d = (q.square().sum(1, keepdim=True) - 2 * q @ part.T + p_sq[s : s + chunk][None]).clamp_min(0)
        dmin, imin = d.min(1)
        better = dmin < best_d
        best_d = torch.where(better, dmin, best_d)
        best_i = torch.where(better, imin + s, best_i)
    return best_i, (best_d / q.shape[1]).sqrt().float()
