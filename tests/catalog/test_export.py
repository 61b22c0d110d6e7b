"""Catalogue columns, RA/Dec and the CSV / FITS / ECSV / DS9 exports."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table
from regions import Regions

from galaxy_core.catalog.export import catalog_bytes, ds9_regions, format_of
from galaxy_core.catalog.table import COLUMNS, from_frame, to_frame
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.synthetic import make_wcs
from galaxy_core.sky import with_sky
from galaxy_core.types import CLASS_NAMES, Detection

PROBS = (0.1, 0.05, 0.6, 0.1, 0.1, 0.05)


@pytest.fixture
def detections():
    return [
        Detection(1, 10.0, 20.0, 30.0, 44.0, 20.0, 32.0, 0.9, "Elliptical", PROBS, extent_px=40.0,
                  morph_reliable=True),
        Detection(2, 100.0, 5.0, 110.0, 15.0, 105.0, 10.0, 0.4, "object"),
    ]


def test_columns_in_the_fixed_order(detections):
    small = Detection(3, 50.0, 50.0, 56.0, 55.0, 53.0, 52.5, 0.7, "Irregular", PROBS, extent_px=7.5,
                      morph_reliable=False)
    df = to_frame([*detections, small])
    assert list(df.columns) == [
        "id", "x_min", "y_min", "x_max", "y_max", "x", "y", "score", "label", *CLASS_NAMES, "ra", "dec",
        "extent_px", "peak_snr", "morph_accuracy", "morph_reliable", "detector_label", "class_precision",
    ]
    assert df.loc[0, "Elliptical"] == 0.6
    assert np.isnan(df.loc[1, "Spiral"]) and np.isnan(df.loc[0, "ra"])
    # the classifier's verdict is written as it is; an unclassified object is never reliable
    assert df["morph_reliable"].tolist() == [True, False, False]
    assert df.loc[2, "extent_px"] == 7.5 and np.isnan(df.loc[1, "extent_px"])
    # a large but faint object is not trusted either
    faint = detections[0].with_(peak_snr=12.0, morph_accuracy=0.55, morph_reliable=False)
    row = to_frame([faint]).iloc[0]
    assert not row["morph_reliable"] and row["peak_snr"] == 12.0 and row["morph_accuracy"] == 0.55
    assert from_frame(to_frame([faint])) == [faint]
    # the detector's own label of a classified object travels with it; empty when unclassified
    star = detections[0].with_(label="Star/Artifact", detector_label="star")
    assert to_frame([star, detections[1]])["detector_label"].tolist() == ["star", ""]
    assert from_frame(to_frame([star, detections[1]])) == [star, detections[1]]


def test_empty_catalogue_has_all_columns():
    df = to_frame([])
    assert list(df.columns) == list(COLUMNS) and len(df) == 0


def test_frame_round_trip(detections):
    assert from_frame(to_frame(detections)) == detections


def test_sky_positions_follow_the_wcs(detections):
    wcs = make_wcs(256)
    sky = with_sky(detections, wcs)
    centre = with_sky([Detection(1, 0, 0, 1, 1, 127.5, 127.5, 1.0)], wcs)[0]
    assert centre.ra == pytest.approx(53.1625) and centre.dec == pytest.approx(-27.7914)
    # north up, east left: larger x is smaller RA, larger y is larger Dec
    assert sky[1].ra < sky[0].ra and sky[1].dec < sky[0].dec
    assert with_sky(detections, None) == detections


@pytest.mark.parametrize("fmt", ["csv", "ecsv", "fits"])
def test_table_exports_round_trip(detections, fmt):
    df = to_frame(with_sky(detections, make_wcs(256)))
    data = catalog_bytes(df, fmt)
    if fmt == "csv":
        back = pd.read_csv(io.BytesIO(data))
        assert list(back.columns) == list(COLUMNS)
    else:
        back = Table.read(io.BytesIO(data), format="fits" if fmt == "fits" else "ascii.ecsv").to_pandas()
        assert Table.read(io.BytesIO(data), format="fits" if fmt == "fits" else "ascii.ecsv")["ra"].unit == "deg"
    labels = [v.decode() if isinstance(v, bytes) else v for v in back["label"]]
    assert labels == ["Elliptical", "object"]
    assert [bool(v) for v in back["morph_reliable"]] == [True, False]
    np.testing.assert_allclose(back["ra"], df["ra"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(back["x_min"], [10.0, 100.0])


def test_ds9_regions_in_image_and_sky_coordinates(detections):
    image = Regions.parse(ds9_regions(detections), format="ds9")
    assert len(image) == 2
    assert image[0].center.x == pytest.approx(20.0) and image[0].width == pytest.approx(20.0)
    assert "color=#E69F00" in ds9_regions(detections).splitlines()[-2]  # Elliptical's colour
    text = ds9_regions(detections, make_wcs(256))
    assert "icrs" in text
    sky = Regions.parse(text, format="ds9")
    assert sky[0].center.ra.deg == pytest.approx(with_sky(detections, make_wcs(256))[0].ra)


def test_ds9_file_has_one_based_pixel_centres(detections):
    line = [ln for ln in ds9_regions(detections).splitlines() if ln.startswith("box")][0]
    assert line.startswith("box(21.00000000,33.00000000,")


def test_unknown_suffix_is_a_clear_error():
    with pytest.raises(GalaxyCoreError, match=r"\.csv"):
        format_of("catalogue.xlsx")
    assert format_of("a.REG") == "ds9"
