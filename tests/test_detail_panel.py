"""The detail panel's probability chart keeps every value readable."""

from app.detail_panel import probability_chart
from galaxy_core.types import CLASS_NAMES


def test_probability_chart_labels_every_class_and_puts_long_bars_values_inside():
    probs = (0.0, 0.0, 0.02, 0.97, 0.01, 0.0)
    bar = probability_chart(probs).data[0]
    assert list(bar.y) == list(CLASS_NAMES)
    assert list(bar.text) == ["0.00", "0.00", "0.02", "0.97", "0.01", "0.00"]
    assert bar.textposition[CLASS_NAMES.index("On_Edge")] == "inside"
    assert set(bar.textposition) - {bar.textposition[3]} == {"outside"}
    assert bar.cliponaxis is False
