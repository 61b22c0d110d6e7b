"""The field as a zoomable Plotly image with detection boxes coloured by what can be believed.

Each display group (a class, "too small / faint to classify", "awaiting its
class", or the detector's own label; :mod:`galaxy_core.catalog.triage`) is
drawn as one layout shape, an SVG path holding all its box outlines (with a
legend entry and its count), and one marker trace, a marker at each box centre
that carries the hover text and the detection id (``customdata``) for click
selection.  One path per group is the cheapest way to draw boxes in the
browser: for the XDF's 1,784 boxes, in Chromium, line traces with gaps took
about 0.35 s per Plotly render and the path shapes about 0.02 s.

Under the boxes lies an invisible heatmap of the field's hover grid
(:mod:`galaxy_core.sky_grid`), so hovering anywhere, open sky included, reads
the pixel position, the value and, with a WCS, RA/Dec; a graticule of RA/Dec
lines can be laid over the field.  Pixel coordinates are field pixels; FITS
fields are shown with the y axis up (row 0 at the bottom), pictures with y down.

The figure is a plotly.js JSON dict (:mod:`app.plotly_spec`): each row's path
and hover text are written once per catalogue (:func:`row_text`), so a
threshold change only joins strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.plotly_spec import typed
from galaxy_core.catalog.review import top_classes
from galaxy_core.catalog.triage import PENDING, UNTRUSTED, group_order
from galaxy_core.display.colours import colour_of
from galaxy_core.types import CLASS_NAMES, Detection

SEP_TRACE = "sep baseline"
SEP_COLOUR = "#FF4040"
#: The name of the highlight drawn around the open detection.
SELECTED_SHAPE = "open detection"
#: The outline around the detections the user labelled: (legend name, colour).
LABELLED_SHAPE = ("labelled by you", "#FFD400")
#: Name of the hover grid's trace.
HOVER_TRACE = "hover grid"
#: How each group that is not a class is drawn: (colour, line width, dash).
NEUTRAL_STYLE = {UNTRUSTED: ("#A8A8A8", 1.0, "dot"), PENDING: ("#D8D8D8", 1.0, "dash")}
#: Short names of the groups, for the legend and the chips.
SHORT = {"Spiral_Barred": "Barred spiral", "On_Edge": "Edge-on", "Star/Artifact": "Star/artifact",
         UNTRUSTED: "too small / faint to classify", PENDING: "awaiting class"}
#: What a group's hover adds after the class.
NOTES = {UNTRUSTED: " <i>(too small or faint: class not trusted)</i>", PENDING: " <i>(classifying...)</i>"}


def style_of(group: str) -> tuple[str, float, str]:
    """(colour, line width, dash) of a display group."""
    if group in NEUTRAL_STYLE:
        return NEUTRAL_STYLE[group]
    return colour_of(group), 1.5, "solid"


def box_path(df: pd.DataFrame) -> str:
    """One SVG path with the closed outline of every box in ``df`` (field px, 0.01 px steps)."""
    return "".join(_paths(df))


def _paths(df: pd.DataFrame) -> list[str]:
    cols = [df[c].to_numpy(float) for c in ("x_min", "y_min", "x_max", "y_max")]
    return [f"M{x0:.2f},{y0:.2f}H{x1:.2f}V{y1:.2f}H{x0:.2f}Z" for x0, y0, x1, y1 in zip(*cols, strict=True)]


@dataclass(frozen=True, eq=False)
class RowText:
    """Each catalogue row's box outline (SVG path) and hover text, by position in its frame."""

    path: np.ndarray
    hover: np.ndarray


def row_text(df: pd.DataFrame) -> RowText:
    """The :class:`RowText` of a catalogue frame (written once per frame)."""
    radec = ["n/a" if not (np.isfinite(r) and np.isfinite(d)) else f"{r:.6f}, {d:+.6f} deg"
             for r, d in zip(df["ra"].to_numpy(float), df["dec"].to_numpy(float), strict=True)]
    hover = [f"<b>#{i} {label}</b>%NOTE%<br>{top}<br>score {score:.3f}<br>"
             f"x, y = {x:.1f}, {y:.1f} px<br>RA, Dec = {rd}"
             for i, label, top, score, x, y, rd in zip(
                 df["id"].to_numpy(), df["label"].to_numpy(object), top_classes(df, k=3).to_numpy(object),
                 df["score"].to_numpy(float), df["x"].to_numpy(float), df["y"].to_numpy(float), radec,
                 strict=True)]
    return RowText(np.array(_paths(df), dtype=object), np.array(hover, dtype=object))


