"""Provenance keywords (galaxy_core.catalog.provenance) and how the exports and the CLI carry them."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table
from regions import Regions

from galaxy_core import pipeline, shipped
from galaxy_core.catalog.export import catalog_bytes, ds9_regions
from galaxy_core.catalog.provenance import render_summary, run_provenance, weights_id
from galaxy_core.catalog.table import to_frame
from galaxy_core.cli import main
from galaxy_core.detection.base import OPERATING_FLOOR
from galaxy_core.display import RenderSettings
from galaxy_core.io.synthetic import synthetic_field
from galaxy_core.types import Detection, Field

ONE_BAND = Field(np.zeros((1, 16, 16), np.float32), name="sky")
THREE_BANDS = Field(np.zeros((3, 16, 16), np.float32), name="rgb")


@pytest.mark.parametrize("settings,n_bands,expected", [
    (RenderSettings(), 1, "asym_percentile 20-99.95%, asinh, gray"),
    (RenderSettings(interval="percentile", percent=99.5, stretch="log", a=1000), 1,
     "percentile 99.5%, log a=1000, gray"),
    (RenderSettings(interval="manual", vmin=-1.0, vmax=30.0, stretch="sqrt", colormap="viridis"),
     1, "manual -1..30, sqrt, viridis"),
    (RenderSettings(interval="zscale", stretch="linear"), 3, "zscale, linear, per band"),
    (RenderSettings(rgb_method="lupton", lupton_q=5.0, lupton_stretch=2.5, lupton_minimum=0.1), 3,
     "lupton Q=5, stretch=2.5, minimum=0.1"),
])
def test_render_summary(settings, n_bands, expected):
    assert render_summary(settings, n_bands) == expected


def test_weights_id_is_the_files_sha256(tmp_path):
    path = tmp_path / "w.pt"
    path.write_bytes(b"weights one")
    assert weights_id(path) == f"w.pt sha256:{hashlib.sha256(b'weights one').hexdigest()[:16]}"
    path.write_bytes(b"weights two, longer")  # a new version of the file gets a new hash
    assert weights_id(path).endswith(hashlib.sha256(b"weights two, longer").hexdigest()[:16])


def test_run_provenance_names_what_the_run_used(tmp_path):
    det, cls = tmp_path / "det.pt", tmp_path / "cls.pt"
    det.write_bytes(b"d")
    cls.write_bytes(b"c")
    when = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)
    yolo = run_provenance(THREE_BANDS, RenderSettings(a=0.05),
                          pipeline.RunSettings(method="yolo", min_score=0.15, upsample=1.5,
                                               detect_tta=True, tta=True),
                          classified=True, detector_weights=det, classifier_weights=cls,
                          threshold=0.3, classes=("Spiral", "Elliptical"), when=when)
    assert yolo == {
        "ORIGIN": "galaxy_core 0.1.0", "DATE": "2026-12-06T12:00:00", "FIELD": "rgb",
        "METHOD": "yolo", "RENDER": "asym_percentile 20-99.95%, asinh a=0.05, per band",
        "FLOOR": 0.15, "DETWTS": weights_id(det), "UPSAMPLE": 1.5, "DETTTA": True,
        "CLSWTS": weights_id(cls), "CLSTTA": True, "THRESH": 0.3, "CLASSES": "Spiral,Elliptical",
    }
    sep = run_provenance(ONE_BAND, RenderSettings(), pipeline.RunSettings(method="sep", classify=False))
    assert sep["SEPTHR"] == 3.0 and sep["SEPAREA"] == 5 and sep["FLOOR"] == OPERATING_FLOOR["sep"]
    assert not {"RENDER", "DETWTS", "CLSWTS"} & set(sep)  # sep alone sees pixels
    assert all(len(k) <= 8 and k == k.upper() for k in {**yolo, **sep})


def test_exports_carry_the_keywords():
    df = to_frame([Detection(1, 0, 0, 4, 4, 2, 2, 0.9, "object")])
    long_render = "lupton Q=8, stretch=123.456, minimum=-0.000123, and more words to pass 80 chars"
    meta = {"METHOD": "yolo", "FLOOR": 0.15, "DETTTA": True, "RENDER": long_render}
    header = fits.getheader(io.BytesIO(catalog_bytes(df, "fits", meta=meta)), 1)
    assert header["METHOD"] == "yolo" and header["FLOOR"] == 0.15 and header["DETTTA"] is True
    assert header["RENDER"] == long_render  # long strings continue, not cut
    ecsv = Table.read(io.BytesIO(catalog_bytes(df, "ecsv", meta=meta)), format="ascii.ecsv")
    assert ecsv.meta["FLOOR"] == 0.15 and ecsv.meta["RENDER"] == long_render
    text = ds9_regions(from_rows := [Detection(1, 0, 0, 4, 4, 2, 2, 0.9, "object")], meta=meta)
    assert text.splitlines()[0] == "# METHOD = yolo"
    assert f"# RENDER = {long_render}" in text.splitlines()
    assert len(Regions.parse(text, format="ds9")) == len(from_rows)


def test_cli_fits_catalogue_header(tmp_path, capsys):
    field, _ = synthetic_field(seed=2, size=128, n_galaxies=4, n_stars=1)
    path = tmp_path / "f.fits"
    fits.PrimaryHDU(field.data[0], header=field.wcs.to_header()).writeto(path)
    out = tmp_path / "cat.fits"
    assert main(["detect", str(path), "--method", "sep", "--no-classify", "--threshold", "4",
                 "--out", str(out)]) == 0
    header = fits.getheader(out, 1)
    assert header["METHOD"] == "sep" and header["SEPTHR"] == 4.0 and header["FIELD"] == "f"
    assert header["FLOOR"] == OPERATING_FLOOR["sep"]  # the method's own floor, written out
    assert header["ORIGIN"].startswith("galaxy_core ")
    assert abs(pd.Timestamp(header["DATE"], tz="UTC") - pd.Timestamp.now(tz="UTC")).total_seconds() < 600


@pytest.mark.slow
@pytest.mark.skipif(not shipped.DETECTOR_WEIGHTS.exists(), reason="weights/detector.pt is not trained yet")
def test_cli_yolo_catalogue_names_the_detector_weights(tmp_path):
    out = tmp_path / "cat.ecsv"
    assert main(["detect", "demo:xdf", "--method", "yolo", "--no-classify", "--min-score", "0.3",
                 "--out", str(out)]) == 0
    meta = Table.read(out, format="ascii.ecsv").meta
    digest = hashlib.sha256(shipped.DETECTOR_WEIGHTS.read_bytes()).hexdigest()[:16]
    assert meta["DETWTS"] == f"detector.pt sha256:{digest}"
    assert meta["FLOOR"] == 0.3 and meta["DETTTA"] is False and "CLSWTS" not in meta
    assert meta["RENDER"] == "manual 0..1, linear, per band"  # the XDF picture, as it is
