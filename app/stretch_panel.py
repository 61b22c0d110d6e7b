"""Stretch controls, a live preview on the downsampled field and a histogram with the limits."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app import caching
from app.caching import LoadedField
from app.guard import guarded
from galaxy_core.display import (
    INTERVALS,
    STRETCHES,
    RenderSettings,
    band_limits,
    default_settings,
)
from galaxy_core.types import Field

PREVIEW_MAX_SIDE = 512
COLORMAPS = ("gray", "viridis", "magma", "inferno", "cividis", "afmhot")
_BAND_COLOURS = ("#d62728", "#2ca02c", "#1f77b4")
_STRETCH_PARAM = {"log": "log a", "asinh": "asinh a", "sinh": "sinh a", "power": "power exponent"}


def stretch_controls(loaded: LoadedField) -> RenderSettings:
    """The widgets of the Stretch tab; returns the settings they describe.

    Widget keys carry the field's key, so each field opens with its own fitted
    defaults and keeps the user's choices for the session.  Invalid combinations
    show the reason and fall back to the defaults.  Lupton's colour mapping is
    offered for FITS bands only (a picture's colours are already mapped).
    """
    fkey, field = loaded.key, loaded.field
    base = default_settings(field)
    keep = {"persist_state": "session"}
    c1, c2 = st.columns(2)
    values: dict = {}
    with c1:
        values["interval"] = st.selectbox(
            "Interval", INTERVALS, index=INTERVALS.index(base.interval), key=f"interval@{fkey}", **keep,
            help="Which pixel values map to black and white, measured per band.")
        if values["interval"] == "percentile":
            values["percent"] = st.slider("Percent kept", 50.0, 100.0, base.percent, 0.1,
                                          key=f"percent@{fkey}", **keep)
        elif values["interval"] == "asym_percentile":
            values["lower_percent"], values["upper_percent"] = st.slider(
                "Lower and upper percentile", 0.0, 100.0, (base.lower_percent, base.upper_percent),
                0.1, key=f"percentiles@{fkey}", **keep)
        elif values["interval"] == "manual":
            small, _ = caching.small_field(loaded, PREVIEW_MAX_SIDE)
            lo, hi = band_limits(small.luminance(), base)
            values["vmin"] = st.number_input("Black level (pixel units)", value=float(lo),
                                             format="%.4g", key=f"vmin@{fkey}", **keep)
            values["vmax"] = st.number_input("White level (pixel units)", value=float(hi),
                                             format="%.4g", key=f"vmax@{fkey}", **keep)
    with c2:
        values["stretch"] = st.selectbox("Stretch", STRETCHES, index=STRETCHES.index(base.stretch),
                                         key=f"stretch@{fkey}", **keep)
        if values["stretch"] in _STRETCH_PARAM:
            default_a = base.a if base.stretch == values["stretch"] else (
                2.0 if values["stretch"] == "power" else (1000.0 if values["stretch"] == "log" else 0.1))
            values["a"] = st.number_input(_STRETCH_PARAM[values["stretch"]], min_value=1e-4,
                                          max_value=1e4, value=float(default_a), format="%.4g",
                                          key=f"a_{values['stretch']}@{fkey}", **keep)
        if field.n_bands == 1:
            values["colormap"] = st.selectbox("Colour map", COLORMAPS, key=f"colormap@{fkey}",
                                              **keep)
        elif field.kind == "fits":
            method = st.radio("Three bands", ("Per band (make_rgb)", "Lupton (Q, stretch)"),
                              horizontal=True, key=f"rgb_method@{fkey}", **keep)
            values["rgb_method"] = "bands" if method.startswith("Per band") else "lupton"
            if values["rgb_method"] == "lupton":
                values["lupton_q"] = st.slider("Lupton Q", 0.0, 20.0, base.lupton_q, 0.5,
                                               key=f"lupton_q@{fkey}", **keep)
                stretch = st.number_input(
                    "Lupton stretch (pixel units, 0 = from the data)", min_value=0.0,
                    value=0.0, format="%.4g", key=f"lupton_stretch@{fkey}", **keep)
                values["lupton_stretch"] = stretch or None
    settings = base
    with guarded("setting the stretch"):
        settings = RenderSettings(**{**_fields(base), **values})
    return settings


def _fields(settings: RenderSettings) -> dict:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


@st.cache_resource(max_entries=8, ttl=3600, show_spinner=False)
def _histograms(fkey: str, _small: Field, bins: int = 200) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Per band: (name, bin edges, counts) of the finite pixels between the 0.1 and 99.9 percentiles."""
    out = []
    for i, band in enumerate(_small.data):
        values = band[np.isfinite(band)]
        if values.size == 0:
            continue
        lo, hi = np.percentile(values, [0.1, 99.9])
        counts, edges = np.histogram(values, bins=bins, range=(float(lo), float(hi) or 1.0))
        name = _small.band_names[i] if i < len(_small.band_names) else f"band {i}"
        out.append((name, edges, counts))
    return out


@st.cache_resource(max_entries=32, ttl=3600, show_spinner=False)
def histogram_figure(fkey: str, rkey: tuple, _small: Field, _settings: RenderSettings) -> go.Figure:
    """Pixel-value histograms of each band with the interval's limits drawn as lines.

    Cached per field and settings (``rkey``): reruns that change neither reuse it.
    """
    fig = go.Figure()
    shapes = []
    for i, (name, edges, counts) in enumerate(_histograms(fkey, _small)):
        colour = _BAND_COLOURS[i] if _small.n_bands == 3 else "#888888"
        centres = 0.5 * (edges[1:] + edges[:-1])
        fig.add_trace(go.Scatter(x=centres, y=counts, mode="lines", line={"color": colour},
                                 name=str(name), line_shape="hvh"))
        lo, hi = band_limits(_small.data[i], _settings)
        shapes += [{"type": "line", "x0": v, "x1": v, "y0": 0, "y1": 1, "xref": "x", "yref": "paper",
                    "line": {"color": colour, "dash": dash, "width": 1}}
                   for v, dash in ((lo, "dash"), (hi, "dot"))]
    fig.update_yaxes(type="log", title="pixels")
    fig.update_xaxes(title="pixel value (dashed: black level, dotted: white level)")
    fig.update_layout(height=280, margin={"l": 10, "r": 10, "t": 30, "b": 10}, shapes=shapes,
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0})
    return fig


def stretch_preview(loaded: LoadedField, settings: RenderSettings) -> None:
    """The preview picture and the histogram for ``settings`` (a render of the 512 px preview:
    instant; the detections stay as they are)."""
    fkey, field = loaded.key, loaded.field
    rgb, block = caching.preview_rgb(loaded, settings, PREVIEW_MAX_SIDE)
    small, _ = caching.small_field(loaded, PREVIEW_MAX_SIDE)
    left, right = st.columns([1, 1])
    with left:
        shown = rgb[::-1] if field.kind == "fits" else rgb
        st.image(np.ascontiguousarray(shown), caption=f"Preview, 1 pixel = {block} x {block} field pixels",
                 width="stretch")
    with right:
        rkey = caching.settings_key(settings)
        st.plotly_chart(histogram_figure(fkey, rkey, small, settings), key=f"histogram@{fkey}",
                        config={"displayModeBar": False})
