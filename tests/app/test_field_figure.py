"""The app's field figure: boxes per display group, hover grid, graticule, orientation."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from galaxy_core.catalog.table import to_frame
from galaxy_core.catalog.triage import UNTRUSTED, display_groups
from galaxy_core.display.sky_grid import graticule, hover_grid
from galaxy_core.io.synthetic import synthetic_field
from galaxy_core.types import Detection


def det(i, x0, y0, x1, y1, score=0.9, label="object", probs=None, reliable=None):
    return Detection(i, x0, y0, x1, y1, (x0 + x1) / 2, (y0 + y1) / 2, score, label, probs,
                     morph_reliable=reliable)


def onehot(k, p=0.9):
    rest = (1 - p) / 5
    return tuple(p if i == k else rest for i in range(6))


@pytest.fixture
def catalogue():
    df = to_frame([
        det(1, 0, 0, 4, 4, 0.95, "Spiral", onehot(0, 0.9), True),
        det(2, 0, 0, 4, 4, 0.30, "Elliptical", (0.3, 0.0, 0.4, 0.1, 0.1, 0.1), True),
        det(3, 0, 0, 4, 4, 0.60, "On_Edge", onehot(3, 0.5), False),
        det(4, 0, 0, 4, 4, 0.10, "object"),
        det(5, 0, 0, 4, 4, 0.70, "object"),
    ])
    return df.assign(group=display_groups(df))


def test_field_figure_groups_orientation_and_selection(catalogue):
    from app.field_figure import (
        NEUTRAL_STYLE,
        SELECTED_SHAPE,
        box_path,
        field_figure,
        marker_curves,
    )

    assert box_path(to_frame([det(1, 0, 0, 4, 4), det(2, 10, 10, 16, 18)])) == (
        "M0.00,0.00H4.00V4.00H0.00Z" "M10.00,10.00H16.00V18.00H10.00Z")
    spec = field_figure("data:image/png;base64,", block=2, width=100, height=80, origin_lower=True,
                        df=catalogue, sep=[det(1, 1, 1, 3, 3)], selected_id=3, height_px=640)
    go.Figure(spec)  # plotly.py's validator accepts every property written
    (image,) = spec["layout"]["images"]  # a 50 x 40 render of 2 x 2 blocks over the field
    assert image["source"] == "data:image/png;base64," and (image["x"], image["y"]) == (-0.5, 79.5)
    assert (image["sizex"], image["sizey"], image["yanchor"]) == (100, 80, "top")
    boxes = {s["name"]: s for s in spec["layout"]["shapes"] if s["type"] == "path"}
    assert set(boxes) == {"Spiral (1)", "Elliptical (1)", "object (2)",
                          "too small / faint to classify (1)", "sep baseline (1)"}
    assert boxes["object (2)"]["path"].count("M") == 2 and boxes["object (2)"]["showlegend"]
    assert boxes["too small / faint to classify (1)"]["line"]["color"] == NEUTRAL_STYLE[UNTRUSTED][0]
    assert boxes["sep baseline (1)"]["path"] == "M1.00,1.00H3.00V3.00H1.00Z"
    markers = [spec["data"][i] for i in marker_curves(spec)]
    assert sorted(len(t["text"]) for t in markers) == [1, 1, 1, 2]
    assert any("class not trusted" in t["text"][0] for t in markers)  # the grey one says why
    assert {t["legendgroup"] for t in markers} == {b["legendgroup"] for b in boxes.values()} - {"sep baseline"}
    assert spec["layout"]["yaxis"]["range"] == [-0.5, 79.5] and spec["layout"]["height"] == 640
    picture = field_figure("data:image/png;base64,", block=1, width=100, height=80,
                           origin_lower=False, df=catalogue)
    assert picture["layout"]["yaxis"]["range"] == [79.5, -0.5]  # picture: y down
    assert picture["layout"]["images"][0]["y"] == -0.5  # its top row at the top, y = -0.5
    odd = field_figure("u.jpg", block=4, width=101, height=9, origin_lower=True, df=catalogue)
    image = odd["layout"]["images"][0]  # 26 x 3 render pixels, the last blocks sticking out
    assert (image["sizex"], image["sizey"], image["y"]) == (104, 12, 11.5)
    assert [s["name"] for s in spec["layout"]["shapes"] if s["type"] == "rect"] == [SELECTED_SHAPE]
    assert not [s for s in picture["layout"]["shapes"] if s["type"] == "rect"]


def test_hover_grid_and_graticule_traces():
    from app.field_figure import field_figure, hover_trace

    field = synthetic_field(seed=1, size=128, n_galaxies=2, n_stars=0)[0]
    grid = hover_grid(field, max_cells=256)
    trace = hover_trace(grid, band_names=field.band_names)
    assert trace["customdata"]["shape"] == f"{len(grid.y)},{len(grid.x)},5"  # 3 bands, RA, Dec
    spec = field_figure("data:image/png;base64,", block=1, width=128, height=128, origin_lower=True,
                        df=to_frame([]), hover=trace,
                        grid_lines=graticule(field.wcs, field.width, field.height))
    go.Figure(spec)
    assert spec["data"][0]["name"] == "hover grid" and spec["layout"]["images"][0]["name"] == "field"
    assert {t["name"] for t in spec["data"][1:]} == {"ra grid", "dec grid"}
    assert len(spec["layout"]["annotations"]) >= 2


def test_field_figure_with_no_detection():
    from app.field_figure import field_figure

    spec = field_figure("data:image/png;base64,", block=1, width=10, height=10, origin_lower=False,
                        df=to_frame([]), banner="Detecting...")
    assert not spec["data"] and spec["layout"]["annotations"][0]["text"] == "Detecting..."
