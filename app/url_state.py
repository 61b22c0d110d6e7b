"""The view in the page's URL, so that a reload or a shared link opens the same view.

The URL names the field (a demo, or an upload's digest while the server holds
it), the stretch and run settings that differ from the field's defaults, and
the view: threshold, hidden classes, honest colours, order, overlays and the
open detection.  :func:`restore` reads it once per session, before any widget
is drawn, into the widgets' session state (values that do not parse are
ignored); :func:`write` puts the current view back after every run, only when
it changed.
"""

from __future__ import annotations

import streamlit as st

from app.field_source import FIELD_OF, SOURCES, source_of
from app.review_panel import HIDDEN, ORDERS, SELECTED
from app.run_panel import FLOORS, UPSAMPLE_NAMES
from galaxy_core import pipeline, shipped
from galaxy_core.display import INTERVALS, STRETCHES, RenderSettings

RESTORED = "url_restored"
#: URL names of RenderSettings fields.
STRETCH_PARAMS = {"interval": "interval", "stretch": "stretch", "a": "a", "percent": "pct",
                  "lower_percent": "lo", "upper_percent": "hi", "vmin": "vmin", "vmax": "vmax",
                  "colormap": "cmap", "rgb_method": "rgb", "lupton_q": "q",
                  "lupton_stretch": "ls"}


def _num(text: str | None) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if value == value and abs(value) != float("inf") else None


def _flag(text: str | None) -> bool | None:
    return {"1": True, "0": False}.get(text or "")


def field_key_of(params: dict) -> str | None:
    """The field the URL names, when it is one this app knows how to name."""
    key = params.get("field")
    if not key:
        return None
    if key.startswith("demo:") and key in SOURCES.values():
        return key
    if key.split(":", 1)[0] in FIELD_OF:
        return key
    return None


def restore() -> None:
    """Seed the session's widget state from the URL, once per session."""
    ss = st.session_state
    if ss.get(RESTORED):
        return
    ss[RESTORED] = True
    params = {k: st.query_params.get(k) for k in st.query_params}
    fkey = field_key_of(params)
    if fkey is not None:
        source = source_of(fkey)
        ss["source"] = next(label for label, s in SOURCES.items() if s == source)
        if source in FIELD_OF:
            ss[FIELD_OF[source]] = fkey
        _restore_stretch(fkey, params)
    _restore_run(params)
    _restore_view(params)


def _restore_stretch(fkey: str, params: dict) -> None:
    ss = st.session_state
    interval, stretch = params.get("interval"), params.get("stretch")
    if interval in INTERVALS:
        ss[f"interval@{fkey}"] = interval
    if stretch in STRETCHES:
        ss[f"stretch@{fkey}"] = stretch
        if (a := _num(params.get("a"))) is not None and a > 0:
            ss[f"a_{stretch}@{fkey}"] = a
    if (pct := _num(params.get("pct"))) is not None and 50 <= pct <= 100:
        ss[f"percent@{fkey}"] = pct
    lo, hi = _num(params.get("lo")), _num(params.get("hi"))
    if lo is not None and hi is not None and 0 <= lo < hi <= 100:
        ss[f"percentiles@{fkey}"] = (lo, hi)
    for name in ("vmin", "vmax"):
        if (v := _num(params.get(name))) is not None:
            ss[f"{name}@{fkey}"] = v
    if params.get("cmap"):
        from app.stretch_panel import COLORMAPS

        if params["cmap"] in COLORMAPS:
            ss[f"colormap@{fkey}"] = params["cmap"]
    if params.get("rgb") == "lupton":
        ss[f"rgb_method@{fkey}"] = "Lupton (Q, stretch)"
        if (q := _num(params.get("q"))) is not None and 0 <= q <= 20:
            ss[f"lupton_q@{fkey}"] = q
        if (ls := _num(params.get("ls"))) is not None and ls > 0:
            ss[f"lupton_stretch@{fkey}"] = ls


