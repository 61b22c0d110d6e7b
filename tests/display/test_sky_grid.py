"""Hover grid and RA/Dec graticule of a field."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_core.display.sky_grid import graticule, hover_grid
from galaxy_core.io.synthetic import synthetic_field
from galaxy_core.sky import sky_of_pixels
from galaxy_core.types import Field


@pytest.fixture(scope="module")
def field():
    return synthetic_field(seed=2, size=300, n_galaxies=3, n_stars=0)[0]


def test_hover_grid_cells_average_the_field_and_carry_their_sky_position(field):
    grid = hover_grid(field, max_cells=400)
    ny, nx = grid.values.shape[1:]
    assert ny * nx <= 400 and grid.cell == 15 and (ny, nx) == (20, 20)
    # the first cell is the mean of the field's top-left 15 x 15 pixels, band by band
    assert np.allclose(grid.values[:, 0, 0], field.data[:, :15, :15].mean(axis=(1, 2)), rtol=1e-5)
    assert grid.x[0] == 7.0 and grid.y[3] == 3 * 15 + 7.0
    ra, dec = sky_of_pixels(field.wcs, np.array([grid.x[4]]), np.array([grid.y[2]]))
    assert np.isclose(grid.ra[2, 4], ra[0]) and np.isclose(grid.dec[2, 4], dec[0])


def test_hover_grid_of_a_picture_has_no_sky_and_keeps_partial_cells():
    data = np.ones((1, 10, 25), np.float32)
    data[0, :, 24] = np.nan
    grid = hover_grid(Field(data, kind="picture"), max_cells=3)
    assert grid.ra is None and grid.cell == 10 and grid.values.shape == (1, 1, 3)
    assert grid.x.tolist() == [4.5, 14.5, 22.0]  # the last cell covers columns 20..24
    assert np.allclose(grid.values, 1.0)


def test_graticule_lines_lie_on_their_ra_or_dec(field):
    lines = graticule(field.wcs, field.width, field.height)
    assert {g.axis for g in lines} == {"ra", "dec"} and 4 <= len(lines) <= 12
    for line in lines:
        ok = np.isfinite(line.x)
        ra, dec = sky_of_pixels(field.wcs, line.x[ok], line.y[ok])
        assert ok.sum() >= 2
        if line.axis == "ra":
            assert np.allclose(ra, line.value, atol=1e-6) and "h" in line.label
        else:
            assert np.allclose(dec, line.value, atol=1e-6) and "\u00b0" in line.label
        assert (line.x[ok] >= -0.5).all() and (line.x[ok] <= field.width - 0.5).all()
    assert graticule(None, 10, 10) == []
