"""The browser window's size, reported by a few lines of JavaScript (a ``st.components.v2``
component with no visible element), so the field's figure can be given the height it
will be drawn at.

Streamlit redraws a Plotly chart whose figure changed at the figure's own height
(450 px when it names none) before fitting it to its container, so without a
height the field flickered to 450 px on every redraw while classes came in.

A new page does not know the size on its first run; the field's plot waits for it
(:func:`size_pending`): the first run sends the field's picture alone, which the
browser shows at once, and the plot (about 0.9 MB and the browser's slowest step for
the XDF demo) is sent once, at its height, on the run the size report starts.
(No timer redraws the page if the report never comes: a ``run_every`` fragment calling
``st.rerun`` can drop a widget change made at the same moment; the next run after
SIZE_WAIT_S draws the plot without the size.)
"""

from __future__ import annotations

import time

import streamlit as st

JS = """
export default function(component) {
    const { setStateValue } = component;
    let last = "", timer = null;
    const report = () => {
        const size = [Math.round(window.innerWidth), Math.round(window.innerHeight)];
        if (size.join("x") !== last) { last = size.join("x"); setStateValue("size", size); }
    };
    const later = () => { clearTimeout(timer); timer = setTimeout(report, 300); };
    report();
    window.addEventListener("resize", later);
    return () => { window.removeEventListener("resize", later); clearTimeout(timer); };
}
"""

_component = None
#: Session key: this host runs no custom components (AppTest), so no size will come.
NO_HOST = "viewport_no_host"
#: Session key: when this page started waiting for its size (time.monotonic(), s).
WAIT_SINCE = "viewport_wait_since"
#: Longest wait (s) for the size: runs after it draw the plot without it.
SIZE_WAIT_S = 2.0


def window_size() -> tuple[int, int] | None:
    """(width, height) of the browser window in CSS px, None until the browser said it."""
    global _component
    if _component is None:
        _component = st.components.v2.component("galaxy_inspector_viewport", js=JS)
    try:
        result = _component(key="viewport", on_size_change=lambda: None)
        size = getattr(result, "size", None)
    except Exception:  # a host without custom components (AppTest): sizes stay unknown
        st.session_state[NO_HOST] = True
        return None
    if isinstance(size, list | tuple) and len(size) == 2:
        return int(size[0]), int(size[1])
    return None


def size_pending() -> bool:
    """Whether this page still waits for the browser to report its size: not once it came,
    never where none can come, and not SIZE_WAIT_S after the page's first run."""
    state = st.session_state
    if state.get("window") is not None or state.get(NO_HOST):
        return False
    return time.monotonic() - state.setdefault(WAIT_SINCE, time.monotonic()) < SIZE_WAIT_S
