"""FITS to RGB: intervals, stretches, colour paths, masking, previews, defaults."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astropy import visualization as vis

from galaxy_core.display import (
    INTERVALS,
    NOISE_LEVEL,
    PICTURE_SETTINGS,
    STRETCHES,
    RenderSettings,
    band_limits,
    default_settings,
    downsample,
    lupton_q_matching,
    normalise_band,
    preview_scale,
    render,
    render_preview,
)
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.load import load_field
from galaxy_core.types import Field
from tests.support import make_fits_bytes, simple_wcs_header

#: Normalised inputs and the output level each stretch must give, from the formulas
#: (astropy's definitions written out by hand, not computed with astropy).
X = np.array([0.0, 0.1, 0.25, 0.5, 1.0])
EXPECTED = {
    ("linear", None): X,
    ("sqrt", None): np.sqrt(X),
    ("log", 1000.0): np.log(1000.0 * X + 1) / np.log(1001.0),
    ("log", 10.0): np.log(10.0 * X + 1) / np.log(11.0),
    ("asinh", 0.1): np.arcsinh(X / 0.1) / np.arcsinh(10.0),
    ("asinh", 0.02): np.arcsinh(X / 0.02) / np.arcsinh(50.0),
    ("sinh", 1 / 3): np.sinh(X * 3) / np.sinh(3.0),
    ("power", 2.0): X**2,
    ("power", 0.5): np.sqrt(X),
}


def field_of(*bands: np.ndarray, kind: str = "fits") -> Field:
    return Field(np.stack([np.asarray(b, dtype=np.float32) for b in bands]), kind=kind)


@pytest.mark.parametrize(("stretch", "a"), list(EXPECTED))
def test_stretch_table(stretch, a):
    band = np.tile(X.astype(np.float32), (3, 1))
    settings = RenderSettings(interval="manual", vmin=0.0, vmax=1.0, stretch=stretch, a=a)
    rgb = render(field_of(band), settings)
    expected = np.round(EXPECTED[(stretch, a)] * 255)
    np.testing.assert_allclose(rgb[0, :, 0], expected, atol=1)
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()


def test_every_stretch_is_in_the_table_or_histeq():
    assert {s for s, _ in EXPECTED} | {"histeq"} == set(STRETCHES)


RAMP = np.arange(1000, dtype=np.float32).reshape(20, 50)


@pytest.mark.parametrize(("settings", "expected"), [
    (RenderSettings(interval="minmax"), (0.0, 999.0)),
    (RenderSettings(interval="percentile", percent=90.0), (49.95, 949.05)),
    (RenderSettings(interval="asym_percentile", lower_percent=10.0, upper_percent=80.0),
     (99.9, 799.2)),
    (RenderSettings(interval="manual", vmin=-5.0, vmax=20.0), (-5.0, 20.0)),
])
def test_interval_table(settings, expected):
    assert band_limits(RAMP, settings) == pytest.approx(expected, abs=1e-3)


def test_zscale_ignores_bright_outliers():
    rng = np.random.default_rng(0)
    band = rng.normal(100.0, 5.0, size=(100, 100)).astype(np.float32)
    band[:3, :3] = 1e6
    vmin, vmax = band_limits(band, RenderSettings(interval="zscale"))
    assert 70 < vmin < 100 < vmax < 150


def test_every_interval_is_tested():
    assert set(INTERVALS) == {"minmax", "percentile", "asym_percentile", "manual", "zscale"}


def test_interval_ignores_masked_pixels():
    band = RAMP.copy()
    band[0, :10] = np.nan
    band[1, :10] = np.inf
    assert band_limits(band, RenderSettings(interval="minmax")) == (10.0, 999.0)


def test_interval_and_stretch_map_pixel_values():
    # percentile 90 of RAMP: 49.95 -> black, 949.05 -> white, linear in between
    rgb = render(field_of(RAMP), RenderSettings(interval="percentile", percent=90.0,
                                                stretch="linear"))
    flat = rgb[..., 0].ravel()
    assert flat[0] == 0 and flat[49] == 0 and flat[950] == 255 and flat[999] == 255
    assert flat[499] == round((499 - 49.95) / 899.1 * 255)


def test_render_matches_normalise_band_within_one_level():
    rng = np.random.default_rng(2)
    band = rng.lognormal(0, 1.5, size=(64, 64)).astype(np.float32)
    for settings in (RenderSettings(), RenderSettings(stretch="log"),
                     RenderSettings(interval="zscale", stretch="sqrt")):
        reference = np.round(normalise_band(band, settings) * 255)
        diff = np.abs(render(field_of(band), settings)[..., 0] - reference)
        assert diff.max() <= 1, settings


def test_histeq_flattens_the_histogram():
    rng = np.random.default_rng(3)
    band = rng.exponential(1.0, size=(200, 200)).astype(np.float32)
    rgb = render(field_of(band), RenderSettings(interval="minmax", stretch="histeq"))
    counts, _ = np.histogram(rgb[..., 0], bins=4, range=(0, 256))
    assert np.all(np.abs(counts / band.size - 0.25) < 0.03), counts
    linear = render(field_of(band), RenderSettings(interval="minmax", stretch="linear"))
    assert np.histogram(linear[..., 0], bins=4, range=(0, 256))[0][0] > 0.9 * band.size


def test_colormap_one_band_and_masked_black():
    band = np.tile(np.linspace(0, 1, 8, dtype=np.float32), (2, 1))
    band[1, 3] = np.nan
    rgb = render(field_of(band), RenderSettings(interval="minmax", stretch="linear",
                                                colormap="viridis"))
    import matplotlib

    expected_top = np.round(np.array(matplotlib.colormaps["viridis"](1.0)[:3]) * 255)
    np.testing.assert_allclose(rgb[0, -1], expected_top, atol=1)
    assert not (rgb[0, 0] == rgb[0, 0, 0]).all()  # a colour, not a grey
    assert (rgb[1, 3] == 0).all()
    with pytest.raises(GalaxyCoreError, match="colormap"):
        render(field_of(band), RenderSettings(colormap="no-such-map"))


@pytest.mark.parametrize("settings", [
    RenderSettings(),
    RenderSettings(stretch="histeq"),
    RenderSettings(rgb_method="lupton"),
    RenderSettings(colormap="magma"),
])
def test_masked_pixels_are_black_in_every_mode(settings):
    rng = np.random.default_rng(4)
    bands = rng.normal(10, 1, size=(3, 16, 16)).astype(np.float32)
    bands[0, 2, 3] = np.nan  # masked in one band only
    bands[:, 5, 5] = np.nan  # masked in all
    field = Field(bands) if settings.colormap == "gray" else Field(bands[:1])
    rgb = render(field, settings)
    assert (rgb[5, 5] == 0).all() and (rgb[2, 3] == 0).all()
    assert rgb[8, 8].any()


def test_constant_image_renders_flat_without_error():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for settings in (RenderSettings(), RenderSettings(interval="zscale", stretch="histeq"),
                         default_settings(field_of(np.full((8, 8), 3.0)))):
            rgb = render(field_of(np.full((8, 8), 3.0)), settings)
            assert rgb.shape == (8, 8, 3) and len(np.unique(rgb)) == 1


def test_all_nan_field_raises_project_error():
    with pytest.raises(GalaxyCoreError, match="no finite pixels"):
        render(field_of(np.full((8, 8), np.nan)))
    three = np.ones((3, 8, 8), np.float32)
    three[1] = np.nan
    with pytest.raises(GalaxyCoreError, match="Band 2"):
        render(Field(three, band_names=("R", "G", "B")))
    with pytest.raises(GalaxyCoreError, match="Band 2"):
        render(Field(three), RenderSettings(rgb_method="lupton"))


def test_three_bands_match_astropy_make_rgb():
    rng = np.random.default_rng(5)
    bands = rng.lognormal(0, 1, size=(3, 32, 32)).astype(np.float32) * [[[1.0]], [[2.0]], [[5.0]]]
    settings = RenderSettings(interval="percentile", percent=98.0, stretch="asinh", a=0.1)
    intervals = [vis.ManualInterval(*band_limits(b, settings)) for b in bands]
    reference = vis.make_rgb(*bands, interval=intervals, stretch=vis.AsinhStretch(0.1))
    rgb = render(Field(bands.astype(np.float32)), settings)
    # astropy truncates to uint8 where render rounds: at most one level apart
    assert np.abs(rgb.astype(int) - reference).max() <= 1


def test_limits_are_per_band():
    band = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    rgb = render(Field(np.stack([band, band * 100, band + 50])),
                 RenderSettings(interval="minmax", stretch="linear"))
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()


def test_lupton_matches_astropy_and_keeps_colour():
    bands = np.zeros((3, 16, 16), np.float32)
    bands[0, 4:8, 4:8] = 10.0  # a red source
    bands[2, 10:14, 10:14] = 10.0  # a blue source
    settings = RenderSettings(rgb_method="lupton", lupton_q=8, lupton_stretch=5,
                              lupton_minimum=0.0)
    rgb = render(Field(bands), settings)
    with np.errstate(invalid="ignore", divide="ignore"):
        reference = vis.make_lupton_rgb(*bands, minimum=0.0, stretch=5, Q=8)
    np.testing.assert_array_equal(rgb, reference)
    red, blue = rgb[5, 5], rgb[11, 11]
    assert red[0] > 200 and red[1] == 0 and red[2] == 0
    assert blue[2] > 200 and blue[0] == 0
    assert (rgb[0, 0] == 0).all()


def test_lupton_from_data_saturates_only_the_top():
    rng = np.random.default_rng(6)
    light = rng.lognormal(0, 1, size=(64, 64)).astype(np.float32)
    bands = np.stack([light * 1.0, light * 0.9, light * 0.8])  # one colour, all brightnesses
    rgb = render(Field(bands), RenderSettings(rgb_method="lupton", upper_percent=99.0))
    saturated = (rgb.max(axis=-1) == 255).mean()
    assert 0.001 < saturated < 0.05
    assert 0.2 < np.median(rgb[..., 0]) / 255 < 0.9
    assert (rgb[..., 0] >= rgb[..., 1]).all() and (rgb[..., 1] >= rgb[..., 2]).all()


def test_lupton_q_matching_reproduces_the_asinh_curve():
    for a in (0.002, 0.02, 0.3):
        q = lupton_q_matching(a)
        stretch = q / np.sinh(10 * np.arcsinh(0.1 * q))  # white at x = 1
        x = np.linspace(0, 1, 50)
        lupton = vis.LuptonAsinhStretch(stretch=stretch, Q=q)(x)
        np.testing.assert_allclose(lupton, vis.AsinhStretch(a)(x), atol=1e-6)


def test_downsample_block_means_ignore_nan_and_keep_edges():
    data = np.arange(100, dtype=np.float32).reshape(1, 10, 10)
    data[0, 0, 0] = np.nan
    small = downsample(Field(data), 3)
    assert small.data.shape == (1, 4, 4)
    block = data[0, :3, :3]
    assert small.data[0, 0, 0] == pytest.approx(np.nanmean(block))
    assert small.data[0, 3, 3] == 99.0  # the lone corner pixel
    assert small.data[0, 1, 3] == pytest.approx(data[0, 3:6, 9].mean())
    all_nan = data.copy()
    all_nan[0, :3, :3] = np.nan
    assert np.isnan(downsample(Field(all_nan), 3).data[0, 0, 0])
    assert downsample(Field(data), 1).data is data


def test_downsample_rebins_the_wcs():
    field = load_field(make_fits_bytes(np.zeros((40, 60), np.float32), simple_wcs_header(60, 40)))
    small = downsample(field, 4)
    assert small.data.shape == (1, 10, 15)
    for q in [(0, 0), (7, 3), (14, 9)]:
        full = field.wcs.pixel_to_world(q[0] * 4 + 1.5, q[1] * 4 + 1.5)
        assert small.wcs.pixel_to_world(*q).separation(full).arcsec < 1e-6


def test_preview_keeps_the_picture():
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:600, 0:800]
    band = (rng.normal(0, 1, size=(600, 800))
            + 200 * np.exp(-((xx - 300) ** 2 + (yy - 200) ** 2) / (2 * 40**2))
            + 80 * np.exp(-((xx - 650) ** 2 + (yy - 450) ** 2) / (2 * 25**2))).astype(np.float32)
    field = field_of(band)
    settings = RenderSettings(interval="percentile", percent=99.5, stretch="asinh", a=0.1)
    preview, factor = render_preview(field, settings, max_side=200)
    assert factor == 4 == preview_scale(field, 200)
    assert preview.shape == (150, 200, 3)
    full = render(field, settings)[..., 0].astype(float)
    full_binned = full.reshape(150, 4, 200, 4).mean(axis=(1, 3))
    assert np.corrcoef(full_binned.ravel(), preview[..., 0].ravel().astype(float))[0, 1] > 0.95
    bright = np.argwhere(preview[..., 0] >= 250)
    assert bright.mean(axis=0) == pytest.approx((50, 75), abs=1.5)  # the big blob's centre / 4


def test_settings_validation():
    for bad in (dict(stretch="cubic"), dict(interval="sigma"), dict(rgb_method="mix"),
                dict(interval="manual"), dict(interval="manual", vmin=2.0, vmax=1.0),
                dict(percent=0.0), dict(lower_percent=50.0, upper_percent=40.0),
                dict(a=0.0), dict(a=float("nan")), dict(lupton_q=-1.0)):
        with pytest.raises(GalaxyCoreError):
            RenderSettings(**bad)


def test_changing_stretch_resets_a():
    fitted = RenderSettings(a=0.002)
    assert fitted.with_(stretch="log").stretch_a == 1000.0
    assert fitted.with_(stretch="log", a=50.0).stretch_a == 50.0
    assert fitted.with_(upper_percent=99.0).a == 0.002


def test_picture_settings_are_the_identity():
    assert PICTURE_SETTINGS.interval == "manual" and PICTURE_SETTINGS.stretch == "linear"


@pytest.mark.parametrize("galaxy_fraction", [0.002, 0.4])
def test_default_settings_put_sky_noise_at_noise_level(galaxy_fraction):
    """Empty sky or a cutout filled by a galaxy: sky + 1 sigma comes out near NOISE_LEVEL."""
    rng = np.random.default_rng(8)
    n = 256
    band = rng.normal(0.0, 1.0, size=(n, n)).astype(np.float32)
    yy, xx = np.mgrid[0:n, 0:n]
    r = np.hypot(xx - n / 2, yy - n / 2)
    radius = np.sqrt(galaxy_fraction * n * n / np.pi)
    band += np.where(r < radius, 2000 * np.exp(-6 * r / radius), 0).astype(np.float32)
    field = field_of(band)
    settings = default_settings(field)
    assert settings.stretch == "asinh" and settings.a is not None
    rgb = render(field, settings)[..., 0]
    far = r > radius + 5
    sky = band[far]
    near_one_sigma = far & (np.abs(band - (np.median(sky) + sky.std())) < 0.05)
    assert near_one_sigma.sum() > 100
    level = rgb[near_one_sigma].mean() / 255
    assert level == pytest.approx(NOISE_LEVEL, abs=0.04)


def test_default_settings_of_a_picture():
    rng = np.random.default_rng(9)
    field = field_of(rng.normal(size=(32, 32)), kind="picture")
    assert default_settings(field) is PICTURE_SETTINGS


@pytest.mark.data
def test_real_hst_cutouts_render_with_visible_sky_and_unsaturated_cores(shared_data):
    for path in sorted((shared_data / "hst" / "abell2744").glob("abell_2744_*_f105w.fits.gz")):
        field = load_field(path)
        rgb = render(field, default_settings(field))[..., 0]
        assert 0.05 < np.median(rgb) / 255 < 0.35, path.name  # dark, not black, sky
        assert (rgb == 255).mean() < 0.002, path.name  # only the brightest cores saturate


def test_large_pixel_offsets_keep_full_precision():
    band = (1e6 + np.linspace(0, 1, 256)).astype(np.float32).reshape(16, 16)
    rgb = render(field_of(band), RenderSettings(interval="minmax", stretch="linear"))
    expected = np.round((band.astype(float) - band.min()) / (band.max() - band.min()) * 255)
    np.testing.assert_array_equal(rgb[..., 0], expected)


@pytest.mark.parametrize(("h", "w", "factor"), [(1500, 1300, 3), (2049, 777, 7), (513, 900, 513)])
def test_block_averaging_strip_by_strip_equals_the_whole_picture(h, w, factor):
    from galaxy_core.display.picture import block_mean_rgb
    from galaxy_core.display.preview import block_mean

    rgb = np.random.default_rng(h).integers(0, 256, (h, w, 3), dtype=np.uint8)
    whole = block_mean(np.moveaxis(rgb, -1, 0).astype(np.float32), factor)
    expected = np.moveaxis(whole + np.float32(0.5), 0, -1).astype(np.uint8)
    assert np.array_equal(block_mean_rgb(rgb, factor), expected)
