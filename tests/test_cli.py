"""The command line: catalogues on stdout or in files, one-line errors."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from PIL import Image

from galaxy_core import shipped
from galaxy_core.catalog.table import COLUMNS
from galaxy_core.cli import main
from galaxy_core.io.synthetic import synthetic_field


@pytest.fixture(scope="module")
def fits_bands(tmp_path_factory):
    """A small synthetic field written as three single-band FITS files with WCS."""
    field, truth = synthetic_field(seed=2, size=256, n_galaxies=8, n_stars=2)
    folder = tmp_path_factory.mktemp("bands")
    paths = []
    for k, band in enumerate("rgb"):
        header = field.wcs.to_header()
        header["OBJECT"] = "<script>alert(1)</script>"
        path = folder / f"{band}.fits"
        fits.PrimaryHDU(field.data[k], header=header).writeto(path)
        paths.append(path)
    return paths, truth


def test_cli_detect_three_bands_csv_on_stdout(fits_bands, capsys):
    paths, truth = fits_bands
    status = main(["detect", *map(str, paths), "--method", "sep", "--no-classify"])
    out = capsys.readouterr().out
    assert status == 0
    df = pd.read_csv(io.StringIO(out))
    assert list(df.columns) == list(COLUMNS)
    assert len(df) >= (truth.snr > 30).sum()
    assert df["ra"].notna().all()


@pytest.mark.parametrize("suffix", [".csv", ".fits", ".ecsv", ".reg"])
def test_cli_detect_writes_each_format(fits_bands, tmp_path, suffix):
    paths, _ = fits_bands
    out = tmp_path / f"catalog{suffix}"
    assert main(["detect", str(paths[0]), "--method", "sep", "--no-classify", "--out", str(out)]) == 0
    data = out.read_bytes()
    assert data
    if suffix == ".reg":
        assert b"icrs" in data and b"box(" in data


def test_cli_render_png_with_options(fits_bands, tmp_path):
    paths, _ = fits_bands
    out = tmp_path / "field.png"
    status = main(["render", *map(str, paths), "--interval", "zscale", "--stretch", "sqrt", "-o", str(out)])
    assert status == 0
    img = np.asarray(Image.open(out))
    assert img.shape == (256, 256, 3) and img.std() > 5


def test_cli_errors_are_one_line_not_tracebacks(tmp_path, capsys):
    bad = tmp_path / "bad.fits"
    bad.write_text("this is not a FITS file")
    assert main(["detect", str(bad), "--method", "sep"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["detect", str(tmp_path / "missing.fits")]) == 2
    assert "No such file" in capsys.readouterr().err
    assert main(["detect", "demo:nothing"]) == 2
    assert main(["render", str(bad), str(bad), "-o", str(tmp_path / "x.png")]) == 2
    assert "three FITS" in capsys.readouterr().err


def test_cli_detect_demo_field_to_stdout(capsys):
    assert main(["detect", "demo:xdf", "--method", "sep", "--threshold", "5", "--no-classify"]) == 0
    df = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(df) > 50 and df["ra"].isna().all()  # a picture has no WCS


@pytest.mark.slow
@pytest.mark.skipif(not shipped.DETECTOR_WEIGHTS.exists(), reason="weights/detector.pt is not trained yet")
def test_cli_small_object_pass(tmp_path, capsys):
    field, _ = synthetic_field(seed=3, size=256, n_galaxies=6, n_stars=2)
    path = tmp_path / "f.fits"
    fits.PrimaryHDU(field.data[0], header=field.wcs.to_header()).writeto(path)
    counts = []
    for factor in ("1", "1.5", "2"):
        assert main(["detect", str(path), "--method", "yolo", "--no-classify", "--upsample", factor]) == 0
        df = pd.read_csv(io.StringIO(capsys.readouterr().out))
        assert ((df["x"] >= -0.5) & (df["x"] <= 255.5)).all()
        counts.append(len(df))
    assert min(counts) > 0
    for bad in ("5", "1.25", "two"):
        with pytest.raises(SystemExit) as refused:  # argparse's usage error
            main(["detect", str(path), "--upsample", bad])
        assert refused.value.code == 2 and "invalid" in capsys.readouterr().err


needs_detector = pytest.mark.skipif(not shipped.DETECTOR_WEIGHTS.exists(),
                                    reason="weights/detector.pt is not trained yet")


@pytest.mark.slow
@needs_detector
def test_cli_detect_tta_and_floor(tmp_path, capsys):
    field, _ = synthetic_field(seed=3, size=256, n_galaxies=6, n_stars=2)
    path = tmp_path / "f.fits"
    fits.PrimaryHDU(field.data[0], header=field.wcs.to_header()).writeto(path)
    frames = {}
    for name, extra in {"plain": [], "tta": ["--detect-tta"],
                        "tta_floor": ["--detect-tta", "--min-score", "0.5"]}.items():
        assert main(["detect", str(path), "--method", "yolo", "--no-classify", *extra]) == 0
        frames[name] = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(frames["plain"]) > 0 and len(frames["tta"]) > 0
    assert frames["plain"]["score"].min() >= 0.25 and frames["tta"]["score"].min() >= 0.25
    strict = frames["tta"][frames["tta"]["score"] >= 0.5]
    np.testing.assert_allclose(frames["tta_floor"][["x", "y", "score"]].to_numpy(),
                               strict[["x", "y", "score"]].to_numpy())
