"""The app's field figure: boxes per class, orientation."""

from __future__ import annotations

import pandas as pd
import pytest

from galaxy_core.catalog.table import to_frame
from galaxy_core.types import Detection


def det(i, x0, y0, x1, y1, score=0.9, label="object", probs=None):
    return Detection(i, x0, y0, x1, y1, (x0 + x1) / 2, (y0 + y1) / 2, score, label, probs)


def onehot(k, p=0.9):
    rest = (1 - p) / 5
    return tuple(p if i == k else rest for i in range(6))


@pytest.fixture
def catalogue():
    return to_frame([
        det(1, 0, 0, 4, 4, 0.95, "Spiral", onehot(0, 0.9)),
        det(2, 0, 0, 4, 4, 0.30, "Elliptical", (0.3, 0.0, 0.4, 0.1, 0.1, 0.1)),
        det(3, 0, 0, 4, 4, 0.60, "On_Edge", onehot(3, 0.5)),
        det(4, 0, 0, 4, 4, 0.10, "object"),
        det(5, 0, 0, 4, 4, 0.70, "object"),
    ])


def test_field_figure_traces_and_orientation(catalogue):
    from app.field_figure import SELECTED_SHAPE, box_path, field_figure

    assert box_path(to_frame([det(1, 0, 0, 4, 4), det(2, 10, 10, 16, 18)])) == ("M0.00,0.00H4.00V4.00H0.00Z"
                                            "M10.00,10.00H16.00V18.00H10.00Z")
    fig = field_figure("data:image/png;base64,", block=2, width=100, height=80, origin_lower=True,
                       df=catalogue, sep=[det(1, 1, 1, 3, 3)], selected_id=3)
    assert [t.name for t in fig.data][0] == "field"
    boxes = {s.name: s for s in fig.layout.shapes if s.type == "path"}
    assert set(boxes) == {"Spiral (1)", "Elliptical (1)", "object (2)", "On_Edge (1)",
                          "sep baseline (1)"}
    assert boxes["object (2)"].path.count("M") == 2 and boxes["object (2)"].showlegend
    assert boxes["sep baseline (1)"].path == "M1.00,1.00H3.00V3.00H1.00Z"
    markers = [t for t in fig.data[1:] if t.mode == "markers"]
    assert sorted(int(c[0]) for t in markers for c in t.customdata) == [1, 2, 3, 4, 5]
    # each class's markers and boxes share a legend group, so one legend click hides both
    assert {t.legendgroup for t in markers} == {boxes[n].legendgroup for n in boxes} - {"sep baseline (1)"}
    assert fig.data[0].x0 == 0.5 and fig.data[0].dx == 2
    assert tuple(fig.layout.yaxis.range) == (-0.5, 79.5)  # FITS: y up
    picture = field_figure("data:image/png;base64,", block=1, width=100, height=80,
                           origin_lower=False, df=catalogue)
    assert tuple(picture.layout.yaxis.range) == (79.5, -0.5)  # picture: y down
    assert [s.name for s in fig.layout.shapes if s.type == "rect"] == [SELECTED_SHAPE]
    assert not [s for s in picture.layout.shapes if s.type == "rect"]


def test_field_figure_with_no_detection():
    from app.field_figure import field_figure

    fig = field_figure("data:image/png;base64,", block=1, width=10, height=10, origin_lower=False,
                       df=to_frame([]))
    assert len(fig.data) == 1
    assert isinstance(to_frame([]), pd.DataFrame)
