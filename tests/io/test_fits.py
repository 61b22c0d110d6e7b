"""Reading FITS images: formats, scaling, masking, shapes, HDUs, WCS, size limit."""

from __future__ import annotations

import gzip
import io
import warnings

import numpy as np
import pytest
from astropy.io import fits

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.fits import list_hdus, read_fits_image
from galaxy_core.io.load import MAX_PIXELS, hdus_of, load_field
from tests.support import make_fits_bytes, simple_wcs_header


def ramp(h: int = 20, w: int = 30) -> np.ndarray:
    return np.arange(h * w, dtype=np.float32).reshape(h, w) / 7.0


def test_big_endian_float_becomes_native_float32_with_same_values():
    data = ramp().astype(">f4")
    field = load_field(make_fits_bytes(data))
    assert field.data.dtype == np.float32
    assert field.data.dtype.byteorder in ("=", "<")
    assert field.data.shape == (1, 20, 30)
    np.testing.assert_array_equal(field.data[0], data.astype(np.float32))
    assert field.kind == "fits"


def test_float64_image_is_read_as_float32():
    data = ramp().astype(">f8") * 1e-3
    field = load_field(make_fits_bytes(data))
    np.testing.assert_allclose(field.data[0], data, rtol=1e-6)


def test_path_and_bytes_give_the_same_field(tmp_path):
    raw = make_fits_bytes(ramp())
    path = tmp_path / "deep_field.fits"
    path.write_bytes(raw)
    from_path, from_bytes = load_field(path), load_field(raw)
    np.testing.assert_array_equal(from_path.data, from_bytes.data)
    assert from_path.name == "deep_field"
    assert from_bytes.name == "upload"
    assert load_field(raw, name="mine").name == "mine"


@pytest.mark.parametrize("as_bytes", [False, True])
def test_gzip_fits(tmp_path, as_bytes):
    raw = gzip.compress(make_fits_bytes(ramp()))
    path = tmp_path / "field.fits.gz"
    path.write_bytes(raw)
    field = load_field(raw if as_bytes else path)
    np.testing.assert_array_equal(field.data[0], ramp())
    if not as_bytes:
        assert field.name == "field"


def test_tile_compressed_fz_integer_image_is_lossless(tmp_path):
    data = (np.arange(40 * 50).reshape(40, 50) % 1000).astype(np.int16)
    path = tmp_path / "field.fits.fz"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, compression_type="RICE_1")]).writeto(path)
    field = load_field(path)
    np.testing.assert_array_equal(field.data[0], data.astype(np.float32))
    infos = list_hdus(path, max_pixels=MAX_PIXELS)
    assert [i.kind for i in infos] == ["empty", "compressed image"]
    assert infos[1].usable and infos[1].shape == (40, 50)


def test_bscale_bzero_give_physical_values():
    raw_values = np.array([[0, 1, 2], [-3, 100, 32767]], dtype=np.int16)
    hdu = fits.PrimaryHDU(raw_values)
    hdu.header["BSCALE"] = 0.5
    hdu.header["BZERO"] = 10.0
    buf = io.BytesIO()
    hdu.writeto(buf)
    # astropy must not rescale what it writes: check the file holds the raw integers
    with fits.open(io.BytesIO(buf.getvalue()), do_not_scale_image_data=True) as hdul:
        np.testing.assert_array_equal(hdul[0].data, raw_values)
    field = load_field(buf.getvalue())
    np.testing.assert_allclose(field.data[0], raw_values * 0.5 + 10.0)


def test_unsigned_16_bit_via_bzero():
    data = np.array([[0, 40000, 65535]], dtype=np.uint16)
    field = load_field(make_fits_bytes(data))
    np.testing.assert_array_equal(field.data[0], data.astype(np.float32))


def test_integer_blank_becomes_nan():
    data = np.array([[1, -999, 3], [4, 5, -999]], dtype=np.int32)
    field = load_field(make_fits_bytes(data, {"BLANK": -999}))
    assert np.isnan(field.data[0, 0, 1]) and np.isnan(field.data[0, 1, 2])
    assert field.data[0, 1, 1] == 5.0
    assert int(field.mask.sum()) == 2


def test_nan_and_inf_are_masked_as_nan():
    data = ramp()
    data[1, 2], data[3, 4], data[5, 6] = np.nan, np.inf, -np.inf
    field = load_field(make_fits_bytes(data))
    assert np.isnan(field.data[0, [1, 3, 5], [2, 4, 6]]).all()
    assert int(field.mask.sum()) == 3
    assert np.isfinite(field.data[0, 0, 0])


