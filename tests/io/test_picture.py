"""Reading PNG, JPEG and TIFF pictures into fields."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from galaxy_core.display import PICTURE_SETTINGS, default_settings, render
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.load import load_field


def picture_bytes(image: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    return buf.getvalue()


def rgb_array(h: int = 12, w: int = 16) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_8_bit_rgb_lossless_formats_are_exact(fmt):
    pixels = rgb_array()
    field = load_field(picture_bytes(Image.fromarray(pixels), fmt))
    assert field.kind == "picture"
    assert field.data.shape == (3, 12, 16)
    np.testing.assert_array_equal(field.data, np.moveaxis(pixels, -1, 0) / np.float32(255))
    assert field.band_names == ("R", "G", "B")
    assert field.header["FORMAT"] == fmt


def test_row_zero_is_the_top_row():
    pixels = np.zeros((4, 5), dtype=np.uint8)
    pixels[0] = 255
    field = load_field(picture_bytes(Image.fromarray(pixels), "PNG"))
    assert (field.data[0, 0] == 1.0).all() and (field.data[0, 1:] == 0.0).all()


def test_jpeg_rgb_is_close():
    pixels = np.full((16, 16, 3), (200, 100, 50), dtype=np.uint8)
    field = load_field(picture_bytes(Image.fromarray(pixels), "JPEG", quality=95))
    np.testing.assert_allclose(field.data[:, 8, 8], [200 / 255, 100 / 255, 50 / 255], atol=0.02)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF"])
def test_grey_picture_gives_one_band(fmt):
    pixels = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (8, 1))
    field = load_field(picture_bytes(Image.fromarray(pixels, mode="L"), fmt))
    assert field.data.shape == (1, 8, 16)
    np.testing.assert_allclose(field.data[0], pixels / 255.0, atol=0.03 if fmt == "JPEG" else 0)
    assert field.band_names == ("grey",)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_grey_uses_the_full_16_bit_range(fmt):
    pixels = np.array([[0, 256, 32768, 65535]], dtype=np.uint16)
    field = load_field(picture_bytes(Image.fromarray(pixels), fmt))
    assert field.data.shape == (1, 1, 4)
    np.testing.assert_allclose(field.data[0, 0], pixels[0] / 65535.0, rtol=1e-6)
    assert field.data[0, 0, 1] > 0  # not truncated to 8 bits


def test_rgba_transparent_pixels_are_masked():
    pixels = np.zeros((6, 6, 4), dtype=np.uint8)
    pixels[..., :3] = 120
    pixels[..., 3] = 255
    pixels[0, 0, 3] = 0
    pixels[1, 1, 3] = 128  # half transparent: kept
    field = load_field(picture_bytes(Image.fromarray(pixels, mode="RGBA"), "PNG"))
    assert field.data.shape == (3, 6, 6)
    assert np.isnan(field.data[:, 0, 0]).all()
    assert field.data[0, 1, 1] == pytest.approx(120 / 255)
    assert int(field.mask.sum()) == 3
    assert (render(field, default_settings(field))[0, 0] == 0).all()


def test_palette_picture_keeps_its_colours():
    image = Image.new("P", (4, 2))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putdata([0, 1, 0, 1, 1, 0, 1, 0])
    field = load_field(picture_bytes(image, "PNG"))
    np.testing.assert_array_equal(field.data[:, 0, 0], [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(field.data[:, 0, 1], [0.0, 0.0, 1.0])


def test_one_bit_picture():
    image = Image.new("1", (8, 4), 0)
    image.putpixel((3, 2), 1)
    field = load_field(picture_bytes(image, "PNG"))
    assert field.data.shape == (1, 4, 8)
    assert field.data[0, 2, 3] == 1.0 and field.data.sum() == 1.0


def test_picture_renders_as_it_is_by_default():
    pixels = rgb_array()
    field = load_field(picture_bytes(Image.fromarray(pixels), "PNG"))
    assert default_settings(field) == PICTURE_SETTINGS
    np.testing.assert_array_equal(render(field, default_settings(field)), pixels)


def test_format_comes_from_content_not_name(tmp_path):
    path = tmp_path / "looks_like.fits"
    path.write_bytes(picture_bytes(Image.fromarray(rgb_array()), "PNG"))
    field = load_field(path)
    assert field.kind == "picture" and field.name == "looks_like"


def test_pixel_limit_checked_before_decoding():
    raw = picture_bytes(Image.fromarray(rgb_array(100, 100)), "PNG")
    assert load_field(raw, max_pixels=10_000).width == 100
    with pytest.raises(GalaxyCoreError, match="100 x 100 = 10,000 pixels"):
        load_field(raw, max_pixels=9_999)


@pytest.mark.data
def test_real_hubble_press_jpeg(shared_data):
    path = shared_data / "hst" / "astrocv" / "galaxies3.jpg"
    field = load_field(path)
    assert field.kind == "picture" and field.n_bands == 3
    assert 0.0 <= float(np.nanmin(field.data)) and float(np.nanmax(field.data)) <= 1.0
    with Image.open(path) as image:
        assert (field.width, field.height) == image.size


def png_16_bit_rgb(pixels: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG written by hand (Pillow cannot write one)."""
    import struct
    import zlib

    h, w, _ = pixels.shape
    raw = b"".join(b"\0" + pixels[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def test_16_bit_colour_png_is_read_at_8_bit_precision():
    pixels = np.array([[[0, 1000, 65535], [65535, 0, 30000]]], dtype=np.uint16)
    field = load_field(png_16_bit_rgb(pixels))
    assert field.data.shape == (3, 1, 2)
    np.testing.assert_allclose(np.moveaxis(field.data, 0, -1), pixels / 65535.0, atol=1 / 255)
