"""Catalogue exports: CSV, FITS table, ECSV (astropy) and DS9 regions (regions package).

Each function returns the file's content (bytes or str); writing it is the
caller's job (``write_catalog`` picks the format from a suffix).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.wcs import WCS
from regions import PixCoord, RectanglePixelRegion, RectangleSkyRegion, Regions

from galaxy_core.catalog.table import COLUMNS, UNITS
from galaxy_core.display.colours import colour_of
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import Detection

FORMATS = {".csv": "csv", ".fits": "fits", ".fit": "fits", ".ecsv": "ecsv", ".reg": "ds9"}


def to_table(df: pd.DataFrame, *, meta: dict | None = None) -> Table:
    """An astropy Table of the catalogue with units on pixel and sky columns."""
    table = Table.from_pandas(df[list(COLUMNS)])
    for name, unit in UNITS.items():
        table[name].unit = unit
    table["label"] = table["label"].astype(str)
    table.meta.update(meta or {})
    return table


def csv_bytes(df: pd.DataFrame) -> bytes:
    """The catalogue as CSV (UTF-8, header row, empty cells where unknown)."""
    return df[list(COLUMNS)].to_csv(index=False).encode()


def ecsv_bytes(df: pd.DataFrame, *, meta: dict | None = None) -> bytes:
    """The catalogue as ECSV (units and types kept)."""
    buf = io.StringIO()
    to_table(df, meta=meta).write(buf, format="ascii.ecsv")
    return buf.getvalue().encode()


def fits_bytes(df: pd.DataFrame, *, meta: dict | None = None) -> bytes:
    """The catalogue as a FITS binary table (HDU 1); ``meta`` becomes its header keywords."""
    buf = io.BytesIO()
    clean = {k[:8].upper(): v if isinstance(v, bool | int | float) else str(v)
             for k, v in (meta or {}).items()}
    to_table(df, meta=clean).write(buf, format="fits")
    return buf.getvalue()


def ds9_regions(detections: Sequence[Detection], wcs: WCS | None = None, *,
                meta: dict | None = None) -> str:
    """A DS9 region file: one box per detection, coloured by class.

    Boxes are in image coordinates, or in ICRS sky coordinates when ``wcs`` is
    given (each box's size then follows the local pixel scale).  ``meta``
    (provenance keywords) is written as comment lines at the top.
    """
    regions = []
    for d in detections:
        label = {"text": f"{d.id} {d.label} {d.score:.2f}"}
        visual = {"color": colour_of(d.label)}
        pix = RectanglePixelRegion(
            PixCoord(d.x, d.y), width=max(d.width, 1e-3), height=max(d.height, 1e-3),
            meta=label, visual=visual,
        )
        if wcs is not None:
            try:
                sky = pix.to_sky(wcs)
            except Exception:  # pixel outside the WCS's valid domain: keep image coordinates
                sky = None
            if isinstance(sky, RectangleSkyRegion) and _finite_sky(sky.center):
                regions.append(sky)
                continue
        regions.append(pix)
    header = "".join(f"# {k} = {_one_line(v)}\n" for k, v in (meta or {}).items())
    return header + Regions(regions).serialize(format="ds9")


def catalog_bytes(df: pd.DataFrame, fmt: str, *, detections=None, wcs: WCS | None = None,
                  meta: dict | None = None) -> bytes:
    """The catalogue in ``fmt`` (``csv``, ``fits``, ``ecsv`` or ``ds9``)."""
    if fmt == "csv":
        return csv_bytes(df)
    if fmt == "ecsv":
        return ecsv_bytes(df, meta=meta)
    if fmt == "fits":
        return fits_bytes(df, meta=meta)
    if fmt == "ds9":
        from galaxy_core.catalog.table import from_frame

        return ds9_regions(detections if detections is not None else from_frame(df), wcs,
                           meta=meta).encode()
    raise GalaxyCoreError(f"Unknown catalogue format {fmt!r}; use one of csv, fits, ecsv, ds9.")


def format_of(path: str | Path) -> str:
    """The export format named by a file's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise GalaxyCoreError(
            f"Cannot tell the catalogue format of {Path(path).name!r}: use .csv, .fits, .ecsv or .reg."
        )
    return FORMATS[suffix]


def _one_line(value) -> str:
    return " ".join(str(value).split())


def _finite_sky(coord: SkyCoord) -> bool:
    return bool(np.isfinite(coord.ra.to_value(u.deg)) and np.isfinite(coord.dec.to_value(u.deg)))
