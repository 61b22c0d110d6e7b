"""The field as a zoomable Plotly image with detection boxes coloured by class.

Each class is drawn as one layout shape, an SVG path holding all its box
outlines (with a legend entry), and one marker trace, a marker at each box
centre that carries the hover text and the detection id (``customdata[0]``)
for click selection.  One path per class is the cheapest way to draw boxes in
the browser: for the XDF's 1,784 boxes, in Chromium on a page holding only the
figure, line traces with gaps took about 0.35 s per Plotly render and the path
shapes about 0.02 s.  Pixel coordinates are field pixels; FITS fields are shown
with the y axis up (row 0 at the bottom), pictures with y down.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from galaxy_core.catalog.review import top_classes
from galaxy_core.display.colours import colour_of
from galaxy_core.types import CLASS_NAMES, Detection

SEP_TRACE = "sep baseline"
SEP_COLOUR = "#FF4040"
#: The name of the highlight drawn around the open detection.
SELECTED_SHAPE = "open detection"


def box_path(df: pd.DataFrame) -> str:
    """One SVG path with the closed outline of every box in ``df`` (field px, 0.01 px steps)."""
    cols = [df[c].to_numpy(float) for c in ("x_min", "y_min", "x_max", "y_max")]
    return "".join(f"M{x0:.2f},{y0:.2f}H{x1:.2f}V{y1:.2f}H{x0:.2f}Z"
                   for x0, y0, x1, y1 in zip(*cols, strict=True))


def boxes_shape(df: pd.DataFrame, *, name: str, colour: str, width: float, dash: str = "solid",
                legendgroup: str | None = None) -> dict:
    """A layout shape drawing all boxes of ``df`` in one path, shown in the legend as ``name``."""
    return {"type": "path", "path": box_path(df), "xref": "x", "yref": "y", "layer": "above",
            "line": {"color": colour, "width": width, "dash": dash}, "name": name,
            "showlegend": True, "legendgroup": legendgroup or name}


def hover_data(df: pd.DataFrame) -> np.ndarray:
    """Per-row hover fields: id, class, top probabilities, score, RA/Dec text, x, y."""
    radec = [
        "n/a" if not (np.isfinite(r) and np.isfinite(d)) else f"{r:.6f}, {d:+.6f}"
        for r, d in zip(df["ra"].to_numpy(float), df["dec"].to_numpy(float), strict=True)
    ]
    return np.column_stack([
        df["id"].to_numpy(), df["label"].to_numpy(object), top_classes(df, k=3).to_numpy(object),
        df["score"].to_numpy(float), np.array(radec, dtype=object),
        df["x"].to_numpy(float), df["y"].to_numpy(float),
    ])


HOVER = (
    "<b>#%{customdata[0]} %{customdata[1]}</b><br>%{customdata[2]}<br>"
    "score %{customdata[3]:.3f}<br>x, y = %{customdata[5]:.1f}, %{customdata[6]:.1f} px<br>"
    "RA, Dec = %{customdata[4]} deg<extra></extra>"
)


def class_order(labels: Sequence[str]) -> list[str]:
    """Labels present, in CLASS_NAMES order first, then any other label sorted."""
    present = set(labels)
    return [c for c in CLASS_NAMES if c in present] + sorted(present - set(CLASS_NAMES))


def field_figure(image_uri: str, *, block: int, width: int, height: int, origin_lower: bool,
                 df: pd.DataFrame, sep: Sequence[Detection] = (), selected_id: int | None = None,
                 height_px: int = 720) -> go.Figure:
    """The figure: display image, one box trace pair per class, optional sep overlay.

    Args:
        image_uri: the display render as a data URI, ``block`` field pixels per image pixel.
        width, height: the field's size in pixels.
        origin_lower: True for FITS (row 0 at the bottom).
        df: the visible catalogue rows (galaxy_core.catalog.table columns).
        sep: the sep baseline's detections, drawn dashed when given.
        selected_id: a detection to highlight.
    """
    offset = (block - 1) / 2.0  # centre of the first display pixel, in field pixels
    fig = go.Figure(go.Image(source=image_uri, x0=offset, y0=offset, dx=block, dy=block,
                             hoverinfo="skip", name="field"))
    shapes = []
    for label in class_order(df["label"].tolist()):
        rows = df[df["label"] == label]
        colour = colour_of(label)
        shapes.append(boxes_shape(rows, name=f"{label} ({len(rows)})", colour=colour, width=1.5,
                                  legendgroup=label))
        fig.add_trace(go.Scatter(
            x=rows["x"].to_numpy(float), y=rows["y"].to_numpy(float), mode="markers",
            marker={"color": colour, "size": 6, "symbol": "circle-open", "line": {"width": 1}},
            customdata=hover_data(rows), hovertemplate=HOVER, name=label, legendgroup=label,
            showlegend=False,
        ))
    if sep:
        from galaxy_core.catalog.table import to_frame

        shapes.append(boxes_shape(to_frame(sep), name=f"{SEP_TRACE} ({len(sep)})", colour=SEP_COLOUR,
                                  width=1, dash="dot"))
    if selected_id is not None and (df["id"] == selected_id).any():
        row = df[df["id"] == selected_id].iloc[0]
        pad = 0.15 * max(row["x_max"] - row["x_min"], row["y_max"] - row["y_min"], 8)
        shapes.append({"type": "rect", "x0": row["x_min"] - pad, "x1": row["x_max"] + pad,
                       "y0": row["y_min"] - pad, "y1": row["y_max"] + pad, "xref": "x", "yref": "y",
                       "line": {"color": "#FFFFFF", "width": 2}, "name": SELECTED_SHAPE})
    fig.update_xaxes(range=[-0.5, width - 0.5], showgrid=False, zeroline=False, title="x (px)",
                     constrain="domain")
    y_range = [-0.5, height - 0.5] if origin_lower else [height - 0.5, -0.5]
    fig.update_yaxes(range=y_range, showgrid=False, zeroline=False, title="y (px)",
                     scaleanchor="x", constrain="domain")
    fig.update_layout(
        # The class legend goes under the plot: above it, it ran into Plotly's mode bar.
        height=height_px, margin={"l": 10, "r": 10, "t": 30, "b": 10}, dragmode="zoom",
        legend={"orientation": "h", "y": -0.12, "x": 0, "yanchor": "top"},
        uirevision="field", hovermode="closest", clickmode="event+select", shapes=shapes,
    )
    return fig

