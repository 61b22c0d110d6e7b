"""The detail panel's probability chart keeps every value readable."""

from app.detail_panel import probability_chart, reliability_text, unreliable_text
from galaxy_core.types import CLASS_NAMES, Detection


def test_probability_chart_labels_every_class_and_puts_long_bars_values_inside():
    probs = (0.0, 0.0, 0.02, 0.97, 0.01, 0.0)
    bar = probability_chart(probs).data[0]
    assert list(bar.y) == list(CLASS_NAMES)
    assert list(bar.text) == ["0.00", "0.00", "0.02", "0.97", "0.01", "0.00"]
    assert bar.textposition[CLASS_NAMES.index("On_Edge")] == "inside"
    assert set(bar.textposition) - {bar.textposition[3]} == {"outside"}
    assert bar.cliponaxis is False


def test_reliability_texts_say_why_a_class_is_not_trusted():
    big = Detection(1, 0, 0, 40, 40, 20, 20, 0.9, "Spiral", (1, 0, 0, 0, 0, 0), extent_px=40.0,
                    peak_snr=300.0, morph_accuracy=0.83)
    assert "**83%**" in reliability_text(big) and "peak S/N 300" in reliability_text(big)
    faint = big.with_(peak_snr=15.0, morph_accuracy=0.6)
    assert unreliable_text(faint).startswith("Too faint: peak S/N 15, below")
    small = big.with_(extent_px=9.0, morph_accuracy=None)
    assert unreliable_text(small).startswith("Only about 9 px across")
    assert "no accuracy measured" in reliability_text(small)