def hover_trace(grid, *, band_names: Sequence[str] = ()) -> dict:
    """An invisible heatmap over the field whose hover reads each grid cell's position, mean
    value per band and RA/Dec (:class:`galaxy_core.sky_grid.HoverGrid`)."""
    values = grid.values
    n_bands = values.shape[0]
    z = values.mean(axis=0) if n_bands > 1 else values[0]
    extra = [values[i] for i in range(n_bands)] if n_bands > 1 else []
    if grid.ra is not None:
        extra += [grid.ra, grid.dec]
    lines = [f"x, y = %{{x:.0f}}, %{{y:.0f}} px (cell of {grid.cell} x {grid.cell} px)"]
    if n_bands > 1:
        names = list(band_names)[:3] or ["R", "G", "B"]
        lines.append(", ".join(f"{n} %{{customdata[{i}]:.4g}}" for i, n in enumerate(names)))
    else:
        lines.append("value %{z:.4g}")
    if grid.ra is not None:
        k = 3 if n_bands > 1 else 0
        lines.append(f"RA, Dec = %{{customdata[{k}]:.6f}}, %{{customdata[{k + 1}]:+.6f}} deg")
    trace = {"type": "heatmap", "name": HOVER_TRACE, "x": typed(grid.x), "y": typed(grid.y),
             "z": typed(z), "colorscale": [[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]],
             "showscale": False, "hoverongaps": True,
             "hovertemplate": "<br>".join(lines) + "<extra></extra>"}
    if extra:
        trace["customdata"] = typed(np.stack(extra, axis=-1))
    return trace


def graticule_parts(lines) -> tuple[list[dict], list[dict]]:
    """RA/Dec grid lines (:func:`galaxy_core.sky_grid.graticule`) as line traces, and their
    labels as annotations where each line enters the field."""
    traces, notes = [], []
    for kind, colour in (("ra", "rgba(120,200,255,0.6)"), ("dec", "rgba(255,210,120,0.6)")):
        xs: list = []
        ys: list = []
        for line in (g for g in lines if g is not None and g.axis == kind):
            xs += [*(None if not np.isfinite(v) else float(v) for v in line.x), None]
            ys += [*(None if not np.isfinite(v) else float(v) for v in line.y), None]
            i = int(np.flatnonzero(np.isfinite(line.x))[0])
            notes.append({"x": float(line.x[i]), "y": float(line.y[i]), "text": line.label,
                          "showarrow": False, "font": {"size": 10, "color": colour},
                          "xanchor": "left", "yanchor": "bottom", "bgcolor": "rgba(0,0,0,0.45)"})
        if xs:
            traces.append({"type": "scatter", "x": xs, "y": ys, "mode": "lines", "hoverinfo": "skip",
                           "showlegend": False, "line": {"color": colour, "width": 1},
                           "name": f"{kind} grid"})
    return traces, notes