@pytest.mark.parametrize("shape", [(1, 20, 30), (1, 1, 20, 30), (20, 1, 30)])
def test_length_one_axes_are_squeezed(shape):
    data = ramp().reshape(shape)
    field = load_field(make_fits_bytes(data))
    assert field.data.shape == (1, 20, 30)
    np.testing.assert_array_equal(field.data[0], ramp())


def test_real_cube_is_refused_naming_its_shape():
    with pytest.raises(GalaxyCoreError, match=r"30 x 20 x 3"):
        load_field(make_fits_bytes(np.zeros((3, 20, 30), np.float32)))


def _multi_extension() -> bytes:
    table = fits.BinTableHDU.from_columns([fits.Column(name="ID", format="J", array=[1, 2])],
                                          name="CAT")
    sci1 = fits.ImageHDU(ramp(), name="SCI", ver=1)
    sci2 = fits.ImageHDU(ramp() * 2, name="SCI", ver=2)
    wht = fits.ImageHDU(np.ones((20, 30), np.float32), name="WHT")
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table, sci1, sci2, wht]).writeto(buf)
    return buf.getvalue()


def test_default_is_first_image_hdu_with_2d_data():
    field = load_field(_multi_extension())
    np.testing.assert_array_equal(field.data[0], ramp())


@pytest.mark.parametrize(("hdu", "factor"), [(3, 2.0), ("WHT", None), ("sci,2", 2.0), ("SCI,1", 1.0)])
def test_hdu_by_index_or_name(hdu, factor):
    field = load_field(_multi_extension(), hdu=hdu)
    expected = np.ones((20, 30), np.float32) if factor is None else ramp() * factor
    np.testing.assert_array_equal(field.data[0], expected)


def test_list_hdus_describes_every_hdu():
    infos = hdus_of(_multi_extension())
    assert [(i.index, i.name, i.kind, i.usable) for i in infos] == [
        (0, "PRIMARY", "empty", False),
        (1, "CAT", "table", False),
        (2, "SCI", "image", True),
        (3, "SCI,2", "image", True),
        (4, "WHT", "image", True),
    ]
    assert infos[2].shape == (20, 30)
    assert "30x20" in str(infos[2])


@pytest.mark.parametrize(("hdu", "words"), [
    (9, ["no HDU 9", "0 to 4"]),
    (-1, ["no HDU -1", "0 to 4"]),
    ("SCI", ["2 HDUs named 'SCI'", "SCI,1 (HDU 2)", "SCI,2 (HDU 3)", "index"]),
    ("SCI,3", ["no HDU named", "SCI,3"]),
    ("NOPE", ["no HDU named", "NOPE", "SCI"]),
    (1, ["table", "not an image"]),
])
def test_bad_hdu_choice_explains(hdu, words):
    with pytest.raises(GalaxyCoreError) as err:
        load_field(_multi_extension(), hdu=hdu)
    for word in words:
        assert word in str(err.value)


def test_valid_wcs_is_kept_and_gives_sky_positions():
    field = load_field(make_fits_bytes(ramp(), simple_wcs_header(30, 20)))
    assert field.wcs is not None and field.wcs.pixel_n_dim == 2
    sky = field.wcs.pixel_to_world(14.5, 9.5)  # the reference pixel (CRPIX is 1-based)
    assert sky.spherical.lon.deg == pytest.approx(150.0)
    assert sky.spherical.lat.deg == pytest.approx(2.0)
    one_px = field.wcs.pixel_to_world(15.5, 9.5).separation(sky).arcsec
    assert one_px == pytest.approx(0.05, rel=1e-3)


def test_wcs_of_a_squeezed_cube_is_its_celestial_part():
    header = simple_wcs_header(30, 20) | {"CTYPE3": "FREQ", "CRVAL3": 1e9, "CDELT3": 1e6,
                                           "CRPIX3": 1.0}
    field = load_field(make_fits_bytes(ramp()[None], header))
    assert field.wcs is not None and field.wcs.naxis == 2
    assert field.wcs.pixel_to_world(14.5, 9.5).spherical.lon.deg == pytest.approx(150.0)


@pytest.mark.parametrize("header", [
    {},
    {"CTYPE1": "RA---XYZ", "CTYPE2": "DEC--XYZ", "CRVAL1": 1.0, "CRVAL2": 2.0},
    {"CTYPE1": "LINEAR", "CTYPE2": "LINEAR"},
    simple_wcs_header(30, 20) | {"CRVAL2": 95.0},  # declination beyond the pole
])
def test_missing_or_invalid_wcs_gives_none(header):
    field = load_field(make_fits_bytes(ramp(), header))
    assert field.wcs is None
    assert field.data.shape == (1, 20, 30)


