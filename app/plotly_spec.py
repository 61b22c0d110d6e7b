"""Plotly figures written as plain JSON-ready dicts, handed to ``st.plotly_chart`` unvalidated.

plotly.py validates every property of a figure it builds, and ``st.plotly_chart``
validates a dict again before encoding it: for the field with 2,000 boxes and
its hover grid that took about 0.25 s of a 0.2 s budget per rerun.  The field's
figure is therefore written here as plotly.js's own JSON (arrays as typed
``{"dtype", "bdata"}`` blocks), its unchanging parts made once, and wrapped in a
:class:`PreparedFigure` whose ``to_dict`` returns it as it is.  Tests check the
dicts with plotly.py's validator (``go.Figure(spec)``).
"""

from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go

_DTYPES = {np.dtype("float32"): "f4", np.dtype("float64"): "f8", np.dtype("int32"): "i4",
           np.dtype("uint8"): "u1", np.dtype("int16"): "i2", np.dtype("uint16"): "u2",
           np.dtype("int8"): "i1", np.dtype("uint32"): "u4"}


def typed(values, dtype=np.float32) -> dict:
    """A numeric array as plotly.js's typed array block (shape kept for 2-D and 3-D arrays)."""
    arr = np.ascontiguousarray(np.asarray(values, dtype=dtype))
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    out = {"dtype": _DTYPES[arr.dtype], "bdata": base64.b64encode(arr.tobytes()).decode("ascii")}
    if arr.ndim > 1:
        out["shape"] = ",".join(str(n) for n in arr.shape)
    return out


class PreparedFigure(go.Figure):
    """A figure whose JSON is already written: ``to_dict()`` returns that dict unchanged (what
    ``st.plotly_chart`` encodes), skipping plotly.py's validation and copying."""

    def __init__(self, spec: dict) -> None:
        super().__init__()
        self._spec = spec

    @property
    def spec(self) -> dict:
        return self._spec

    def to_dict(self) -> dict:
        return self._spec

    def to_plotly_json(self) -> dict:
        return self._spec
