"""One detection opened: its cutout, its six probabilities, and augmented views re-classified.

Laid out for a column about 480 px wide beside the field: the cutout and the
facts side by side, the probabilities as bars, the eleven views in rows of
four with one-line captions, and every view's six probabilities in one table
with short headers that needs no horizontal scrolling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import caching
from galaxy_core.display.annotate import draw_boxes
from galaxy_core.display.colours import colour_of
from galaxy_core.morphology.reliability import ReliabilityRule
from galaxy_core.types import CLASS_NAMES, Detection

if TYPE_CHECKING:  # the views need torch: imported when a panel first shows them
    from galaxy_core.morphology.views import AugmentedView

CUTOUT_PX = 200
#: Views per row of the augmentation preview.
VIEWS_PER_ROW = 4
#: Column headers of the views' probability table.
#: Short names of the views, for their one-word captions.
SHORT_VIEW = {"colour-jittered": "colour", "perspective-warped": "warped", "low-resolution": "low-res",
              "train preset": "preset", "greyscale": "grey"}
SHORT_CLASS = {"Spiral": "Spiral", "Spiral_Barred": "Barred", "Elliptical": "Ellipt.",
               "On_Edge": "Edge-on", "Irregular": "Irreg.", "Star/Artifact": "Star/art."}
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


def probability_chart(probs: tuple[float, ...], *, height: int = 200) -> go.Figure:
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


def cached_views(stored: caching.StoredRun, d: Detection, seed: int) -> list[AugmentedView]:
    """The augmentation preview of one detection of one stored run (computed by the core, once)."""
    from galaxy_core.morphology.views import augmented_views

    def make():
        return augmented_views(caching.classifier(), stored.result.rgb, d, others=stored.boxes(),
                               seed=seed)
    key = ("views", stored.key if stored.key is not None else id(stored), d.id, seed)
    with st.spinner("Classifying augmented views..."):
        return caching.preview_store().get_or_make(key, make)


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


def detection_detail(d: Detection, stored: caching.StoredRun, *, origin_lower: bool,
                     rule: ReliabilityRule | None = None, on_close=None, title: bool = True,
                     labelling=None) -> None:
    """The panel of one detection of a stored run; ``rule``: the classifier's reliability rule,
    ``on_close``: the callback of its Close button (none without), ``title``: whether it
    names the detection (a dialog has its own title), ``labelling``: draws the user's label
    buttons for it (``labelling(d)``) under its facts."""
    rgb = stored.result.rgb
    head, close = st.columns([5, 1], vertical_alignment="center")
    if title:
        with head:
            st.subheader(f"#{d.id} {d.label}")
    if on_close is not None:
        with close:
            st.button("", key="close_detail", icon=":material/close:", help="Close this panel",
                      on_click=on_close)
    left, right = st.columns([1, 1])
    with left:
        st.image(cutout(rgb, d, origin_lower=origin_lower), width=CUTOUT_PX)
    with right:
        sky = "n/a" if d.ra is None else f"{d.ra:.6f}, {d.dec:+.6f}"
        st.markdown(f"score **{d.score:.3f}**  \nx, y = {d.x:.1f}, {d.y:.1f} px  \n"
                    f"box {d.width:.0f} x {d.height:.0f} px  \nRA, Dec = {sky} deg")
    if labelling is not None:
        labelling(d)
    if d.probs is None:
        if stored.result.classified and not stored.complete:
            st.info("Not classified yet: the run is still classifying.", icon=":material/hourglass_top:")
        else:
            st.info("Not classified: turn on 'Classify morphology' (needs the classifier's weights).")
        return
    if d.detector_label == "star":
        st.info(DETECTOR_STAR_TEXT)
    else:
        st.markdown(reliability_text(d))
        if rule is not None and not d.morph_reliable:
            st.warning(unreliable_text(d, rule))
    st.plotly_chart(probability_chart(d.probs), key="detail_probs", config={"displayModeBar": False})
    if caching.classifier() is None:
        return
    augmentation_preview(d, stored, origin_lower=origin_lower)


def views_table(views: list[AugmentedView]) -> pd.DataFrame:
    """Each view's six probabilities as text with two decimals, short class headers, the view's
    name as index (narrow enough for the panel)."""
    table = pd.DataFrame([[f"{p:.2f}" for p in v.probs] for v in views],
                         columns=[SHORT_CLASS[c] for c in CLASS_NAMES], index=[v.name for v in views])
    table.index.name = "view"
    return table


def augmentation_preview(d: Detection, stored: caching.StoredRun, *, origin_lower: bool) -> None:
    """The classifier's training augmentations of ``d``, each with its class (computed by the core)."""
    st.markdown("**Does the class hold?** The classifier's own training augmentations of this "
                "galaxy, each classified again:")
    seed = st.number_input("Augmentation seed", 0, 10_000, 0, key="aug_seed")
    views = cached_views(stored, d, int(seed))
    for start in range(0, len(views), VIEWS_PER_ROW):
        cols = st.columns(VIEWS_PER_ROW)
        for col, view in zip(cols, views[start:start + VIEWS_PER_ROW], strict=False):
            best = int(np.argmax(view.probs))
            with col:
                shown = view.image[::-1] if origin_lower else view.image
                st.image(np.ascontiguousarray(shown), width="stretch")
                st.caption(f"{SHORT_VIEW.get(view.name, view.name)}  \n"
                           f"**{SHORT_CLASS[view.label]}** {view.probs[best]:.2f}")
    st.markdown("**All six probabilities of each view**")
    with st.container(key="augmentation_probs"):
        st.table(views_table(views))
    from galaxy_core.morphology.views import agreement

    agree = agreement(views, d.label)
    if d.detector_label == "star":
        st.caption(f"The classifier calls {agree} of {len(views)} views {d.label} "
                   "(the label is the detector's).")
    else:
        st.caption(f"{agree} of {len(views)} views keep the class {d.label}.")
