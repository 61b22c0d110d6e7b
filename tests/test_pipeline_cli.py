"""End to end through the pipeline and the command line (sep baseline; models where they ship)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from PIL import Image

from galaxy_core import pipeline
from galaxy_core.catalog import COLUMNS
from galaxy_core.cli import main
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.synthetic import synthetic_field


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


def test_pipeline_sep_gives_sky_positions_and_ids():
    field, truth = synthetic_field(seed=2, size=256, n_galaxies=8, n_stars=2)
    calls = []
    dets = pipeline.run(field, settings=pipeline.RunSettings(method="sep", classify=False),
                        progress=lambda f, m: calls.append(f))
    assert dets and [d.id for d in dets] == list(range(1, len(dets) + 1))
    assert all(d.ra is not None for d in dets)
    assert calls[0] == 0.0 and calls[-1] == 1.0 and calls == sorted(calls)


def test_min_score_drops_faint_detections():
    field, _ = synthetic_field(seed=2, size=256, n_galaxies=8, n_stars=2)
    loose = pipeline.run(field, settings=pipeline.RunSettings(method="sep", classify=False, min_score=0.0))
    strict = pipeline.run(field, settings=pipeline.RunSettings(method="sep", classify=False, min_score=0.8))
    assert len(strict) < len(loose)
    assert all(d.score >= 0.8 for d in strict)


def test_bad_run_settings_are_clear_errors():
    with pytest.raises(GalaxyCoreError, match="method"):
        pipeline.RunSettings(method="magic")
    with pytest.raises(GalaxyCoreError, match="min_score"):
        pipeline.RunSettings(min_score=1.5)
    for bad in (4, 1.25, "2"):
        with pytest.raises(GalaxyCoreError, match="upsample"):
            pipeline.RunSettings(upsample=bad)
    assert str(pipeline.RunSettings(upsample=2.0).upsample) == "2"  # labels read "2x", not "2.0x"


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
@pytest.mark.skipif(not pipeline.DETECTOR_WEIGHTS.exists(), reason="weights/detector.pt is not trained yet")
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


needs_detector = pytest.mark.skipif(not pipeline.DETECTOR_WEIGHTS.exists(),
                                    reason="weights/detector.pt is not trained yet")


@pytest.mark.slow
@needs_detector
def test_yolo_runs_at_the_settings_floor():
    """min_score is YOLO's own floor: a lower floor keeps boxes under the 0.25 operating point."""
    from galaxy_core.demo import DEMO_FIELDS

    field = DEMO_FIELDS["xdf"]()
    default = pipeline.run(field, settings=pipeline.RunSettings(method="yolo", classify=False))
    loose = pipeline.run(field, settings=pipeline.RunSettings(method="yolo", classify=False,
                                                              min_score=0.1))
    assert min(d.score for d in default) >= pipeline.load_detector().conf == 0.25
    assert min(d.score for d in loose) >= 0.1
    assert sum(d.score < 0.25 for d in loose) > 100
    assert len(loose) > len(default)


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


def test_the_detectors_stars_keep_their_class_and_the_classifiers_probabilities():
    from galaxy_core.framing import FramingSettings
    from galaxy_core.types import CLASS_NAMES, Detection

    class SaysElliptical:  # what the classifier says of a spiky Hubble star
        input_size, framing = 32, FramingSettings()

        class accuracy_grid:  # noqa: N801  (the grid's one method the pipeline calls)
            @staticmethod
            def expected_accuracy(extents, snrs):
                return np.full(len(extents), 0.8)

        def predict(self, crops, *, tta, framed):
            probs = np.zeros((len(crops), len(CLASS_NAMES)))
            probs[:, CLASS_NAMES.index("Elliptical")] = 0.9
            probs[:, CLASS_NAMES.index("Star/Artifact")] = 0.1
            return probs

    rgb = np.random.default_rng(0).integers(0, 40, (64, 64, 3), dtype=np.uint8)
    rgb[28:36, 10:18] = 250
    rgb[28:36, 40:48] = 250
    found = [Detection(1, 9.5, 27.5, 17.5, 35.5, 13.5, 31.5, 0.9, "star"),
             Detection(2, 39.5, 27.5, 47.5, 35.5, 43.5, 31.5, 0.8, "galaxy")]
    star, galaxy = pipeline.classify(rgb, found, classifier=SaysElliptical())
    assert (star.label, star.detector_label) == ("Star/Artifact", "star")
    assert (galaxy.label, galaxy.detector_label) == ("Elliptical", "galaxy")
    assert star.probs == galaxy.probs and star.probs[CLASS_NAMES.index("Elliptical")] == 0.9
    # the grid's accuracy is the classifier's on galaxies: it says nothing of the detector's star
    assert star.morph_accuracy is None and galaxy.morph_accuracy == 0.8
    assert pipeline.class_label([0.1, 0.7, 0.1, 0.05, 0.05, 0.0], "object") == "Spiral_Barred"


def test_score_floor_is_the_runs_or_the_methods_own():
    assert pipeline.score_floor(pipeline.RunSettings(method="sep", min_score=0.3)) == 0.3
    assert pipeline.score_floor(pipeline.RunSettings(method="sep")) == pipeline.SEP_MIN_SCORE

    class Detector:
        conf = 0.4

    assert pipeline.score_floor(pipeline.RunSettings(method="yolo"), detector=Detector()) == 0.4
