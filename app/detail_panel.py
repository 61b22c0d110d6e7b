"""One detection opened: its cutout, its six probabilities, and augmented views re-classified."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import caching
from galaxy_core.display.annotate import draw_boxes
from galaxy_core.display.colours import colour_of
from galaxy_core.morphology.reliability import ReliabilityRule
from galaxy_core.morphology.views import AugmentedView, agreement, augmented_views
from galaxy_core.types import CLASS_NAMES, Detection

CUTOUT_PX = 256
DETECTOR_STAR_TEXT = (
    "The detector calls this a **star**, so it is labelled Star/Artifact. The classifier's own "
    "probabilities are below: its stars were ground-based, without the diffraction spikes and halos "
    "of Hubble stars, and it calls most of those galaxies (bench/bench_star_labels.py).")


def cutout(rgb: np.ndarray, d: Detection, *, origin_lower: bool) -> np.ndarray:
    """The detection with its box drawn, in a square of twice its longer side, CUTOUT_PX wide."""
    h, w = rgb.shape[:2]
    half = max(12.0, 1.0 * max(d.width, d.height))
    c0, c1 = int(max(0, np.floor(d.x - half))), int(min(w, np.ceil(d.x + half + 1)))
    r0, r1 = int(max(0, np.floor(d.y - half))), int(min(h, np.ceil(d.y + half + 1)))
    local = d.with_(x_min=d.x_min - c0, x_max=d.x_max - c0, y_min=d.y_min - r0, y_max=d.y_max - r0)
    cut = draw_boxes(np.ascontiguousarray(rgb[r0:r1, c0:c1]), [local], line=1)
    return cut[::-1] if origin_lower else cut


def probability_chart(probs: tuple[float, ...], *, height: int = 240) -> go.Figure:
    """The six class probabilities as a horizontal bar chart in the class colours."""
    fig = go.Figure(go.Bar(
        x=list(probs), y=list(CLASS_NAMES), orientation="h",
        marker={"color": [colour_of(c) for c in CLASS_NAMES], "line": {"color": "#333", "width": 1}},
        # Long bars carry their value inside, so a narrow column never clips it.
        text=[f"{p:.2f}" for p in probs], hoverinfo="skip", cliponaxis=False,
        textposition=["inside" if p > 0.7 else "outside" for p in probs], insidetextanchor="end",
    ))
    fig.update_xaxes(range=[0, 1.15], title="probability")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


@st.cache_resource(max_entries=64, ttl=3600, show_spinner="Classifying augmented views...")
def cached_views(run_id: int, det_id: int, seed: int, _stored: caching.StoredRun,
                 _d: Detection) -> list[AugmentedView]:
    """The augmentation preview of one detection of one stored run (computed by the core)."""
    return augmented_views(caching.classifier(), _stored.result.rgb, _d,
                           others=_stored.boxes(), seed=seed)


def reliability_text(d: Detection) -> str:
    """One line: the object's measured size and S/N and the accuracy expected there."""
    size = "Size not measured" if d.extent_px is None else f"About {d.extent_px:.0f} px across"
    snr = "" if d.peak_snr is None else f", peak S/N {d.peak_snr:.0f}"
    if d.morph_accuracy is None:
        return f"{size}{snr}; no accuracy measured for this size and S/N."
    return (f"{size}{snr}: the classifier got **{d.morph_accuracy:.0%}** of validation galaxies "
            "like this right (shrunk, noisy; weights/MODEL_CARD.md, 'Accuracy by size and S/N').")


def unreliable_text(d: Detection, rule: ReliabilityRule) -> str:
    """Why the class of ``d`` is not to be trusted (small, or faint for its size)."""
    if rule.why_not(d.extent_px, d.peak_snr) == "small":
        return (f"Only about {d.extent_px or 0:.0f} px across. Below {rule.min_extent_px:.0f} px the "
                "classifier's class is unreliable: it cannot see arms, bars or discs, and tiny blobs "
                "lean to Irregular or Star/Artifact (weights/MODEL_CARD.md, 'Accuracy versus galaxy size').")
    return (f"Too faint: peak S/N {d.peak_snr:.0f}, below {rule.min_peak_snr:.0f}. There noise hides arms "
            "and discs and inflates the measured size, and the classifier's accuracy falls "
            "(weights/MODEL_CARD.md, 'Accuracy by size and S/N').")


def detection_detail(d: Detection, stored: caching.StoredRun, rkey: tuple, *, origin_lower: bool,
                     rule: ReliabilityRule | None = None) -> None:
    """The panel of one detection of a stored run; ``rule``: the classifier's reliability rule."""
    rgb = stored.result.rgb
    st.subheader(f"#{d.id} {d.label}")
    left, right = st.columns([1, 1])
    with left:
        st.image(cutout(rgb, d, origin_lower=origin_lower), width=CUTOUT_PX)
        sky = "n/a" if d.ra is None else f"{d.ra:.6f}, {d.dec:+.6f} deg"
        st.markdown(f"score **{d.score:.3f}** · centre x, y = {d.x:.1f}, {d.y:.1f} px · "
                    f"box {d.width:.0f} x {d.height:.0f} px · RA, Dec = {sky}")
    with right:
        if d.probs is None:
            st.info("Not classified: turn on 'Classify morphology' (needs the classifier's weights).")
        else:
            if d.detector_label == "star":
                st.info(DETECTOR_STAR_TEXT)
            else:
                st.markdown(reliability_text(d))
                if rule is not None and not d.morph_reliable:
                    st.warning(unreliable_text(d, rule))
            st.plotly_chart(probability_chart(d.probs), key="detail_probs",
                            config={"displayModeBar": False})
    if d.probs is None or caching.classifier() is None:
        return
    augmentation_preview(d, stored, origin_lower=origin_lower)


def augmentation_preview(d: Detection, stored: caching.StoredRun, *, origin_lower: bool) -> None:
    """The classifier's training augmentations of ``d``, each with its class (computed by the core)."""
    st.markdown("**Does the class hold?** The classifier's own training augmentations of this "
                "galaxy, each classified again:")
    seed = st.number_input("Augmentation seed", 0, 10_000, 0, key="aug_seed")
    views = cached_views(id(stored), d.id, int(seed), stored, d)
    cols = st.columns(5)
    for i, view in enumerate(views):
        best = int(np.argmax(view.probs))
        with cols[i % 5]:
            shown = view.image[::-1] if origin_lower else view.image
            st.image(np.ascontiguousarray(shown), width="stretch")
            st.caption(f"{view.name}: **{view.label}** {view.probs[best]:.2f}")
    with st.expander("All six probabilities of each view"):
        table = pd.DataFrame([v.probs for v in views], columns=list(CLASS_NAMES),
                             index=[v.name for v in views])
        st.dataframe(table, column_config={c: st.column_config.NumberColumn(c, format="%.2f")
                                           for c in CLASS_NAMES}, key="augmentation_probs")
    agree = agreement(views, d.label)
    if d.detector_label == "star":
        st.caption(f"The classifier calls {agree} of {len(views)} views {d.label} "
                   "(the label is the detector's).")
    else:
        st.caption(f"{agree} of {len(views)} views keep the class {d.label}.")
