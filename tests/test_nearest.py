"""The no-copying check finds exact nearest neighbours."""

import pytest
import torch

from gan_sr.errors import ConfigError
from gan_sr.metrics.nearest import nearest_neighbours


def test_nearest_neighbours_match_brute_force_and_find_copies():
    g = torch.Generator().manual_seed(0)
    pool = torch.rand(300, 3, 8, 8, generator=g)
    queries = torch.rand(20, 3, 8, 8, generator=g)
    queries[3] = pool[123]  # a copy
    idx, dist = nearest_neighbours(queries, pool, chunk=64)
    full = ((queries[:, None] - pool[None]) ** 2).flatten(2).mean(2).sqrt()
    assert torch.equal(idx, full.argmin(1))
    assert torch.allclose(dist, full.min(1).values, atol=1e-6)
    assert idx[3] == 123 and dist[3] < 1e-6


def test_nearest_neighbours_refuse_mismatched_sets():
    with pytest.raises(ConfigError, match="one shape"):
        nearest_neighbours(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 4, 4))
    with pytest.raises(ConfigError, match="empty"):
        nearest_neighbours(torch.rand(2, 3, 8, 8), torch.rand(0, 3, 8, 8))
