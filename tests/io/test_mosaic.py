"""Fields too large to hold: read in strips of rows, rendered and detected window by window."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from galaxy_core import pipeline
from galaxy_core.detection.sep import SepDetector
from galaxy_core.display import RenderSettings, default_settings
from galaxy_core.display.picture import ArrayPicture, WindowedPicture
from galaxy_core.display.render import apply_plan, plan_render
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.load import load_field
from galaxy_core.io.mosaic import open_lazy_field
from galaxy_core.io.synthetic import synthetic_field


def write(path, data, header=None):
    hdu = fits.PrimaryHDU(data)
    for k, v in (header or {}).items():
        hdu.header[k] = v
    hdu.writeto(path)
    return path


@pytest.mark.parametrize("data, header", [
    (np.random.default_rng(0).normal(size=(37, 53)).astype(">f4"), {}),
    (np.arange(37 * 53, dtype=np.int16).reshape(37, 53), {"BSCALE": 0.5, "BZERO": 10.0, "BLANK": 7}),
    (np.arange(37 * 53, dtype=np.uint16).reshape(37, 53) * 20, {}),
    (np.random.default_rng(1).normal(size=(37, 53)), {}),  # float64
])
def test_lazy_rows_are_the_loaders_pixels(tmp_path, data, header):
    path = write(tmp_path / "f.fits", data, header)
    lazy, whole = open_lazy_field(path), load_field(path)
    assert (lazy.height, lazy.width, lazy.n_bands) == (37, 53, 1)
    got = lazy.rows(0, 37)
    assert got.dtype == np.float32 and np.array_equal(np.isnan(got), np.isnan(whole.data))
    assert np.allclose(got, whole.data, equal_nan=True, rtol=1e-6)
    assert np.allclose(lazy.window(5, 20, 3, 30).data, whole.data[:, 5:20, 3:30], equal_nan=True, rtol=1e-6)


def test_compressed_files_are_refused_with_what_to_do(tmp_path):
    path = write(tmp_path / "f.fits", np.zeros((8, 8), np.float32))
    gz = tmp_path / "f.fits.gz"
    import gzip
    gz.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(GalaxyCoreError, match="gunzip"):
        open_lazy_field(gz)
    fz = tmp_path / "f.fz"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(np.zeros((8, 8), np.int16))]).writeto(fz)
    with pytest.raises(GalaxyCoreError, match="funpack"):
        open_lazy_field(fz)


@pytest.fixture(scope="module")
def mosaic(tmp_path_factory):
    """A 3-band synthetic field written as three FITS files: (paths, the in-memory field)."""
    field, _ = synthetic_field(seed=4, size=512, n_galaxies=30, n_stars=4)
    folder = tmp_path_factory.mktemp("mosaic")
    paths = [write(folder / f"{b}.fits", field.data[k].astype(">f4"), dict(field.wcs.to_header()))
             for k, b in enumerate("rgb")]
    return paths, field


def test_a_windowed_render_equals_the_whole_render(mosaic):
    paths, field = mosaic
    lazy = open_lazy_field(paths)
    for settings in (default_settings(field), RenderSettings(rgb_method="lupton"),
                     RenderSettings(stretch="histeq", interval="zscale")):
        plan = plan_render(field, settings)
        whole = ArrayPicture(apply_plan(field.data, plan))
        windowed = WindowedPicture(lazy, plan, strip_pixels=512 * 37)  # 37-row strips
        for y0, y1, x0, x1 in ((0, 512, 0, 512), (30, 100, 200, 511), (480, 512, 0, 40)):
            assert np.array_equal(windowed.region(y0, y1, x0, x1), whole.region(y0, y1, x0, x1))
        assert np.array_equal(windowed.coarse(5), whole.coarse(5))
        level, sigma = windowed.edge_sky()
        ref_level, ref_sigma = whole.edge_sky()
        assert np.array_equal(level, ref_level) and sigma == ref_sigma


def test_classifying_window_by_window_gives_the_same_crops(mosaic):
    from galaxy_core.morphology.framing import FramingSettings
    from galaxy_core.types import CLASS_NAMES

    class MeanOfCrop:  # a stand-in classifier whose probabilities follow the crop's pixels
        input_size, framing, accuracy_grid, reliability = 32, FramingSettings(), None, None

        def predict(self, crops, *, tta, framed):
            m = np.asarray(crops, float).reshape(len(crops), -1, 3).mean(axis=1)
            p = np.c_[m, m[:, :1] + 1, m[:, 1:2] + 2, m[:, 2:3] + 3]
            return p / p.sum(axis=1, keepdims=True)

    paths, field = mosaic
    plan = plan_render(field, default_settings(field))
    dets = SepDetector()(field)
    assert len(dets) > 10 and len(CLASS_NAMES) == 6
    whole = pipeline.classify(ArrayPicture(apply_plan(field.data, plan)), dets, classifier=MeanOfCrop())
    windowed = pipeline.classify(WindowedPicture(open_lazy_field(paths), plan, strip_pixels=512 * 40),
                                 dets, classifier=MeanOfCrop())
    assert windowed == whole  # same order, same crops, same extents and S/N


def test_sep_strips_find_each_object_once(tmp_path, monkeypatch):
    from galaxy_core.detection import sep as sep_module

    field, truth = synthetic_field(seed=5, size=600, n_galaxies=40, n_stars=6)
    path = write(tmp_path / "f.fits", field.data[0].astype(">f4"), dict(field.wcs.to_header()))
    monkeypatch.setattr(sep_module, "STRIP_PIXELS", 600 * 100)  # short strips, many seams
    monkeypatch.setattr(sep_module, "STRIP_OVERLAP", 64)
    strips = SepDetector(thresh_sigma=5)(open_lazy_field(path))
    whole = SepDetector(thresh_sigma=5)(load_field(path))
    assert [d.id for d in strips] == list(range(1, len(strips) + 1))
    # every bright object of the whole field (shorter than the overlap) found once by the strips
    bright = [d for d in whole if d.snr > 30 and max(d.width, d.height) < 64]
    assert len(bright) > 10 and len(truth) > 40
    for d in bright:
        near = [e for e in strips if abs(e.x - d.x) < 2 and abs(e.y - d.y) < 2]
        assert len(near) == 1, (d.x, d.y, len(near))
    assert abs(len(strips) - len(whole)) <= 0.1 * len(whole)
    assert all(d.ra is not None for d in strips)


def test_the_pipeline_runs_a_lazy_field(mosaic):
    paths, field = mosaic
    result = pipeline.run(open_lazy_field(paths), settings=pipeline.RunSettings(method="sep", classify=False))
    assert result.rgb is None and isinstance(result.picture, WindowedPicture)
    assert len(result.detections) > 10 and all(d.ra is not None for d in result.detections)
    with pytest.raises(GalaxyCoreError, match="small-object pass"):
        pipeline.run(open_lazy_field(paths), settings=pipeline.RunSettings(method="yolo", upsample=2))


@pytest.mark.slow
@pytest.mark.skipif("yolo" not in __import__("galaxy_core.shipped").shipped.available_methods(),
                    reason="weights/detector.pt is not trained yet")
def test_yolo_window_by_window_equals_the_whole_picture(mosaic):
    paths, field = mosaic
    plan = plan_render(field, default_settings(field))
    detector = pipeline.load_detector()
    detector(np.zeros((64, 64, 3), np.uint8))  # the first call differs in the last bits (model set-up)
    whole = detector(ArrayPicture(apply_plan(field.data, plan)), wcs=field.wcs)
    windowed = detector(WindowedPicture(open_lazy_field(paths), plan, strip_pixels=512 * 50),
                        wcs=field.wcs)
    assert len(whole) > 5 and windowed == whole  # the same tiles, pixels and merge


def test_open_field_reads_small_fields_whole_and_large_ones_window_by_window(tmp_path):
    from galaxy_core.io.load import open_field
    from galaxy_core.io.mosaic import LazyField
    from galaxy_core.types import Field

    path = write(tmp_path / "f.fits", np.ones((100, 120), np.float32))
    assert isinstance(open_field([path]), Field)
    lazy = open_field([path], hold_bytes=1000)
    assert isinstance(lazy, LazyField) and (lazy.height, lazy.width, lazy.name) == (100, 120, "f")
    with pytest.raises(GalaxyCoreError, match="more than the limit"):
        open_field([path], hold_bytes=1000, max_pixels=10_000)
    gz = tmp_path / "f.fits.gz"
    import gzip
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert isinstance(open_field([gz], hold_bytes=1000), Field)  # compressed: read whole