def _restore_run(params: dict) -> None:
    ss = st.session_state
    if params.get("method") in shipped.available_methods():
        ss["method"] = params["method"]
    for name, key in (("classify", "classify"), ("tta", "tta"), ("flips", "detect_tta"),
                      ("auto", "auto_run")):
        if (flag := _flag(params.get(name))) is not None:
            ss[key] = flag
    if (floor := _num(params.get("floor"))) in FLOORS:
        ss["floor"] = floor
    if (up := _num(params.get("up"))) is not None and up in UPSAMPLE_NAMES:
        ss["upsample"] = int(up) if up == int(up) else up
    if (sigma := _num(params.get("sigma"))) is not None and 1 <= sigma <= 10:
        ss["sep_sigma"] = round(sigma * 2) / 2
    if (area := _num(params.get("minarea"))) is not None and 1 <= area <= 50:
        ss["sep_minarea"] = int(area)


def _restore_view(params: dict) -> None:
    ss = st.session_state
    if (thr := _num(params.get("thr"))) is not None and 0 <= thr <= 1:
        ss["threshold"] = round(thr, 2)
    if params.get("hide"):
        ss[HIDDEN] = tuple(sorted(g for g in params["hide"].split(",") if g))
    if params.get("order") in ORDERS:
        ss["order"] = params["order"]
    for name, key in (("honest", "honest"), ("grid", "sky_grid"), ("sep", "sep_overlay")):
        if (flag := _flag(params.get(name))) is not None:
            ss[key] = flag
    if (sel := _num(params.get("sel"))) is not None and sel == int(sel) and sel > 0:
        ss[SELECTED] = int(sel)
        ss["detection_id_kept"] = int(sel)


def params_of(field_key: str | None, render: RenderSettings | None, base: RenderSettings | None,
              run: pipeline.RunSettings | None) -> dict[str, str]:
    """The URL parameters of the current view (defaults left out)."""
    ss = st.session_state
    out: dict[str, str] = {}
    if field_key:
        out["field"] = field_key
    if render is not None and base is not None:
        for name, short in STRETCH_PARAMS.items():
            value = getattr(render, name)
            if value != getattr(base, name) and value is not None:
                out[short] = f"{value:.6g}" if isinstance(value, float) else str(value)
    if run is not None:
        from app.run_panel import default_floor

        method = run.resolved_method()
        if method != shipped.available_methods()[0]:
            out["method"] = method
        if run.classify != shipped.classifier_available():
            out["classify"] = "1" if run.classify else "0"
        for name, flag in (("tta", run.tta), ("flips", run.detect_tta)):
            if flag:
                out[name] = "1"
        if method == "yolo" and run.min_score != default_floor("yolo"):
            out["floor"] = f"{run.min_score:g}"
        if run.upsample != 1:
            out["up"] = f"{run.upsample:g}"
        if method == "sep":
            if run.sep_thresh_sigma != 3.0:
                out["sigma"] = f"{run.sep_thresh_sigma:g}"
            if run.sep_minarea != 5:
                out["minarea"] = str(run.sep_minarea)
    if ss.get("auto_run"):
        out["auto"] = "1"
    from app.review_panel import DEFAULT_THRESHOLD

    thr = ss.get("threshold", DEFAULT_THRESHOLD)
    if thr is not None and abs(float(thr) - DEFAULT_THRESHOLD) > 1e-9:
        out["thr"] = f"{float(thr):.2f}"
    if ss.get(HIDDEN):
        out["hide"] = ",".join(ss[HIDDEN])
    if ss.get("order", ORDERS[0]) != ORDERS[0]:
        out["order"] = ss["order"]
    if ss.get("honest") is False:
        out["honest"] = "0"
    for name, key in (("grid", "sky_grid"), ("sep", "sep_overlay")):
        if ss.get(key):
            out[name] = "1"
    selected = ss.get(SELECTED, ss.get("detection_id_kept"))
    if selected is not None:
        out["sel"] = str(int(selected))
    return out


def write(params: dict[str, str]) -> None:
    """Put ``params`` in the URL when they differ from what it holds."""
    current = {k: st.query_params.get(k) for k in st.query_params}
    if current != params:
        st.query_params.from_dict(params)
