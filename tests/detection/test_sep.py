"""The sep baseline against a real SExtractor catalogue and against synthetic truth."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from galaxy_core.detection.sep import SepDetector, snr_to_score
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.synthetic import synthetic_field
from galaxy_core.types import Field

SEP_FIELD = Path(__file__).resolve().parents[3] / "shared" / "data" / "sep_field"


def match(truth_xy: np.ndarray, found_xy: np.ndarray) -> np.ndarray:
    """Distance (px) from each truth position to the nearest found position."""
    if len(found_xy) == 0:
        return np.full(len(truth_xy), np.inf)
    d = np.hypot(truth_xy[:, None, 0] - found_xy[None, :, 0], truth_xy[:, None, 1] - found_xy[None, :, 1])
    return d.min(axis=1)


@pytest.mark.data
@pytest.mark.skipif(not SEP_FIELD.exists(), reason="../shared/data/sep_field is not in this clone")
def test_matches_the_real_sextractor_catalogue():
    from astropy.io import fits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = fits.getdata(SEP_FIELD / "image.fits").astype(np.float32)
    ref = np.loadtxt(SEP_FIELD / "image.cat", comments="#")
    ref_xy = ref[:, 1:3] - 1.0  # SExtractor is 1-based
    # SExtractor's configuration for this catalogue: 1.5 sigma, 64 px mesh, 3x3 filter.
    found = SepDetector(thresh_sigma=1.5, mesh=64, filter_size=3)(Field(data[None]))
    found_xy = np.array([(d.x, d.y) for d in found])
    dist = match(ref_xy, found_xy)
    assert len(ref) == 65
    assert (dist < 1.0).mean() >= 0.90


def test_finds_bright_synthetic_objects_at_their_positions():
    field, truth = synthetic_field(seed=3, size=512, n_galaxies=12, n_stars=4)
    found = SepDetector(thresh_sigma=3.0)(field)
    bright = truth[truth.snr > 30]
    dist = match(bright[["x", "y"]].to_numpy(), np.array([(d.x, d.y) for d in found]))
    assert len(bright) >= 5
    assert (dist < 2.0).mean() >= 0.9


def test_boxes_contain_centres_and_scores_follow_snr():
    field, _ = synthetic_field(seed=4, size=384, n_galaxies=8, n_stars=3)
    found = SepDetector()(field)
    assert found, "nothing found in a field with 11 objects"
    for d in found:
        assert d.x_min <= d.x <= d.x_max and d.y_min <= d.y <= d.y_max
        assert 0 <= d.score < 1
        assert d.ra is not None and d.dec is not None
    snrs = [d.snr for d in found]
    assert snrs == sorted(snrs, reverse=True)
    assert [d.id for d in found] == list(range(1, len(found) + 1))


def test_nan_pixels_are_masked_not_detected():
    rng = np.random.default_rng(0)
    img = rng.normal(0, 1, (128, 128)).astype(np.float32)
    img[:, :40] = np.nan
    img[60:64, 90:94] += 80
    found = SepDetector()(Field(img[None]))
    assert [round(d.x) for d in found] == [91]


@pytest.mark.parametrize("value", [0.0, 7.5])
def test_constant_image_is_a_clear_error(value):
    with pytest.raises(GalaxyCoreError, match="noise"):
        SepDetector()(Field(np.full((1, 64, 64), value, dtype=np.float32)))


def test_all_nan_is_a_clear_error():
    with pytest.raises(GalaxyCoreError, match="no finite pixels"):
        SepDetector()(Field(np.full((1, 32, 32), np.nan, dtype=np.float32)))


def test_score_map_is_monotone_and_bounded():
    s = snr_to_score(np.array([-5.0, 0.0, 5.0, 10.0, 100.0, 1e6]))
    assert s[0] == 0 and s[1] == 0 and s[3] == pytest.approx(0.5)
    assert np.all(np.diff(s) >= 0) and s[-1] < 1
