"""Read a PNG, JPEG or TIFF picture into a Field with Pillow.

Grey pictures (1, 8 or 16 bit) give one band, colour ones (RGB, RGBA, palette,
CMYK, ...) three, always scaled to [0, 1] float32 by the format's full range
(255, 65535); a 32-bit float TIFF is scaled by its finite min and max.  Pillow
decodes 16-bit colour PNGs at 8 bits per channel, so they keep 1/255 precision
(plenty for a picture that is shown as it is; science data belongs in FITS).  Fully
transparent pixels (alpha 0) become NaN, the project's masked pixels; other
alpha values are ignored.

The size is checked from the file's header before any pixel is decoded, and
Pillow's decompression-bomb guard is kept on: its warning is an error here.
Row 0 of the result is the picture's top row.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.fits import pixel_count_text
from galaxy_core.types import Field

Source = str | Path | bytes

ACCEPTED = "PNG, JPEG or TIFF"
_FORMATS = ("PNG", "JPEG", "TIFF", "MPO")


def read_picture(
    source: Source, *, name: str, max_pixels: int, label: str | None = None
) -> Field:
    """A picture file as ``Field(kind="picture")`` with pixels in [0, 1].

    Args:
        source: a path, or the file's bytes.
        name: the Field's name.
        max_pixels: refuse pictures with more pixels than this (checked before decoding).
        label: how messages name the file.
    """
    label = label or (f"'{Path(source).name}'" if isinstance(source, str | Path) else "The upload")
    fp = io.BytesIO(source) if isinstance(source, bytes | bytearray | memoryview) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fp) as img:
                _check_size(img, label, max_pixels)
                if img.format not in _FORMATS:
                    raise GalaxyCoreError(
                        f"{label} is a {img.format} picture; accepted are {ACCEPTED}."
                    )
                fmt, mode, size = img.format, img.mode, img.size
                img.seek(0)
                img.load()
                img = _upright(img)
                data = _to_array(img, label)
    except GalaxyCoreError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise GalaxyCoreError(
            f"{label} declares a picture too large to decode safely (a possible "
            f"decompression bomb; Pillow's limit is {Image.MAX_IMAGE_PIXELS} pixels)."
        ) from err
    except MemoryError as err:
        raise GalaxyCoreError(f"{label} is too large to decode in memory.") from err
    except Exception as err:
        raise GalaxyCoreError(
            f"{label} could not be read as a picture ({_short(err)}). The file may be "
            f"truncated or corrupt; accepted are {ACCEPTED}."
        ) from err
    header = {"FORMAT": str(fmt), "MODE": str(mode), "WIDTH": str(size[0]),
              "HEIGHT": str(size[1])}
    bands = ("grey",) if data.shape[0] == 1 else ("R", "G", "B")
    return Field(data=data, header=header, name=name, kind="picture", band_names=bands)


def read_rgb(path: str | Path) -> np.ndarray:
    """A cutout picture as uint8 RGB (H, W, 3) as Pillow converts it (grey repeated, alpha
    dropped); GalaxyCoreError naming the file if unreadable.  For classifier inputs and
    training images; fields go through :func:`read_picture`."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as err:  # UnidentifiedImageError is an OSError
        raise GalaxyCoreError(f"Cannot read image {str(path)!r}: {err}") from err


def _check_size(img: Image.Image, label: str, max_pixels: int) -> None:
    width, height = img.size
    if width <= 0 or height <= 0:
        raise GalaxyCoreError(f"{label} declares an empty picture ({width} x {height} pixels).")
    if width * height > max_pixels:
        raise GalaxyCoreError(
            f"{label} is {width} x {height} = {pixel_count_text(width * height)}, more than "
            f"the limit of {pixel_count_text(max_pixels)}. Use a smaller picture."
        )


def _upright(img: Image.Image) -> Image.Image:
    """Apply an EXIF orientation tag (cameras, phones); pictures without one are unchanged."""
    try:
        return ImageOps.exif_transpose(img) or img
    except Exception:  # a broken EXIF block is no reason to refuse the picture
        return img


def _to_array(img: Image.Image, label: str) -> np.ndarray:
    """(1 or 3, H, W) float32 in [0, 1], NaN where alpha is 0."""
    mode = img.mode
    alpha = None
    if mode in ("P", "PA"):
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("LA", "RGBA", "La", "RGBa"):
        alpha = np.asarray(img.getchannel("A"))
        img = img.convert("L" if mode.startswith("L") else "RGB")
        mode = img.mode
    if mode in ("1", "L"):
        grey = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
        data = grey[None]
    elif mode.startswith("I;16"):
        data = (np.asarray(img).astype(np.float32) / 65535.0)[None]
    elif mode == "I":
        values = np.asarray(img).astype(np.float64)
        top = 65535.0 if values.min(initial=0) >= 0 and values.max(initial=0) <= 65535 else None
        data = _scale_minmax(values)[None] if top is None else (values / top)[None]
    elif mode == "F":
        data = _scale_minmax(np.asarray(img).astype(np.float64))[None]
    else:
        rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
        data = np.moveaxis(rgb, -1, 0)
    data = np.ascontiguousarray(data, dtype=np.float32)
    if alpha is not None:
        data[:, alpha == 0] = np.nan
    if not np.isfinite(data).any():
        raise GalaxyCoreError(f"{label} has no visible pixel (fully transparent or all NaN).")
    return data


def _scale_minmax(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    if not finite.any():
        return np.full(values.shape, np.nan, dtype=np.float32)
    lo, hi = float(values[finite].min()), float(values[finite].max())
    span = hi - lo if hi > lo else 1.0
    out = ((values - lo) / span).astype(np.float32)
    out[~finite] = np.nan
    return out


def _short(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:200]
