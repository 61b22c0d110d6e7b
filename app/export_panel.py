"""Downloads: the visible catalogue as CSV, VOTable, FITS, ECSV and DS9 regions, the annotated
field as PNG.

Each file is made inside the app's error guard when the Export tab is drawn
(kept for the same view, so reopening the tab costs nothing): a failing export
shows the app's message in place of its button, never Streamlit's own error.
Files are named after the field (the uploaded file's name, or the three
bands' names).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import caching
from app.caching import LoadedField
from app.guard import guarded
from galaxy_core.catalog import export
from galaxy_core.catalog.table import from_frame
from galaxy_core.display.annotate import draw_boxes, png_bytes
from galaxy_core.types import Field

#: Fields up to this many pixels get their annotated PNG made with the page; larger ones on request.
PNG_AT_ONCE_PX = 4_000_000
FORMATS = (
    ("CSV", "csv", "csv", "text/csv"),
    ("VOTable", "votable", "vot", "application/x-votable+xml"),
    ("FITS table", "fits", "fits", "application/fits"),
    ("ECSV", "ecsv", "ecsv", "text/plain"),
    ("DS9 regions", "reg", "reg", "text/plain"),
)


def catalogue_file(df: pd.DataFrame, fmt: str, field: Field, meta: dict) -> bytes:
    """The visible catalogue in one format (``csv``, ``votable``, ``fits``, ``ecsv`` or ``reg``)."""
    if fmt == "reg":
        return export.ds9_regions(from_frame(df), field.wcs, meta=meta).encode()
    return export.catalog_bytes(df, fmt, meta=meta)


def annotated_png(rgb, df: pd.DataFrame, *, origin_lower: bool, line: int) -> bytes:
    """The full-resolution render with the visible boxes drawn, as PNG."""
    return png_bytes(draw_boxes(rgb, from_frame(df), line=line), origin_lower=origin_lower)


def _png_of_view(rgb, df: pd.DataFrame, field: Field) -> bytes:
    line = max(1, round(max(field.width, field.height) / 1000))
    return annotated_png(rgb, df, origin_lower=field.kind == "fits", line=line)


def export_panel(df: pd.DataFrame, loaded: LoadedField, rgb, *, meta: dict, view_key: tuple) -> None:
    """Download buttons for the rows ``df`` of the view ``view_key`` (the PNG draws on the run's
    render ``rgb``); each file is made once per view, inside the error guard."""
    st.markdown(f"The **{len(df)} detections shown** (threshold and class filters applied), "
                "pixel positions 0-based (DS9 regions 1-based).")
    st.caption(export.units_note() + " FITS, ECSV and VOTable files carry these units; the "
               "VOTable also each column's UCD, for TOPCAT and Aladin.")
    stem = f"{loaded.stem or loaded.field.name}_detections"
    cols = st.columns(len(FORMATS) + 1)
    store = caching.preview_store()
    for col, (label, fmt, suffix, mime) in zip(cols, FORMATS, strict=False):
        with col, guarded(f"exporting {label}"):
            data = store.get_or_make(("export", view_key, fmt),
                                     lambda fmt=fmt: catalogue_file(df, fmt, loaded.field, meta))
            st.download_button(label, data=data, file_name=f"{stem}.{suffix}", mime=mime,
                               key=f"download_{fmt}", on_click="ignore", icon=":material/download:",
                               help=export.units_note() if fmt == "csv" else None)
    with cols[-1], guarded("drawing the annotated field"):
        f = loaded.field
        key = ("export", view_key, "png")
        if f.width * f.height > PNG_AT_ONCE_PX and key not in store:
            if not st.button("Make the annotated PNG", key="make_png", icon=":material/image:",
                             help=f"The full {f.width:,} x {f.height:,} px render with the boxes shown."):
                return
        data = store.get_or_make(key, lambda: _png_of_view(rgb, df, f))
        st.download_button("Annotated PNG", data=data, file_name=f"{loaded.stem or 'field'}_annotated.png",
                           mime="image/png", key="download_png", on_click="ignore",
                           icon=":material/image:")
