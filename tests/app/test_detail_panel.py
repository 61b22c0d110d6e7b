"""The detail panel: every probability readable, the detector's stars said so, the views' table narrow."""

from app.detail_panel import probability_chart, reliability_text, unreliable_text
from galaxy_core import shipped
from galaxy_core.morphology.reliability import ReliabilityRule
from galaxy_core.types import CLASS_NAMES, Detection

RULE = ReliabilityRule(min_extent_px=24.0, min_peak_snr=60.0)


def test_probability_chart_labels_every_class_and_puts_long_bars_values_inside():
    probs = (0.0, 0.0, 0.02, 0.97, 0.01, 0.0)
    bar = probability_chart(probs).data[0]
    assert list(bar.y) == list(CLASS_NAMES)
    assert list(bar.text) == ["0.00", "0.00", "0.02", "0.97", "0.01", "0.00"]
    assert bar.textposition[CLASS_NAMES.index("On_Edge")] == "inside"
    assert set(bar.textposition) - {bar.textposition[3]} == {"outside"}
    assert bar.cliponaxis is False


def test_views_table_has_short_headers_and_two_decimals():
    import numpy as np

    from app.detail_panel import views_table
    from galaxy_core.morphology.views import AugmentedView

    views = [AugmentedView(name, np.zeros((4, 4, 3), np.uint8), (0.5, 0.1, 0.1, 0.1, 0.1, 0.1))
             for name in ("original", "perspective-warped")]
    table = views_table(views)
    assert list(table.columns) == ["Spiral", "Barred", "Ellipt.", "Edge-on", "Irreg.", "Star/art."]
    assert table.index.tolist() == ["original", "perspective-warped"]
    assert table.iloc[1].tolist() == ["0.50", "0.10", "0.10", "0.10", "0.10", "0.10"]


def test_reliability_texts_say_why_a_class_is_not_trusted():
    big = Detection(1, 0, 0, 40, 40, 20, 20, 0.9, "Spiral", (1, 0, 0, 0, 0, 0), extent_px=40.0,
                    peak_snr=300.0, morph_accuracy=0.83)
    assert "**83%**" in reliability_text(big) and "peak S/N 300" in reliability_text(big)
    faint = big.with_(peak_snr=15.0, morph_accuracy=0.6)
    assert unreliable_text(faint, RULE).startswith("Too faint: peak S/N 15, below 60")
    small = big.with_(extent_px=9.0, morph_accuracy=None)
    assert unreliable_text(small, RULE).startswith("Only about 9 px across. Below 24 px")
    assert "no accuracy measured" in reliability_text(small)


def _panel_script(detector_label):
    """Draw the detail panel of one classified detection with this detector label."""
    import numpy as np

    from app.caching import StoredRun
    from app.detail_panel import detection_detail
    from galaxy_core.display import RenderSettings
    from galaxy_core.pipeline import RunResult, RunSettings
    from galaxy_core.types import Detection

    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[28:36, 28:36] = 255
    probs = (0.05, 0.0, 0.9, 0.0, 0.0, 0.05)
    d = Detection(1, 27.5, 27.5, 35.5, 35.5, 31.5, 31.5, 0.9,
                  "Star/Artifact" if detector_label == "star" else "Elliptical", probs,
                  extent_px=8.0, peak_snr=200.0, detector_label=detector_label)
    result = RunResult((d,), rgb=rgb, method="yolo", floor=0.25, classified=True,
                       settings=RunSettings(method="sep"), render=RenderSettings(), seconds=0.0)
    detection_detail(d, StoredRun(result, ("test",)), origin_lower=False)


def test_the_panel_says_when_the_label_comes_from_the_detector():
    from streamlit.testing.v1 import AppTest

    from app.detail_panel import DETECTOR_STAR_TEXT

    for detector_label, expected in (("star", True), ("galaxy", False)):
        at = AppTest.from_function(_panel_script, args=(detector_label,), default_timeout=120)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert any(i.value == DETECTOR_STAR_TEXT for i in at.info) is expected
        title = at.subheader[0].value
        assert title == ("#1 Star/Artifact" if expected else "#1 Elliptical")
        if shipped.classifier_available():  # the augmentation preview needs the classifier
            views = next(c.value for c in at.caption if "views" in c.value and "of" in c.value)
            assert views.startswith("The classifier calls ") is expected