def test_header_values_are_strings_with_history_joined():
    raw = make_fits_bytes(ramp(), {"OBJECT": "Abell 2744", "EXPTIME": 1200.5, "FILTER": "F105W",
                                   "HISTORY": "first"})
    field = load_field(raw)
    assert field.header["OBJECT"] == "Abell 2744"
    assert field.header["EXPTIME"] == "1200.5"
    assert field.header["NAXIS1"] == "30"
    assert all(isinstance(v, str) for v in field.header.values())
    assert field.band_names == ("F105W",)


def test_pixel_limit_is_checked_before_reading(tmp_path):
    raw = make_fits_bytes(ramp(100, 100))
    assert load_field(raw, max_pixels=10_000).height == 100
    with pytest.raises(GalaxyCoreError, match="100 x 100 pixels, more than the limit of 9,999 pixels"):
        load_field(raw, max_pixels=9_999)
    # only the header exists: the data would be 8 GB, the limit must trip first
    header_only = make_fits_bytes(np.zeros((10, 10), np.float32))[:2880]
    header_only = header_only.replace(b"NAXIS1  =                   10",
                                      b"NAXIS1  =               200000")
    header_only = header_only.replace(b"NAXIS2  =                   10",
                                      b"NAXIS2  =                10000")
    with pytest.raises(GalaxyCoreError, match="200000 x 10000"):
        load_field(header_only)
    assert MAX_PIXELS == 64 * 1024 * 1024


def test_read_fits_image_reports_hdu_and_band():
    image = read_fits_image(_multi_extension(), hdu="WHT", max_pixels=MAX_PIXELS)
    assert image.hdu_index == 4
    assert "hdu=4" in repr(image)


@pytest.mark.data
def test_real_hst_cutout(shared_data):
    path = shared_data / "hst" / "abell2744" / "abell_2744_cd_galaxy_f105w.fits.gz"
    field = load_field(path)
    assert field.data.shape == (1, 400, 400)
    assert field.band_names == ("F105W",)
    assert np.isfinite(field.data).all()
    sky = field.wcs.pixel_to_world(200, 200)
    assert sky.spherical.lon.deg == pytest.approx(3.59, abs=0.02)  # Abell 2744
    assert sky.spherical.lat.deg == pytest.approx(-30.39, abs=0.02)


@pytest.mark.data
def test_real_catalogue_fits_is_refused_as_table_only(shared_data):
    with pytest.raises(GalaxyCoreError, match="only tables"):
        load_field(shared_data / "hst" / "cosmos" / "real_galaxy_catalog_23.5_example.fits")


def test_same_name_and_version_twice_is_refused_with_the_indices():
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(ramp(), name="SCI"),
                  fits.ImageHDU(ramp() * 2, name="SCI")]).writeto(buf)
    with pytest.raises(GalaxyCoreError, match=r"SCI,1 \(HDU 1\), SCI,1 \(HDU 2\)"):
        load_field(buf.getvalue(), hdu="sci,1")
    np.testing.assert_array_equal(load_field(buf.getvalue(), hdu=2).data[0], ramp() * 2)


def _scaled_integer_files() -> dict[str, tuple[bytes, np.ndarray]]:
    """FITS bytes of scaled integer images and the physical values each must read as."""
    unsigned = np.array([[0, 40000, 65535]], dtype=np.uint16)
    blank = fits.PrimaryHDU(np.array([[1, -999, 3], [4, 5, -999]], dtype=np.int16))
    blank.header.update(BLANK=-999, BSCALE=0.5, BZERO=10.0)
    buf = io.BytesIO()
    blank.writeto(buf)
    scaled = np.array([[10.5, np.nan, 11.5], [12.0, 12.5, np.nan]], np.float32)
    return {"uint16 via BZERO": (make_fits_bytes(unsigned), unsigned.astype(np.float32)),
            "int16 with BLANK, BSCALE, BZERO": (buf.getvalue(), scaled)}


@pytest.mark.parametrize("case", ["uint16 via BZERO", "int16 with BLANK, BSCALE, BZERO"])
def test_scaled_integers_read_the_same_from_a_path_as_uploaded(tmp_path, case):
    raw, expected = _scaled_integer_files()[case]
    path = tmp_path / "scaled.fits"
    path.write_bytes(raw)
    for source in (path, raw):  # astropy cannot scale a memory map: the path used to fail
        np.testing.assert_array_equal(load_field(source).data[0], expected)


def test_unsigned_16_bit_blank_is_masked_after_scaling():
    """BLANK is a stored value: with BZERO = 32768 it stands for BLANK + 32768."""
    raw = bytearray(make_fits_bytes(np.array([[0, 7, 65535]], dtype=np.uint16)))
    end = raw.index(b"END     ")
    raw[end:end + 160] = b"BLANK   = -32768".ljust(80) + b"END".ljust(80)
    field = load_field(bytes(raw))
    assert np.isnan(field.data[0, 0, 0])
    np.testing.assert_array_equal(field.data[0, 0, 1:], [7.0, 65535.0])


