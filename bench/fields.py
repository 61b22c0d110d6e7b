"""Large benchmark fields built from the real HST data in ``../shared/data/hst`` (never committed).

Not a bench script: the scale and batch benches import it to make their fields.

- :func:`hst_tile`: a square of real HST pixels: the Abell 2744 WFC3/IR F105W cutouts and
  the COSMOS ACS stamp, each scaled to unit sky noise (median and MAD of its pixels) and
  packed side by side with random flips.
- :func:`write_fits_field`: a float32 FITS of any size tiled from it (mirrored, so no seam
  cuts an object), written in strips of rows so that even a 400-megapixel mosaic is made
  in bounded memory; with a TAN WCS at 0.06 arcsec/px.
- :func:`write_picture_field`: an HST colour press picture tiled the same way to a PNG.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
HST = ROOT.parent / "shared" / "data" / "hst"
STAMPS = ("abell2744/abell_2744_cd_galaxy_f105w.fits.gz", "abell2744/abell_2744_dwarf_galaxy_f105w.fits.gz",
          "abell2744/abell_2744_group_of_galaxies_f105w.fits.gz",
          "abell2744/abell_2744_spiral_galaxy_f105w.fits.gz",
          "cosmos/147246.0_150.416558_1.998697_masknoise.fits")
PICTURE = "astrocv/galaxies2.jpg"


def _unit_noise(data: np.ndarray) -> np.ndarray:
    """A stamp with its sky at 0 and its noise at 1 (median and MAD-sigma of its pixels)."""
    finite = data[np.isfinite(data)]
    med = np.median(finite)
    sigma = 1.4826 * np.median(np.abs(finite - med)) or 1.0
    return np.nan_to_num((data - med) / sigma).astype(np.float32)


def hst_tile(side: int = 2048, seed: int = 0) -> np.ndarray:
    """float32 (side, side) of real HST stamps packed row by row with random flips."""
    rng = np.random.default_rng(seed)
    stamps = [_unit_noise(fits.getdata(HST / name).astype(np.float64)) for name in STAMPS]
    tile = rng.normal(0.0, 1.0, (side, side)).astype(np.float32)
    y = 0
    while y < side:
        x, row_h = 0, 0
        while x < side:
            stamp = stamps[rng.integers(len(stamps))]
            stamp = stamp[:: rng.choice([-1, 1]), :: rng.choice([-1, 1])]
            h, w = min(stamp.shape[0], side - y), min(stamp.shape[1], side - x)
            tile[y:y + h, x:x + w] = stamp[:h, :w]
            x, row_h = x + w, max(row_h, h)
        y += row_h
    return tile


def _mirrored(tile: np.ndarray, rows: slice, width: int) -> np.ndarray:
    """Rows ``rows`` of an endless mosaic of ``tile`` mirrored at every edge, ``width`` columns."""
    side = tile.shape[0]
    y = np.arange(rows.start, rows.stop)
    x = np.arange(width)
    ty = np.where((y // side) % 2 == 0, y % side, side - 1 - y % side)
    tx = np.where((x // side) % 2 == 0, x % side, side - 1 - x % side)
    return tile[np.ix_(ty, tx)]


def write_fits_field(path: Path, side: int, *, tile: np.ndarray | None = None,
                     strip_rows: int = 2048) -> Path:
    """A side x side float32 FITS of real HST pixels (see the module docstring)."""
    tile = hst_tile() if tile is None else tile
    header = fits.Header()
    header.update({"SIMPLE": True, "BITPIX": -32, "NAXIS": 2, "NAXIS1": side, "NAXIS2": side,
                   "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 3.5875, "CRVAL2": -30.397,
                   "CRPIX1": side / 2 + 0.5, "CRPIX2": side / 2 + 0.5, "CDELT1": -0.06 / 3600,
                   "CDELT2": 0.06 / 3600, "CUNIT1": "deg", "CUNIT2": "deg", "BUNIT": "sky rms",
                   "OBJECT": "tiled real HST cutouts (benchmark)"})
    with open(path, "wb") as fh:
        fh.write(header.tostring().encode("ascii"))
        for y0 in range(0, side, strip_rows):
            rows = _mirrored(tile, slice(y0, min(side, y0 + strip_rows)), side)
            fh.write(rows.astype(">f4").tobytes())
        fh.write(b"\0" * (-fh.tell() % 2880))
    return path


def write_picture_field(path: Path, side: int) -> Path:
    """A side x side PNG of an HST colour press picture, mirrored at every edge."""
    rgb = np.asarray(Image.open(HST / PICTURE).convert("RGB"))
    h, w = rgb.shape[:2]
    y, x = np.arange(side), np.arange(side)
    ty = np.where((y // h) % 2 == 0, y % h, h - 1 - y % h)
    tx = np.where((x // w) % 2 == 0, x % w, w - 1 - x % w)
    Image.fromarray(rgb[np.ix_(ty, tx)]).save(path, compress_level=1)
    return path