def field_figure(image_url: str, *, block: int, width: int, height: int, origin_lower: bool,
                 df: pd.DataFrame, text: RowText | None = None, sep: Sequence[Detection] = (),
                 selected_id: int | None = None, hover: dict | None = None, grid_lines=None,
                 counts: dict[str, int] | None = None, banner: str | None = None,
                 height_px: int | None = None, width_px: int | None = None,
                 labelled: Sequence[int] = ()) -> dict:
    """The figure (a plotly.js dict): display image, hover grid, one box shape and marker trace
    per group, optional sep overlay, graticule, and a banner over the field (a run's progress).

    Args:
        image_url: the display render (URL or data URI), ``block`` field pixels per image
            pixel, oriented as shown (row 0 at the bottom when ``origin_lower``).
        width, height: the field's size in pixels.
        origin_lower: True for FITS (row 0 at the bottom).
        df: the visible catalogue rows, with a ``group`` column (else grouped by ``label``).
        text: the rows' :class:`RowText` by their index in the whole frame (default: written now).
        sep: the sep baseline's detections, drawn dashed when given.
        selected_id: a detection to highlight.
        hover: the hover grid's trace (:func:`hover_trace`); grid_lines: a graticule to draw.
        counts: each group's count for the legend (default: its rows in ``df``).
        labelled: ids of the detections the user labelled, outlined apart (:func:`labelled_shape`).
        height_px, width_px: the size the figure is drawn at (the page fits it to its box;
            these set its first frame, :mod:`app.viewport`, and where the legend goes: beside
            the field where the field leaves room there, else under it).
    """
    data: list[dict] = [hover] if hover is not None else []
    if text is None:
        text, rows_at = row_text(df), np.arange(len(df))
    else:
        rows_at = df.index.to_numpy()
    groups = (df["group"] if "group" in df else df["label"]).to_numpy(object)
    shapes: list[dict] = []
    for group in group_order(groups.tolist()):
        mask = groups == group
        at = rows_at[mask]
        colour, line, dash = style_of(group)
        n = (counts or {}).get(group, int(mask.sum()))
        shapes.append({"type": "path", "path": "".join(text.path[at]), "xref": "x", "yref": "y",
                       "layer": "above", "line": {"color": colour, "width": line, "dash": dash},
                       "name": f"{SHORT.get(group, group)} ({n:,})", "showlegend": True,
                       "legendgroup": group})
        note = NOTES.get(group, "")
        data.append({
            "type": "scatter", "mode": "markers", "name": group, "legendgroup": group,
            "showlegend": False, "x": typed(df["x"].to_numpy()[mask]),
            "y": typed(df["y"].to_numpy()[mask]), "customdata": typed(df["id"].to_numpy()[mask], np.int32),
            "text": [t.replace("%NOTE%", note) for t in text.hover[at]],
            "hovertemplate": "%{text}<extra></extra>",
            # invisible: the boxes show where objects are; the markers only carry hover and
            # clicks, which Plotly finds from the data, so it draws one of them, not an SVG
            # element per detection (restyled on every redraw: about 0.5 s of a threshold
            # change with the XDF's 1,784 boxes in Chromium)
            "marker": {"color": colour, "size": 10, "opacity": 0, "maxdisplayed": 1},
        })
    if sep:
        from galaxy_core.catalog.table import to_frame

        shapes.append({"type": "path", "path": box_path(to_frame(sep)), "xref": "x", "yref": "y",
                       "layer": "above", "line": {"color": SEP_COLOUR, "width": 1, "dash": "dot"},
                       "name": f"{SEP_TRACE} ({len(sep)})", "showlegend": True,
                       "legendgroup": SEP_TRACE})
    if len(labelled):
        shapes.append(labelled_shape(df[df["id"].isin(list(labelled))]))
    annotations: list[dict] = []
    if grid_lines:
        traces, annotations = graticule_parts(grid_lines)
        data += traces
    if banner:
        annotations.append({"xref": "paper", "yref": "paper", "x": 0.01, "y": 0.99, "text": banner,
                            "showarrow": False, "xanchor": "left", "yanchor": "top",
                            "font": {"size": 13, "color": "#FFFFFF"},
                            "bgcolor": "rgba(20,20,30,0.8)", "borderpad": 4})
    if selected_id is not None and (df["id"] == selected_id).any():
        row = df[df["id"] == selected_id].iloc[0]
        pad = 0.15 * max(row["x_max"] - row["x_min"], row["y_max"] - row["y_min"], 8)
        shapes.append({"type": "rect", "x0": row["x_min"] - pad, "x1": row["x_max"] + pad,
                       "y0": row["y_min"] - pad, "y1": row["y_max"] + pad, "xref": "x", "yref": "y",
                       "line": {"color": "#FFFFFF", "width": 2}, "name": SELECTED_SHAPE})
    y_range = [-0.5, height - 0.5] if origin_lower else [height - 0.5, -0.5]
    axis = {"showgrid": False, "zeroline": False, "constrain": "domain", "ticks": "outside",
            "tickfont": {"size": 10}}
    layout = {
        "xaxis": {**axis, "range": [-0.5, width - 0.5]},
        "yaxis": {**axis, "range": y_range, "scaleanchor": "x"},
        "margin": {"l": 44, "r": 8, "t": 8, "b": 24}, "dragmode": "zoom", "autosize": True,
        "legend": legend_place(width, height, width_px, height_px),
        "uirevision": "field", "hovermode": "closest", "hoverdistance": 12,
        "clickmode": "event+select", "shapes": shapes, "annotations": annotations,
        "images": [field_image(image_url, block=block, width=width, height=height,
                               origin_lower=origin_lower)],
    }
    if height_px:
        layout["height"] = int(height_px)
    return {"data": data, "layout": layout}


