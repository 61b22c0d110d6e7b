"""Catalogue exports: CSV, FITS table, ECSV, VOTable (astropy) and DS9 regions (regions package).

Each function returns the file's content (bytes or str); writing it is the
caller's job (``write_catalog`` picks the format from a suffix).  FITS, ECSV
and VOTable carry each column's unit; the VOTable also its UCD and a
description (:data:`COLUMN_META`), so TOPCAT and Aladin know RA and Dec, the
class and the probabilities without being told.  CSV has no place for units:
:func:`units_note` says them in words, for the page offering the file.
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
from galaxy_core.types import CLASS_NAMES, Detection

FORMATS = {".csv": "csv", ".fits": "fits", ".fit": "fits", ".ecsv": "ecsv", ".vot": "votable",
           ".xml": "votable", ".reg": "ds9"}

#: Each catalogue column's UCD (IVOA UCD1+) and description, for the VOTable.
COLUMN_META: dict[str, tuple[str, str]] = {
    "id": ("meta.id;meta.main", "Running number of the detection in this catalogue"),
    "x_min": ("pos.cartesian.x;stat.min", "Box left edge, 0-based pixel x"),
    "y_min": ("pos.cartesian.y;stat.min", "Box bottom edge (low y), 0-based pixel y"),
    "x_max": ("pos.cartesian.x;stat.max", "Box right edge, 0-based pixel x"),
    "y_max": ("pos.cartesian.y;stat.max", "Box top edge (high y), 0-based pixel y"),
    "x": ("pos.cartesian.x", "Centre, 0-based pixel x"),
    "y": ("pos.cartesian.y", "Centre, 0-based pixel y"),
    "score": ("meta.code.qual;stat.probability", "Detector confidence, 0 to 1"),
    "label": ("src.class", "Morphology class (most probable), or the detector's label"),
    **{name: ("stat.probability", f"Classifier probability of {name}") for name in CLASS_NAMES},
    "ra": ("pos.eq.ra;meta.main", "Right ascension of the centre (ICRS)"),
    "dec": ("pos.eq.dec;meta.main", "Declination of the centre (ICRS)"),
    "extent_px": ("phys.angSize;src", "Extent measured by the classifier's framing (4 x rms radius)"),
    "peak_snr": ("stat.snr", "Smoothed peak over the sky noise in the rendered picture"),
    "morph_accuracy": ("meta.code.qual;stat.probability",
                       "Classifier accuracy measured on validation galaxies of this size and S/N"),
    "morph_reliable": ("meta.code.qual", "True when the class can be trusted (size x S/N rule)"),
    "detector_label": ("meta.code.class", "The detector's own label of a classified object"),
}


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


def votable_bytes(df: pd.DataFrame, *, meta: dict | None = None) -> bytes:
    """The catalogue as a VOTable (1.4, binary-free TABLEDATA): units, UCDs and descriptions on
    every column, ``meta`` (provenance) as INFO elements."""
    import warnings

    from astropy.io.votable import from_table
    from astropy.io.votable.exceptions import VOWarning
    from astropy.io.votable.tree import Info

    with warnings.catch_warnings():  # IDs made from names such as 'Star/Artifact'
        warnings.simplefilter("ignore", VOWarning)
        votable = from_table(to_table(df))
        resource = votable.resources[0]
        for key, value in (meta or {}).items():
            resource.infos.append(Info(name=str(key)[:64] or "meta", value=_one_line(value)))
        for f in resource.tables[0].fields:
            f.ucd, f.description = COLUMN_META.get(f.name, (None, None))
        buf = io.BytesIO()
        votable.to_xml(buf)
    return buf.getvalue()


def units_note() -> str:
    """The catalogue columns' units in words (for CSV, which has no place for them)."""
    return ("Units: x_min, y_min, x_max, y_max, x, y and extent_px in pixels (0-based, pixel "
            "centres at integers); ra and dec in degrees (ICRS); score, the six class "
            "probabilities and morph_accuracy from 0 to 1; peak_snr a ratio; label, "
            "morph_reliable and detector_label without units.")


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
    """The catalogue in ``fmt`` (``csv``, ``fits``, ``ecsv``, ``votable`` or ``ds9``)."""
    if fmt == "csv":
        return csv_bytes(df)
    if fmt == "votable":
        return votable_bytes(df, meta=meta)
    if fmt == "ecsv":
        return ecsv_bytes(df, meta=meta)
    if fmt == "fits":
        return fits_bytes(df, meta=meta)
    if fmt == "ds9":
        from galaxy_core.catalog.table import from_frame

        return ds9_regions(detections if detections is not None else from_frame(df), wcs,
                           meta=meta).encode()
    raise GalaxyCoreError(f"Unknown catalogue format {fmt!r}; use one of csv, fits, ecsv, votable, ds9.")


def format_of(path: str | Path) -> str:
    """The export format named by a file's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise GalaxyCoreError(
            f"Cannot tell the catalogue format of {Path(path).name!r}: use .csv, .fits, .ecsv, .vot "
            "or .reg."
        )
    return FORMATS[suffix]


def _one_line(value) -> str:
    return " ".join(str(value).split())


def _finite_sky(coord: SkyCoord) -> bool:
    return bool(np.isfinite(coord.ra.to_value(u.deg)) and np.isfinite(coord.dec.to_value(u.deg)))
