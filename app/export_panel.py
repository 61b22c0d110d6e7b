"""Downloads: the visible catalogue as CSV, FITS, ECSV and DS9 regions, the annotated field as PNG."""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from app.guard import guarded
from galaxy_core.catalog import export
from galaxy_core.catalog.table import from_frame
from galaxy_core.display.annotate import draw_boxes, png_bytes
from galaxy_core.types import Field

FORMATS = (
    ("CSV", "csv", "text/csv"),
    ("FITS table", "fits", "application/fits"),
    ("ECSV", "ecsv", "text/plain"),
    ("DS9 regions", "reg", "text/plain"),
)


def catalogue_file(df: pd.DataFrame, fmt: str, field: Field, meta: dict) -> bytes:
    """The visible catalogue in one format (``csv``, ``fits``, ``ecsv`` or ``reg``)."""
    if fmt == "reg":
        return export.ds9_regions(from_frame(df), field.wcs, meta=meta).encode()
    return export.catalog_bytes(df, fmt, meta=meta)


def annotated_png(rgb, df: pd.DataFrame, *, origin_lower: bool, line: int) -> bytes:
    """The full-resolution render with the visible boxes drawn, as PNG."""
    return png_bytes(draw_boxes(rgb, from_frame(df), line=line), origin_lower=origin_lower)


def _png_of_view(rgb, df: pd.DataFrame, field: Field) -> bytes:
    line = max(1, round(max(field.width, field.height) / 1000))
    return annotated_png(rgb, df, origin_lower=field.kind == "fits", line=line)


def export_panel(df: pd.DataFrame, field: Field, rgb, *, meta: dict) -> None:
    """Download buttons; files are made when clicked (the PNG draws on the run's render ``rgb``)."""
    st.markdown(f"The **{len(df)} detections shown** (threshold and class filters applied), "
                "pixel positions 0-based (DS9 regions 1-based).")
    stem = f"{field.name}_detections"
    cols = st.columns(len(FORMATS) + 1)
    for col, (label, fmt, mime) in zip(cols, FORMATS, strict=False):
        with col, guarded(f"exporting {label}"):
            st.download_button(
                label, data=partial(catalogue_file, df, fmt, field, meta),
                file_name=f"{stem}.{fmt}", mime=mime, key=f"download_{fmt}",
                on_click="ignore", icon=":material/download:")
    with cols[-1], guarded("drawing the annotated field"):
        st.download_button(
            "Annotated PNG",
            data=partial(_png_of_view, rgb, df, field),
            file_name=f"{field.name}_annotated.png", mime="image/png", key="download_png",
            on_click="ignore", icon=":material/image:")
