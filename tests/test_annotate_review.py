"""galaxy_core.annotate (boxes on the PNG export), galaxy_core.review (filters, uncertainty)
and the app's Plotly field figure, on small hand-made catalogues."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from galaxy_core.annotate import box_pixels, draw_boxes, png_bytes
from galaxy_core.catalog import to_frame
from galaxy_core.colours import CLASS_COLOURS, rgb_of
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.review import (
    entropy,
    filter_catalog,
    margin,
    too_small_for_morphology,
    top_classes,
    uncertain_first,
    uncertainty,
)
from galaxy_core.types import CLASS_NAMES, Detection


def det(i, x0, y0, x1, y1, score=0.9, label="object", probs=None):
    return Detection(i, x0, y0, x1, y1, (x0 + x1) / 2, (y0 + y1) / 2, score, label, probs)


def onehot(k, p=0.9):
    rest = (1 - p) / 5
    return tuple(p if i == k else rest for i in range(6))


# --- annotate ---------------------------------------------------------------------------------


def test_box_pixels_follow_the_pixel_centre_convention():
    # edges at -0.5 and 3.5 cover pixel centres 0..3
    assert box_pixels(det(1, -0.5, -0.5, 3.5, 3.5), (10, 10)) == (0, 0, 3, 3)
    assert box_pixels(det(1, 2.2, 1.0, 4.9, 6.0), (10, 10)) == (3, 1, 4, 6)
    assert box_pixels(det(1, 8.0, 8.0, 30.0, 30.0), (10, 10)) == (8, 8, 9, 9)
    assert box_pixels(det(1, 12.0, 0.0, 15.0, 3.0), (10, 10)) is None


def test_draw_boxes_outlines_in_the_class_colour_and_keeps_the_input():
    rgb = np.zeros((40, 50, 3), np.uint8)
    d = det(1, 9.5, 4.5, 29.5, 19.5, label="Elliptical")
    out = draw_boxes(rgb, [d], line=2)
    colour = np.array(rgb_of("Elliptical"), np.uint8)
    assert not rgb.any(), "the input is not modified"
    # box covers columns 10..29 and rows 5..19; a 2-px outline inside it
    for r, c in [(5, 10), (6, 20), (19, 29), (18, 15), (12, 10), (12, 11), (12, 29), (12, 28)]:
        assert (out[r, c] == colour).all(), (r, c)
    for r, c in [(12, 12), (12, 27), (7, 20), (17, 20), (4, 20), (12, 9), (12, 30), (20, 20)]:
        assert not out[r, c].any(), (r, c)
    changed = (out != 0).any(axis=2).sum()
    assert changed == 20 * 15 - 16 * 11


def test_draw_boxes_colours_each_class_and_white_for_unclassified():
    rgb = np.zeros((30, 30 * 7, 3), np.uint8)
    labels = [*CLASS_NAMES, "object"]
    dets = [det(i + 1, 30 * i + 2, 2, 30 * i + 20, 20, label=lab) for i, lab in enumerate(labels)]
    out = draw_boxes(rgb, dets, line=1)
    for i, lab in enumerate(labels):
        expected = rgb_of(lab) if lab in CLASS_COLOURS else (255, 255, 255)
        assert tuple(out[2, 30 * i + 10]) == expected


def test_draw_boxes_refuses_what_is_not_an_rgb_picture():
    with pytest.raises(GalaxyCoreError, match="uint8"):
        draw_boxes(np.zeros((5, 5), np.uint8), [])
    with pytest.raises(GalaxyCoreError, match="uint8"):
        draw_boxes(np.zeros((5, 5, 3), np.float32), [])
    with pytest.raises(GalaxyCoreError, match="line"):
        draw_boxes(np.zeros((5, 5, 3), np.uint8), [], line=0)


def test_png_bytes_flips_rows_for_fits_display():
    rgb = np.zeros((4, 3, 3), np.uint8)
    rgb[0] = 255  # array row 0 = bottom of a FITS image
    as_is = np.asarray(Image.open(io.BytesIO(png_bytes(rgb))))
    flipped = np.asarray(Image.open(io.BytesIO(png_bytes(rgb, origin_lower=True))))
    assert as_is[0].all() and not as_is[-1].any()
    assert flipped[-1].all() and not flipped[0].any()


# --- review -----------------------------------------------------------------------------------


@pytest.fixture
def catalogue():
    return to_frame([
        det(1, 0, 0, 4, 4, 0.95, "Spiral", onehot(0, 0.9)),
        det(2, 0, 0, 4, 4, 0.30, "Elliptical", (0.3, 0.0, 0.4, 0.1, 0.1, 0.1)),
        det(3, 0, 0, 4, 4, 0.60, "On_Edge", onehot(3, 0.5)),
        det(4, 0, 0, 4, 4, 0.10, "object"),
        det(5, 0, 0, 4, 4, 0.70, "object"),
    ])


def test_filter_by_score_and_class(catalogue):
    assert filter_catalog(catalogue, min_score=0.5)["id"].tolist() == [1, 3, 5]
    assert filter_catalog(catalogue, classes=["Spiral", "object"])["id"].tolist() == [1, 4, 5]
    assert filter_catalog(catalogue, min_score=0.5, classes=["object"])["id"].tolist() == [5]
    assert filter_catalog(catalogue, classes=[]).empty
    with pytest.raises(GalaxyCoreError, match="threshold"):
        filter_catalog(catalogue, min_score=1.5)


def test_filter_keeps_only_objects_large_enough_for_morphology():
    sized = to_frame([det(1, 0, 0, 40, 40, 0.9, "Spiral", onehot(0, 0.9)).with_(extent_px=45.0),
                      det(2, 0, 0, 6, 6, 0.9, "Irregular", onehot(4, 0.9)).with_(extent_px=6.0),
                      det(3, 0, 0, 6, 6, 0.9, "object")])
    assert filter_catalog(sized)["id"].tolist() == [1, 2, 3]
    assert filter_catalog(sized, reliable_only=True)["id"].tolist() == [1]
    assert too_small_for_morphology(sized) == (1, 2)


def test_margin_and_entropy(catalogue):
    m = margin(catalogue)
    assert m.iloc[0] == pytest.approx(0.9 - 0.02)
    assert m.iloc[1] == pytest.approx(0.1)
    assert m.iloc[2] == pytest.approx(0.5 - 0.1)
    assert math.isnan(m.iloc[3])
    h = entropy(catalogue)
    uniform = to_frame([det(1, 0, 0, 1, 1, probs=(1 / 6,) * 6)])
    certain = to_frame([det(1, 0, 0, 1, 1, probs=(1.0, 0, 0, 0, 0, 0))])
    assert entropy(uniform).iloc[0] == pytest.approx(1.0)
    assert entropy(certain).iloc[0] == pytest.approx(0.0)
    assert 0 < h.iloc[0] < h.iloc[2] < 1
    assert uncertainty(catalogue, by="margin").iloc[1] == pytest.approx(0.9)
    with pytest.raises(GalaxyCoreError, match="uncertainty"):
        uncertainty(catalogue, by="coin")


def test_uncertain_first_orders_classified_then_unclassified(catalogue):
    assert uncertain_first(catalogue)["id"].tolist() == [2, 3, 1, 4, 5]
    # entropy weighs the whole spread: #3 (0.5 and five 0.1) is more mixed than #2
    assert uncertain_first(catalogue, by="entropy")["id"].tolist() == [3, 2, 1, 4, 5]
    sep_only = catalogue[catalogue["label"] == "object"]
    assert uncertain_first(sep_only)["id"].tolist() == [4, 5]
    assert uncertain_first(catalogue.iloc[:0]).empty


def test_top_classes_text(catalogue):
    text = top_classes(catalogue, k=2)
    assert text.iloc[0] == "Spiral 0.90, Spiral_Barred 0.02"
    assert text.iloc[1] == "Elliptical 0.40, Spiral 0.30"
    assert text.iloc[3] == "unclassified"


# --- the app's field figure ---------------------------------------------------------------------


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
