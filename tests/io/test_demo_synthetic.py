"""The synthetic FITS field (deterministic, with truth and WCS) and the bundled XDF picture."""

from __future__ import annotations

import numpy as np

from galaxy_core.io.demo import DEMO_FIELDS, xdf_field
from galaxy_core.io.synthetic import XDF_CENTRE, synthetic_field
from galaxy_core.types import CLASS_NAMES


def test_same_seed_same_field_other_seed_other_field():
    a, ta = synthetic_field(seed=5, size=256, n_galaxies=6, n_stars=2)
    b, tb = synthetic_field(seed=5, size=256, n_galaxies=6, n_stars=2)
    c, _ = synthetic_field(seed=6, size=256, n_galaxies=6, n_stars=2)
    np.testing.assert_array_equal(a.data, b.data)
    assert ta.equals(tb)
    assert not np.array_equal(a.data, c.data)


def test_truth_describes_the_field():
    field, truth = synthetic_field(seed=1, size=512, n_galaxies=20, n_stars=5)
    assert field.data.shape == (3, 512, 512) and field.data.dtype == np.float32
    assert set(truth.label) <= set(CLASS_NAMES)
    assert (truth.label == "Star/Artifact").sum() == 5
    assert (truth.x_min <= truth.x).all() and (truth.x <= truth.x_max).all()
    # sky noise of rms 1 in each band, measured far from objects
    assert np.median(np.abs(field.data[0] - np.median(field.data[0]))) * 1.4826 == pytest_approx(1.0, 0.15)
    # a bright object is where the truth says
    bright = truth.sort_values("snr").iloc[-1]
    x, y = int(round(bright.x)), int(round(bright.y))
    patch = field.data[:, max(y - 2, 0) : y + 3, max(x - 2, 0) : x + 3].sum(axis=0)
    assert patch.max() > 20


def test_wcs_is_centred_on_the_xdf():
    field, _ = synthetic_field(seed=0, size=256, n_galaxies=1, n_stars=0)
    ra, dec = field.wcs.pixel_to_world_values(127.5, 127.5)
    assert abs(ra - XDF_CENTRE[0]) < 1e-9 and abs(dec - XDF_CENTRE[1]) < 1e-9
    ra1, _ = field.wcs.pixel_to_world_values(128.5, 127.5)
    assert (ra - ra1) * 3600 * np.cos(np.radians(dec)) == pytest_approx(0.06, 1e-3)


def test_xdf_picture_is_the_real_hubble_field():
    field = xdf_field()
    assert field.kind == "picture" and field.data.shape == (3, 872, 1000)
    assert 0.0 <= field.data.min() and field.data.max() <= 1.0
    assert set(DEMO_FIELDS) == {"xdf", "synthetic"}


def pytest_approx(value, rel):
    import pytest

    return pytest.approx(value, rel=rel)
