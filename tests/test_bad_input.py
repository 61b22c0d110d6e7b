"""A corpus of broken and hostile inputs: each gives GalaxyCoreError with a clear message,
or a correct result where the input is valid.  No warning may escape either way."""

from __future__ import annotations

import gzip
import io
import struct
import warnings
import zipfile
import zlib

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from galaxy_core.display import RenderSettings, default_settings, render
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.load import load_bands, load_field
from tests.support import make_fits_bytes, make_raw_fits, simple_wcs_header

GOOD = np.arange(200, dtype=np.float32).reshape(10, 20)


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose IHDR claims ``width`` x ``height`` (CRC fixed): a bomb's header."""
    raw = bytearray(png_bytes(np.zeros((1, 1), np.uint8)))
    ihdr = raw.index(b"IHDR")
    raw[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    raw[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(raw[ihdr:ihdr + 17])))
    return bytes(raw)


def fz_bytes() -> tuple[bytes, int]:
    """A tile-compressed FITS and the offset of its compressed data."""
    data = (np.arange(100 * 100).reshape(100, 100) % 300).astype(np.int16)
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data)]).writeto(buf)
    raw = buf.getvalue()
    end = raw.find(b"END     ", 2880)
    return raw, (end // 2880 + 1) * 2880


def corrupt_fz() -> bytes:
    raw, start = fz_bytes()
    noise = np.random.default_rng(0).integers(0, 256, len(raw) - start, dtype=np.uint8)
    return raw[:start] + noise.tobytes()


def table_only() -> bytes:
    table = fits.BinTableHDU.from_columns([fits.Column(name="RA", format="D", array=[1.0])])
    return make_fits_bytes(None, extra_hdus=[table])


def write(tmp_path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("field.fits", make_fits_bytes(GOOD))
    return buf.getvalue()


def nan_band_field(tmp_path):
    nan_band = np.full((10, 20), np.nan, np.float32)
    paths = [write(tmp_path, f"{n}.fits", make_fits_bytes(d, {"FILTER": f}))
             for n, d, f in (("r", GOOD, "F814W"), ("g", nan_band, "F606W"), ("b", GOOD, "F435W"))]
    return render(load_bands(paths))


def fifo(tmp_path):
    import os

    path = tmp_path / "pipe.fits"
    os.mkfifo(path)  # opening it would wait for a writer forever
    return path


def gzip_bomb() -> bytes:
    """A .fits.gz of 10,000 image HDUs of 1 MB zeros (10 GB unpacked) in about 10 MB:
    one gzip member, compressed once, repeated."""
    buf = io.BytesIO()
    ext = fits.ImageHDU(np.zeros((512, 512), np.float32))
    fits.HDUList([fits.PrimaryHDU(), ext]).writeto(buf)
    return gzip.compress(buf.getvalue()[:2880]) + gzip.compress(buf.getvalue()[2880:]) * 10_000


def two_sci() -> bytes:
    return make_fits_bytes(None, extra_hdus=[fits.ImageHDU(GOOD, name="SCI", ver=v) for v in (1, 2)])


def scaled_int_path(tmp_path, data: np.ndarray, header: dict):
    """A FITS file on disk (memory-mapped where astropy can) of scaled integers."""
    return write(tmp_path, "scaled.fits", make_fits_bytes(data, header))


def non_ascii_card() -> bytes:
    raw = make_fits_bytes(GOOD, {"OBJECT": "M31"})
    at = raw.index(b"OBJECT  =")
    return raw[:at] + b"OBJECT  = 'caf\xe9'".ljust(80) + raw[at + 80:]


def _unreadable(tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads every file: permissions cannot be tested")
    path = write(tmp_path, "locked.fits", make_fits_bytes(GOOD))
    path.chmod(0)
    return path


def band_on_grid(shift_x: float = 0.0, rotation_deg: float = 0.0) -> bytes:
    """GOOD with a TAN WCS, its reference pixel moved by ``shift_x`` px and its grid rotated."""
    header = simple_wcs_header(20, 10)
    header["CRPIX1"] += shift_x
    if rotation_deg:
        header["CROTA2"] = rotation_deg
    return make_fits_bytes(GOOD, header)


def gif_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (4, 4)).save(buf, format="GIF")
    return buf.getvalue()


#: (id, action(tmp_path), words the message must contain (case-insensitive)).
ERRORS = [
    ("empty bytes", lambda t: load_field(b""), ["empty"]),
    ("empty file", lambda t: load_field(write(t, "x.fits", b"")), ["'x.fits'", "empty"]),
    ("missing file", lambda t: load_field(t / "nope.fits"), ["nope.fits", "does not exist"]),
    ("directory", lambda t: load_field(t), ["is a directory", "not a file"]),
    ("FIFO", lambda t: load_field(fifo(t)), ["'pipe.fits'", "not a regular file"]),
    ("file name too long", lambda t: load_field(t / ("x" * 300 + ".fits")), ["could not"]),
    ("unreadable file", lambda t: load_field(_unreadable(t)), ["could not be opened"]),
    ("text named .fits", lambda t: load_field(write(t, "notes.fits", b"RA DEC\n1 2\n")),
     ["notes.fits", "text file", "FITS"]),
    ("wrong magic bytes", lambda t: load_field(bytes(range(1, 200))), ["not in a format", "FITS"]),
    ("zip archive", lambda t: load_field(zip_bytes()), ["ZIP", "unpack"]),
    ("gif picture", lambda t: load_field(gif_bytes()), ["GIF", "PNG"]),
    ("not bytes or path", lambda t: load_field(12345), ["path", "bytes", "int"]),
    ("truncated FITS data", lambda t: load_field(make_fits_bytes(GOOD)[:3000]), ["truncated"]),
    ("truncated FITS header", lambda t: load_field(make_fits_bytes(GOOD)[:1000]),
     ["not a readable FITS"]),
    ("no image HDU", lambda t: load_field(make_fits_bytes(None)), ["no image"]),
    ("only a table", lambda t: load_field(table_only()), ["only tables", "catalogue"]),
    ("1-D data", lambda t: load_field(make_fits_bytes(np.arange(10, dtype=np.float32))),
     ["1-D", "2-D image"]),
    ("4-D data", lambda t: load_field(make_fits_bytes(np.zeros((2, 3, 4, 5), np.float32))),
     ["5 x 4 x 3 x 2", "4-D"]),
    ("zero-size axis", lambda t: load_field(make_fits_bytes(np.zeros((0, 10), np.float32))),
     ["length 0", "no pixels"]),
    ("negative NAXIS1", lambda t: load_field(make_raw_fits(
        [("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2), ("NAXIS1", -5), ("NAXIS2", 10)])),
     ["invalid NAXIS1", "-5"]),
    ("NAXIS = 1000", lambda t: load_field(make_raw_fits(
        [("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 1000)])), ["invalid NAXIS", "1000"]),
    ("NAXIS1 not a number", lambda t: load_field(make_raw_fits(
        [("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2), ("NAXIS1", "ten"), ("NAXIS2", 10)],
        b"\0" * 2880)), ["invalid NAXIS1", "ten"]),
    ("absurd NAXIS 1e12", lambda t: load_field(make_raw_fits(
        [("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2), ("NAXIS1", 10**12),
         ("NAXIS2", 10**12)])), ["1000000000000 x 1000000000000", "limit"]),
    ("huge declared image", lambda t: load_field(write(t, "big.fits", make_raw_fits(
        [("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2), ("NAXIS1", 100_000),
         ("NAXIS2", 100_000)]))), ["big.fits", "100000 x 100000", "megapixels"]),
    ("huge declared image, gzip", lambda t: load_field(gzip.compress(make_raw_fits(
        [("SIMPLE", True), ("BITPIX", 16), ("NAXIS", 3), ("NAXIS1", 50_000),
         ("NAXIS2", 50_000), ("NAXIS3", 1)]))), ["50000 x 50000 x 1", "limit"]),
    ("huge image in an extension", lambda t: load_field(make_fits_bytes(
        None, extra_hdus=[fits.ImageHDU(np.zeros((100, 100), np.float32))]), max_pixels=5000),
     ["HDU 1", "10,000 pixels", "limit of 5,000 pixels"]),
    ("unsupported BITPIX", lambda t: load_field(make_raw_fits(
        [("SIMPLE", True), ("BITPIX", 12), ("NAXIS", 2), ("NAXIS1", 4), ("NAXIS2", 4)],
        b"\0" * 2880)), ["BITPIX", "12"]),
    ("gzip of garbage", lambda t: load_field(gzip.compress(b"not a fits file at all")),
     ["gzip", "no FITS"]),
    ("corrupt gzip", lambda t: load_field(b"\x1f\x8b\x08\x00garbage-garbage"),
     ["gzip", "could not be decompressed"]),
    ("truncated gzip FITS", lambda t: load_field(write(
        t, "cut.fits.gz", gzip.compress(make_fits_bytes(np.random.default_rng(0).normal(
            size=(100, 100)).astype(np.float32)))[:2000])), ["cut.fits.gz"]),
    ("corrupted .fz", lambda t: load_field(write(t, "bad.fz", corrupt_fz())),
     ["bad.fz", "corrupt"]),
    ("truncated .fz", lambda t: load_field(fz_bytes()[0][:fz_bytes()[1] + 300]), ["truncated"]),
    ("PNG decompression bomb", lambda t: load_field(png_declaring(100_000, 100_000)),
     ["too large", "decompression bomb"]),
    ("PNG over the pixel limit", lambda t: load_field(png_declaring(9000, 8000)),
     ["9000 x 8000", "megapixels"]),
    ("truncated PNG", lambda t: load_field(png_bytes(
        np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))[:300]),
     ["truncated or corrupt"]),
    ("truncated JPEG", lambda t: load_field(write(t, "cut.jpg", _jpeg()[:200])),
     ["cut.jpg", "truncated or corrupt"]),
    ("fully transparent PNG", lambda t: load_field(png_bytes(np.zeros((4, 4, 4), np.uint8))),
     ["no visible pixel"]),
    ("bands of different shapes", lambda t: load_bands(
        [make_fits_bytes(GOOD), make_fits_bytes(GOOD[:5]), make_fits_bytes(GOOD)]),
     ["same size", "R band is 20 x 10", "G band is 20 x 5"]),
    ("broken G band", lambda t: load_bands([make_fits_bytes(GOOD), b"", make_fits_bytes(GOOD)]),
     ["G band", "empty"]),
    ("two bands", lambda t: load_bands([make_fits_bytes(GOOD)] * 2), ["Three files", "got 2"]),
    ("bands on shifted grids", lambda t: load_bands([band_on_grid(), band_on_grid(3.0),
                                                     band_on_grid()]),
     ["not on one pixel grid", "G band", "3.0 px", "Reproject"]),
    ("bands on rotated grids", lambda t: load_bands([band_on_grid(), band_on_grid(),
                                                     band_on_grid(rotation_deg=90.0)]),
     ["not on one pixel grid", "B band"]),
    ("colour picture as a band", lambda t: load_bands(
        [png_bytes(np.zeros((10, 20, 3), np.uint8))] + [make_fits_bytes(GOOD)] * 2),
     ["colour picture", "one-band"]),
    ("NaN-filled band", nan_band_field, ["The G band 'g.fits' (F606W)", "no finite pixels"]),
    ("broken B band names its own file", lambda t: load_bands(
        [write(t, "r.fits", make_fits_bytes(GOOD)), write(t, "g.fits", make_fits_bytes(GOOD)),
         write(t, "b.fits", b"SIMPLE  = junk")]), ["B band: 'b.fits'"]),
    ("gzip bomb", lambda t: load_field(gzip_bomb(), hdu=500, max_pixels=10_000),
     ["unpacks to more than 3 MB", "decompression bomb"]),
    ("ambiguous HDU name", lambda t: load_field(two_sci(), hdu="SCI"),
     ["2 HDUs named 'SCI'", "SCI,1 (HDU 1)", "SCI,2 (HDU 2)"]),
    ("all-NaN field", lambda t: render(load_field(make_fits_bytes(np.full((8, 8), np.nan,
                                                                          np.float32)))),
     ["no finite pixels"]),
    ("HDU on a picture", lambda t: load_field(png_bytes(GOOD.astype(np.uint8)), hdu=1),
     ["FITS files"]),
    ("HDU out of range", lambda t: load_field(make_fits_bytes(GOOD), hdu=3), ["no HDU 3"]),
    ("table HDU by name", lambda t: load_field(make_fits_bytes(None, extra_hdus=[
        fits.BinTableHDU.from_columns([fits.Column(name="A", format="J", array=[1])],
                                      name="CAT")]), hdu="CAT"), ["table", "not an image"]),
    ("manual interval upside down", lambda t: RenderSettings(interval="manual", vmin=5, vmax=1),
     ["vmin < vmax"]),
]


def _jpeg() -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def test_the_corpus_is_big_enough():
    assert len(ERRORS) + len(VALID) >= 20
    assert len({name for name, _, _ in ERRORS}) == len(ERRORS)


@pytest.mark.parametrize(("action", "words"), [pytest.param(a, w, id=i) for i, a, w in ERRORS])
def test_bad_input_gives_one_clear_error(tmp_path, action, words):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no astropy/PIL/numpy warning may escape
        with pytest.raises(GalaxyCoreError) as err:
            action(tmp_path)
    message = str(err.value)
    for word in words:
        assert word.lower() in message.lower(), message
    assert len(message) < 500 and "Traceback" not in message
    assert message[0].isupper() or message[0] == "'"


def check_constant(field):
    rgb = render(field, default_settings(field))
    assert len(np.unique(rgb)) == 1 and not field.mask.any()


def check_inf_masked(field):
    assert np.isnan(field.data[0, 2, 3]) and np.isnan(field.data[0, 4, 5])
    rgb = render(field, default_settings(field))
    assert (rgb[2, 3] == 0).all() and (rgb[4, 5] == 0).all() and rgb[9, 19].any()


def check_16_bit(field):
    assert field.data.shape == (1, 1, 3)
    np.testing.assert_allclose(field.data[0, 0], [0.0, 1000 / 65535, 1.0], rtol=1e-6)


HOSTILE = "<script>alert('x')</script><b onmouseover=alert(1)>M31</b>"


def check_hostile_header(field):
    assert field.header["OBJECT"] == HOSTILE  # returned as is; escaping is the UI's job
    assert field.data.shape == (1, 10, 20)


def check_good(field):
    np.testing.assert_array_equal(field.data[0], GOOD)


def inf_fits() -> bytes:
    data = GOOD.copy()
    data[2, 3], data[4, 5] = np.inf, -np.inf
    return make_fits_bytes(data)


def big_endian_int32() -> bytes:
    return make_fits_bytes(np.array([[-(2**31), 0, 2**31 - 1]], dtype=">i4"))


def long_string_header() -> bytes:
    return make_fits_bytes(GOOD, {"OBJECT": "x" * 300, "COMMENT": "é is not ASCII".encode(
        "ascii", "replace").decode()})


#: (id, source(tmp_path), load options, check(field)): odd but valid input.
VALID = [
    ("constant image", lambda t: make_fits_bytes(np.full((10, 20), 7.0, np.float32)), {},
     check_constant),
    ("inf pixels", lambda t: inf_fits(), {}, check_inf_masked),
    ("16-bit PNG", lambda t: png_bytes(np.array([[0, 1000, 65535]], np.uint16)), {},
     check_16_bit),
    ("HTML/script in OBJECT", lambda t: make_fits_bytes(GOOD, {"OBJECT": HOSTILE}), {},
     check_hostile_header),
    ("gzip FITS without .gz suffix", lambda t: write(t, "plain.fits",
                                                     gzip.compress(make_fits_bytes(GOOD))), {},
     check_good),
    ("FITS named .png", lambda t: write(t, "field.png", make_fits_bytes(GOOD)), {}, check_good),
    ("trailing junk after the last HDU", lambda t: make_fits_bytes(GOOD) + b"\0junk" * 100, {},
     check_good),
    ("long string header", lambda t: long_string_header(), {}, check_good),
    ("exactly at the pixel limit", lambda t: make_fits_bytes(GOOD), {"max_pixels": 200},
     check_good),
    ("big-endian int32 extremes", lambda t: big_endian_int32(), {},
     lambda f: np.testing.assert_array_equal(f.data[0, 0], [-(2.0**31), 0.0, 2.0**31])),
    ("uint16 FITS from a path", lambda t: scaled_int_path(
        t, np.array([[0, 40000, 65535]], np.uint16), {}), {},
     lambda f: np.testing.assert_array_equal(f.data[0, 0], [0.0, 40000.0, 65535.0])),
    ("int16 with BLANK and BSCALE/BZERO from a path", lambda t: scaled_int_path(
        t, np.array([[1, -99, 3]], np.int16), {"BLANK": -99, "BSCALE": 2.0, "BZERO": 1.0}), {},
     lambda f: np.testing.assert_array_equal(f.data[0, 0], [3.0, np.nan, 7.0])),
    ("non-ASCII byte in a header card", lambda t: non_ascii_card(), {},
     lambda f: (check_good(f), f.header["OBJECT"] == "caf?" or pytest.fail(f.header["OBJECT"]))),
    ("HTML in the file name", lambda t: write(t, "<img src=x onerror=alert(1)>.fits",
                                              make_fits_bytes(GOOD)), {},
     lambda f: f.name == "<img src=x onerror=alert(1)>" or pytest.fail(f.name)),
]


@pytest.mark.parametrize(("source", "options", "check"),
                         [pytest.param(s, o, c, id=i) for i, s, o, c in VALID])
def test_odd_but_valid_input_is_read_correctly(tmp_path, source, options, check):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        field = load_field(source(tmp_path), **options)
        check(field)


def test_bands_on_one_grid_or_without_a_reference_wcs_are_stacked():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aligned = load_bands([band_on_grid(), band_on_grid(0.2), band_on_grid()])  # 0.2 px: one grid
        assert aligned.data.shape == (3, 10, 20) and aligned.wcs is not None
        # without a WCS in the R band (the field's own) nothing can be compared
        unchecked = load_bands([make_fits_bytes(GOOD), band_on_grid(), band_on_grid(5.0)])
        assert unchecked.data.shape == (3, 10, 20) and unchecked.wcs is None
    # a band without WCS is skipped, the others are still compared with R
    with pytest.raises(GalaxyCoreError, match="B band lie up to 5.0 px"):
        load_bands([band_on_grid(), make_fits_bytes(GOOD), band_on_grid(5.0)])