def _with_card(raw: bytes, old: bytes, new: bytes) -> bytes:
    """``raw`` with the 80-byte card starting ``old`` replaced by ``new`` (padded)."""
    at = raw.index(old)
    return raw[:at] + new.ljust(80) + raw[at + 80:]


@pytest.mark.parametrize("as_path", [False, True])
def test_odd_header_cards_are_read_and_reported_as_notes(tmp_path, as_path):
    raw = make_fits_bytes(ramp(), {"OBJECT": "M31", "EXPTIME": 1200.0, "FILTER": "F105W"})
    raw = _with_card(raw, b"OBJECT  =", b"OBJECT  = 'M31 caf\xe9'")  # one latin-1 byte
    raw = _with_card(raw, b"EXPTIME =", b"EXPTIME = 12.5.3 / not a number")
    path = tmp_path / "odd.fits"
    path.write_bytes(raw)
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may escape as a Python warning
        field = load_field(path if as_path else raw, notes=notes)
    np.testing.assert_array_equal(field.data[0], ramp())
    assert field.header["OBJECT"] == "M31 caf?" and "12.5.3" in field.header["EXPTIME"]
    assert field.band_names == ("F105W",)
    assert len(notes) == 2
    assert "not ASCII" in notes[0] and "HDU 0" in notes[0]
    assert "EXPTIME" in notes[1] and "raw text" in notes[1]
    assert notes[0].startswith("'odd.fits'" if as_path else "The uploaded file")


def test_a_clean_header_gives_no_note():
    notes: list[str] = []
    load_field(make_fits_bytes(ramp(), simple_wcs_header(30, 20) | {"OBJECT": "M31"}), notes=notes)
    assert notes == []


def _gzip_bomb(n_extensions: int, side: int) -> bytes:
    """A .fits.gz of an empty primary and ``n_extensions`` zero images of side x side float32,
    written as concatenated gzip members: one extension compressed once and repeated, so
    gigabytes unpacked cost a few megabytes here."""
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((side, side), np.float32),
                                                   name="SCI")]).writeto(buf)
    extension = buf.getvalue()[2880:]
    return gzip.compress(buf.getvalue()[:2880]) + gzip.compress(extension, 9) * n_extensions


def test_gzip_bomb_is_refused_after_bounded_work(tmp_path):
    import time

    from galaxy_core.io.fits import unpack_limit

    bomb = _gzip_bomb(10_000, 512)  # 10,000 x 1 MB: 10 GB unpacked from about 10 MB
    path = tmp_path / "bomb.fits.gz"
    path.write_bytes(bomb)
    limit = 512 * 512  # pixels: unpacked no further than 12 * limit + 2.9 MB (about 6 MB)
    for source in (path, bomb):
        start = time.perf_counter()
        # the wanted image comes first: nothing after it is unpacked
        assert load_field(source, max_pixels=limit).data.shape == (1, 512, 512)
        assert load_field(source, hdu=2, max_pixels=limit).data.shape == (1, 512, 512)
        for hdu in (9000, "SCI"):  # deep in the file, or a name looked up in every HDU
            with pytest.raises(GalaxyCoreError, match="unpacks to more than 6 MB") as err:
                load_field(source, hdu=hdu, max_pixels=limit)
            assert "decompression bomb" in str(err.value)
        with pytest.raises(GalaxyCoreError, match="unpacks to more than"):
            hdus_of(source, max_pixels=limit)
        # unpacking all of it takes minutes (GzipFile: about 100 MB/s here)
        assert time.perf_counter() - start < 20
    assert unpack_limit(limit) < 6_100_000


def test_gzip_limit_follows_the_pixel_limit():
    """A legitimate .fits.gz three images deep within the limit is read whole."""
    raw = gzip.compress(make_fits_bytes(None, extra_hdus=[
        fits.ImageHDU(ramp(200, 200) * k) for k in (1, 2, 3)]))
    field = load_field(raw, hdu=3, max_pixels=200 * 200)
    np.testing.assert_allclose(field.data[0], ramp(200, 200) * 3)


def test_zero_padding_after_the_image_is_never_unpacked():
    """10 GB of zeros after a small image (gzip members of 1 MB zeros, repeated): the image
    is read; with a limit of 600 px nothing past 2.9 MB may be unpacked."""
    padded = gzip.compress(make_fits_bytes(ramp())) + gzip.compress(bytes(1 << 20)) * 10_000
    field = load_field(padded, max_pixels=600)
    np.testing.assert_array_equal(field.data[0], ramp())
    with pytest.raises(GalaxyCoreError, match="unpacks to more than 3 MB"):  # astropy looks
        load_field(padded, hdu=1, max_pixels=600)  # for an END card in the zeros: bounded too
