"""FITS images too large to hold in memory, read in strips of rows (Hubble mosaics).

A :class:`LazyField` stands for a field whose pixels stay on disk: an
uncompressed FITS image HDU (one band, or three files as R, G, B on one grid),
read row band by row band with plain file reads (no memory map, so a scan of a
1.6 GB mosaic does not stay resident).  Scaled integers (BSCALE, BZERO, BLANK)
give physical values; NaN, inf and BLANK become NaN as in
:mod:`galaxy_core.io.fits`.  Compressed files (``.gz``, ``.fz``) cannot be read
this way: unpack them first (``funpack``, ``gunzip``).

>>> lazy = open_lazy_field("mosaic.fits")          # doctest: +SKIP
>>> window = lazy.window(0, 512)                   # a Field: rows 0-511, all columns  # doctest: +SKIP
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import Field

#: Rows read to measure a lazy field's stretch (evenly spaced over its height).
SAMPLE_ROWS = 512
_DTYPES = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


@dataclass(frozen=True)
class FitsBand:
    """One uncompressed 2-D FITS image HDU on disk.

    Attributes:
        path: the file.
        offset: byte offset of the HDU's data in the file.
        dtype: the stored big-endian dtype (from BITPIX).
        height, width: rows and columns.
        bscale, bzero: physical = bscale * stored + bzero.
        blank: the stored value of masked pixels (integer images), or None.
    """

    path: Path
    offset: int
    dtype: str
    height: int
    width: int
    bscale: float = 1.0
    bzero: float = 0.0
    blank: int | None = None

    def rows(self, y0: int, y1: int) -> np.ndarray:
        """Rows ``y0:y1`` as native float32 (rows, width), NaN where masked."""
        itemsize = np.dtype(self.dtype).itemsize
        count = (y1 - y0) * self.width
        with open(self.path, "rb") as fh:
            fh.seek(self.offset + y0 * self.width * itemsize)
            raw = np.fromfile(fh, dtype=self.dtype, count=count)
        if raw.size != count:
            raise GalaxyCoreError(f"'{self.path.name}' is truncated: rows {y0}-{y1} are missing.")
        if self.bscale != 1.0 or self.bzero != 0.0:
            out = (raw.astype(np.float64) * self.bscale + self.bzero).astype(np.float32)
        else:
            out = raw.astype(np.float32)
        out = out.reshape(y1 - y0, self.width)
        if self.blank is not None:
            out[(raw == self.blank).reshape(out.shape)] = np.nan
        out[np.isinf(out)] = np.nan
        return out


@dataclass(frozen=True, eq=False)
class LazyField:
    """A field whose pixels are read from disk on demand, one to three :class:`FitsBand`.

    Attributes as :class:`~galaxy_core.types.Field` (``wcs``, ``header``, ``name``,
    ``band_names``; ``kind`` is always ``"fits"``).
    """

    bands: tuple[FitsBand, ...]
    wcs: WCS | None = None
    header: dict | None = None
    name: str = "mosaic"
    band_names: tuple[str, ...] = ()
    kind: str = "fits"

    @property
    def height(self) -> int:
        return self.bands[0].height

    @property
    def width(self) -> int:
        return self.bands[0].width

    @property
    def n_bands(self) -> int:
        return len(self.bands)

    def rows(self, y0: int, y1: int) -> np.ndarray:
        """float32 (n_bands, y1 - y0, width) of rows ``y0:y1``."""
        return np.stack([band.rows(y0, y1) for band in self.bands])

    def window(self, y0: int, y1: int, x0: int = 0, x1: int | None = None) -> Field:
        """Rows ``y0:y1`` and columns ``x0:x1`` as an in-memory Field, its WCS shifted to match."""
        x1 = self.width if x1 is None else x1
        data = np.ascontiguousarray(self.rows(y0, y1)[:, :, x0:x1])
        wcs = None
        if self.wcs is not None:
            wcs = self.wcs.slice((slice(y0, y1), slice(x0, x1)))
        return Field(data=data, wcs=wcs, header=dict(self.header or {}), name=self.name,
                     kind="fits", band_names=self.band_names)

    def sample(self, n_rows: int = SAMPLE_ROWS) -> Field:
        """A Field of ``n_rows`` evenly spaced rows (all columns): the pixels a stretch is measured on."""
        picks = np.unique(np.linspace(0, self.height - 1, min(n_rows, self.height)).round().astype(int))
        data = np.concatenate([self.rows(int(y), int(y) + 1) for y in picks], axis=1)
        return Field(data=np.ascontiguousarray(data), name=self.name, kind="fits",
                     band_names=self.band_names)


def open_lazy_field(paths: str | Path | Sequence[str | Path], *, hdu: int | str | None = None,
                    name: str | None = None) -> LazyField:
    """A LazyField of one FITS file, or of three as the R, G, B bands (same size).

    Raises:
        GalaxyCoreError: a compressed or unreadable file, no 2-D image HDU, or bands of
        different sizes.
    """
    paths = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    bands, headers = zip(*(_band_of(p, hdu) for p in paths), strict=True)
    if len({(b.height, b.width) for b in bands}) != 1:
        raise GalaxyCoreError("The three bands must have the same size in pixels.")
    header = headers[0]
    names = tuple(str(h.get("FILTER", p.stem)) for h, p in zip(headers, paths, strict=True))
    return LazyField(tuple(bands), wcs=_celestial(header, bands[0]), name=name or paths[0].stem,
                     header={k: str(v) for k, v in header.items() if k}, band_names=names)


def _band_of(path: Path, hdu: int | str | None) -> tuple[FitsBand, fits.Header]:
    """The FitsBand of ``path``'s chosen (default: first 2-D) image HDU, and its header."""
    label = f"'{path.name}'"
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        raise GalaxyCoreError(f"{label} is gzip-compressed: unpack it (gunzip) to read it as a mosaic.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
                index = _image_index(hdul, hdu, label)
                chosen = hdul[index]
                header = chosen.header.copy()
                offset = int(hdul.fileinfo(index)["datLoc"])
                compressed = isinstance(chosen, fits.CompImageHDU)
    except GalaxyCoreError:
        raise
    except Exception as err:
        raise GalaxyCoreError(f"{label} is not a readable FITS file ({err}).") from err
    if compressed:
        raise GalaxyCoreError(f"{label} is tile-compressed: unpack it (funpack) to read it as a mosaic.")
    shape = [int(header[f"NAXIS{k}"]) for k in range(1, int(header["NAXIS"]) + 1)]
    if math.prod(shape) != shape[0] * shape[1]:
        raise GalaxyCoreError(f"{label}: HDU {index} is not a 2-D image ({' x '.join(map(str, shape))}).")
    blank = header.get("BLANK") if int(header["BITPIX"]) > 0 else None
    band = FitsBand(path, offset, _DTYPES[int(header["BITPIX"])], shape[1], shape[0],
                    float(header.get("BSCALE", 1.0)), float(header.get("BZERO", 0.0)),
                    int(blank) if isinstance(blank, int) else None)
    return band, header


def _image_index(hdul: fits.HDUList, hdu: int | str | None, label: str) -> int:
    """The chosen HDU's index: ``hdu`` (index or EXTNAME), or the first with 2-D data."""
    if isinstance(hdu, int):
        return hdu
    for i, h in enumerate(hdul):
        if hdu is not None and str(h.name).upper() != str(hdu).upper():
            continue
        naxis = h.header.get("NAXIS", 0)
        if h.is_image and naxis >= 2 and h.header.get("BITPIX") in _DTYPES:
            return i
    raise GalaxyCoreError(f"{label} holds no 2-D image HDU" + (f" named {hdu!r}." if hdu else "."))


def _celestial(header: fits.Header, band: FitsBand) -> WCS | None:
    """The header's 2-D celestial WCS, or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wcs = WCS(header, naxis=2)
        if not wcs.has_celestial:
            return None
        cel = wcs.celestial
        cel.pixel_shape = (band.width, band.height)
        return cel
    except Exception:  # an invalid WCS: the field works without one
        return None


def is_lazy(field) -> bool:
    """Whether ``field`` is a LazyField (read on demand) rather than an in-memory Field."""
    return isinstance(field, LazyField)


