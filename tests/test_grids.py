"""gan_sr.io.grids: the one builder of sample pictures (trainers, gan sample, posthoc, compare)."""

import math

import pytest
import torch

from gan_sr.errors import ConfigError
from gan_sr.io.grids import grid_columns, image_grid, label_strip, labelled_grid, make_grid


def test_image_grid_tiles_rows_on_white_with_padding():
    grid = image_grid([[torch.zeros(3, 4, 4), torch.ones(3, 8, 8)], [torch.ones(3, 2, 2)]], pad=1)
    assert grid.shape == (3, 8 + 1 + 2, 4 + 1 + 8)
    assert grid[:, :4, :4].max() == 0 and grid[:, :8, 5:].min() == 1


def test_image_grid_clamps_to_unit_range():
    grid = image_grid([[torch.full((3, 2, 2), 2.0), torch.full((3, 2, 2), -1.0)]], pad=0)
    assert torch.equal(grid, torch.cat([torch.ones(3, 2, 2), torch.zeros(3, 2, 2)], dim=-1))


def test_make_grid_places_image_i_at_row_i_div_cols():
    x = torch.rand(7, 3, 5, 6, generator=torch.Generator().manual_seed(0))
    grid = make_grid(x, 3, pad=2)
    assert grid.shape == (3, 3 * 5 + 2 * 2, 3 * 6 + 2 * 2)
    for i in range(7):
        r, c = divmod(i, 3)
        assert torch.equal(grid[:, r * 7 : r * 7 + 5, c * 8 : c * 8 + 6], x[i])
    assert grid[:, 14:, 8:].min() == 1  # the ragged last row is white


def test_grid_columns_leaves_no_ragged_row():
    for n in range(1, 70):
        c = grid_columns(n)
        assert n % c == 0 and c >= math.isqrt(n)
    assert [grid_columns(n) for n in (0, 1, 7, 9, 12, 16, 64)] == [1, 1, 7, 3, 3, 4, 8]


def test_labelled_grid_has_a_header_and_a_row_per_sample():
    a, b = torch.zeros(10, 3, 4, 4), torch.ones(10, 3, 16, 16)
    grid = labelled_grid([("lo", a), ("hi", b)], rows=8, pad=2)
    assert grid.shape == (3, 14 + 8 * 18, 16 * 2 + 2)
    header = grid[:, :14, :16]
    assert header.min() < 0.5 < header.max()  # black text on white
    assert torch.equal(grid[:, 16:32, :16], torch.zeros(3, 16, 16))  # nearest-enlarged 4 px tile
    assert torch.equal(grid[:, :14, :16], label_strip("lo", 16))
    with pytest.raises(ConfigError, match="at least one column"):
        labelled_grid([])
