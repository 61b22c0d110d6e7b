"""One detection opened: its cutout, its six probabilities, and augmented views re-classified."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import caching
from galaxy_core.annotate import draw_boxes
from galaxy_core.colours import colour_of
from galaxy_core.morph_reliability import MIN_EXTENT_PX, MIN_PEAK_SNR, morphology_reliable
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
def augmented_views(rkey: tuple, det_key: tuple, others_key: str, _rgb: np.ndarray, _d: Detection,
                    _others: np.ndarray, seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, view, six probabilities) for the classifier's training augmentations of one crop.

    The crop is framed as the run framed it (the other detections' boxes ``_others``
    left out of the object's segment), so the "original" view is what was classified.
    """
    from galaxy_core.framing import crop_for_detection
    from galaxy_core.morph_transforms import preview_augmentations

    clf = caching.classifier()
    crop = np.array(crop_for_detection(_rgb, _d, clf.input_size, settings=clf.framing,
                                       others=_others))  # writable, for torch
    views = preview_augmentations(crop, clf.input_size, seed, distant_p=clf.train_distant_p,
                                  distant_snr=clf.train_distant_snr)
    probs = np.asarray(clf.predict(np.stack([v for _, v in views]), tta=False, framed=True),
                       dtype=float)
    return [(name, view, p) for (name, view), p in zip(views, probs, strict=True)]


def reliability_text(d: Detection) -> str:
    """One line: the object's measured size and S/N and the accuracy expected there."""
    size = "Size not measured" if d.extent_px is None else f"About {d.extent_px:.0f} px across"
    snr = "" if d.peak_snr is None else f", peak S/N {d.peak_snr:.0f}"
    if d.morph_accuracy is None:
        return f"{size}{snr}; no accuracy measured for this size and S/N."
    return (f"{size}{snr}: the classifier got **{d.morph_accuracy:.0%}** of validation galaxies "
            "like this right (shrunk, noisy; weights/MODEL_CARD.md, 'Accuracy by size and S/N').")


def unreliable_text(d: Detection) -> str:
    """Why the class of ``d`` is not to be trusted (small, or faint for its size)."""
    if d.extent_px is None or d.extent_px < MIN_EXTENT_PX:
        return (f"Only about {d.extent_px or 0:.0f} px across. Below {MIN_EXTENT_PX:.0f} px the "
                "classifier's class is unreliable: it cannot see arms, bars or discs, and tiny blobs "
                "lean to Irregular or Star/Artifact (weights/MODEL_CARD.md, 'Accuracy versus galaxy size').")
    return (f"Too faint: peak S/N {d.peak_snr:.0f}, below {MIN_PEAK_SNR:.0f}. There noise hides arms "
            "and discs and inflates the measured size, and the classifier's accuracy falls "
            "(weights/MODEL_CARD.md, 'Accuracy by size and S/N').")


def detection_detail(d: Detection, rgb: np.ndarray, rkey: tuple, *, origin_lower: bool,
                     others: np.ndarray | None = None) -> None:
    """The panel of one detection; ``others`` are the run's boxes (framing.detection_boxes)."""
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
                if not morphology_reliable(d.extent_px, d.peak_snr):
                    st.warning(unreliable_text(d))
            st.plotly_chart(probability_chart(d.probs), key="detail_probs",
                            config={"displayModeBar": False})
    if d.probs is None or caching.classifier() is None:
        return
    st.markdown("**Does the class hold?** The classifier's own training augmentations of this "
                "galaxy, each classified again:")
    seed = st.number_input("Augmentation seed", 0, 10_000, 0, key="aug_seed")
    det_key = (d.id, d.x_min, d.y_min, d.x_max, d.y_max)
    others = np.zeros((0, 4)) if others is None else np.asarray(others, dtype=float)
    others_key = hashlib.sha1(others.tobytes()).hexdigest()
    views = augmented_views(rkey, det_key, others_key, rgb, d, others, int(seed))
    cols = st.columns(5)
    for i, (name, view, probs) in enumerate(views):
        best = int(np.argmax(probs))
        with cols[i % 5]:
            shown = view[::-1] if origin_lower else view
            st.image(np.ascontiguousarray(shown), width="stretch")
            st.caption(f"{name}: **{CLASS_NAMES[best]}** {probs[best]:.2f}")
    with st.expander("All six probabilities of each view"):
        table = pd.DataFrame([p for _, _, p in views], columns=list(CLASS_NAMES),
                             index=[name for name, _, _ in views])
        st.dataframe(table, column_config={c: st.column_config.NumberColumn(c, format="%.2f")
                                           for c in CLASS_NAMES}, key="augmentation_probs")
    agree = sum(int(np.argmax(p)) == CLASS_NAMES.index(d.label) for _, _, p in views
                if d.label in CLASS_NAMES)
    if d.detector_label == "star":
        st.caption(f"The classifier calls {agree} of {len(views)} views {d.label} "
                   "(the label is the detector's).")
    else:
        st.caption(f"{agree} of {len(views)} views keep the class {d.label}.")