def field_image(url: str, *, block: int, width: int, height: int, origin_lower: bool) -> dict:
    """The display render as a layout image under the plot, its pixels over the field's
    (a render of ``ceil(height / block) x ceil(width / block)`` pixels, edge blocks sticking
    out of the field).  A layout image may be a URL (an image trace only a data URI), so the
    browser fetches it once rather than with every redraw of the figure."""
    nx, ny = -(-width // block), -(-height // block)
    return {"source": url, "xref": "x", "yref": "y", "x": -0.5, "sizex": block * nx,
            "y": -0.5 + block * ny if origin_lower else -0.5, "sizey": block * ny,
            "xanchor": "left", "yanchor": "top", "sizing": "stretch", "layer": "below",
            "name": "field"}


def labelled_shape(rows: pd.DataFrame) -> dict:
    """A dashed outline, a little outside each box, around the rows the user labelled (with a
    legend entry and their count)."""
    pad = np.maximum(2.0, 0.2 * np.maximum(rows["x_max"] - rows["x_min"], rows["y_max"] - rows["y_min"]))
    padded = rows.assign(x_min=rows["x_min"] - pad, y_min=rows["y_min"] - pad,
                         x_max=rows["x_max"] + pad, y_max=rows["y_max"] + pad)
    name, colour = LABELLED_SHAPE
    return {"type": "path", "path": box_path(padded), "xref": "x", "yref": "y", "layer": "above",
            "line": {"color": colour, "width": 2, "dash": "dash"}, "name": f"{name} ({len(rows):,})",
            "showlegend": True, "legendgroup": name}


#: Width the legend takes beside the field, px.
LEGEND_PX = 230


def legend_place(width: int, height: int, width_px: int | None, height_px: int | None) -> dict:
    """The legend beside the field when the field, fitted to the figure, leaves that much room
    to its right (a wide window, a tall field), else in rows under it.

    Beside the field, the legend's left edge is placed in the figure (``xref: container``),
    LEGEND_PX from its right: the room kept for it then does not depend on its text, so a
    count that changes with the threshold does not make Plotly draw the figure twice (about
    0.08 s of a threshold change in Chromium)."""
    common = {"font": {"size": 11}, "itemclick": False, "itemdoubleclick": False}
    if width_px and height_px:
        fitted_width = min(width_px - 52, (height_px - 32) * width / height)
        if width_px - 52 - fitted_width < LEGEND_PX:
            return {**common, "orientation": "h", "x": 0, "y": -0.02, "xanchor": "left",
                    "yanchor": "top"}
        return {**common, "orientation": "v", "xref": "container", "x": 1 - LEGEND_PX / width_px,
                "y": 0.94, "xanchor": "left", "yanchor": "top"}
    return {**common, "orientation": "v", "x": 1.01, "y": 0.94, "xanchor": "left", "yanchor": "top"}


def marker_curves(spec: dict) -> list[int]:
    """Indices of the figure's detection marker traces (the only ones a click selects from)."""
    return [i for i, t in enumerate(spec["data"])
            if t.get("type") == "scatter" and t.get("mode") == "markers"]


def class_order(labels: Sequence[str]) -> list[str]:
    """Labels present, in CLASS_NAMES order first, then any other label sorted."""
    present = set(labels)
    return [c for c in CLASS_NAMES if c in present] + sorted(present - set(CLASS_NAMES))
